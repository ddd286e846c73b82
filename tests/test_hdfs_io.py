"""Inputs and outputs on HDFS, through the WebHDFS test server (no NameNode can be installed here)."""

import hashlib
import os
import socket
import time
from operator import add

import pytest

from proc_helpers import wait_for, wait_for_file_in_task
from vega_runtime import (AccumulatorParam, Context, Decoders, HdfsIO, JobCancelled,
                          OutputExistsError, VegaError)
from vega_testing.webhdfs import WebHDFSServer


@pytest.fixture(scope="module")
def hdfs(tmp_path_factory):
    """A WebHDFS server whose files live in a temporary directory."""
    root = tmp_path_factory.mktemp("hdfs-root")
    with WebHDFSServer(str(root)) as server:
        server.root = root
        server.url = "hdfs://" + server.namenode_url.split("://", 1)[1]
        yield server


@pytest.fixture(scope="module", params=["local", "local[2]", "local-cluster[2,1]"])
def hctx(request):
    with Context(master=request.param, app_name="hdfs-tests",
                 conf={"vega.hdfs.user": "alice"}) as ctx:
        yield ctx


def tag(ctx) -> str:
    """A path-safe name of the context's master, so each master writes its own files."""
    return "".join(c for c in ctx.master if c.isalnum())


def put(hdfs, path, data: bytes):
    HdfsIO(hdfs.namenode_url, user="alice").write_to_hdfs(data, path, overwrite=True)


LINES = [f"line {i} " + "x" * (i % 17) for i in range(2000)]


def test_text_file_reads_byte_range_splits_of_an_hdfs_file(hdfs, hctx):
    """Every line exactly once, in order, from many byte-range splits."""
    put(hdfs, "/in/big.txt", ("\n".join(LINES) + "\n").encode())
    rdd = hctx.text_file(f"{hdfs.url}/in/big.txt", 7)
    assert rdd.get_num_partitions() >= 7
    assert rdd.collect() == LINES


def test_a_bz2_hdfs_file_is_split_at_its_blocks(hdfs, hctx):
    """A .bz2 file of several blocks on HDFS: each task reads its blocks (OPEN with an
    offset) and every line comes once, in order."""
    import bz2

    lines = [f"{i} " + "word " * (i % 40) for i in range(5000)]
    put(hdfs, "/in/big.txt.bz2", bz2.compress(("\n".join(lines) + "\n").encode(), 1))
    rdd = hctx.text_file(f"{hdfs.url}/in/big.txt.bz2", 4)
    assert rdd.get_num_partitions() == 4
    assert sum(1 for n in rdd.glom().map(len).collect() if n) >= 3
    assert rdd.collect() == lines


def test_min_partitions_cuts_an_hdfs_file_at_its_own_block_size(hdfs, hctx):
    """With min_partitions, Hadoop's split rule caps ranges by the file's block size as its
    FileStatus gives it (PySpark reading HDFS: 128 MB blocks, not the local 32 MB): a
    2,500,000-byte file of 1 MiB blocks asked for 2 partitions has 3 (1 MiB, 1 MiB, the
    rest), where the local rule gives 2."""
    from hdfs import InsecureClient

    data = b"".join(b"%09d\n" % i for i in range(250_000))
    InsecureClient(hdfs.namenode_url, user="alice").write("/in/blocks.txt", data,
                                                          overwrite=True, blocksize=1 << 20)
    rdd = hctx.text_file(f"{hdfs.url}/in/blocks.txt", 2)
    # lines start every 10 bytes; a range [start, end) has those starting in (start, end]
    assert rdd.glom().map(len).collect() == [104_858, 104_858, 40_284]
    assert rdd.count() == 250_000


def test_directories_globs_and_webhdfs_urls(hdfs, hctx):
    """Directories and globs (a pattern in any component; _ and . names skipped; {a,b}
    alternatives) and webhdfs:// URLs list like local paths."""
    put(hdfs, "/dir/a.txt", b"a1\na2\n")
    put(hdfs, "/dir/b.log", b"b1\n")
    put(hdfs, "/dir/_SUCCESS", b"")
    put(hdfs, "/dir/_hidden.txt", b"h\n")
    assert hctx.text_file(f"{hdfs.url}/dir").collect() == ["a1", "a2", "b1"]
    assert hctx.text_file(f"{hdfs.url}/dir/*.txt").collect() == ["a1", "a2"]
    assert hctx.text_file(f"{hdfs.url}/dir/*").collect() == ["a1", "a2", "b1"]
    assert hctx.text_file(f"{hdfs.url}/dir/{{b,a}}.*,{hdfs.url}/dir/b.log").collect() == \
        ["a1", "a2", "b1", "b1"]
    webhdfs = hdfs.url.replace("hdfs://", "webhdfs://")
    assert hctx.text_file(f"{webhdfs}/dir/b.log").collect() == ["b1"]
    for name in ("d1/x.txt", "d2/y.txt", "_t/z.txt", ".h/w.txt", "d2/_v.txt", "f.txt"):
        put(hdfs, f"/globs/{name}", name.encode() + b"\n")
    assert hctx.text_file(f"{hdfs.url}/glob?/*/*.txt").collect() == ["_t/z.txt", "d1/x.txt",
                                                                      "d2/y.txt"]
    assert hctx.text_file(f"{webhdfs}/globs/{{d1,f.txt,nope}}").collect() == ["d1/x.txt",
                                                                              "f.txt"]


def test_hash_and_space_are_file_name_characters(hdfs, hctx):
    """As in a Hadoop Path, '#' in an HDFS URL is part of the file name (not a fragment to
    drop): reading names it, a directory's listing reads it, a save lands there."""
    put(hdfs, "/names/a#b c.txt", b"hashed\n")
    assert hctx.text_file(f"{hdfs.url}/names/a#b c.txt").collect() == ["hashed"]
    assert hctx.text_file(f"{hdfs.url}/names").collect() == ["hashed"]
    name = f"out#{tag(hctx)}"
    hctx.parallelize(["x"], 1).save_as_text_file(f"{hdfs.url}/names-{name}")
    assert sorted(os.listdir(hdfs.root / f"names-{name}")) == ["_SUCCESS", "part-00000"]
    assert hctx.text_file(f"{hdfs.url}/names-{name}").collect() == ["x"]


def test_escaped_glob_characters_name_hdfs_files(hdfs, hctx):
    """Hadoop's backslash escapes on HDFS too: q\\?.txt names q?.txt, in a pattern or alone."""
    put(hdfs, "/esc/q?.txt", b"question\n")
    put(hdfs, "/esc/qx.txt", b"x\n")
    put(hdfs, "/esc/b[1]/c{2}.txt", b"brackets\n")
    assert hctx.text_file(f"{hdfs.url}/esc/q\\?.txt").collect() == ["question"]
    assert hctx.text_file(f"{hdfs.url}/esc/q?.txt").collect() == ["question", "x"]
    assert hctx.text_file(f"{hdfs.url}/es?/b\\[1\\]/c\\{{2\\}}.txt").collect() == ["brackets"]
    assert hctx.text_file(f"{hdfs.url}/esc/b\\[1\\]/c\\{{2\\}}.txt").collect() == ["brackets"]


def test_hdfs_urls_without_a_namenode_use_vega_hdfs_namenode(hdfs, tmp_path):
    """hdfs:///data (Spark reads it with fs.defaultFS) reads and writes the namenode of
    vega.hdfs.namenode; it was refused, "the URL names no namenode", whatever the setting."""
    put(hdfs, "/default/in.txt", b"one\ntwo\n")
    namenode = hdfs.namenode_url.split("://", 1)[1]
    with Context(master="local[2]", app_name="default-namenode",
                 conf={"vega.hdfs.user": "alice", "vega.hdfs.namenode": namenode}) as ctx:
        assert ctx.text_file("hdfs:///default/in.txt").collect() == ["one", "two"]
        assert ctx.whole_text_files("webhdfs:///default").keys().collect() == [
            f"webhdfs://{namenode}/default/in.txt"]
        ctx.parallelize(["out"], 1).save_as_text_file("hdfs:///default/out")
        assert sorted(os.listdir(hdfs.root / "default" / "out")) == ["_SUCCESS", "part-00000"]
        assert ctx.text_file(f"{hdfs.url}/default/out").collect() == ["out"]
    with Context(master="local", app_name="no-default-namenode") as ctx:
        reason = "names no namenode: give hdfs://host:port/path, or set vega.hdfs.namenode"
        with pytest.raises(VegaError, match=reason):
            ctx.text_file("hdfs:///default/in.txt").collect()
        with pytest.raises(VegaError, match=reason):
            ctx.parallelize(["out"], 1).save_as_text_file("hdfs:///default/out2")
    assert not (hdfs.root / "default" / "out2").exists()


def test_add_file_from_hdfs(hdfs, tmp_path):
    """add_file takes an HDFS URL, as Spark's addFile does: tasks find the file by name."""
    from vega_runtime import SparkFiles

    put(hdfs, "/shipped/model.bin", b"\x00weights\xff")
    with Context(master="local[2]", conf={"vega.hdfs.user": "alice"}) as ctx:
        ctx.add_file(f"{hdfs.url}/shipped/model.bin")
        assert ctx.parallelize([0, 1], 2).map(
            lambda _: open(SparkFiles.get("model.bin"), "rb").read()).collect() == \
            [b"\x00weights\xff"] * 2
        assert ctx.list_files == [f"{hdfs.url}/shipped/model.bin"]
        with pytest.raises(VegaError, match=r"/shipped/nope.bin.*not found"):
            ctx.add_file(f"{hdfs.url}/shipped/nope.bin")


def test_whole_text_binary_and_pickle_files(hdfs, hctx):
    """whole_text_files and binary_files key by URL; pickle files round-trip."""
    put(hdfs, "/whole/one.txt", "é1\n".encode())
    put(hdfs, "/whole/two.txt", b"2\n")
    texts = dict(hctx.whole_text_files(f"{hdfs.url}/whole").collect())
    assert sorted(texts.values()) == ["2\n", "é1\n"]
    assert all(k.startswith(hdfs.url + "/whole/") for k in texts)
    blobs = dict(hctx.binary_files(f"{hdfs.url}/whole").collect())
    assert sorted(blobs.values()) == [b"2\n", "é1\n".encode()]
    target = f"{hdfs.url}/pickled-{hctx.master.replace('[', '').replace(']', '').replace(',', '')}"
    hctx.parallelize([(1, None), ("x", [1.5])], 2).save_as_pickle_file(target)
    assert sorted(hctx.pickle_file(target).collect(), key=repr) == [("x", [1.5]), (1, None)]


def test_save_as_text_file_to_hdfs_is_atomic(hdfs, hctx):
    """Parts plus _SUCCESS, no _temporary; an existing path is refused before any work."""
    name = "out-" + hctx.master.replace("[", "").replace("]", "").replace(",", "")
    target = f"{hdfs.url}/{name}"
    hctx.parallelize(["a", "b", "c"], 3).save_as_text_file(target)
    listing = sorted(os.listdir(hdfs.root / name))
    assert listing == ["_SUCCESS", "part-00000", "part-00001", "part-00002"]
    assert hctx.text_file(target).collect() == ["a", "b", "c"]
    with pytest.raises(OutputExistsError):
        hctx.parallelize(["z"]).save_as_text_file(target)
    hctx.parallelize(["z"], 1).save_as_text_file(target, overwrite=True)
    assert hctx.text_file(target).collect() == ["z"]


def test_a_failed_save_leaves_nothing_on_hdfs(hdfs, hctx):
    """A job that fails while saving removes its target directory."""
    target = f"{hdfs.url}/failed-{os.getpid()}-{hctx.master[:5]}"
    with pytest.raises(VegaError):
        hctx.parallelize(range(4), 2).map(lambda x: 1 // (x - 3)).save_as_text_file(target)
    assert not os.path.exists(hdfs.root / target.rsplit("/", 1)[1])


def test_a_failed_save_waits_for_its_killed_tasks_before_removing_its_output(hdfs, hctx,
                                                                           tmp_path):
    """A task still writing when its job fails has ended (killed) before the failed save
    removes the output, and nothing is left: a write in flight then would make the
    directories its part file is in again (an HDFS CREATE makes them), as CI once saw:
    partition 0's write was in flight as partition 1 failed, and the target directory was
    back.  Here partition 0 is busy in C code for a quarter of a second, where its kill
    waits; before, the save raised at once, while it ran on (its ``finally`` had not run).
    (Longer, a loaded machine took it past ``local[N]``'s kill grace, 3 s: its executor was
    ended, with no ``finally``.)"""
    target = f"{hdfs.url}/killed-{os.getpid()}-{tag(hctx)}"
    ended, writing = tmp_path / "ended", tmp_path / "writing"

    def write_then_hash(index, rows):
        if index == 1:  # fails once partition 0 writes (on a loaded machine it may start late)
            deadline = time.monotonic() + 60
            while not writing.exists() and time.monotonic() < deadline:
                time.sleep(0.01)
            raise ValueError("this partition fails")
        try:
            yield from (f"row {i}" for i in range(5000))  # a first block: the upload started
            writing.write_text("")
            hashlib.pbkdf2_hmac("sha256", b"vega", b"salt", 1_000_000)  # ~0.25 s in C
            yield "last"
        finally:
            ended.write_text("killed, or done")

    with pytest.raises(VegaError):
        hctx.parallelize(range(2), 2).map_partitions_with_index(write_then_hash) \
            .save_as_text_file(target)
    assert ended.exists()
    assert not os.path.exists(hdfs.root / target.rsplit("/", 1)[1])


def test_a_failed_save_waits_for_a_killed_task_whose_start_the_driver_had_not_taken_in(
        hdfs, hctx, tmp_path):
    """The failed save waited only for killed tasks whose start the job loop had taken in:
    one sent to an executor just before its job failed (the loop busy meanwhile) was not
    waited for, and the output was removed while it still wrote its part (where an HDFS
    CREATE makes the directories again).  Here partition 0 or 1's end frees an executor,
    which is sent partition 2 in the same poll; the loop, merging the ended task's
    accumulator update, waits until partition 2 runs and cancels the job, whose kill
    reaches partition 2 busy in C code.  Before, the save raised while it ran on (its
    ``finally`` had not run)."""
    if hctx.master == "local":
        pytest.skip("local runs its tasks one at a time, in the driver's job loop")
    name = f"unseen-{os.getpid()}-{tag(hctx)}"
    running, ended = str(tmp_path / "running"), tmp_path / "ended"

    class CancelAtTheFirstMerge(AccumulatorParam):
        """The driver's copy merges a task's update as the job loop takes in its end: the
        first time, once partition 2 runs, it cancels the job."""

        def __init__(self, cancel=None):
            self.cancel = cancel

        def __reduce__(self):  # the tasks' copies cancel nothing
            return CancelAtTheFirstMerge, ()

        def addInPlace(self, value1, value2):  # noqa: N802 - PySpark's name
            cancel, self.cancel = self.cancel, None
            if cancel is not None:
                wait_for_file_in_task(running, 30.0)
                cancel()
            return value1 + value2

    ends = hctx.accumulator(0, CancelAtTheFirstMerge(hctx.cancel_all_jobs))

    def write_slowly(index, rows):
        ends.add(1)
        if index != 2:
            yield index
            return
        try:
            yield from (f"row {i}" for i in range(5000))  # a first block: the upload started
            with open(running, "w"):
                pass
            hashlib.pbkdf2_hmac("sha256", b"vega", b"salt", 1_000_000)  # in C: its kill waits
            yield "last"
        finally:
            ended.write_text("killed, or done")

    with pytest.raises(JobCancelled):
        hctx.parallelize(range(3), 3).map_partitions_with_index(write_slowly) \
            .save_as_text_file(f"{hdfs.url}/{name}")
    left_then = os.path.exists(hdfs.root / name)
    ended_then = ended.exists()
    wait_for(ended.exists, 30.0, "partition 2's end")
    assert (ended_then, left_then, os.path.exists(hdfs.root / name)) == (True, False, False)


def test_a_failed_overwrite_on_hdfs_keeps_the_old_output(hdfs, hctx):
    """overwrite=True by a failing job: the old output stays, no staging copy is left."""
    name = f"kept-{os.getpid()}-{tag(hctx)}"
    target = f"{hdfs.url}/{name}"
    hctx.parallelize(["old"], 1).save_as_text_file(target)
    with pytest.raises(VegaError):
        hctx.parallelize(range(4), 2).map(lambda x: 1 // (x - 3)) \
            .save_as_text_file(target, overwrite=True)
    assert hctx.text_file(target).collect() == ["old"]
    assert [n for n in os.listdir(hdfs.root) if name in n] == [name]
    hctx.parallelize(["new"], 1).save_as_text_file(target, overwrite=True)
    assert hctx.text_file(target).collect() == ["new"]
    assert [n for n in os.listdir(hdfs.root) if name in n] == [name]


def test_checkpoint_to_hdfs_truncates_lineage(hdfs, hctx):
    """set_checkpoint_dir on HDFS: the checkpointed RDD reads back from there."""
    hctx.set_checkpoint_dir(f"{hdfs.url}/checkpoints")
    rdd = hctx.parallelize(range(10), 2).map(lambda x: x * 3)
    rdd.checkpoint()
    assert rdd.sum() == 135
    assert rdd.is_checkpointed is True
    assert rdd.get_checkpoint_file() == f"{hctx.get_checkpoint_dir()}/rdd-{rdd.id()}"
    assert hctx.get_checkpoint_dir().startswith(f"{hdfs.url}/checkpoints/")
    assert rdd.collect() == [x * 3 for x in range(10)]
    assert "ParallelCollectionRDD" not in rdd.to_debug_string()


def test_wordcount_over_hdfs_matches_the_local_run(hdfs, hctx, tmp_path):
    """Word count reading byte-range splits from HDFS and saving back gives the local answer."""
    text = "".join(f"w{i % 13} w{i % 7} common\n" for i in range(3000))
    put(hdfs, "/corpus/text.txt", text.encode())
    local = tmp_path / "text.txt"
    local.write_text(text)

    def count(path):
        return sorted(hctx.text_file(path, 4).flat_map(str.split).map(lambda w: (w, 1))
                      .reduce_by_key(add).collect())

    expected = count(str(local))
    assert count(f"{hdfs.url}/corpus/text.txt") == expected
    target = f"{hdfs.url}/counts-{hctx.master[:5]}-{os.getpid()}"
    hctx.text_file(f"{hdfs.url}/corpus/text.txt", 4).flat_map(str.split) \
        .map(lambda w: (w, 1)).reduce_by_key(add).map(lambda kv: f"{kv[0]}\t{kv[1]}") \
        .save_as_text_file(target, overwrite=True)
    saved = sorted(tuple(line.split("\t")) for line in hctx.text_file(target).collect())
    assert saved == sorted((w, str(n)) for w, n in expected)


def test_hdfs_io_reads_and_writes_like_the_rust_vega_api(hdfs, hctx):
    """read_to_vec, read_to_rdd (one element per file, no empty partition), decoders, write."""
    io = HdfsIO(hdfs.namenode_url.split("://", 1)[1], user="alice")
    base = f"/rv-{tag(hctx)}/deep"
    io.write_to_hdfs(b"alpha\nbeta\n", f"{base}/a.txt")
    io.write_to_hdfs(b"gamma\n" * 50, f"{base}/b.txt")
    io.write_to_hdfs(b"delta\n", f"{base}/c.txt")
    assert io.read_to_vec(f"{base}/a.txt") == b"alpha\nbeta\n"
    with pytest.raises(OutputExistsError):
        io.write_to_hdfs(b"again", f"{base}/a.txt")
    rdd = io.read_to_rdd(base, hctx, 2)
    assert rdd.get_num_partitions() == 2
    assert sorted(rdd.collect()) == sorted([b"alpha\nbeta\n", b"gamma\n" * 50, b"delta\n"])
    spread = io.read_to_rdd(base, hctx, 10)
    assert [len(p) for p in spread.glom().collect()] == [1, 1, 1]
    lines = io.read_to_rdd_and_decode(base, hctx, 2, Decoders.to_utf8_lines())
    assert sorted(line for file_lines in lines.collect() for line in file_lines) == \
        sorted(["alpha", "beta", "delta"] + ["gamma"] * 50)
    texts = io.read_to_rdd_and_decode(f"{base}/a.txt", hctx, 1, Decoders.to_utf8()).collect()
    assert texts == ["alpha\nbeta\n"]


def test_errors_name_the_url_and_the_cause(hdfs, hctx):
    """A missing file and an unreachable namenode each get one clear message."""
    with pytest.raises(VegaError, match=r"/nope.*(no such file|does not exist)"):
        hctx.text_file(f"{hdfs.url}/nope").count()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    with pytest.raises(VegaError, match=rf"127\.0\.0\.1:{dead}.*unreachable"):
        hctx.text_file(f"hdfs://127.0.0.1:{dead}/x").count()


def test_reading_a_directory_as_a_file_says_so(hdfs):
    """HdfsIO.read_to_vec on a directory names the URL and that it is not a file."""
    io = HdfsIO(hdfs.namenode_url, user="alice")
    io.write_to_hdfs(b"x", "/adir/inside.txt", overwrite=True)
    with pytest.raises(VegaError, match=r"/adir.*not a file"):
        io.read_to_vec("/adir")


def test_permission_denied_names_the_url(tmp_path):
    """With permissions enforced, writing where the user may not says 'permission denied'."""
    with WebHDFSServer(str(tmp_path / "root"), enforce_permissions=True) as server:
        url = "hdfs://" + server.namenode_url.split("://", 1)[1]
        with Context(master="local", conf={"vega.hdfs.user": "alice"}) as ctx:
            with pytest.raises(VegaError, match=r"HDFS .*permission denied"):
                ctx.parallelize(["x"]).save_as_text_file(f"{url}/forbidden")


def test_event_logs_can_live_on_hdfs(hdfs, tmp_path):
    """vega.eventlog.dir on HDFS: the log lands there at the end and vega history reads it."""
    import json
    import subprocess
    import sys

    target = f"{hdfs.url}/event-logs"
    with Context(master="local", app_name="on-hdfs",
                 conf={"vega.eventlog.dir": target, "vega.hdfs.user": "alice"}) as ctx:
        ctx.parallelize(range(6), 3).count()
        app_id = ctx.application_id
    assert (hdfs.root / "event-logs" / f"{app_id}.jsonl").exists()
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    listed = subprocess.run([sys.executable, "-m", "vega_cli.main", "history", "--dir", target,
                             "--json"], cwd=repo, capture_output=True, text=True)
    assert [s["app_id"] for s in json.loads(listed.stdout)] == [app_id]


def test_a_rolling_event_log_goes_to_hdfs_in_parts_and_is_read_whole(hdfs, tmp_path):
    """With vega.eventlog.rolling.enabled every part lands on HDFS, and vega history reads
    them all (a missing next part ends the log, on HDFS too); its table, the first part's
    first line and the last part's last."""
    import json
    import subprocess
    import sys

    target = f"{hdfs.url}/rolled-logs"
    with Context(master="local", app_name="rolled",
                 conf={"vega.eventlog.dir": target, "vega.hdfs.user": "alice",
                       "vega.eventlog.rolling.enabled": True,
                       "vega.eventlog.rolling.max_file_size": "1m"}) as ctx:
        for _ in range(500):
            ctx.parallelize(range(4), 2).count()
        app_id = ctx.application_id
    names = sorted(os.listdir(hdfs.root / "rolled-logs"))
    assert names[:2] == [f"{app_id}.jsonl", f"{app_id}.jsonl.2"]
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    summary = subprocess.run([sys.executable, "-m", "vega_cli.main", "history", "--dir", target,
                              app_id, "--json"], cwd=repo, capture_output=True, text=True)
    found = json.loads(summary.stdout)
    assert (found["jobs"], found["finished"], found["broken"]) == (500, True, False)
    # the table reads each log at its two ends (its end carries the totals), on HDFS too:
    # the first part garbled in place past its first line is not read (a whole read says
    # broken)
    first = hdfs.root / "rolled-logs" / f"{app_id}.jsonl"
    start = first.read_bytes().split(b"\n", 1)[0] + b"\n"
    first.write_bytes(start + b"x" * (first.stat().st_size - len(start) - 1) + b"\n")
    table = subprocess.run([sys.executable, "-m", "vega_cli.main", "history", "--dir", target],
                           cwd=repo, capture_output=True, text=True)
    [row] = [line for line in table.stdout.splitlines() if app_id in line]
    assert [cell.strip() for cell in row.split("│")[5:9]] == ["500", "1000", "0", "finished"]
    whole = subprocess.run([sys.executable, "-m", "vega_cli.main", "history", "--dir", target,
                            app_id, "--json"], cwd=repo, capture_output=True, text=True)
    assert json.loads(whole.stdout)["broken"]
