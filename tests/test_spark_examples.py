"""Spark's own RDD example programs run unchanged on Vega and give PySpark's answers.

Each program is the installed PySpark's ``examples/src/main/python/<name>.py``, run as is
with ``vega submit --pyspark-compat --master local[2]``, and again with the real PySpark
(``spark_examples_run.py``, in the benchmark venv); the two outputs are compared as each
program allows: exactly where it is deterministic, within floating-point summation order
for PageRank, and by quality where it starts from an unseeded random point (logistic
regression) or samples (pi).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess

import pytest

from head_start import NO_RUNS, DetachedRun, run_directory, taken
from proc_helpers import REPO, clean_env, vega_argv
from pyspark_install import pyspark_home, pyspark_python, requires_pyspark

pytestmark = requires_pyspark

RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "spark_examples_run.py")
#: Given to both engines from outside the programs (spark-defaults.conf, --conf): without a
#: default parallelism, every union-then-distinct in transitive_closure.py doubles its
#: partitions (PySpark's rule and Vega's: the parent's count), 2**15 by the end; with it
#: both keep 2. PySpark's UI and console progress are off: the test reads stdout only.
SPARK_SETTINGS = {"spark.default.parallelism": "2", "spark.ui.enabled": "false",
                  "spark.ui.showConsoleProgress": "false"}
LR_DIMENSIONS = 10  # D in logistic_regression.py
#: the examples whose tasks mostly sleep: Vega's run of them begins as the session starts
SLEEPERS = ("status_api_demo",)


def _write_inputs(directory) -> dict:
    """Each example's arguments, with the input files it reads written into ``directory``."""
    rng = random.Random(7)
    numbers = directory / "numbers.txt"
    numbers.write_text("\n".join(" ".join(str(rng.randrange(1000)) for _ in range(8))
                                 for _ in range(50)) + "\n")
    points = directory / "lr_points.txt"
    lines = []
    for _ in range(400):
        label = rng.choice((-1.0, 1.0))
        lines.append(" ".join([f"{label:.1f}"] + [f"{label * 0.7 + rng.gauss(0, 1):.4f}"
                                                  for _ in range(LR_DIMENSIONS)]))
    points.write_text("\n".join(lines) + "\n")
    data = os.path.join(pyspark_home(), "data", "mllib")
    return {
        "wordcount": [os.path.join(REPO, "data", "sample.txt")],
        "sort": [str(numbers)],
        "pagerank": [os.path.join(data, "pagerank_data.txt"), "10"],
        "transitive_closure": ["2"],
        "pi": ["2"],
        "kmeans": [os.path.join(data, "kmeans_data.txt"), "2", "0.1"],
        "logistic_regression": [str(points), "5"],
        "als": ["30", "60", "5", "3", "2"],
        "status_api_demo": [],
    }


class Answers:
    """What the real PySpark prints for every example, from one run of ``spark_examples_run.py``
    started as the session starts (``head_start``) and waited for at the module's first
    comparison: it takes about a minute and a half (its JVM, and status_api_demo's tasks that
    sleep 2 s each), and the rest of the suite runs meanwhile."""

    def __init__(self, directory):
        self.directory = directory
        self.inputs = _write_inputs(directory)
        runs, self._path = directory / "runs.json", directory / "pyspark.json"
        runs.write_text(json.dumps(sorted(self.inputs.items())))
        examples = os.path.join(pyspark_home(), "examples", "src", "main", "python")
        conf_dir = directory / "spark-conf"
        conf_dir.mkdir()
        (conf_dir / "spark-defaults.conf").write_text("".join(
            f"{key} {value}\n" for key, value in SPARK_SETTINGS.items()))
        self.proc = DetachedRun([pyspark_python(), RUNNER, examples, str(runs), str(self._path)],
                                clean_env(PYSPARK_PYTHON=pyspark_python(),
                                          SPARK_CONF_DIR=str(conf_dir)), directory)
        self._outputs = None
        # Vega's run of the examples that mostly sleep (status_api_demo: ~20 s of 2 s
        # tasks) begins now too, beside PySpark's
        self.on_vega = {}
        for name in SLEEPERS:
            (directory / name).mkdir()
            self.on_vega[name] = DetachedRun(
                _vega_argv(name, self.inputs[name]), clean_env(PYTHONPATH=REPO),
                directory / name)

    def vega_output(self, name: str) -> str:
        """What ``vega submit`` printed of a head-started example (waiting for it)."""
        run = self.on_vega[name]
        run.wait(300)
        stdout = (run.directory / "stdout").read_text()
        assert run.returncode == 0, (run.directory / "stderr").read_text()[-4000:]
        return stdout

    def outputs(self) -> dict:
        """Each example's name -> what PySpark printed (waiting for the run to end)."""
        if self._outputs is None:
            self.proc.wait(900)
            assert self.proc.returncode == 0 and self._path.exists(), \
                (self.directory / "stderr").read_text(errors="replace")[-4000:]
            self._outputs = json.loads(self._path.read_text())
        return self._outputs

    def stop(self) -> None:
        self.proc.stop()
        for run in self.on_vega.values():
            run.stop()


def head_start(masters):
    """PySpark's run of every example, from the session's start (:class:`Answers`)."""
    return Answers(run_directory("examples-")) if pyspark_home() else NO_RUNS


@pytest.fixture(scope="module")
def answers(request):
    """The examples' inputs and PySpark's answers (:class:`Answers`)."""
    with taken(request) as running:
        yield running


def _vega_argv(name: str, args) -> list:
    example = os.path.join(pyspark_home(), "examples", "src", "main", "python", f"{name}.py")
    return vega_argv("submit", "--pyspark-compat", "--master", "local[2]",
                     "--conf", "vega.default.parallelism=2", example, *args)


def _run_on_vega(name: str, args, tmp_path) -> str:
    result = subprocess.run(_vega_argv(name, args), env=clean_env(), cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def same_lines(vega_out: str, spark_out: str) -> None:
    assert sorted(vega_out.splitlines()) == sorted(spark_out.splitlines())


def same_output(vega_out: str, spark_out: str) -> None:
    assert vega_out == spark_out


def same_ranks(vega_out: str, spark_out: str) -> None:
    def ranks(text):
        return {m.group(1): float(m.group(2))
                for m in re.finditer(r"^(\S+) has rank: (\S+)\.$", text, re.M)}
    vega_ranks, spark_ranks = ranks(vega_out), ranks(spark_out)
    assert vega_ranks.keys() == spark_ranks.keys() and spark_ranks
    for page, rank in spark_ranks.items():
        assert math.isclose(vega_ranks[page], rank, rel_tol=1e-9), page


def both_near_pi(vega_out: str, spark_out: str) -> None:
    for out in (vega_out, spark_out):
        assert abs(float(re.search(r"Pi is roughly (\S+)", out).group(1)) - math.pi) < 0.05


def same_centers(vega_out: str, spark_out: str) -> None:
    def centers(text):
        arrays = re.findall(r"array\(\[([^\]]*)\]\)", text.split("Final centers:")[1])
        return sorted(tuple(round(float(x), 6) for x in a.replace(",", " ").split())
                      for a in arrays)
    assert centers(vega_out) == centers(spark_out) and len(centers(spark_out)) == 2


def classifies_as_well(vega_out: str, spark_out: str, points_file: str) -> None:
    """Both start from an unseeded random w: compare how well each final w classifies."""
    def accuracy(text):
        weights = [float(x) for x in re.split(r"[\s,]+", text.split("Final w:")[1]
                                             .strip().strip("[]").replace("]", "")) if x]
        right = total = 0
        with open(points_file) as fh:
            for line in fh:
                label, *features = map(float, line.split())
                score = sum(w * x for w, x in zip(weights, features))
                right += (score > 0) == (label > 0)
                total += 1
        return right / total
    spark_accuracy = accuracy(spark_out)
    assert spark_accuracy > 0.9
    assert accuracy(vega_out) >= spark_accuracy - 0.05


def same_results(vega_out: str, spark_out: str) -> None:
    def results(text):
        return [line for line in text.splitlines() if line.startswith("Job results are:")]
    assert results(vega_out) == results(spark_out) and results(spark_out)


CHECKS = {
    "wordcount": same_lines,
    "sort": same_output,
    "pagerank": same_ranks,
    "transitive_closure": same_output,
    "pi": both_near_pi,
    "kmeans": same_centers,
    "als": same_output,
    "status_api_demo": same_results,
}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", ["status_api_demo"]  # the longest first: see Answers
                         + sorted(set(CHECKS) - {"status_api_demo"}) + ["logistic_regression"])
def test_spark_example_runs_unchanged_and_gives_pysparks_answer(answers, name, tmp_path):
    """The example, unchanged, under vega submit --pyspark-compat on local[2], prints what
    PySpark prints (as far as the program is deterministic)."""
    vega_out = answers.vega_output(name) if name in SLEEPERS else \
        _run_on_vega(name, answers.inputs[name], tmp_path)
    spark_outputs = answers.outputs()
    if name == "logistic_regression":
        classifies_as_well(vega_out, spark_outputs[name], answers.inputs[name][0])
    else:
        CHECKS[name](vega_out, spark_outputs[name])
