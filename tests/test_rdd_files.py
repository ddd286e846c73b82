"""Files shipped to tasks with the Context (PySpark's addFile, addPyFile, addArchive and
SparkFiles), on every master."""

import importlib
import os
import re
import shutil

import pytest

from vega_runtime import SparkFiles


def test_add_file_reaches_tasks_and_the_driver(ctx, tmp_path):
    """addFile: tasks and the driver read it through SparkFiles.get; listFiles names it."""
    source = tmp_path / f"greeting-{ctx.application_id}.txt"
    source.write_text("hello")
    ctx.addFile(str(source))
    name = source.name
    assert ctx.parallelize([1, 2], 2).map(
        lambda _: open(SparkFiles.get(name)).read()).collect() == ["hello", "hello"]
    assert open(SparkFiles.get(name)).read() == "hello"
    assert f"file:{source}" in ctx.listFiles


def test_an_added_file_outlives_the_garbage_collection_of_broadcasts(ctx, tmp_path):
    """An added file travels as a broadcast the program never sees: broadcasts nothing holds
    are deleted as the next job starts, and that one must not be (tasks read the file)."""
    import gc

    source = tmp_path / f"kept-{ctx.application_id}.txt"
    source.write_text("kept")
    ctx.addFile(str(source))
    gc.collect()
    assert ctx.parallelize([1, 2], 2).map(
        lambda _: open(SparkFiles.get(source.name)).read()).collect() == ["kept", "kept"]


def test_add_file_takes_a_file_url(ctx, tmp_path):
    """addFile('file:///abs/path'), as PySpark takes it."""
    source = tmp_path / f"by-url-{ctx.application_id}.txt"
    source.write_text("from a URL")
    ctx.addFile(f"file://{source}")
    assert ctx.parallelize([1], 1).map(
        lambda _: open(SparkFiles.get(source.name)).read()).collect() == ["from a URL"]
    assert f"file:{source}" in ctx.listFiles


def test_add_file_of_a_directory_needs_recursive(ctx, tmp_path):
    """A directory is refused without recursive=True and shipped whole with it."""
    tree = tmp_path / f"tree-{ctx.application_id}"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf.txt").write_text("leaf")
    with pytest.raises(ValueError) as info:
        ctx.addFile(str(tree))
    assert str(info.value) == f"{tree} is a directory: pass recursive=True to add it"
    for empty in ("", " "):  # not the working directory, whole or not
        with pytest.raises(ValueError, match="the path to add is empty"):
            ctx.addFile(empty, recursive=True)
    ctx.addFile(str(tree), recursive=True)
    name = tree.name
    assert ctx.parallelize([0], 1).map(lambda _: open(
        os.path.join(SparkFiles.get(name), "sub", "leaf.txt")).read()).collect() == ["leaf"]


def test_add_file_refuses_a_second_file_of_the_same_name(ctx, tmp_path):
    """Two different files with one name cannot both be added."""
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"same-{ctx.application_id}.txt").write_text(folder)
    ctx.addFile(str(tmp_path / "one" / f"same-{ctx.application_id}.txt"))
    ctx.addFile(str(tmp_path / "one" / f"same-{ctx.application_id}.txt"))  # again: a no-op
    with pytest.raises(ValueError) as info:
        ctx.addFile(str(tmp_path / "two" / f"same-{ctx.application_id}.txt"))
    assert str(info.value).startswith(f"a file named 'same-{ctx.application_id}.txt' was "
                                      "already added from ")


def test_add_py_file_makes_a_module_importable_in_tasks(ctx, tmp_path):
    """addPyFile: a module the closures use imports on the executors (and the driver)."""
    module = "compat_helper_" + re.sub(r"\W", "_", ctx.application_id)
    (tmp_path / f"{module}.py").write_text("def triple(x):\n    return 3 * x\n")
    ctx.addPyFile(str(tmp_path / f"{module}.py"))
    helper = importlib.import_module(module)
    assert ctx.parallelize([1, 2], 2).map(helper.triple).collect() == [3, 6]


def test_add_archive_is_unpacked_in_a_directory_of_its_name(ctx, tmp_path):
    """addArchive: tasks see the archive's tree under SparkFiles.get(archive name)."""
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "inside.txt").write_text("packed")
    archive = shutil.make_archive(str(tmp_path / f"bundle-{ctx.application_id}"), "zip",
                                  str(tmp_path / "content"))
    ctx.addArchive(archive)
    name = os.path.basename(archive)
    assert ctx.parallelize([0], 1).map(lambda _: open(
        os.path.join(SparkFiles.get(name), "inside.txt")).read()).collect() == ["packed"]
    assert f"file:{archive}" in ctx.listArchives
    assert f"file:{archive}" not in ctx.listFiles
    with pytest.raises(ValueError) as info:  # it was skipped, unlisted and unshipped
        ctx.addFile(archive)
    assert str(info.value) == (
        f"{archive} was already added as an archive; as a file too it would stand at the "
        f"same SparkFiles.get({name!r}): add the archive as {archive}#OTHER_NAME to unpack "
        "it under another name")
    ctx.addArchive(archive)  # again: a no-op
    assert f"file:{archive}" not in ctx.listFiles


def test_add_archive_unpacks_as_the_name_after_a_hash(ctx, tmp_path):
    """addArchive("env.tar.gz#alias") unpacks it into SparkFiles.get("alias"), in tasks and
    on the driver, and listArchives gives the URI with its "#alias", as Spark's (PySpark
    4.3 reads 'tarred' there and lists 'file:.../env.tar.gz#alias').  Before: ValueError
    'add_archive takes a .zip, .tar, .tar.gz or .tgz file'."""
    (tmp_path / "content").mkdir()
    (tmp_path / "content" / "t.txt").write_text("tarred")
    archive = shutil.make_archive(str(tmp_path / "env"), "gztar", str(tmp_path / "content"))
    alias = f"env-{ctx.application_id}"
    ctx.addArchive(f"{archive}#{alias}")
    assert ctx.parallelize([0], 1).map(lambda _: open(
        os.path.join(SparkFiles.get(alias), "t.txt")).read()).collect() == ["tarred"]
    assert open(os.path.join(SparkFiles.get(alias), "t.txt")).read() == "tarred"
    assert f"file:{archive}#{alias}" in ctx.listArchives


def test_spark_files_has_a_directory_whether_or_not_files_were_shipped(ctx):
    """SparkFiles.getRootDirectory() is a directory on the driver and in tasks with nothing
    shipped (PySpark programs do sys.path.insert(0, SparkFiles.getRootDirectory()) first
    thing; it raised 'no files were shipped'), and get() gives the path a file would have
    there without checking it, as PySpark's."""
    def where(_):
        root = SparkFiles.getRootDirectory()
        return os.path.isdir(root), SparkFiles.get("sub/data.csv") == os.path.join(root, "sub/data.csv")

    assert ctx.parallelize([1, 2], 2).map(where).collect() == [(True, True), (True, True)]
    assert where(None) == (True, True)


def test_spark_files_get_finds_a_file_inside_an_added_directory(ctx, tmp_path):
    """get('tree/sub/leaf.txt') is that file of the added directory tree, as PySpark's (it
    took the basename, leaf.txt, and said it was not shipped)."""
    tree = tmp_path / f"nested-{ctx.application_id}"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "leaf.txt").write_text("deep")
    ctx.addFile(str(tree), recursive=True)
    path = f"{tree.name}/sub/leaf.txt"
    assert ctx.parallelize([1, 2], 2).map(
        lambda _: open(SparkFiles.get(path)).read()).collect() == ["deep", "deep"]
    assert open(SparkFiles.get(path)).read() == "deep"


def test_overlapping_contexts_have_their_own_spark_files_directories(ctx, fresh_ctx, tmp_path):
    """A second Context started and stopped while the first runs: on the driver SparkFiles
    is the running Context's directory again, its files still there; each Context's tasks
    find their own files."""
    mine = tmp_path / f"mine-{ctx.application_id}.txt"
    mine.write_text("first")
    ctx.addFile(str(mine))
    first_root = SparkFiles.getRootDirectory()
    other = fresh_ctx("local")
    assert SparkFiles.getRootDirectory() != first_root
    theirs = tmp_path / "theirs.txt"
    theirs.write_text("second")
    other.addFile(str(theirs))
    assert other.parallelize([0], 1).map(
        lambda _: os.path.exists(SparkFiles.get(mine.name))).collect() == [False]
    other.stop()
    assert SparkFiles.getRootDirectory() == first_root
    assert open(SparkFiles.get(mine.name)).read() == "first"
    assert not os.path.exists(SparkFiles.get(theirs.name))
    assert ctx.parallelize([0], 1).map(
        lambda _: open(SparkFiles.get(mine.name)).read()).collect() == ["first"]


def test_a_thread_a_task_starts_finds_the_added_files(ctx, tmp_path):
    """SparkFiles in a thread started by a task (a thread pool in map_partitions) is the
    executor's directory, as PySpark's process-wide one."""
    import threading

    source = tmp_path / f"threaded-{ctx.application_id}.txt"
    source.write_text("from a thread")
    ctx.addFile(str(source))

    def read_in_a_thread(records):
        found = []
        reader = threading.Thread(target=lambda: found.append(open(SparkFiles.get(source.name)).read()))
        reader.start()
        reader.join()
        return found

    assert ctx.parallelize([0, 1], 2).mapPartitions(read_in_a_thread).collect() == \
        ["from a thread", "from a thread"]


@pytest.mark.parametrize("add", ["add_file", "addPyFile", "add_archive"])
def test_adding_what_is_not_a_path_is_a_type_error(ctx, add):
    """add_file(None) raised AttributeError: 'NoneType' object has no attribute
    'startswith' (add_py_file: 'endswith', add_archive: 'partition')."""
    for wrong, name in ((None, "NoneType"), (5, "int")):
        with pytest.raises(TypeError, match=f"^a path must be a str or a pathlib.Path .*, "
                                            f"not {name}$"):
            getattr(ctx, add)(wrong)
