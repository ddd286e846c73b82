"""PageRank over a small link graph (or a file of "page neighbour" lines).

    vega submit jobs/pagerank.py [EDGES_FILE] [ITERATIONS]
"""

import sys
from operator import add

from vega_runtime import Context

EDGES = ["a b", "a c", "b c", "c a", "d c", "d a", "e d"]


def contributions(urls, rank):
    urls = list(urls)
    for url in urls:
        yield url, rank / len(urls)


def main(path, iterations: int) -> None:
    with Context(app_name="pagerank") as ctx:
        lines = ctx.text_file(path) if path else ctx.parallelize(EDGES, 2)
        links = (lines.map(str.split).filter(lambda p: len(p) == 2)
                 .map(lambda p: (p[0], p[1])).distinct().group_by_key().cache())
        ranks = links.map_values(lambda _: 1.0)
        for _ in range(iterations):
            contribs = links.join(ranks).flat_map(lambda kv: contributions(*kv[1]))
            ranks = contribs.reduce_by_key(add).map_values(lambda r: 0.15 + 0.85 * r)
        for page, rank in sorted(ranks.collect(), key=lambda kv: -kv[1]):
            print(f"{page} has rank {rank:.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "-" else None,
         int(sys.argv[2]) if len(sys.argv) > 2 else 10)
