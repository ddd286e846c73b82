"""Vega: parallelize([1, 2, 3]).count(), timed as a whole process (start-up cost)."""

import jobutil
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    with Context(master=args.master, app_name="bench-trivial") as ctx:
        count = ctx.parallelize([1, 2, 3]).count()
    jobutil.emit({"count": count})


if __name__ == "__main__":
    main()
