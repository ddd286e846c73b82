"""vega.eventlog.dir as a file: URL, Spark's way of writing it (spark.eventLog.dir's
default is file:///tmp/spark-events; Hadoop prints file:/tmp/spark-events), as
config_values.parse_location and docs/storage.md take it."""

import json
import os

import pytest

from vega_runtime import Context

from proc_helpers import vega


@pytest.mark.parametrize("scheme", ["file://", "file:"])
def test_an_event_log_dir_given_as_a_file_url_holds_the_log_vega_history_lists(
        tmp_path, monkeypatch, scheme):
    """The log went to a relative directory ./file:/... and stop() failed with
    FileNotFoundError naming the path the URL meant, so the job failed after its work (found
    with vega submit --conf spark.eventLog.dir=file:/tmp/spark-events); vega history --dir
    file:/DIR said 'no event log directory' of a directory that exists."""
    monkeypatch.chdir(tmp_path)  # where a relative file: directory was made
    url = f"{scheme}{tmp_path}/events"
    with Context("local", app_name="urls", conf={"vega.eventlog.dir": url}) as ctx:
        assert ctx.parallelize([1, 2, 3]).sum() == 6
        app_id = ctx.context_id
    assert [n for n in os.listdir(tmp_path / "events") if not n.startswith(".")] == \
        [f"{app_id}.jsonl"]  # (and the cleaner's .vega-cleaner-N)
    assert sorted(os.listdir(tmp_path)) == ["events"]
    result = vega("history", "--dir", url, "--json")
    assert result.returncode == 0, result.stderr
    assert [(a["app_id"], a["name"]) for a in json.loads(result.stdout)] == [(app_id, "urls")]
