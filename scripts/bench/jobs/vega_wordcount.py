"""Vega: word count over a corpus file or a directory of files."""

from operator import add

import jobutil
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    with Context(master=args.master, app_name="bench-wordcount") as ctx:
        counts = (
            ctx.text_file(args.input)
            .flat_map(str.split)
            .map(lambda word: (word, 1))
            .reduce_by_key(add)
        )
        distinct = counts.count()
        top = counts.top(jobutil.TOP_WORDS, key=lambda kv: (kv[1], kv[0]))
    jobutil.emit(jobutil.wordcount_result(distinct, top))


if __name__ == "__main__":
    main()
