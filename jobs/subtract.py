"""The Rust Vega subtract example: 1..20 without 5..15 (PySpark's subtract keeps duplicates)."""

from vega_runtime import Context

with Context(app_name="subtract") as ctx:
    left = ctx.parallelize(range(1, 21), 3)
    right = ctx.parallelize(range(5, 16), 2)
    print("result:", sorted(left.subtract(right).collect()))
