"""Vega: join n pairs (i % keys, i) with one pair per key; count the rows."""

import jobutil
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    keys = args.keys
    with Context(master=args.master, app_name="bench-join") as ctx:
        left = ctx.parallelize(range(args.n), args.partitions).map(lambda i: (i % keys, i))
        right = ctx.parallelize(range(keys), args.partitions).map(lambda k: (k, -k))
        count = left.join(right).count()
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
