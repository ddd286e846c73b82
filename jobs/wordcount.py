"""Word count: the ten most common words of a text file (or directory, or glob).

    vega submit jobs/wordcount.py data/sample.txt [TOP]
"""

import sys
from operator import add

from vega_runtime import Context


def main(path: str, top: int) -> None:
    with Context(app_name="wordcount") as ctx:
        counts = (ctx.text_file(path)
                  .flat_map(str.split)
                  .map(lambda word: (word.lower().strip(".,;:!?\"'()"), 1))
                  .filter(lambda kv: kv[0])
                  .reduce_by_key(add))
        for word, n in counts.top(top, key=lambda kv: (kv[1], kv[0])):
            print(f"{n:6d}  {word}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: vega submit jobs/wordcount.py PATH [TOP]")
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10)
