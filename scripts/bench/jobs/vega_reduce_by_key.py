"""Vega: reduce_by_key(add) over generated (i % keys, i) pairs."""

from operator import add

import jobutil
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    with Context(master=args.master, app_name="bench-reduce-by-key") as ctx:
        count = (
            ctx.parallelize(range(args.n), args.partitions)
            .map(lambda i: (i % keys, i))
            .reduce_by_key(add)
            .count()
        )
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
