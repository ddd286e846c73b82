"""Monte Carlo estimate of pi with one random point per element.

    vega submit jobs/pi.py [SAMPLES] [PARTITIONS]
"""

import random
import sys
from operator import add

from vega_runtime import Context


def inside(_: int) -> int:
    x, y = random.random(), random.random()
    return 1 if x * x + y * y <= 1.0 else 0


def main(samples: int, partitions: int) -> None:
    with Context(app_name="pi") as ctx:
        hits = ctx.parallelize(range(samples), partitions or None).map(inside).reduce(add)
        print(f"Pi is roughly {4.0 * hits / samples:.5f} ({samples} samples)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
         int(sys.argv[2]) if len(sys.argv) > 2 else 0)
