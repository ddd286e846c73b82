"""Archives that try to write outside the directory they unpack in (add_archive, vega submit
--archives, vega.archives): each is refused by name before anything is written, in the
driver, which unpacks first; the directory's NAME after '#' cannot point elsewhere."""

import gzip
import io
import os
import re
import stat
import struct
import sys
import tarfile
import zipfile
import zlib

import pytest

from vega_runtime import Context, SparkFiles


@pytest.fixture(scope="module")
def ctx():
    context = Context("local[1]", app_name="archive-attacks")
    yield context
    context.stop()


def regular(name, data=b"x", mode=0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def special(name, kind, linkname="", mode=0o644):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, linkname, mode
    return info, None


def write_tar(path, members, mode="w"):
    with tarfile.open(path, mode) as out:
        for info, data in members:
            out.addfile(info, io.BytesIO(data) if data is not None else None)
    return str(path)


def write_zip(path, members):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for name, data in members:
            out.writestr(name, data)
    return str(path)


OUTSIDE = f"/tmp/vega-archive-attack-{os.getpid()}"  # where the attacks aim
CLIMB = "../" * 20 + OUTSIDE.lstrip("/")

TAR_ATTACKS = [
    ("dotdot", [regular(CLIMB)], f"member {CLIMB!r} has a '..' in its name"),
    ("absolute", [regular(OUTSIDE)],
     f"member '{OUTSIDE}' has an absolute name"),
    ("link-out", [special("l", tarfile.SYMTYPE, "../" * 20 + "tmp"),
                  regular("l/" + os.path.basename(OUTSIDE))],
     f"member 'l' is a symbolic link to {'../' * 20 + 'tmp'!r}, outside the directory it "
     "unpacks in"),
    ("absolute-link", [special("l", tarfile.SYMTYPE, "/tmp")],
     "member 'l' is a symbolic link to '/tmp', outside the directory it unpacks in"),
    # each link on its own stays inside; followed one through the other, m is the parent
    ("link-chain", [special("l", tarfile.SYMTYPE, "."), special("m", tarfile.SYMTYPE, "l/..")],
     "member 'm' is a symbolic link to 'l/..', outside the directory it unpacks in"),
    ("through-inner-link", [regular("sub/a"), special("l", tarfile.SYMTYPE, "sub"),
                            regular("l/b")],
     "member 'l/b' is under the symbolic link 'l' of the archive"),
    ("hardlink-out", [special("h", tarfile.LNKTYPE, "/etc/passwd")],
     "member 'h' is a hard link to '/etc/passwd', not to a file of the archive"),
    ("fifo", [special("pipe", tarfile.FIFOTYPE)],
     "member 'pipe' is a FIFO: an archive for tasks holds files, directories and links"),
    ("device", [special("null", tarfile.CHRTYPE)],
     "member 'null' is a device file: an archive for tasks holds files, directories and links"),
    ("duplicate", [regular("a", b"1"), regular("./a", b"2")],
     "member './a' comes twice: which one is meant is unclear"),
    # a virtual environment's interpreter may link out (venv-pack's), nothing else may
    ("interpreter-without-pyvenv-cfg", [special("bin/python", tarfile.SYMTYPE, "/tmp")],
     "member 'bin/python' is a symbolic link to '/tmp', outside the directory it unpacks in"),
    ("other-venv-link", [regular("env/pyvenv.cfg"), special("env/bin/pip", tarfile.SYMTYPE,
                                                             "/tmp")],
     "member 'env/bin/pip' is a symbolic link to '/tmp', outside the directory it unpacks in"),
    ("through-interpreter", [regular("pyvenv.cfg"), special("bin/python", tarfile.SYMTYPE,
                                                             "/tmp"),
                             regular("bin/python/" + os.path.basename(OUTSIDE))],
     f"member 'bin/python/{os.path.basename(OUTSIDE)}' is under the symbolic link "
     "'bin/python' of the archive"),
    ("empty-link", [special("l", tarfile.SYMTYPE, "")],
     "member 'l' is a symbolic link to nothing"),
    ("under-a-file", [regular("a"), regular("a/b")],
     "member 'a/b' is under 'a', which the archive has as a file or link"),
]


def outside_untouched():
    return not os.path.lexists(OUTSIDE)


@pytest.mark.parametrize("name, members, problem", TAR_ATTACKS, ids=[a[0] for a in TAR_ATTACKS])
def test_a_tar_member_that_could_escape_is_refused_by_name(ctx, tmp_path, name, members, problem):
    """Before: shutil.unpack_archive unpacked tars unfiltered (absolute names and links out
    of the directory written through, FIFOs and devices made)."""
    path = write_tar(tmp_path / f"{name}.tar", members)
    with pytest.raises(ValueError) as refused:
        ctx.add_archive(path)
    advice = "rebuild it without that"
    if "outside the directory" in problem:
        advice += (" (only a virtual environment's bin/python, bin/python3 and bin/python3.N, "
                   "next to its pyvenv.cfg, may link outside)")
    assert str(refused.value) == f"archive '{name}.tar' is not unpacked: {problem}; {advice}"
    assert outside_untouched()
    assert not os.path.lexists(SparkFiles.get(f"{name}.tar"))
    assert f"file:{path}" not in ctx.list_archives


@pytest.mark.parametrize("member, problem", [
    (CLIMB, "has a '..' in its name"),
    (OUTSIDE, "has an absolute name"),
    ("ok.txt/x", "is under 'ok.txt', which the archive has as a file or link")],
    ids=["dotdot", "absolute", "under-a-file"])
def test_a_zip_member_that_could_escape_is_refused_by_name(ctx, tmp_path, member, problem):
    """Before: shutil.unpack_archive skipped them without a word (or failed with 'Not a
    directory', having unpacked the rest)."""
    path = write_zip(tmp_path / "escape.zip", [("ok.txt", b"ok"), (member, b"x")])
    with pytest.raises(ValueError) as refused:
        ctx.add_archive(path)
    assert str(refused.value) == (f"archive 'escape.zip' is not unpacked: member {member!r} "
                                  f"{problem}; rebuild it without that")
    assert outside_untouched()
    assert not os.path.lexists(SparkFiles.get("escape.zip"))


def test_bombs_are_refused_before_they_unpack(ctx, tmp_path):
    """A 64 MiB file of zeros in a few KiB (.tar.gz and .zip): past the 100:1 ratio the job
    packages are held to, read no further than the member's header."""
    zeros = 64 << 20
    info = tarfile.TarInfo("zeros")
    info.size = zeros
    tar_gz = tmp_path / "bomb.tar.gz"
    with gzip.open(tar_gz, "wb") as out:
        out.write(info.tobuf())
        for _ in range(zeros >> 20):
            out.write(bytes(1 << 20))
    with pytest.raises(ValueError) as refused:
        ctx.add_archive(str(tar_gz))
    assert str(refused.value) == (
        f"archive 'bomb.tar.gz' is not unpacked: member 'zeros': it would unpack "
        f"{tar_gz.stat().st_size} bytes into {512 + zeros} or more, a ratio past 100:1 "
        "(packaging.MAX_COMPRESSION_RATIO); rebuild it without that")
    bomb_zip = write_zip(tmp_path / "bomb.zip", [("zeros", bytes(zeros))])
    with pytest.raises(ValueError, match=r"^archive 'bomb.zip' is not unpacked: it would unpack "
                                         r"\d+ bytes into 67108864 or more, a ratio past 100:1"):
        ctx.add_archive(bomb_zip)
    assert not os.path.lexists(SparkFiles.get("bomb.zip"))


def test_links_inside_work_and_setuid_bits_are_dropped(ctx, tmp_path):
    """A packed environment's relative links (bin/python -> python3) unpack and tasks read
    through them; a setuid, world-writable file unpacks 0700, a world-readable one 0600
    (they kept 04777 and 0644 before)."""
    path = write_tar(tmp_path / "env.tgz", [
        regular("env/bin/python3", b"#!interpreter", 0o4777),
        regular("env/README", b"read me", 0o644),
        special("env/bin/python", tarfile.SYMTYPE, "python3"),
        special("env/lib", tarfile.SYMTYPE, "../env/bin"),
        special("env/hard", tarfile.LNKTYPE, "env/bin/python3", 0o4777)], mode="w:gz")
    ctx.add_archive(path)
    assert ctx.parallelize([0], 1).map(lambda _: open(
        os.path.join(SparkFiles.get("env.tgz"), "env", "lib", "python")).read()).collect() \
        == ["#!interpreter"]
    unpacked = os.path.join(SparkFiles.get("env.tgz"), "env", "bin", "python3")
    assert stat.S_IMODE(os.stat(unpacked).st_mode) == 0o700
    readme = os.path.join(SparkFiles.get("env.tgz"), "env", "README")
    assert stat.S_IMODE(os.stat(readme).st_mode) == 0o600


def test_a_packed_venvs_interpreter_may_link_to_the_python_it_was_made_with(ctx, tmp_path):
    """venv-pack's archives (PySpark's first example) keep bin/python a link to the Python
    the venv was made with, which every host has at that path: it unpacks as that link
    (it was refused as a link out of the archive), with the venv's other names for it."""
    path = write_tar(tmp_path / "venv-pack.tar.gz", [
        regular("pyvenv.cfg", b"home = /usr/bin\n"),
        special("bin/python", tarfile.SYMTYPE, sys.executable),
        special("bin/python3", tarfile.SYMTYPE, "python"),
        special(f"bin/python3.{sys.version_info[1]}", tarfile.SYMTYPE, "python")], mode="w:gz")
    ctx.add_archive(path)
    unpacked = os.path.join(SparkFiles.get("venv-pack.tar.gz"), "bin")
    assert os.readlink(os.path.join(unpacked, "python")) == sys.executable
    assert os.path.realpath(os.path.join(unpacked, f"python3.{sys.version_info[1]}")) == \
        os.path.realpath(sys.executable)


@pytest.mark.parametrize("name", ["..", ".", "sub/dir", OUTSIDE],
                         ids=["parent", "itself", "slash", "absolute"])
def test_the_name_after_the_hash_stays_in_the_files_directory(ctx, tmp_path, name):
    """add_archive("env.zip#..") and "#/abs/dir" joined the name to SparkFiles' directory:
    it deleted that directory's parent (or any directory named), then unpacked there."""
    os.makedirs(OUTSIDE)
    try:
        with open(os.path.join(OUTSIDE, "precious"), "w") as fh:
            fh.write("kept")
        path = write_zip(tmp_path / "env.zip", [("a.txt", b"a")])
        with pytest.raises(ValueError) as refused:
            ctx.add_archive(f"{path}#{name}")
        assert str(refused.value) == (
            f"{path}#{name}: the name after '#' is where the archive unpacks: {name!r} is not "
            "a directory name of its own: give a name without '/', not '.' or '..'")
        assert os.listdir(OUTSIDE) == ["precious"]
        assert os.path.isdir(SparkFiles.get_root_directory())
    finally:
        import shutil

        shutil.rmtree(OUTSIDE)


def test_a_directory_of_compressible_files_is_not_taken_for_a_bomb(ctx, tmp_path):
    """add_file(DIR, recursive=True) travels as a zip the driver makes itself: 4 MiB of
    zeros (a ratio of ~1000:1) is the user's data, not a bomb."""
    tree = tmp_path / "zeros-tree"
    tree.mkdir()
    (tree / "zeros.bin").write_bytes(bytes(4 << 20))
    ctx.add_file(str(tree), recursive=True)
    assert ctx.parallelize([0], 1).map(lambda _: os.path.getsize(
        SparkFiles.get("zeros-tree/zeros.bin"))).collect() == [4 << 20]


@pytest.mark.parametrize("name, kind, why", [
    ("bogus.tgz", "gzip-compressed tar", "file could not be opened successfully"),
    ("bogus.zip", "zip", "File is not a zip file")])
def test_an_archive_that_is_not_one_says_so(ctx, tmp_path, name, kind, why):
    """Bytes that are not the archive their name says: one line (tarfile's message listed
    every compression it had tried, over five lines)."""
    (tmp_path / name).write_bytes(b"garbage")
    with pytest.raises(ValueError) as refused:
        ctx.add_archive(str(tmp_path / name))
    assert str(refused.value) == (f"archive {name!r} is not unpacked: it cannot be read as a "
                                  f"{kind} file ({why}); check that it is whole and of the "
                                  "kind its name says")


def test_a_fifo_is_not_read_for_ever(ctx, tmp_path):
    """add_file of a FIFO is refused naming it, and add_file(DIR, recursive=True) leaves a
    FIFO, a link to /dev/zero and a broken link in DIR out: reading the FIFO waited for
    ever (the driver hung), /dev/zero would have been read until memory ran out."""
    import threading

    tree = tmp_path / "tree-with-pipes"
    tree.mkdir()
    (tree / "kept.txt").write_text("kept")
    os.mkfifo(tree / "pipe")
    os.symlink("/dev/zero", tree / "zero")
    os.symlink(str(tmp_path / "nowhere"), tree / "broken")
    outcome = []
    worker = threading.Thread(target=lambda: outcome.append(_added(ctx, tree)), daemon=True)
    worker.start()
    worker.join(10)
    if worker.is_alive():  # let the hung reader go
        with open(tree / "pipe", "wb"):
            pass
        worker.join(10)
    assert outcome == [[f"cannot read {tree / 'pipe'}: it is not a regular file (a FIFO, "
                        "socket or device): ship a file or a directory", ["kept.txt"]]]


def _added(ctx, tree):
    try:
        ctx.add_file(str(tree / "pipe"))
        refused = "added"
    except Exception as exc:  # noqa: BLE001 - the test compares the message
        refused = str(exc)
    ctx.add_file(str(tree), recursive=True)
    return [refused, sorted(os.listdir(SparkFiles.get(tree.name)))]


def test_a_tar_of_many_empty_files_is_refused_before_it_unpacks(ctx, tmp_path):
    """10,000 empty files in a .tar.gz of ~60 KB (their headers compress ~80:1): under the
    100:1 ratio by bytes, so all were unpacked (200,000 from 1.2 MB took 23 s and 140 MB,
    in the driver and again in every executor).  Each member now counts 1 KiB besides its
    header, and the archive is refused at the member that passes the ratio."""
    path = tmp_path / "many.tar.gz"
    with tarfile.open(path, "w:gz") as out:
        for i in range(10_000):
            out.addfile(tarfile.TarInfo(f"d/{i}"))
    with pytest.raises(ValueError) as refused:
        ctx.add_archive(str(path))
    match = re.fullmatch(
        r"archive 'many.tar.gz' is not unpacked: member 'd/(\d+)': it would unpack (\d+) bytes "
        r"into (\d+) or more, a ratio past 100:1 \(packaging.MAX_COMPRESSION_RATIO\), counting "
        r"each of its (\d+) members so far as 1024 bytes more than its header and data \(too "
        r"many files for its size\); rebuild it without that", str(refused.value))
    assert match, str(refused.value)
    index, compressed, unpacked, count = map(int, match.groups())
    assert count == index + 1 < 10_000 and compressed == path.stat().st_size
    assert unpacked == count * (512 + 1024) > compressed * 100  # (each header: 512 bytes)
    assert not os.path.lexists(SparkFiles.get("many.tar.gz"))


def overlapping_zip(path, count: int, kernel_size: int) -> str:
    """A zip bomb of overlapping entries (David Fifield's "quoted overlap"): entry i's
    deflate data is a stored block quoting entry i+1's local header, then entry i+1's own
    data; the last one's is ``kernel_size`` zeros, deflated.  Every entry unpacks to about
    ``kernel_size`` bytes, while the kernel is in the file once."""
    kernel = zlib.compressobj(9, zlib.DEFLATED, -15)
    kernel_data = kernel.compress(bytes(kernel_size)) + kernel.flush()
    names = [f"f{i:05d}".encode() for i in range(count)]
    sizes, compressed = [kernel_size] * count, [len(kernel_data)] * count
    for i in range(count - 2, -1, -1):
        sizes[i] = 30 + len(names[i + 1]) + sizes[i + 1]
        compressed[i] = 5 + 30 + len(names[i + 1]) + compressed[i + 1]
    headers, crcs = [b""] * count, [0] * count
    for i in range(count - 1, -1, -1):  # an entry's content: the headers after it, the zeros
        crcs[i] = zlib.crc32(bytes(kernel_size), zlib.crc32(b"".join(headers[i + 1:])))
        headers[i] = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crcs[i],
                                 compressed[i], sizes[i], len(names[i]), 0) + names[i]
    body, offsets = b"", []
    for i in range(count):
        offsets.append(len(body))
        body += headers[i]
        if i < count - 1:  # a stored deflate block (not the last) quoting the next header
            body += struct.pack("<BHH", 0, len(headers[i + 1]), len(headers[i + 1]) ^ 0xFFFF)
    body += kernel_data
    directory = b"".join(
        struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, crcs[i],
                    compressed[i], sizes[i], len(names[i]), 0, 0, 0, 0, 0, offsets[i]) + names[i]
        for i in range(count))
    with open(path, "wb") as out:
        out.write(body + directory + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count,
                                                 len(directory), len(body), 0))
    return str(path)


def test_a_zip_of_overlapping_entries_is_held_to_the_ratio_by_its_own_size(ctx, tmp_path):
    """100 entries of 100 KB sharing one deflated kernel: a 9 KB zip that unpacks to 10 MB
    (3,000 entries of 4 MB: 283 KB unpacking to 12 GB).  The ratio was taken over the
    entries' compressed sizes, which count the shared bytes once per entry (214 KB here),
    so it passed and unpacked; it is now taken over the file's own size."""
    path = overlapping_zip(tmp_path / "overlap.zip", 100, 100_000)
    with zipfile.ZipFile(path) as archive:  # a zip Python reads, every entry's CRC right
        assert archive.testzip() is None and len(archive.infolist()) == 100
    size = os.path.getsize(path)
    with pytest.raises(ValueError) as refused:
        ctx.add_archive(path)
    assert str(refused.value) == (
        f"archive 'overlap.zip' is not unpacked: it would unpack {size} bytes into 10178200 "
        "or more, a ratio past 100:1 (packaging.MAX_COMPRESSION_RATIO); rebuild it without "
        "that")
    assert not os.path.lexists(SparkFiles.get("overlap.zip"))


def test_a_zip_unpacks_private_whatever_the_umask(ctx, tmp_path):
    """Under umask 000 a zip unpacked as 0777 directories and 0666 files (zipfile applies
    no mode, the umask decided), the directory of a tar as 0777, and a file added (its
    copy) as 0666: now 0700 and 0600, as a tar's members always were."""
    path = write_zip(tmp_path / "open.zip", [("d/", b""), ("d/a.txt", b"text")])
    tar = write_tar(tmp_path / "open.tar", [regular("b.txt", b"text")])
    added = tmp_path / "open.txt"
    added.write_text("text")
    added.chmod(0o666)
    old = os.umask(0)
    try:
        ctx.add_archive(path)
        ctx.add_archive(tar)
        ctx.add_file(str(added))
    finally:
        os.umask(old)
    modes = {"open.txt": stat.S_IMODE(os.stat(SparkFiles.get("open.txt")).st_mode)}
    for root in (SparkFiles.get("open.zip"), SparkFiles.get("open.tar")):
        modes[os.path.basename(root)] = stat.S_IMODE(os.stat(root).st_mode)
        for where, dirs, files in os.walk(root):
            for name in dirs + files:
                full = os.path.join(where, name)
                modes[os.path.relpath(full, os.path.dirname(root))] = \
                    stat.S_IMODE(os.lstat(full).st_mode)
    assert modes == {"open.zip": 0o700, "open.zip/d": 0o700, "open.zip/d/a.txt": 0o600,
                     "open.tar": 0o700, "open.tar/b.txt": 0o600, "open.txt": 0o600}, \
        {k: oct(v) for k, v in modes.items()}
