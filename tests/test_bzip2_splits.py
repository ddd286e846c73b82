"""``.bz2`` files read in byte ranges, as Hadoop's BZip2Codec splits them
(vega_runtime.io.bzip2, lines.bzip2_lines): block markers found at every bit offset, each
block decoded on its own, every line read once whatever the ranges, and files that are not
bzip2, or are cut short or corrupt, refused naming the byte.  PySpark's own partitions of
the same files are tests/test_pyspark_bzip2.py's."""

import bz2
import random

import pytest

from vega_runtime.errors import InputError
from vega_runtime.io.bzip2 import BLOCK_MAGIC, END_MAGIC, block_stream, find_markers
from vega_runtime.io.lines import read_lines


def text(seed: int, count: int) -> bytes:
    """Lines of 0 to ~2,000 bytes (some spanning 100k blocks), with \\n, \\r\\n and \\r."""
    rnd = random.Random(seed)
    words = [bytes(rnd.choices(b"abcdefghijklmnopqrstuvwxyz", k=rnd.randint(1, 8)))
             for _ in range(400)]
    ends = [b"\n"] * 8 + [b"\r\n", b"\r"]
    return b"".join(b" ".join(rnd.choices(words, k=rnd.choice([0, 1, 3, 30, 300])))
                    + rnd.choice(ends) for _ in range(count))


def lines_of(data: bytes) -> list:
    return data.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n")[:-1]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A level-1 file (100k blocks); two streams one after the other (``cat a b``)."""
    root = tmp_path_factory.mktemp("bz2")
    data = text(1, 1500)
    one = root / "one.txt.bz2"
    one.write_bytes(bz2.compress(data, 1))
    two = root / "two.txt.bz2"
    two.write_bytes(bz2.compress(data[:70001], 1) + bz2.compress(data[70001:], 2))
    return {"one": (one, data), "two": (two, data)}


@pytest.mark.parametrize("shift", range(8))
def test_markers_are_found_at_every_bit_offset(shift):
    """A block and an end-of-stream magic starting at any bit of a byte, and nothing in
    bytes that hold neither."""
    rnd = random.Random(shift)
    noise = bytes(rnd.getrandbits(8) for _ in range(64))
    at = 8 * 20 + shift
    value = int.from_bytes(noise, "big")
    for magic, offset in ((BLOCK_MAGIC, at), (END_MAGIC, at + 200)):
        value &= ~(((1 << 48) - 1) << (512 - 48 - offset))
        value |= magic << (512 - 48 - offset)
    data = value.to_bytes(64, "big")
    assert find_markers(data) == [(at, True), (at + 200, False)]
    assert find_markers(noise) == []


def test_each_block_decodes_on_its_own(files):
    """Each block of a file, re-framed as a stream of its own, gives its bytes; together
    they are the file's."""
    path, data = files["two"]
    stream = path.read_bytes()
    markers = find_markers(stream)
    blocks = [(bit, after) for (bit, is_block), (after, _) in zip(markers, markers[1:])
              if is_block]
    assert len(blocks) >= 4 and sum(not is_block for _, is_block in markers) == 2
    assert b"".join(bz2.decompress(block_stream(stream, a, b)) for a, b in blocks) == data


@pytest.mark.parametrize("name", ["one", "two"])
def test_every_line_is_read_once_whatever_the_ranges(files, name):
    """Ranges cut anywhere (in a block, a few bytes around its marker, ranges holding no
    marker) read every line once, in order, as the whole file does."""
    path, data = files[name]
    size = path.stat().st_size
    expected = lines_of(data)
    assert list(read_lines(str(path), 0, size)) == expected
    markers = [bit // 8 for bit, is_block in find_markers(path.read_bytes()) if is_block]
    rnd = random.Random(name)
    cuts = {rnd.randrange(1, size) for _ in range(6)}
    cuts |= {m + d for m in markers[1:3] for d in (-7, -1, 0, 1, 6)} | {markers[3] + 1}
    bounds = [0, *sorted(c for c in cuts if 0 < c < size), size]
    got = [line for a, b in zip(bounds, bounds[1:]) for line in read_lines(str(path), a, b)]
    assert got == expected


@pytest.mark.parametrize("cut", [2, 4])
def test_a_file_without_its_header_is_read_as_hadoop_reads_it(tmp_path, cut):
    """Hadoop's CBZip2OutputStream leaves the 'BZ' to its caller, and its codec reads a file
    starting 'h9', or even a block, as PySpark 4.3 does; a file starting with neither is
    refused, saying why."""
    data = text(2, 300)
    path = tmp_path / "h.txt.bz2"
    path.write_bytes(bz2.compress(data)[cut:])
    assert list(read_lines(str(path), 0, path.stat().st_size)) == lines_of(data)
    path.write_bytes(b"plain text, not compressed\n" * 20)
    with pytest.raises(InputError, match=r"h\.txt\.bz2: it starts with b'plai', not a bzip2 "
                                         r"header \('BZh' and a level 1-9\) nor a block"):
        list(read_lines(str(path), 0, 40))


def test_truncated_or_corrupt_files_are_refused_naming_the_byte(files, tmp_path):
    """Cut inside a block, or a bit changed in one: one error naming the file and the
    byte where the block starts, from whichever range reads it."""
    path, _ = files["one"]
    whole = path.read_bytes()
    markers = [bit // 8 for bit, is_block in find_markers(whole) if is_block]
    cut = tmp_path / "cut.txt.bz2"
    cut.write_bytes(whole[:markers[2] + 5000])
    with pytest.raises(InputError, match=rf"cut\.txt\.bz2: the file ends inside the bzip2 "
                                         rf"block at byte {markers[2]} \(truncated\?\)"):
        list(read_lines(str(cut), markers[1] + 1, markers[2] + 5000))
    bad = bytearray(whole)
    bad[markers[1] + 900] ^= 0x08
    broken = tmp_path / "bad.txt.bz2"
    broken.write_bytes(bytes(bad))
    with pytest.raises(InputError, match=rf"bad\.txt\.bz2: the bzip2 block at byte "
                                         rf"{markers[1]} does not decompress \(.*\): the file "
                                         "is corrupt"):
        list(read_lines(str(broken), 0, len(bad)))


def test_line_ends_at_block_edges_are_assigned_as_hadoop_assigns_them(tmp_path):
    """Streams (each a block) ending in \\r before a \\n, in \\r before a line, between the
    halves of a line, with a BOM, with no block: ranges ending at each marker, and one byte
    after it, hold the lines Hadoop's LineRecordReader gave (PySpark 4.3, through py4j, on
    every range of this file), and the first block is the first range's even when the
    next starts inside the header; any cut reads every line once."""
    streams = [b"a\r\nb\r", b"\nc\rd\r", b"e\nfff\r", b"g\r\n", b"\rh\n", b"ii", b"jj\n",
               b"\n\n", b"k", b"\r", b"l\r\nm", b"\xef\xbb\xbfn\n", b"", b"o\r\r\np"]
    path = tmp_path / "edges.txt.bz2"
    path.write_bytes(b"".join(bz2.compress(s, 1 + i % 9) for i, s in enumerate(streams)))
    size = path.stat().st_size
    everything = list(read_lines(str(path), 0, size))
    assert everything == ["a", "b", "c", "d", "e", "fff", "g", "", "h", "iijj", "", "", "k",
                          "l", "m\ufeffn", "o", "", "p"]
    markers = [bit // 8 for bit, is_block in find_markers(path.read_bytes()) if is_block]
    hadoop = [(2, 2), (2, 5), (5, 7), (7, 8), (8, 10), (10, 10), (10, 11), (11, 13),
              (13, 13), (13, 14), (14, 15), (15, 16), (16, 18)]
    assert [(len(list(read_lines(str(path), 0, m))), len(list(read_lines(str(path), 0, m + 1))))
            for m in markers] == hadoop
    for cut in range(1, size):
        assert list(read_lines(str(path), 0, cut)) + list(read_lines(str(path), cut, size)) \
            == everything, cut


def without_block(stream: bytes, index: int) -> bytes:
    """``stream`` (one bzip2 stream) with its block ``index`` cut out, bit for bit: every
    block left keeps its own CRC; only the stream's combined CRC tells."""
    marks = find_markers(stream)
    blocks = [bit for bit, is_block in marks if is_block]
    end = next(bit for bit, is_block in marks if not is_block)
    size = len(stream) * 8
    bits = int.from_bytes(stream, "big")
    keep = lambda first, last: (bits >> (size - last)) & ((1 << (last - first)) - 1)
    head, tail = keep(0, blocks[index]), keep(blocks[index + 1], end + 80)
    count = blocks[index] + (end + 80 - blocks[index + 1])
    value = (head << (end + 80 - blocks[index + 1]) | tail) << (-count % 8)
    return value.to_bytes((count + 7) // 8, "big")


def test_a_stream_missing_a_block_is_refused_by_its_combined_crc(files, tmp_path):
    """A block cut out of a stream (or a stream's stored CRC changed) read whole, by
    text_file's range or whole_text_files: one error naming the file and the byte of the
    stream's end (the blocks' own CRCs hold: the text was read with a block missing)."""
    from vega_runtime import Context

    _, data = files["one"]
    half = len(data) * 2 // 3  # three 100k blocks, then a stream of one
    first, second = bz2.compress(data[:half], 1), bz2.compress(data[half:], 2)
    cut = without_block(first, 1)
    assert len(find_markers(cut)) == len(find_markers(first)) - 1
    path = tmp_path / "missing.txt.bz2"
    path.write_bytes(cut + second)
    end = [bit for bit, is_block in find_markers(cut) if not is_block][0] // 8
    message = (rf"missing\.txt\.bz2: the bzip2 stream ending at byte {end} has the combined "
               r"CRC 0x[0-9a-f]{8}, but its blocks make 0x[0-9a-f]{8}: a block is missing or "
               "repeated, the file is corrupt")
    with pytest.raises(InputError, match=message):
        list(read_lines(str(path), 0, path.stat().st_size))
    changed = bytearray(first + second)  # the second stream's stored CRC, its last bytes
    changed[-2] ^= 0x01
    other = tmp_path / "crc.txt.bz2"
    other.write_bytes(bytes(changed))
    with pytest.raises(InputError, match=r"crc\.txt\.bz2: the bzip2 stream ending at byte"):
        list(read_lines(str(other), 0, len(changed)))
    # a range starting inside the stream cannot tell (its blocks' own CRCs hold)
    assert list(read_lines(str(other), len(first) + 1, len(changed)))
    with Context(master="local") as ctx:
        with pytest.raises(Exception, match=message):
            ctx.whole_text_files(str(path)).collect()
