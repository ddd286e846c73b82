"""Text that is not valid UTF-8 in a user's names and errors: Python holds bytes that are not
UTF-8 (a file name, a command-line argument) decoded with ``surrogateescape``, as lone
surrogates; they cross every Vega connection as they are, and the web UI's API shows them."""

import pytest
from http_helpers import api_get
from proc_helpers import wait_for

from vega_runtime import Context
from vega_runtime.errors import TaskFailed
from vega_runtime.net.framing import HEADER, decode_body, encode_frame

#: b"\xff\xfe data" read as a file name or an argument is
NOT_UTF8 = b"\xff\xfe data".decode("utf-8", "surrogateescape")


def test_a_frame_carries_lone_surrogates_as_they_are():
    """A message holding them encodes (msgpack raised UnicodeEncodeError) and decodes to
    the same text."""
    message = {"type": "TaskFailed", "error": f"FileNotFoundError: {NOT_UTF8}",
               NOT_UTF8: [NOT_UTF8, "\ud800"]}
    frame = encode_frame(message)
    assert decode_body(frame[HEADER.size:], "peer") == message


def fails(x):
    raise FileNotFoundError(f"no such file: '{NOT_UTF8}'")


def test_an_application_named_and_failing_with_them_runs_and_says_so(tmp_path):
    """An application whose name, job description and RDD name hold them starts (its
    registration raised UnicodeEncodeError), and a task whose error holds them fails with
    that error (its executor died sending it, and the task was retried as lost with "exited
    with code 1"); the master's REST API shows both."""
    with Context(master="local-cluster[2,1]", app_name=f"app {NOT_UTF8}",
                 conf={"vega.eventlog.dir": str(tmp_path), "vega.task.max_attempts": 2}) as ctx:
        ctx.set_job_description(f"job {NOT_UTF8}")
        numbers = ctx.parallelize(range(4), 2).set_name(f"rdd {NOT_UTF8}")
        with pytest.raises(TaskFailed) as failed:
            numbers.map(fails).count()
        assert f"FileNotFoundError: no such file: '{NOT_UTF8}'" in str(failed.value)
        assert "exited with code" not in str(failed.value)
        cluster = ctx.backend.owned_cluster
        site, token, app = (cluster.webui_port, cluster.ca_file), cluster.token, \
            ctx.backend.app_id
        code, info = api_get(site, f"/api/v1/applications/{app}", token)
        assert code == 200 and info["name"] == f"app {NOT_UTF8}"

        def job():  # the driver relays its events in batches
            code, jobs = api_get(site, f"/api/v1/applications/{app}/jobs", token)
            assert code == 200, jobs
            return jobs and jobs[0]["status"] == "FAILED" and jobs[0]

        assert wait_for(job, 30, "the failed job on the master")["description"] == \
            f"job {NOT_UTF8}"
        code, stage = api_get(site, f"/api/v1/applications/{app}/stages/0/0", token)
        assert code == 200
        errors = {t["errorMessage"] for t in stage["tasks"].values() if "errorMessage" in t}
        assert f"FileNotFoundError: no such file: '{NOT_UTF8}'" in errors
        assert [r["name"] for r in stage["rdds"]][:1] == [f"rdd {NOT_UTF8}"]


def test_a_master_logs_an_application_named_with_them_and_keeps_its_output(tmp_path):
    """``vega submit --name`` with bytes that are not UTF-8, of a job whose task logs a
    record with them: the job runs, the master's log has the application's line and its
    stored output the record, escaped as on the submitter's terminal (the master's log lost
    the line, saying on stderr it could not be written, as for a full disk; the master
    dropped the driver's connection at the record, its output lines lost)."""
    from proc_helpers import master_and_worker, read_text, vega, write_job

    job = write_job(tmp_path, "job.py", """
        import logging
        from vega_runtime import Context

        def logs(x):
            logging.getLogger("job").warning("read %s", b"\\xff\\xfe data".decode(
                "utf-8", "surrogateescape"))
            return x

        with Context() as ctx:
            print("counted", ctx.parallelize(range(4), 1).map(logs).count())
            print("application", ctx.application_id)
    """)
    with master_and_worker(tmp_path / "cluster") as cluster:
        done = vega("submit", "--master", cluster["url"], "--name", f"app {NOT_UTF8}", job,
                    env=cluster["env"])
        assert done.returncode == 0 and "counted 4" in done.stdout, done.stderr
        assert "lost the connection to the master" not in done.stderr
        app = done.stdout.split("application ")[1].split()[0]
        output = vega("logs", "--master", cluster["url"], app, env=cluster["env"]).stderr
        log = read_text(str(tmp_path / "cluster" / "master" / "master.log"))
    assert "(app \\udcff\\udcfe data) registered from" in log
    assert output.count("WARNING job: read \\udcff\\udcfe data") == 4, output
