"""PySpark drop-in details: attributes, missing members and behaviours that differed."""

import pytest

from vega_runtime import RDD, Context


def test_rdd_context_is_a_property_returning_the_context(ctx):
    """rdd.context is the Context itself, as PySpark's property."""
    assert ctx.parallelize([1]).context is ctx


def test_is_cached_is_a_property(ctx):
    """rdd.is_cached is a bool attribute that follows cache() and unpersist()."""
    rdd = ctx.parallelize([1])
    assert rdd.is_cached is False
    rdd.cache()
    assert rdd.is_cached is True
    rdd.unpersist()
    assert rdd.is_cached is False


def test_is_checkpointed_is_a_property_and_is_checkpointed_camel_a_method(ctx, tmp_path):
    """rdd.is_checkpointed (property) and rdd.isCheckpointed() (method), as in PySpark 4."""
    ctx.set_checkpoint_dir(str(tmp_path))
    rdd = ctx.parallelize([1, 2]).map(lambda x: x)
    assert rdd.is_checkpointed is False and rdd.isCheckpointed() is False
    rdd.checkpoint()
    rdd.count()
    assert rdd.is_checkpointed is True and rdd.isCheckpointed() is True
    assert isinstance(RDD.is_checkpointed, property)
