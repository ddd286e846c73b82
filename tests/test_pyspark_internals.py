"""PySpark internals programs touch, under ``--pyspark-compat``: ``SparkContext.
PACKAGE_EXTENSIONS`` (PySpark's value; a ``.jar`` given to ``addPyFile`` is put on the
path, as PySpark's), ``RDD.has_resource_profile``, and ``sc.serializer``, which Vega lacks
and whose AttributeError says why.  Each was an AttributeError without a reason (and a jar
refused by ``addPyFile``)."""

import zipfile

import pytest

from vega_runtime.pyspark_compat import SparkContext
from vega_runtime.resources import ResourceProfileBuilder, TaskResourceRequests


@pytest.fixture
def sc():
    context = SparkContext("local[2]", "internals")
    try:
        yield context
    finally:
        context.stop()


def test_package_extensions_are_pysparks_and_a_jar_is_imported_from(sc, tmp_path):
    """PACKAGE_EXTENSIONS is PySpark's tuple; a jar (a zip) added with addPyFile is on every
    executor's sys.path, as PySpark puts one there."""
    assert SparkContext.PACKAGE_EXTENSIONS == (".zip", ".egg", ".jar")
    jar = tmp_path / "helpers.jar"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("jarred_helper.py", "def triple(x):\n    return 3 * x\n")
    assert str(jar).endswith(tuple(sc.PACKAGE_EXTENSIONS))
    sc.addPyFile(str(jar))

    def triple(x):
        import jarred_helper

        return jarred_helper.triple(x)

    assert sc.parallelize(range(4), 2).map(triple).collect() == [0, 3, 6, 9]


def test_has_resource_profile_follows_with_resources(sc):
    """False for an RDD, True once withResources gave it a profile (PySpark's attribute)."""
    rdd = sc.parallelize(range(4), 2)
    assert rdd.has_resource_profile is False
    profile = ResourceProfileBuilder().require(TaskResourceRequests().cpus(1)).build
    assert rdd.withResources(profile).has_resource_profile is True
    assert rdd.map(lambda x: x + 1).has_resource_profile is False
    assert rdd.sum() == 6


def test_serializer_is_refused_saying_why(sc):
    """sc.serializer: PySpark's serializer between Python and the JVM is not in Vega, and
    the AttributeError says so."""
    with pytest.raises(AttributeError) as info:
        sc.serializer
    assert str(info.value) == (
        "'SparkContext' object has no attribute 'serializer': PySpark's "
        "SparkContext.serializer is not in Vega (the serializer PySpark's RDDs pass records "
        "between Python and the JVM with, which programs hand to RDD(jrdd, sc, serializer) "
        "to wrap a JVM RDD; Vega has no JVM RDDs and pickles records itself)")
