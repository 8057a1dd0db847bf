"""bzip2, xz and zstd input: every entry point, multi-stream files, truncation and damage.

Each compressed file is checked against the plain file it was made from:
``read`` must return exactly the same reads (``PackedReads.equals``).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sys
import warnings
from pathlib import Path

import pytest
import torch

import deepbiop_gpu as dbg
from deepbiop_gpu.cli import main as cli_main
from deepbiop_gpu.io.compression import open_blocks

try:  # the [test] extra installs it; without it the zstd cases are left out (see below)
    import zstandard
except ImportError:  # pragma: no cover
    zstandard = None

DATA = Path(__file__).resolve().parents[1] / "data"
DNAIO = DATA / "conformance" / "dnaio"


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3, write_checksum=True).compress(data)


COMPRESS = {
    "bzip2": lambda data: bz2.compress(data, 1),  # 100 kB blocks: several per stream
    "xz": lambda data: lzma.compress(data, preset=0),
}
if zstandard is not None:
    COMPRESS["zstd"] = _zstd


def test_zstandard_is_installed_for_the_zstd_cases():
    if zstandard is None:  # pragma: no cover
        pytest.skip("zstandard is not installed (pip install 'deepbiop-gpu[test]'): zstd untested")



def _multi(compression: str, data: bytes, cuts: tuple[float, ...] = (0.3, 0.31, 0.7)) -> bytes:
    """``data`` as several streams (frames), cut at the given fractions (mid-record),
    one of them empty."""
    points = [0] + [int(len(data) * c) for c in cuts] + [len(data)]
    parts = [data[a:b] for a, b in zip(points, points[1:])]
    return b"".join(COMPRESS[compression](p) for p in parts + [b""])


def _plain_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:3] == b"BZh":
        return bz2.decompress(data)
    if data[:6] == b"\xfd7zXZ\x00":
        return lzma.decompress(data)
    return data


def _read_quietly(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dbg.SkippedCommentsWarning)
        return dbg.read(path, **kw)


# every valid FASTQ / FASTA file of tests/data, compressed afresh in each format
PLAIN = sorted(
    [p for p in (DATA / "fastq").iterdir()]
    + [p for p in (DATA / "fasta").iterdir() if p.suffix not in (".fai", ".gzi")]
)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
@pytest.mark.parametrize("path", PLAIN, ids=[p.name for p in PLAIN])
def test_round_trip_against_the_plain_file(tmp_path, path, compression):
    plain = tmp_path / "plain"
    plain.write_bytes(_plain_bytes(path))
    expected = _read_quietly(plain)
    multi = tmp_path / "multi"
    multi.write_bytes(_multi(compression, plain.read_bytes()))
    files = [multi]
    if plain.stat().st_size < 200_000:  # the big files only as multi-stream (time)
        single = tmp_path / "single"
        single.write_bytes(COMPRESS[compression](plain.read_bytes()))
        files.append(single)
    for packed in files:
        det = dbg.detect_format(packed)
        assert det.compression == compression
        assert det.format == dbg.detect_format(plain).format
        assert _read_quietly(packed).equals(expected)
    assert _read_quietly(multi, threads=0).equals(expected)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_iter_chunks_any_block_size(tmp_path, compression):
    src = DATA / "fastq" / "sanger_454_wrapped_quality.fastq"
    path = tmp_path / "reads"
    path.write_bytes(_multi(compression, src.read_bytes()))
    expected = dbg.read(src)
    for block_size, threads in ((5, 0), (64, 1), (1 << 20, 1)):
        chunks = list(dbg.iter_chunks(path, 2, block_size=block_size, threads=threads))
        assert [len(c) for c in chunks] == [2, 1]
        assert dbg.PackedReads.concat(chunks).equals(expected)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_open_blocks_many_streams_tiny_blocks(tmp_path, compression):
    data = bytes(range(256)) * 300
    path = tmp_path / "x"
    path.write_bytes(_multi(compression, data, cuts=(0.01, 0.5, 0.5, 0.9)))
    for threads in (0, 1):
        with open_blocks(path, compression, block_size=7, threads=threads) as blocks:
            assert b"".join(blocks) == data


def test_xz_stream_padding_is_accepted(tmp_path):
    data = (DATA / "fastq" / "crlf_dos_3reads.fastq").read_bytes()
    path = tmp_path / "x.xz"
    path.write_bytes(lzma.compress(data[:100]) + b"\0" * 8 + lzma.compress(data[100:]))
    assert dbg.read(path).equals(dbg.read(DATA / "fastq" / "crlf_dos_3reads.fastq"))


# ----------------------------------------------------------------- entry points
@pytest.fixture(params=sorted(COMPRESS))
def packed_fastq(request, tmp_path):
    src = DATA / "fastq" / "illumina_novaseq_800reads.fastq"
    path = tmp_path / f"reads.{request.param}"
    path.write_bytes(_multi(request.param, src.read_bytes()))
    return src, path


def test_iterable_dataset_streams_compressed_files(packed_fastq):
    src, path = packed_fastq
    expected = dbg.read(src)
    got = list(dbg.IterableDataset(path, reads_per_chunk=300))
    assert [s["name"] for s in got] == expected.names.tolist()
    assert all(
        torch.equal(s["sequence"], expected.sequences[expected.offsets[i] : expected.offsets[i + 1]])
        for i, s in enumerate(got)
    )


def test_cached_dataset_of_compressed_file(packed_fastq, tmp_path):
    src, path = packed_fastq
    expected = dbg.read(src)
    first = dbg.Dataset(path, cache_dir=tmp_path / "cache")
    again = dbg.Dataset(path, cache_dir=tmp_path / "cache")  # loaded from the cache
    assert first.reads.equals(expected) and again.reads.equals(expected)


def test_cli_inspect_reads_compressed_files(packed_fastq, capsys):
    src, path = packed_fastq
    code = cli_main(["inspect", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "Summary: 800 reads from 1 file" in out
    assert f"bases        {800 * 150:,}" in out


@pytest.mark.skipif(zstandard is None, reason="needs zstandard")
def test_read_pairs_of_compressed_files(tmp_path):
    r1 = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    r2 = DATA / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"
    p1, p2 = tmp_path / "r1.bz2", tmp_path / "r2.zst"
    p1.write_bytes(bz2.compress(gzip.decompress(r1.read_bytes())))
    p2.write_bytes(_zstd(gzip.decompress(r2.read_bytes())))
    a, b = dbg.read_pairs(p1, p2)
    assert a.equals(dbg.read(r1)) and b.equals(dbg.read(r2))


# ------------------------------------------------------------ dnaio's examples
@pytest.mark.parametrize("name", ["simple.fasta", "simple.fastq"])
@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".xz"])
def test_dnaio_compressed_examples(name, suffix):
    expected = dbg.read(DNAIO / name)
    assert len(expected) == 2
    assert expected.names.tolist() == ["first_sequence", "second_sequence"]
    assert dbg.read(DNAIO / (name + suffix)).equals(expected)


# ------------------------------------------------------------ truncation, damage
@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_truncated_stream_is_an_error_naming_file_and_record(tmp_path, compression):
    src = DATA / "fastq" / "illumina_novaseq_800reads.fastq"
    data = src.read_bytes()
    whole = _multi(compression, data, cuts=(0.5,))
    first_stream = len(COMPRESS[compression](data[: len(data) // 2]))
    for cut in (len(whole) // 4, first_stream + 40, len(whole) - 5):
        path = tmp_path / f"cut{cut}"
        path.write_bytes(whole[:cut])
        for threads in (0, 1):
            with pytest.raises(dbg.CompressionError) as info:
                dbg.read(path, threads=threads)
            err = info.value
            assert err.path == str(path)
            assert f"{compression} data ends unexpectedly: the file is truncated" in str(err)
            # the record the data stops in, after the complete ones (801 when the cut
            # only lost the end-of-stream marker): an error, never a short result
            assert 1 <= err.record <= 801
            assert f"stops after {err.record - 1} complete records" in str(err)
        with pytest.raises(dbg.CompressionError, match="truncated"):
            for _ in dbg.iter_chunks(path, 100, block_size=999):
                pass


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_truncated_in_the_first_bytes(tmp_path, compression):
    path = tmp_path / "x"
    path.write_bytes(COMPRESS[compression](b"@r\nACGT\n+\nIIII\n")[:12])
    with pytest.raises(dbg.CompressionError, match=f"{compression} data ends unexpectedly") as info:
        dbg.read(path)
    assert info.value.path == str(path)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_garbage_after_the_last_stream_is_an_error(tmp_path, compression):
    path = tmp_path / "x"
    path.write_bytes(COMPRESS[compression](b"@r\nACGT\n+\nIIII\n") + b"trailing junk")
    with pytest.raises(
        dbg.CompressionError,
        match=f"unexpected bytes after the end of the {compression} .*garbage after",
    ):
        dbg.read(path)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_corrupt_stream_is_an_error(tmp_path, compression):
    data = bytearray(COMPRESS[compression](b"@r\nACGTACGTAC\n+\nIIIIIIIIII\n" * 200))
    data[len(data) // 2] ^= 0xFF
    path = tmp_path / "x"
    path.write_bytes(bytes(data))
    with pytest.raises(dbg.CompressionError, match=f"{compression} data is corrupt"):
        dbg.read(path)


def test_compressed_sam_is_refused_clearly(tmp_path):
    sam = (DATA / "sam_bam" / "mapped_unmapped_24reads.sam").read_bytes()
    path = tmp_path / "x.sam.bz2"
    path.write_bytes(bz2.compress(sam))
    with pytest.raises(dbg.FormatError, match="bzip2-compressed SAM: htslib reads SAM only"):
        dbg.read(path)


@pytest.mark.skipif(zstandard is None, reason="needs zstandard to write the file")
def test_missing_zstandard_names_the_extra(tmp_path, monkeypatch):
    path = tmp_path / "reads.fastq.zst"
    path.write_bytes(_zstd(b"@r\nACGT\n+\nIIII\n"))
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails
    with pytest.raises(ImportError, match=r"deepbiop-gpu\[zstd\]") as info:
        dbg.read(path)
    assert str(path) in str(info.value)
    with pytest.raises(ImportError, match=r"deepbiop-gpu\[zstd\]"):
        dbg.detect_format(path)


@pytest.mark.parametrize("compression", sorted(COMPRESS))
def test_round_trip_of_every_valid_conformance_file(tmp_path, compression):
    """The Cock et al. and dnaio files (tests/data/conformance) that read without error,
    compressed as one stream and as several: the same reads, warnings included."""
    plain_files = [
        p
        for p in sorted((DATA / "conformance" / "cock2010").iterdir())
        if not p.name.startswith("error_")
    ] + [p for p in sorted(DNAIO.iterdir()) if p.name != "withplus.fastq"]
    assert len(plain_files) > 25
    for src in plain_files:
        data = _plain_bytes(src)
        expected = _read_quietly(src)
        for blob in (COMPRESS[compression](data), _multi(compression, data)):
            path = tmp_path / src.name
            path.write_bytes(blob)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                assert dbg.read(path).equals(expected), src.name
            if src.name == "with_comment.fasta":
                (w,) = caught
                assert w.message.count == 2 and w.message.path == str(path)
            else:
                assert not caught
