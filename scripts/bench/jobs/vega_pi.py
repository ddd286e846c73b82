"""Vega: Monte Carlo estimate of pi with a per-element Python function."""

import random
from operator import add

import jobutil
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    with Context(master=args.master, app_name="bench-pi") as ctx:
        hits = (
            ctx.parallelize(range(args.n), args.partitions)
            .map(lambda _: 1 if random.random() ** 2 + random.random() ** 2 <= 1 else 0)
            .reduce(add)
        )
    jobutil.emit({"pi": 4.0 * hits / args.n})


if __name__ == "__main__":
    main()
