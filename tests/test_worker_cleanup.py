"""Worker work dirs of finished applications, and job packages no application uses, are
deleted after a TTL."""

import os
import time

import pytest

from vega_runtime.config import Config
from vega_runtime.deploy.worker import Worker


@pytest.fixture
def worker(tmp_path):
    """A worker (not connected to any master) whose work dir is ``tmp_path``, TTL 100 s."""
    conf = Config.load(environ={}, cli={
        "vega.worker.host": "127.0.0.1", "vega.worker.port": 0, "vega.worker.cores": 1,
        "vega.worker.memory": "1g", "vega.worker.work_dir": str(tmp_path),
        "vega.worker.cleanup.app_data_ttl": 100})
    made = Worker(conf, "127.0.0.1", 1, None, "", use_forkserver=False)
    yield made
    made.shuffle.stop()


def test_finished_application_dirs_are_cleaned_after_the_ttl(worker, tmp_path):
    """Old app dirs go; recent ones, running apps' and other files stay."""
    for name in ("app-old", "app-recent", "app-running", "packages"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "exec-1.log").write_text("x")
    old = time.time() - 1000
    for name in ("app-old", "app-running", "packages"):
        for path in (tmp_path / name / "exec-1.log", tmp_path / name):
            os.utime(path, (old, old))
    assert worker.clean_work_dirs(time.time(), keep={"app-running"}) == ["app-old"]
    assert sorted(os.listdir(tmp_path)) == ["app-recent", "app-running", "packages"]


def test_job_packages_no_running_application_uses_are_cleaned_after_the_ttl(worker, tmp_path):
    """A package unused past the TTL goes, unless an application running here uses it."""
    unused, running, recent = ("a" * 64, "b" * 64, "c" * 64)
    for sha in (unused, running, recent):
        (tmp_path / "packages" / sha).mkdir(parents=True)
        (tmp_path / "packages" / sha / "job.py").write_text("x")
    old = time.time() - 1000
    for sha in (unused, running):
        os.utime(tmp_path / "packages" / sha, (old, old))
    worker.packages_of.update({"app-running": running, "app-done": unused})
    assert worker.clean_work_dirs(time.time(), keep={"app-running"}) == [f"packages/{unused}"]
    assert sorted(os.listdir(tmp_path / "packages")) == [running, recent]
    assert worker.packages_of == {"app-running": running}
