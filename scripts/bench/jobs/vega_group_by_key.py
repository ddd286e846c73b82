"""Vega: group_by_key().map_values(len) over generated (i % keys, i) pairs."""

import jobutil
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    with Context(master=args.master, app_name="bench-group-by-key") as ctx:
        count = (
            ctx.parallelize(range(args.n), args.partitions)
            .map(lambda i: (i % keys, i))
            .group_by_key()
            .map_values(len)
            .count()
        )
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
