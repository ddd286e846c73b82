"""The Rust Vega join example: two keyed collections joined by key."""

from vega_runtime import Context

LEFT = [("x", 1), ("y", 2), ("z", 3)]
RIGHT = [("x", "a"), ("x", "b"), ("y", "c"), ("w", "d")]

with Context(app_name="join") as ctx:
    joined = ctx.parallelize(LEFT, 2).join(ctx.parallelize(RIGHT, 2))
    for key, (number, letter) in sorted(joined.collect()):
        print(key, number, letter)
