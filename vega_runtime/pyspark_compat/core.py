"""``pyspark.core``: where PySpark 4 keeps its RDD API's modules (``pyspark.core.rdd``,
``pyspark.core.context``, ``pyspark.core.broadcast``, ``pyspark.core.files``); under the
compatibility switch each is the Vega module that ``pyspark.rdd`` & co. are."""
