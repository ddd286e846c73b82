"""The Rust Vega group_by example: values grouped by key, in input order."""

from vega_runtime import Context

PAIRS = [("x", 1), ("x", 2), ("x", 3), ("x", 4), ("x", 5), ("x", 6), ("x", 7),
         ("y", 1), ("y", 2), ("y", 3), ("y", 4), ("y", 5), ("y", 6), ("y", 7), ("y", 8)]

with Context(app_name="group_by") as ctx:
    grouped = ctx.parallelize(PAIRS, 4).group_by_key().map_values(list)
    for key, values in sorted(grouped.collect()):
        print(key, values)
