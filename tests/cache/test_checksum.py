"""crc32 / adler32 of concatenated data from the parts' checksums (parallel cache builds combine them)."""

from __future__ import annotations

import zlib

from hypothesis import given, settings
from hypothesis import strategies as st

from deepbiop_gpu._checksum import adler32_combine, crc32_combine

parts = st.lists(st.binary(max_size=3000), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(parts)
def test_combined_checksums_equal_the_checksums_of_the_concatenation(blocks):
    crc, adler, whole = 0, 1, b""
    for block in blocks:
        crc = crc32_combine(crc, zlib.crc32(block), len(block))
        adler = adler32_combine(adler, zlib.adler32(block), len(block))
        whole += block
    assert crc == zlib.crc32(whole)
    assert adler == zlib.adler32(whole)


def test_lengths_beyond_32_bits():
    # a run of zero bytes of length 2**33 + 5 and its checksum, by doubling with the combine itself
    n, crc_zero, adler_zero = 1, zlib.crc32(b"\0"), zlib.adler32(b"\0")
    crcs, adlers = {1: crc_zero}, {1: adler_zero}
    while n < 1 << 33:
        crcs[2 * n] = crc32_combine(crcs[n], crcs[n], n)
        adlers[2 * n] = adler32_combine(adlers[n], adlers[n], n)
        n *= 2
    tail = b"\0" * 5
    got = crc32_combine(zlib.crc32(b"ACGT"), crc32_combine(crcs[1 << 33], zlib.crc32(tail), 5), (1 << 33) + 5)
    # the same stream built another way: ACGT + 4 GiB zeros twice + 5 zeros
    other = crc32_combine(crc32_combine(zlib.crc32(b"ACGT"), crcs[1 << 32], 1 << 32), crcs[1 << 32], 1 << 32)
    assert got == crc32_combine(other, zlib.crc32(tail), 5)
    assert adler32_combine(adlers[1 << 32], adlers[1 << 32], 1 << 32) == adlers[1 << 33]
    # and against zlib on a length it can still check quickly (1 MiB of zeros)
    assert crcs[1 << 20] == zlib.crc32(bytes(1 << 20)) and adlers[1 << 20] == zlib.adler32(bytes(1 << 20))
