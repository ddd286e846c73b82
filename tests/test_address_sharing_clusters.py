"""Tasks sharing one GPU address on real clusters (``local-cluster`` and a ``vega master``
with a ``vega worker`` whose discovery script finds one GPU): with
``vega.task.resource.gpu.amount`` 0.25 four tasks run on address "0" at once, with 0.5 two,
as Spark runs them.  The tasks meet at a directory of files, each waiting (with a deadline)
until all it expects are there: tasks that ran one after another would never meet.
The slot arithmetic and the master's rule: test_address_sharing.py."""

import json
import os
import stat
import textwrap

import pytest

from vega_runtime import Context, ResourceProfileBuilder, TaskResourceRequests
from vega_runtime.resources import ResourceError
from vega_runtime.task_context import TaskContext

#: what a task that meets the others reports; one left alone past its deadline says "alone"
MEET = textwrap.dedent('''
    def meet(partition, where, expected, deadline_seconds=30.0):
        import os
        import time

        from vega_runtime.task_context import TaskContext

        open(os.path.join(where, str(partition)), "w").close()
        deadline = time.monotonic() + deadline_seconds
        while len(os.listdir(where)) < expected:
            if time.monotonic() > deadline:
                return "alone"
            time.sleep(0.1)
        context = TaskContext.get()
        return context.executor_id, context.resources()["gpu"].addresses
''')
namespace = {}
exec(MEET, namespace)
meet = namespace["meet"]


def one_gpu(tmp_path):
    path = tmp_path / "find-gpu.sh"
    path.write_text('#!/bin/sh\necho \'{"name": "gpu", "addresses": ["0"]}\'\n')
    path.chmod(stat.S_IRWXU)
    return str(path)


def settings(tmp_path, amount):
    return {"vega.worker.resource.gpu.amount": 1,
            "vega.worker.resource.gpu.discovery_script": one_gpu(tmp_path),
            "vega.executor.resource.gpu.amount": 1, "vega.task.resource.gpu.amount": amount,
            "vega.executor.memory": "256m"}


@pytest.mark.parametrize("amount, together", [(0.25, 4), (0.5, 2)])
def test_tasks_share_a_local_clusters_one_gpu_one_over_their_amount_at_once(tmp_path, amount,
                                                                           together):
    """A 4-core worker with one GPU: 4 tasks at once on it at 0.25 a task, 2 at 0.5 (and no
    more: that many executors); before, each executor had to have a GPU of its own, so one
    task ran at a time and they never met."""
    where = tmp_path / "met"
    where.mkdir()
    with Context("local-cluster[1,4,2048]", conf=settings(tmp_path, amount)) as ctx:
        met = ctx.parallelize(range(together), together).map_partitions_with_index(
            lambda index, _: [meet(index, str(where), together)]).collect()
        assert sorted(met, key=str) == [(f"exec-{n}", ["0"]) for n in range(1, together + 1)]
        # (PySpark's executor infos count the driver too)
        assert len(ctx.status_tracker().get_executor_infos()) == together + 1
        if amount == 0.25:  # a stage may take less of the shared GPU, not more
            eighth = ResourceProfileBuilder().require(
                TaskResourceRequests().resource("gpu", 0.125)).build
            assert set(ctx.parallelize(range(8), 8).map(
                lambda _: tuple(TaskContext.get().resources()["gpu"].addresses)
            ).with_resources(eighth).collect()) == {("0",)}
            whole = ResourceProfileBuilder().require(
                TaskResourceRequests().resource("gpu", 1)).build
            with pytest.raises(ResourceError, match="each task asks for 1 gpu but an executor "
                                                    "of this application .* shares each gpu "
                                                    "address with 3 other executors"):
                ctx.parallelize(range(2), 2).with_resources(whole).collect()


def test_a_vega_worker_whose_script_finds_one_gpu_runs_four_quarter_tasks_on_it(tmp_path):
    """The user's way: ``vega master``, ``vega worker --cores 4 --resource gpu=1:SCRIPT``, and
    ``vega submit --conf vega.executor.resource.gpu.amount=1 --conf
    vega.task.resource.gpu.amount=0.25``: four tasks meet on GPU "0"."""
    from proc_helpers import master_and_worker, vega, write_job

    where = tmp_path / "met"
    where.mkdir()
    job = write_job(tmp_path, "share.py", MEET + textwrap.dedent(f'''
        import json
        from vega_runtime import Context

        with Context(app_name="share") as ctx:
            met = ctx.parallelize(range(4), 4).map_partitions_with_index(
                lambda index, _: [meet(index, {str(where)!r}, 4)]).collect()
        print(json.dumps(sorted(met, key=str)))
    '''))
    worker_args = ("--cores", "4", "--memory", "2g", "--resource", f"gpu=1:{one_gpu(tmp_path)}")
    with master_and_worker(tmp_path / "cluster", worker_args=worker_args) as cluster:
        done = vega("submit", "--master", cluster["url"], "--executor-memory", "256m",
                    "--conf", "vega.executor.resource.gpu.amount=1",
                    "--conf", "vega.task.resource.gpu.amount=0.25", job, env=cluster["env"])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == [
        [f"exec-{n}", ["0"]] for n in range(1, 5)]
    assert sorted(os.listdir(where)) == ["0", "1", "2", "3"]


def test_local_executors_sharing_the_drivers_gpu_refuse_a_stage_asking_a_whole_one(tmp_path):
    """local[4] with the driver's one GPU at 0.25 a task: four executor processes on GPU "0";
    a stage profile asking a whole GPU per task ran four such tasks on it at once (Spark runs
    one); now it is refused, saying why."""
    where = tmp_path / "met"
    where.mkdir()
    conf = {"vega.driver.resource.gpu.amount": 1,
            "vega.driver.resource.gpu.discovery_script": one_gpu(tmp_path),
            "vega.task.resource.gpu.amount": 0.25}
    with Context("local[4]", conf=conf) as ctx:
        met = ctx.parallelize(range(4), 4).map_partitions_with_index(
            lambda index, _: [meet(index, str(where), 4)]).collect()
        assert [addresses for _, addresses in met] == [["0"]] * 4
        whole = ResourceProfileBuilder().require(TaskResourceRequests().resource("gpu", 1)).build
        with pytest.raises(ResourceError, match="each task asks for 1 gpu but an executor of "
                                                "this application .* shares each gpu address "
                                                "with 3 other executors .* ask for 1/4 or less"):
            ctx.parallelize(range(4), 4).with_resources(whole).collect()


def test_vega_status_shows_the_shared_gpu_used_by_two_executors_of_four(tmp_path):
    """A 2-core ``vega worker`` with one GPU, an application at 0.25 a task: its two
    executors share GPU "0", and ``vega status`` says ``gpu 1/1 used (0: 2/4 executors)``
    (before: ``gpu 0/1 free``)."""
    import subprocess

    from proc_helpers import master_and_worker, spawn_vega, vega, wait_for, write_job

    where, go = tmp_path / "met", tmp_path / "go"
    where.mkdir()
    job = write_job(tmp_path, "share.py", MEET + textwrap.dedent(f'''
        import os, time
        from vega_runtime import Context

        with Context(app_name="share") as ctx:
            ctx.parallelize(range(2), 2).map_partitions_with_index(
                lambda index, _: [meet(index, {str(where)!r}, 2)]).collect()
            while not os.path.exists({str(go)!r}):
                time.sleep(0.05)
    '''))
    worker_args = ("--cores", "2", "--memory", "2g", "--resource", f"gpu=1:{one_gpu(tmp_path)}")
    with master_and_worker(tmp_path / "cluster", worker_args=worker_args) as cluster:
        driver = spawn_vega("submit", "--master", cluster["url"], "--executor-memory", "256m",
                            "--conf", "vega.executor.resource.gpu.amount=1",
                            "--conf", "vega.task.resource.gpu.amount=0.25", job,
                            env=cluster["env"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for(lambda: len(os.listdir(where)) == 2, 60, "both tasks to run")
            shown = vega("status", "--master", cluster["url"], env=cluster["env"]).stdout
            assert "gpu 1/1 used (0: 2/4 executors)" in shown, shown
        finally:
            go.touch()
            assert driver.wait(60) == 0
