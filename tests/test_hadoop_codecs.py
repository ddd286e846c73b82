"""Hadoop's block framing of SnappyCodec and Lz4Codec (vega_runtime.io.codecs) and the
BZip2Codec buffers of SequenceFiles, in memory: the layouts Hadoop writes (a block of
several chunks, an empty stream), and truncated or corrupt data refused saying where.
Files exchanged with PySpark are tests/test_pyspark_codecs.py's."""

import bz2
import io
import struct

import pytest

from vega_runtime.io import codecs
from vega_runtime.io import sequence_file as sf

try:
    import cramjam
except ImportError:  # (test_without_cramjam_each_use_is_one_error_saying_so still runs)
    cramjam = None
requires_cramjam = pytest.mark.skipif(cramjam is None, reason="cramjam (Hadoop's Snappy and "
                                                              "LZ4) is not installed")

RAW = {".snappy": lambda data: bytes(cramjam.snappy.compress_raw(data)),
       ".lz4": lambda data: bytes(cramjam.lz4.compress_block(data, store_size=False))}


def hadoop_block(suffix, data, chunk):
    """``data`` as Hadoop's BlockCompressorStream writes one write() larger than its
    buffer: the whole size once, then a chunk after another."""
    out = [struct.pack(">I", len(data))]
    for at in range(0, len(data), chunk):
        packed = RAW[suffix](data[at:at + chunk])
        out.append(struct.pack(">I", len(packed)) + packed)
    return b"".join(out)


@requires_cramjam
@pytest.mark.parametrize("suffix", [".snappy", ".lz4"])
def test_a_block_of_several_chunks_reads_whole(suffix):
    """A SequenceFile buffer of 1 MB is one block of five chunks in PySpark's files; LZ4's
    chunks came back padded with zeros to the block's size (cramjam's decompress_block
    fills output_len), so the second chunk's header was read inside the padding."""
    data = b"".join(b"record %d " % i + b"v" * (i % 300) for i in range(8000))
    framed = hadoop_block(suffix, data, 218_000)
    assert codecs.decompress(suffix, framed) == data
    assert codecs.decompress(suffix, framed + hadoop_block(suffix, b"tail", 10)) == data + b"tail"
    assert codecs.decompress(suffix, codecs.compress(suffix, data)) == data
    zeros = bytes(600_000)  # LZ4's best ratio (~255): a chunk of 865 bytes gives 218,000
    assert codecs.decompress(suffix, hadoop_block(suffix, zeros, 218_000)) == zeros


@requires_cramjam
@pytest.mark.parametrize("suffix", [".snappy", ".lz4"])
def test_empty_streams_and_text_parts(suffix):
    """An empty part is int32 0 and no chunk, both ways; the writer's chunks stay within
    Hadoop's 256 KiB decompression buffer."""
    assert codecs.decompress(suffix, b"\x00\x00\x00\x00") == b""
    assert codecs.compress(suffix, b"") == b"\x00\x00\x00\x00"
    out = io.BytesIO()
    with codecs.BlockWriter(out, suffix):
        pass
    assert out.getvalue() == b"\x00\x00\x00\x00"
    out = io.BytesIO()
    data = bytes(range(256)) * 4000
    with codecs.BlockWriter(out, suffix) as writer:
        for at in range(0, len(data), 70_000):
            writer.write(data[at:at + 70_000])
    framed = out.getvalue()
    sizes = []
    at = 0
    while at < len(framed):
        block, size = struct.unpack_from(">II", framed, at)
        sizes.append(block)
        assert size <= 256 * 1024
        at += 8 + size
    assert max(sizes) <= 256 * 1024 and sum(sizes) == len(data)
    assert codecs.decompress(suffix, framed) == data


@requires_cramjam
@pytest.mark.parametrize("suffix,name", [(".snappy", "SnappyCodec"), (".lz4", "Lz4Codec")])
def test_truncated_and_corrupt_streams_say_where(suffix, name):
    data = b"line\n" * 50_000
    framed = codecs.compress(suffix, data)
    with pytest.raises(codecs.CodecError, match=f"the {name} data ends at byte 10, inside a "
                                                r"block \(truncated\?\)"):
        codecs.decompress(suffix, framed[:10])
    with pytest.raises(codecs.CodecError, match="ends at byte 2, inside a block"):
        codecs.decompress(suffix, framed[:2])
    bad = bytearray(framed)
    bad[8:40] = b"\xff" * 32
    with pytest.raises(codecs.CodecError, match=f"{name} data at byte 4 that does not "
                                                "decompress"):
        codecs.decompress(suffix, bytes(bad))
    with pytest.raises(codecs.CodecError, match="a block of 4294967295 bytes at byte 0"):
        codecs.decompress(suffix, b"\xff" * 12)
    # a chunk whose own header claims 4 GB, in a block of 10 bytes: refused, not allocated
    with pytest.raises(codecs.CodecError, match=f"{name} data at byte 4 that does not "
                                                "decompress"):
        codecs.decompress(suffix, b"\x00\x00\x00\x0a\x00\x00\x00\x06\xff\xff\xff\xff\x0f\x00")


@requires_cramjam
def test_snappy_framing_and_lz4_frames_are_named_not_hadoops():
    """A .snappy file of Snappy's framing format or a .lz4 file of the lz4 command (which
    Hadoop cannot read either) is named as such, not read as garbage blocks."""
    framed = bytes(cramjam.snappy.compress(b"line\n" * 100))
    frame = bytes(cramjam.lz4.compress(b"line\n" * 100))
    with pytest.raises(codecs.CodecError, match=r"^it is Snappy's framing format \(a stream "
                                                r"starting 'sNaPpY'.*, not Hadoop's SnappyCodec"):
        codecs.decompress(".snappy", framed)
    with pytest.raises(codecs.CodecError, match=r"^it is an LZ4 frame \(as the lz4 command "
                                                r"writes it\), not Hadoop's Lz4Codec"):
        codecs.decompress(".lz4", frame)


BZIP2 = "org.apache.hadoop.io.compress.BZip2Codec"


def test_bzip2_buffers_with_and_without_their_magic():
    """A BZip2Codec SequenceFile's buffers are bzip2 streams; one without its 'BZ' (as
    Hadoop's CBZip2OutputStream writes when its caller leaves the magic out) reads too, and
    an empty buffer is no byte."""
    unpack = sf.decompressor(BZIP2)
    stream = bz2.compress(b"value" * 100)
    assert unpack(stream) == unpack(stream[2:]) == b"value" * 100
    assert unpack(stream + stream) == b"value" * 200
    assert unpack(b"") == b""


WITHOUT_CRAMJAM = """
import sys
sys.modules["cramjam"] = None  # as if not installed
from vega_runtime import Context
path, out = sys.argv[1], sys.argv[2]
with Context(master="local[1]") as ctx:
    for name, act in [
            ("read", lambda: ctx.text_file(path).count()),
            ("write", lambda: ctx.parallelize(["a"]).save_as_text_file(
                out, "org.apache.hadoop.io.compress.SnappyCodec")),
            ("sequence", lambda: ctx.parallelize([("a", 1)]).save_as_sequence_file(
                out, "org.apache.hadoop.io.compress.Lz4Codec"))]:
        try:
            act()
        except Exception as exc:
            print(name, type(exc).__name__, exc)
"""


def test_without_cramjam_each_use_is_one_error_saying_so(tmp_path):
    """Without cramjam, reading a .snappy file or writing Snappy or LZ4 is refused on the
    driver, before a task runs, naming the file and what to install; nothing is written."""
    import subprocess
    import sys

    (tmp_path / "part-00000.snappy").write_bytes(b"\x00\x00\x00\x00")
    done = subprocess.run([sys.executable, "-c", WITHOUT_CRAMJAM, str(tmp_path),
                           str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    needs = "needs the Python package cramjam, which is not installed: pip install cramjam"
    assert done.stdout.splitlines() == [
        f"read InputError cannot read {tmp_path}/part-00000.snappy: Hadoop's SnappyCodec {needs}",
        f"write MissingLibrary Hadoop's SnappyCodec {needs}",
        f"sequence MissingLibrary Hadoop's Lz4Codec {needs}"]
    assert not (tmp_path / "out").exists()


@requires_cramjam
@pytest.mark.parametrize("codec", ["BZip2Codec", "SnappyCodec", "Lz4Codec"])
def test_a_corrupt_or_truncated_compressed_sequence_file_says_where(codec):
    """Bytes changed inside a block's compressed values, or the file cut inside a block:
    ``Corrupt`` at the block's offset, saying what is wrong."""
    records = [(f"key {i}", "value " * (i % 40)) for i in range(2000)]
    out = io.BytesIO()
    writer = sf.Writer(out, sf.TEXT, sf.TEXT, "org.apache.hadoop.io.compress." + codec)
    for key, value in records:
        writer.append(sf.encode(key), sf.encode(value))
    writer.close()
    data = out.getvalue()
    assert list(sf.read_records(io.BytesIO(data), 0, len(data))) == records
    with io.BytesIO(data) as fh:
        at = sf.read_header(fh).end + 4 + sf.SYNC_SIZE  # the first block's record count
    _, at = sf.read_vint(data, at)
    for _ in range(3):  # past the key lengths, keys and value lengths
        size, at = sf.read_vint(data, at)
        at += size
    _, at = sf.read_vint(data, at)  # the values' compressed buffer starts at ``at``
    bad = bytearray(data)
    bad[at + 4:at + 36] = bytes(b ^ 0x5A for b in bad[at + 4:at + 36])
    with pytest.raises(sf.Corrupt, match=r"compressed data that does not decompress \(.+\), "
                                         r"at byte \d+$"):
        list(sf.read_records(io.BytesIO(bytes(bad)), 0, len(bad)))
    with pytest.raises(sf.Corrupt, match=r"the file ends inside a block \(truncated\?\)"):
        list(sf.read_records(io.BytesIO(data[:-10]), 0, len(data)))
