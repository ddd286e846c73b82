"""Vega: TeraSort-style sort_by_key of generated 100-byte records, validated per partition."""

import jobutil
import teragen
from vega_runtime import Context


def main():
    args = jobutil.parse_args(__doc__)
    records = args.n
    conf = {"vega.shuffle.memory_bound": args.memory_bound}
    with Context(master=args.master, app_name="bench-sort", conf=conf) as ctx:
        summaries = (
            ctx.parallelize(range(teragen.num_blocks(records)), args.partitions)
            .flat_map(lambda block: teragen.block_records(block, records))
            .sort_by_key(num_partitions=args.out_partitions)
            .map_partitions_with_index(teragen.summarize)
            .collect()
        )
    jobutil.emit(teragen.validate(summaries))


if __name__ == "__main__":
    main()
