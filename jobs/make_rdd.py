"""The Rust Vega make_rdd example: a collection, doubled."""

from vega_runtime import Context

with Context(app_name="make_rdd") as ctx:
    doubled = ctx.make_rdd(range(1, 11), 2).map(lambda x: x * 2).collect()
    print("result:", doubled)
