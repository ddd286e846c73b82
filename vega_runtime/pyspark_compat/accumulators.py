"""``pyspark.accumulators``: accumulators and PySpark's ready-made parameters for numbers."""

from __future__ import annotations

from vega_runtime.shared import Accumulator, AccumulatorParam


class AddingAccumulatorParam(AccumulatorParam):
    """Adds values with ``+=``, starting from ``zero_value`` (PySpark's class of the name)."""

    def __init__(self, zero_value):
        self.zero_value = zero_value

    def zero(self, value):
        return self.zero_value


INT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0)
FLOAT_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0)
COMPLEX_ACCUMULATOR_PARAM = AddingAccumulatorParam(0.0j)

__all__ = ["Accumulator", "AccumulatorParam", "AddingAccumulatorParam", "INT_ACCUMULATOR_PARAM",
           "FLOAT_ACCUMULATOR_PARAM", "COMPLEX_ACCUMULATOR_PARAM"]
