"""``pyspark.resultiterable``: the type of ``groupByKey``'s values.

Vega's grouped values are lists, which have everything PySpark's ``ResultIterable`` has
(iteration, ``len``); the name is ``list`` so that annotations such as
``ResultIterable[str]`` (Spark's ``pagerank.py``) and ``isinstance`` checks both hold.
"""

ResultIterable = list

__all__ = ["ResultIterable"]
