"""Write docs/api.md's PySpark compatibility table from the installed PySpark and Vega.

    .venv/bin/python scripts/pyspark_compat_table.py [PYSPARK_PACKAGE_DIR]

Every public member of PySpark's ``RDD`` and ``SparkContext`` (read from PySpark's source
with ``ast``, never imported; the package in ``.venv-bench`` by default) gets a row:
supported when ``vega_runtime.pyspark_compat`` has it, with how it differs where
:data:`DIFFERS` says so (by name, or ``Class.name`` for one class's member), else not
supported with the reason in :data:`NOT_SUPPORTED`.
The table replaces what stands between the two markers in docs/api.md.  Without a PySpark
package (none given, none in ``.venv-bench``: ``bash scripts/bench/setup_env.sh`` makes it)
the script says so and exits 2, docs/api.md untouched.
"""

from __future__ import annotations

import ast
import glob
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from vega_runtime.aliases import NOT_IN_VEGA  # noqa: E402
from vega_runtime.pyspark_compat import RDD, SparkContext  # noqa: E402

BEGIN, END = "<!-- compatibility table: begin -->", "<!-- compatibility table: end -->"

#: PySpark's members Vega lacks, with why (the runtime's AttributeError for one says so)
NOT_SUPPORTED = {name: reason for members in NOT_IN_VEGA.values()
                 for name, reason in members.items()}
DIFFERS = {
    "saveAsPickleFile": "pickled batches, not a Hadoop SequenceFile (`saveAsSequenceFile` "
                        "writes those); `pickleFile` reads them; "
                        "takes `overwrite=False`",
    "saveAsTextFile": "takes `overwrite=False`; `bytes` records are written as they are "
                      "(PySpark decodes them as UTF-8, bytes that are not become U+FFFD); a "
                      "failed job leaves no output directory (PySpark's leaves one without "
                      "`_SUCCESS`); `compressionCodecClass` is Hadoop's `GzipCodec`, "
                      "`BZip2Codec`, `DefaultCodec`, `DeflateCodec`, `SnappyCodec` or "
                      "`Lz4Codec`, or Spark's short name of one in any case (`gzip`, "
                      "`bzip2`, `deflate`, `snappy`, `lz4`; `none`, `uncompressed`: plain "
                      "text), as Spark's DataFrame writers take them (PySpark's "
                      "`saveAsTextFile` takes class names only) (not "
                      "`ZStandardCodec`, which PySpark writes only with Hadoop's native "
                      "library); no `.crc` files; `spark.hadoop.validateOutputSpecs"
                      "=false` is ignored (an existing directory is refused; `overwrite=True` "
                      "replaces it whole, where Spark writes its parts into it)",
    "saveAsSequenceFile": "takes `overwrite=False`; `compressionCodecClass` is Hadoop's "
                          "`DefaultCodec`, `DeflateCodec`, `GzipCodec`, `BZip2Codec`, "
                          "`SnappyCodec` or `Lz4Codec` (block-compressed, as Spark's; not "
                          "`ZStandardCodec`, which PySpark writes only with Hadoop's native "
                          "library); no `.crc` files; a failed job leaves no output "
                          "directory (docs/storage.md)",
    "sequenceFile": "reads Text, Int/Long/Double/Float/Boolean/BytesWritable, NullWritable "
                    "and MapWritable of these, uncompressed or with DefaultCodec, "
                    "GzipCodec, BZip2Codec, SnappyCodec or Lz4Codec, record- or "
                    "block-compressed (other Writables and codecs, ZStandardCodec, are "
                    "refused, naming them); "
                    "`keyConverter`/`valueConverter` (Java classes) are refused; "
                    "`keyClass`/`valueClass` only name classes (the file's own are read, "
                    "as Hadoop's reader does): one Hadoop's `org.apache.hadoop.io` does "
                    "not have is refused as the method is called, where PySpark's JVM "
                    "fails to load it; partitions are byte ranges cut at sync "
                    "markers, as `textFile`'s",
    "saveAsHadoopFile": "TextOutputFormat and SequenceFileOutputFormat only (others are "
                        "refused, naming these); `keyConverter`/`valueConverter` are "
                        "refused; takes `overwrite=False`; a `dict` or `tuple` in text "
                        "output is refused; a `float` in text output prints as Java 19+'s "
                        "`Double.toString` (Java 17's has more digits for some); no `.crc` "
                        "files (docs/storage.md)",
    "saveAsNewAPIHadoopFile": "as `saveAsHadoopFile`, in the new API (parts `part-r-NNNNN`)",
    "saveAsHadoopDataset": "as `saveAsHadoopFile`, all from `conf` (docs/storage.md: the "
                           "keys read)",
    "saveAsNewAPIHadoopDataset": "as `saveAsHadoopDataset`, in the new API",
    "hadoopFile": "TextInputFormat, KeyValueTextInputFormat and SequenceFileInputFormat "
                  "only (others are refused, naming these); `keyConverter`/`valueConverter` "
                  "are refused; `.bz2` text files are read whole (docs/storage.md)",
    "newAPIHadoopFile": "as `hadoopFile`, in the new API",
    "hadoopRDD": "as `hadoopFile`, reading conf's `mapreduce.input.fileinputformat.inputdir`",
    "newAPIHadoopRDD": "as `hadoopRDD`, in the new API",
    "countApprox": "extrapolates the partitions finished by the timeout; `local` checks the "
                   "timeout between tasks",
    "sumApprox": "as `countApprox`", "meanApprox": "as `countApprox`",
    "countApproxDistinct": "HyperLogLog, exact while the distinct count is small",
    "groupByKey": "values are lists (PySpark: `ResultIterable`, also iterable)",
    "cogroup": "each key's values are a tuple of lists (PySpark: of `ResultIterable`s, also "
               "iterable), as `groupByKey`",
    "groupWith": "as `cogroup`",
    "groupBy": "values are lists, as `groupByKey`",
    "mapValues": "a record must be a pair: `(k, v, extra)` fails its task with `ValueError: too "
                 "many values to unpack` (PySpark reads `kv[0]` and `kv[1]` and drops the "
                 "rest); so in `flatMapValues`, `cogroup`, `subtractByKey` and the other "
                 "pair functions",
    "flatMapValues": "as `mapValues`", "subtractByKey": "as `mapValues`",
    "partitionBy": "records keep their type: a `[k, v]` list stays a list (PySpark's "
                   "shuffle turns it into a tuple); so in `sortByKey` and `sampleByKey`",
    "stats": "the `StatCounter`'s `max()`, `min()`, `stdev()` and `sampleStdev()` are "
             "`float`s (PySpark's: `numpy.float64`, a subclass of `float`; equal values)",
    "stdev": "a `float`, as `stats`", "sampleStdev": "a `float`, as `stats`",
    "localCheckpoint": "kept as the RDD's cached blocks on its executors, as PySpark's "
                       "(`getStorageLevel()` turns `MEMORY_AND_DISK`; a partition lost with "
                       "its executor fails the job that needs it, saying so); the "
                       "`is_checkpointed` property turns True once the first action has run "
                       "(PySpark's attribute stays False)",
    "pickleFile": "whole part files packed by bytes into at least `minPartitions` partitions, "
                  "as `wholeTextFiles`, so a directory of 3 parts may come back in 2 "
                  "partitions (PySpark: at least one per part file)",
    "toDebugString": "Spark's layout, with Vega's RDDs (one per transformation, no "
                     "`PythonRDD`/`PairwiseRDD`) and call sites (`file:line in function`)",
    "zip": "partitions of unequal lengths fail the task (`TaskFailed`: `ValueError: Can only "
           "zip RDDs with the same number of elements in each partition`); PySpark raises "
           "its `ValueError` in the driver",
    "coalesce": "with `shuffle=True`, records are dealt evenly over the partitions (PySpark "
                "deals pickled batches, so a small RDD may land in one partition)",
    "repartition": "as `coalesce` with `shuffle=True`",
    "parallelize": "`numSlices` below 1 is a `ValueError` (PySpark: `ZeroDivisionError`); the "
                   "slices hold the elements themselves until a job ships them, so changing "
                   "an element in place after `parallelize` (`data[0].append(5)`) shows in "
                   "the RDD (PySpark pickles the data at once); the list itself is copied; "
                   "an element that cannot be pickled fails the first job that ships it "
                   "(`PartitionNotSerializable`, a `pickle.PicklingError`, naming its type), "
                   "where PySpark's `parallelize` raises `TypeError`",
    "persist": "`useOffHeap` and `deserialized` are carried, not acted on: records cached in "
               "memory are the objects themselves, so a later function that changes a "
               "cached record in place (`x.append(...)`) changes it for every later job "
               "(PySpark's cache is pickled: each job gets fresh copies); return new objects. "
               "A task away from its cached partition reads it from the executor holding it, "
               "as Spark's (`local[N]`'s executors through the driver); a `DISK_ONLY` block is "
               "lost with its executor (no `spark.shuffle.service.fetch.rdd.enabled`): "
               "`DISK_ONLY_2` survives it (docs/storage.md, \"Caching\")",
    "cache": "as `persist`",
    "unpersist": "`blocking=True` returns once every executor has dropped the blocks, as "
                 "PySpark's, also one running a task (it drops them beside it); a task "
                 "reading a block removed meanwhile reads on (it holds the records or the "
                 "open file) and is not waited for, where Spark's removal waits for its read "
                 "lock; an executor that does not answer is waited for at most "
                 "`vega.executor.timeout` (then a warning; one lost meanwhile is not waited "
                 "for); so `Broadcast.unpersist` and `destroy`",
    "id": "PySpark pipelines chains of narrow transformations into one RDD; Vega makes one "
          "RDD per transformation, so ids grow faster",
    "getConf": "a copy of the `SparkConf` the context was created with, over the Spark "
               "properties `vega submit` was given (`SparkConf` above), as PySpark's; without "
               "the settings Spark adds: `spark.app.id`, `spark.driver.*`, ...",
    "setInterruptOnCancel": "recorded only: Vega always stops a cancelled job's tasks",
    "uiWebUrl": "the master's web UI (a `vega://` master's on the port it reports, a "
                "`local-cluster`'s own), not the driver's: Vega's drivers serve no UI; None in "
                "local mode",
    "addPyFile": "ships any file, putting the zip archives of PySpark's "
                 "`PACKAGE_EXTENSIONS` (`.zip`, `.egg`, `.jar`: "
                 "`SparkContext.PACKAGE_EXTENSIONS` is that tuple) on `sys.path`, and a "
                 "`.whl` too (as `vega submit --py-files`; PySpark's ships it without "
                 "putting it there); a zip Python cannot read, a `.PY` name and a "
                 "directory are refused with `ValueError` saying what to do",
    "addArchive": "`.zip`, `.tar`, `.tar.gz` and `.tgz`; another name raises `ValueError` "
                  "(PySpark's adds it, and its executors copy it as it is, with a warning)",
    "SparkContext.union": "RDDs that all have one partitioner give a union that keeps it, as "
                          "Spark's Scala `PartitionerAwareUnionRDD` (PySpark's `partitioner` "
                          "is then None, so a later `join` shuffles again); `union([])` is an "
                          "empty RDD (PySpark: `IndexError`)",
    "show_profiles": "with `spark.python.profile`: one profile per RDD a stage computes (PySpark: "
                     "per pipelined RDD); no UDF or memory profiles",
    "dump_profiles": "as `show_profiles`",
    "withResources": "a profile may change what each task of the stage takes (CPUs, custom "
                     "resources) within what the executors have, as Spark's "
                     "`TaskResourceProfile`; one asking for other executors is refused when "
                     "its job starts, and so is one asking a larger share of an address than "
                     "the application's `spark.task.resource.NAME.amount` (its executors "
                     "share each address among 1/amount of them, each running a task); a "
                     "smaller share runs no more tasks at once than the application's "
                     "amount does (Spark's would)",
    "sortByKey": "partitions are cut where Spark's (Scala) `RangePartitioner` cuts them, at "
                 "weighted quantiles of a sample; PySpark's own sampling picks other bounds, so "
                 "`glom()` may differ (20 keys into 4 partitions: PySpark 6/5/5/4, Vega "
                 "5/5/5/5); `collect()` gives the same order",
    "sortBy": "as `sortByKey`",
    "top": "`[]` for an RDD of no partitions (`emptyRDD()`), where PySpark raises "
           "`ValueError: Can not reduce() empty RDD`",
    "countByKey": "`{}` for an RDD of no partitions, as `top`",
    "reduceByKeyLocally": "`{}` for an RDD of no partitions, as `top`",
    "countByValue": "`{}` for an RDD of no partitions, as `top`",
    "histogram": "with a list of buckets, zero counts for an RDD of no partitions, as for any "
                 "empty RDD (PySpark raises `ValueError: Can not reduce() empty RDD`); with a "
                 "number of buckets, an empty RDD raises `ValueError: can not generate buckets "
                 "from empty RDD`, the message PySpark's code means (4.3's is `Can not "
                 "reduce() empty RDD`)",
    "sampleByKey": "a negative fraction raises `ValueError` (PySpark: `AssertionError`)",
    "textFile": "a directory is read recursively, its files (but `_` and `.` names, as "
                "Hadoop's) in name order; with `minPartitions` given, the partitions are "
                "Hadoop's splits, as PySpark's (the same count and, partition by partition, "
                "the same lines); without it, byte ranges packed to near-equal sizes, at "
                "least `defaultMinPartitions` rounded up to a multiple of the executor cores "
                "(faster on 2 cores than Hadoop's 32 MB splits: docs/storage.md), so "
                "partition counts and `glom()` differ there; a file named on its own is read "
                "even when its name starts with `_` or `.` (Hadoop: \"Input path does not "
                "exist\"); `.snappy` and `.lz4` files are read whole, one partition a file, "
                "as PySpark's; `.bz2` files are split at their bzip2 blocks as Hadoop's "
                "BZip2Codec splits them; `.zst` files are "
                "refused, naming the file (PySpark reads them only with Hadoop's native "
                "library)",
    "wholeTextFiles": "a directory is read recursively (PySpark skips its sub-directories); "
                      "at least `minPartitions` partitions (PySpark's is a hint: 4 small "
                      "files with `minPartitions=3` make 2)",
    "binaryFiles": "as `wholeTextFiles`, whose partitions it has too (PySpark's binaryFiles "
                   "puts up to 128 MiB of files in one partition, whatever `minPartitions`)",
    "applicationId": "`app-YYYYMMDDhhmmss-xxxx` on every master (PySpark's local mode: "
                     "`local-<milliseconds>`)",
    "version": "Vega's version, not Spark's",
    "setSystemProperty": "a property of the driver process (Vega has no JVM): a `spark.*` "
                         "one is a setting of the contexts made after it (`SparkConf()` "
                         "loads it, as PySpark's), another has no effect but on "
                         "`getSystemProperty`; the value must be a `str`, as PySpark's",
    "getSystemProperty": "the JVM's own properties (`java.home`, `java.version`, ...) are "
                         "None; one set with `setSystemProperty`, a Spark property "
                         "`vega submit` was given and `SPARK_SUBMIT` (`'true'`) read as in "
                         "PySpark",
    "broadcast": "an RDD can be broadcast or captured by a task's function (Vega's tasks "
                 "carry RDDs): it fails when a task uses it, `CONTEXT_ONLY_VALID_ON_DRIVER`; "
                 "PySpark refuses to pickle it (`RDD_TRANSFORM_ONLY_VALID_ON_DRIVER`)",
    "barrier": "`getTaskInfos()` gives each executor's `host:port` where it serves blocks "
               "(`:0` on `local[N]`, whose executors serve none); a cluster's job waits "
               "`vega.barrier.slots_wait` for executors a barrier stage lacks",
}


def public_members(package: str, relative: str, cls: str) -> list:
    with open(os.path.join(package, relative)) as fh:
        tree = ast.parse(fh.read())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == cls:
            names = [f.name for f in node.body
                     if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and not f.name.startswith("_")]
            return sorted(set(names), key=names.index)
    raise LookupError(f"{cls} not found in {relative}")


def rows(names: list, vega_class: type) -> list:
    lines = []
    for name in names:
        note = DIFFERS.get(f"{vega_class.__name__}.{name}", DIFFERS.get(name))
        if hasattr(vega_class, name):
            status, note = ("differs", note) if note else ("supported", "")
        else:
            status, note = "not supported", NOT_SUPPORTED.get(name, "not implemented yet")
        lines.append(f"| `{name}` | {status} | {note} |")
    return lines


def table(package: str) -> str:
    out = ["| `RDD` member | in Vega | notes |", "|---|---|---|"]
    out += rows(public_members(package, "core/rdd.py", "RDD"), RDD)
    out += ["", "| `SparkContext` member | in Vega | notes |", "|---|---|---|"]
    out += rows(public_members(package, "core/context.py", "SparkContext"), SparkContext)
    return "\n".join(out)


def package_problem(package: str) -> str:
    """What is wrong with ``package`` (given, else .venv-bench's: "" for none) as the PySpark
    package the table is read from, or "" when it is one."""
    if not package:
        return f"no PySpark in {os.path.join(REPO, '.venv-bench')}"
    if not os.path.isfile(os.path.join(package, "core", "rdd.py")):
        return f"{package} is not a PySpark package (it has no core/rdd.py)"
    return ""


def main(package: str = "") -> int:
    package = package or next(reversed(sorted(glob.glob(os.path.join(
        REPO, ".venv-bench", "lib", "python3*", "site-packages", "pyspark")))), "")
    problem = package_problem(package)
    if problem:
        print(f"pyspark_compat_table.py: {problem}: run `bash scripts/bench/setup_env.sh` (it "
              "installs PySpark in .venv-bench), or give the directory of a PySpark package: "
              ".venv/bin/python scripts/pyspark_compat_table.py .../site-packages/pyspark",
              file=sys.stderr)
        return 2
    path = os.path.join(REPO, "docs", "api.md")
    with open(path) as fh:
        text = fh.read()
    before, rest = text.split(BEGIN)
    _, after = rest.split(END)
    rows = table(package)  # before the file is opened for writing: a failure leaves it whole
    with open(path, "w") as fh:
        fh.write(f"{before}{BEGIN}\n{rows}\n{END}{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
