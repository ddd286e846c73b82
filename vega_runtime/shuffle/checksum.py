"""CRC-32 of concatenated byte ranges from their own CRCs (zlib's ``crc32_combine``, which
Python's ``zlib`` does not expose), so that shuffle runs are concatenated by the kernel
without their bytes passing through Python to be checksummed again.

Arithmetic on polynomials over GF(2) modulo the CRC-32 polynomial, bit-reflected as zlib
computes it: ``crc(A + B) = crc(A) * x^(8 * len(B)) + crc(B)``.

>>> import zlib
>>> crc32_combine(zlib.crc32(b"shuffle "), zlib.crc32(b"block"), 5) == zlib.crc32(b"shuffle block")
True
"""

from __future__ import annotations

_POLY = 0xEDB88320  # x^32 + x^26 + ... + 1, reflected; bit 31 is x^0
_ONE = 1 << 31


def _multiply(a: int, b: int) -> int:
    """``a * b`` modulo the polynomial."""
    product, bit = 0, _ONE
    while a:
        if a & bit:
            product ^= b
            a ^= bit
        bit >>= 1
        b = (b >> 1) ^ _POLY if b & 1 else b >> 1
    return product


#: x^(2^k) modulo the polynomial for k = 0 .. 31 (zlib's ``x2n_table``): x^1, x^2, x^4, ...
#: each the square of the one before (``_multiply(p, p)``).
_X_TO_2_TO_K = (
    0x40000000, 0x20000000, 0x08000000, 0x00800000, 0x00008000, 0xEDB88320, 0xB1E6B092,
    0xA06A2517, 0xED627DAE, 0x88D14467, 0xD7BBFE6A, 0xEC447F11, 0x8E7EA170, 0x6427800E,
    0x4D47BAE0, 0x09FE548F, 0x83852D0F, 0x30362F1A, 0x7B5A9CC3, 0x31FEC169, 0x9FEC022A,
    0x6C8DEDC4, 0x15D6874D, 0x5FDE7A4E, 0xBAD90E37, 0x2E4E5EEF, 0x4EABA214, 0xA8A472C0,
    0x429A969E, 0x148D302A, 0xC40BA6D0, 0xC4E22C3C,
)


def crc32_combine(crc1: int, crc2: int, length2: int) -> int:
    """The CRC-32 of ``A + B`` from ``crc1`` of ``A``, ``crc2`` of ``B`` and ``len(B)``."""
    shift, k, bits = _ONE, 3, length2  # x^(8 * length2) = product of x^(2^k) over its bits
    while bits:
        if bits & 1:
            shift = _multiply(_X_TO_2_TO_K[k & 31], shift)
        bits >>= 1
        k += 1
    return _multiply(shift, crc1) ^ crc2
