"""PySpark: word count over a corpus file or a directory of files."""

from operator import add

import jobutil


def main():
    args = jobutil.parse_args(__doc__)
    with jobutil.spark_context("bench-wordcount") as sc:
        counts = (
            sc.textFile(args.input)
            .flatMap(str.split)
            .map(lambda word: (word, 1))
            .reduceByKey(add)
        )
        distinct = counts.count()
        top = counts.top(jobutil.TOP_WORDS, key=lambda kv: (kv[1], kv[0]))
    jobutil.emit(jobutil.wordcount_result(distinct, top))


if __name__ == "__main__":
    main()
