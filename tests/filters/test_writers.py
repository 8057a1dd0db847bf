"""FASTQ / FASTA writers: exact round trips on every reader test file, BGZF for pysam, atomicity."""

from __future__ import annotations

import gzip
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pysam
import pytest
import torch

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads, Writer, read, write
from deepbiop_gpu.writers import BGZF_EOF, detect_output

DATA = Path(__file__).resolve().parents[1] / "data"
PHRED64 = DATA / "fastq" / "illumina13_phred64_20reads.fastq"
NOVASEQ = DATA / "fastq" / "illumina_novaseq_800reads.fastq"


def reader_files() -> list[Path]:
    """Every readable file in tests/data (FASTQ, FASTA, SAM, BAM)."""
    out = []
    for sub in ("fastq", "fasta", "sam_bam"):
        for p in sorted((DATA / sub).iterdir()):
            if p.suffix in (".fai", ".gzi", ".bai") or "malformed" in p.name:
                continue
            out.append(p)
    return out


def offset_of(path: Path) -> int:
    return 64 if ("phred64" in path.name or "offset64" in path.name) else 33


def load(path: Path) -> PackedReads:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unmapped_missing_quals warns about filled qualities
        return read(path, quality_offset=offset_of(path))


def without_qualities(r: PackedReads) -> PackedReads:
    return PackedReads(r.sequences, r.offsets, None, r.names, r.descriptions)


@pytest.mark.parametrize("path", reader_files(), ids=lambda p: p.name)
def test_round_trip_every_format_and_compression(path, tmp_path):
    reads = load(path)
    assert len(reads) > 0
    for fmt, ext in (("fastq", "fq"), ("fasta", "fa")):
        for comp in ("", ".gz", ".bgz"):
            for width in (None, 60) if comp == "" else (None,):  # wrapping is compression-blind
                out = tmp_path / f"out.{ext}{comp}"
                fill = None if reads.qualities is not None or fmt == "fasta" else 30
                assert write(reads, out, line_width=width, fill_quality=fill) == len(reads)
                back = read(out)
                if fmt == "fasta":
                    expected = without_qualities(reads)
                elif reads.qualities is None:  # filled: check the fill, then the rest
                    assert back.qualities is not None and bool((back.qualities == ord("?")).all())
                    back, expected = without_qualities(back), reads
                else:
                    expected = reads
                assert back.equals(expected), (fmt, comp, width)
                assert sorted(os.listdir(tmp_path)) == [out.name]  # no temporary left
                out.unlink()


def test_round_trip_of_records_pysam_sees(tmp_path):
    """Names, descriptions (tabs, several words), case and empty reads, as pysam parses them."""
    recs = [
        ("r1", b"ACGTNacgtn", b"!#5?I~~IIA", "first read\twith tab"),
        ("r2", b"", b"", ""),
        ("r3", b"RYKMSWBDHVN", b"IIIIIIIIIII", "x"),
    ]
    reads = PackedReads.from_records([dbg.Record(n, s, q, d) for n, s, q, d in recs])
    for ext in ("fq", "fq.gz", "fq.bgz"):
        out = tmp_path / f"o.{ext}"
        write(reads, out)
        with pysam.FastxFile(str(out)) as fh:
            got = [(e.name, e.sequence or "", e.quality or "", e.comment or "") for e in fh]
        assert got == [(n, s.decode(), q.decode(), d) for n, s, q, d in recs]
        assert read(out).equals(reads)


def test_bgzf_output_is_valid_for_pysam(tmp_path):
    reads = read(DATA / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz")
    out = tmp_path / "lambda.fq.bgz"
    write(reads, out)
    raw = out.read_bytes()
    assert raw.endswith(BGZF_EOF)
    # walk the blocks: each is a gzip member with the BC extra field and its own size
    pos, blocks = 0, 0
    while pos < len(raw):
        magic, _, flags, xlen, si1, si2, slen, bsize = struct.unpack_from("<HBB6xHBBHH", raw, pos)
        assert (magic, flags, xlen, si1, si2, slen) == (0x8B1F, 4, 6, 66, 67, 2)
        isize = struct.unpack_from("<I", raw, pos + bsize + 1 - 4)[0]
        assert isize <= 0xFF00
        pos += bsize + 1
        blocks += 1
    assert pos == len(raw) and blocks > 20
    with pysam.BGZFile(str(out), "rb") as fh:
        text = fh.read()
    assert text == gzip.decompress(raw)
    with pysam.FastxFile(str(out)) as fh:
        assert [e.name for e in fh] == reads.names.tolist()
    # the same BGZF with a .gz name, as `--bgzf` writes it
    out2 = tmp_path / "lambda.fq.gz"
    write(reads, out2, compression="bgzf")
    assert out2.read_bytes() == raw


def test_chunks_appended_equal_one_write(tmp_path):
    reads = read(NOVASEQ)
    whole = tmp_path / "whole.fq"
    write(reads, whole)
    for ext in ("fq", "fq.gz", "fq.bgz"):
        chunked = tmp_path / f"chunked.{ext}"
        with Writer(chunked) as w:
            for chunk in dbg.iter_chunks(NOVASEQ, 77):
                w.write(chunk)
            w.write(PackedReads.empty(with_qualities=True))
        assert w.reads_written == 800 and w.closed
        data = chunked.read_bytes()
        assert (gzip.decompress(data) if ext != "fq" else data) == whole.read_bytes()
    assert whole.read_bytes() == NOVASEQ.read_bytes()  # 4-line records: the very same bytes


def test_phred64_written_as_phred33_unless_asked(tmp_path):
    reads = read(PHRED64, quality_offset=64)
    out33, out64 = tmp_path / "q33.fq", tmp_path / "q64.fq"
    write(reads, out33)
    write(reads, out64, quality_offset=64)
    orig = PHRED64.read_bytes().split(b"\n")
    got33 = out33.read_bytes().split(b"\n")
    got64 = out64.read_bytes().split(b"\n")
    assert got64 == orig  # the original phred+64 file, byte for byte
    for i in range(3, len(orig) - 1, 4):
        assert bytes(c - 31 for c in orig[i]) == got33[i]
    assert read(out33).equals(reads) and read(out64, quality_offset=64).equals(reads)


def test_quality_offset_64_rejects_unwritable_qualities(tmp_path):
    reads = PackedReads.from_records([("r", b"A", b"~")])
    with pytest.raises(ValueError, match="quality_offset=64"):
        write(reads, tmp_path / "x.fq", quality_offset=64)
    assert not list(tmp_path.iterdir())


def test_fastq_without_qualities_needs_fill_quality(tmp_path):
    reads = read(DATA / "fasta" / "softmasked_with_N_4seqs.fasta")
    with pytest.raises(ValueError, match="no qualities.*fill_quality"):
        write(reads, tmp_path / "x.fq")
    assert not list(tmp_path.iterdir())
    write(reads, tmp_path / "a.fq", fill_quality=40)
    write(reads, tmp_path / "b.fq", fill_quality="I")
    for name in ("a.fq", "b.fq"):
        back = read(tmp_path / name)
        assert back.qualities is not None and bool((back.qualities == ord("I")).all())
        assert without_qualities(back).equals(reads)
    with pytest.raises(ValueError, match="fill_quality"):
        write(reads, tmp_path / "c.fq", fill_quality=200)


def test_line_width_wraps_every_sequence_line(tmp_path):
    reads = read(DATA / "fasta" / "phiX174_NC_001422_mixedcase_trailing_blank.fasta")
    out = tmp_path / "phix.fa"
    write(reads, out, line_width=70)
    lines = out.read_bytes().split(b"\n")
    assert lines[0].startswith(b">")
    body = lines[1:-1]
    assert all(len(line) == 70 for line in body[:-1]) and 0 < len(body[-1]) <= 70
    assert b"".join(body) == reads[0].sequence


def test_gzip_levels(tmp_path):
    reads = read(NOVASEQ)
    sizes = {}
    for level in (0, 1, 3, 6, 9):
        out = tmp_path / f"l{level}.fq.gz"
        write(reads, out, level=level)
        assert read(out).equals(reads)
        sizes[level] = out.stat().st_size
    assert sizes[0] > sizes[1] and sizes[9] < sizes[1]
    with pytest.raises(ValueError, match="level"):
        write(reads, tmp_path / "bad.fq.gz", level=12)


def test_format_and_compression_from_the_name():
    assert detect_output("a.fastq.gz") == ("fastq", "gzip")
    assert detect_output("a.FQ") == ("fastq", "none")
    assert detect_output("a.fna.bgz") == ("fasta", "bgzf")
    assert detect_output("a.txt", format="fasta", compression="gzip") == ("fasta", "gzip")
    with pytest.raises(ValueError, match="output format"):
        detect_output("reads.txt")
    with pytest.raises(ValueError, match="compression"):
        detect_output("a.fq", compression="zstd")


def test_exception_mid_write_leaves_no_file(tmp_path):
    reads = read(NOVASEQ)
    target = tmp_path / "out.fq.gz"
    with pytest.raises(RuntimeError, match="injected"):
        with Writer(target) as w:
            w.write(reads[:400])
            assert len(list(tmp_path.iterdir())) == 1  # the temporary file, not the target
            raise RuntimeError("injected")
    assert list(tmp_path.iterdir()) == []
    # an existing file is left as it was
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with Writer(target) as w:
            w.write(reads)
            raise RuntimeError("injected")
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["out.fq.gz"]


def test_failure_inside_the_writer_leaves_no_file(tmp_path, monkeypatch):
    from deepbiop_gpu import writers

    calls = {"n": 0}
    real = writers.assemble

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (injected)")
        return real(*args, **kwargs)

    monkeypatch.setattr(writers, "assemble", failing)
    target = tmp_path / "out.fq.bgz"
    w = Writer(target)
    with pytest.raises(OSError, match="injected"):
        for chunk in dbg.iter_chunks(NOVASEQ, 100):
            w.write(chunk)
    assert w.closed and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="closed"):
        w.write(read(NOVASEQ))


def test_empty_and_device_independent(tmp_path):
    out = tmp_path / "empty.fq.gz"
    write(PackedReads.empty(with_qualities=True), out)
    assert len(read(out)) == 0
    reads = read(NOVASEQ)[:5]
    moved = PackedReads(
        reads.sequences.clone(),
        reads.offsets.clone(),
        reads.qualities.clone(),
        reads.names,
        reads.descriptions,
    )
    write(moved, tmp_path / "a.fq")
    assert read(tmp_path / "a.fq").equals(reads)
    assert isinstance(moved.sequences, torch.Tensor)


def test_assembly_matches_a_naive_record_loop(tmp_path, cpu_path):
    """The vectorised assembly equals f-string records, on ragged reads with descriptions."""
    from deepbiop_gpu.writers import assemble

    rng = np.random.default_rng(0)
    recs = []
    for i in range(300):
        n = int(rng.integers(0, 40))
        seq = bytes(rng.choice(list(b"ACGTNacgtn"), n).tolist())
        qual = bytes(rng.integers(33, 75, n).tolist())
        desc = "" if i % 3 else f"d{i} x"
        recs.append(dbg.Record(f"read{i}" * int(rng.integers(1, 3)), seq, qual, desc))
    reads = PackedReads.from_records(recs)
    for width in (None, 1, 7):

        def lines(s: bytes, width: int | None = width) -> bytes:
            if not width or not s:
                return s
            return b"\n".join(s[i : i + width] for i in range(0, len(s), width))

        fq = b"".join(
            b"@%s%s\n%s\n+\n%s\n"
            % (
                r.name.encode(),
                (b" " + r.description.encode()) if r.description else b"",
                lines(r.sequence),
                lines(r.quality),
            )
            for r in recs
        )
        fa = b"".join(
            b">%s%s\n%s\n"
            % (
                r.name.encode(),
                (b" " + r.description.encode()) if r.description else b"",
                lines(r.sequence),
            )
            for r in recs
        )
        assert bytes(assemble(reads, "fastq", line_width=width)) == fq
        assert bytes(assemble(reads, "fasta", line_width=width)) == fa
        odd = np.arange(1, len(recs), 2)
        assert bytes(assemble(reads, "fasta", line_width=width, rows=odd)) == bytes(
            assemble(reads[odd], "fasta", line_width=width)
        )
        filled = bytes(
            assemble(
                PackedReads(reads.sequences, reads.offsets, None, reads.names, reads.descriptions),
                "fastq",
                fill_quality="5",
            )
        )
        assert filled == b"".join(
            b"@%s%s\n%s\n+\n%s\n"
            % (
                r.name.encode(),
                (b" " + r.description.encode()) if r.description else b"",
                r.sequence,
                b"5" * len(r.sequence),
            )
            for r in recs
        )
        q64 = bytes(assemble(reads, "fastq", quality_offset=64))
        assert q64.split(b"\n")[3] == bytes(c + 31 for c in recs[0].quality)


def test_fsync_and_unclosed_writer(tmp_path):
    reads = read(NOVASEQ)[:10]
    write(reads, tmp_path / "synced.fq", fsync=True)
    assert read(tmp_path / "synced.fq").equals(reads)
    w = Writer(tmp_path / "forgotten.fq")
    w.write(reads)
    with pytest.warns(ResourceWarning, match="never closed"):
        w.__del__()
    assert sorted(os.listdir(tmp_path)) == ["synced.fq"]


@pytest.mark.parametrize("threads", [0, 1])
def test_compression_error_reaches_the_caller(tmp_path, monkeypatch, threads):
    """An error while compressing (in the background thread or not) surfaces and leaves no file."""
    from deepbiop_gpu import writers

    calls = {"n": 0}
    real = writers._Sink.write

    def failing(self, data):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("no space left (injected)")
        return real(self, data)

    monkeypatch.setattr(writers._Sink, "write", failing)
    target = tmp_path / "out.fq.gz"
    with pytest.raises(OSError, match="injected"):
        with Writer(target, threads=threads) as w:
            for chunk in dbg.iter_chunks(NOVASEQ, 100):
                w.write(chunk)
    assert w.closed and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("threads", [0, 1])
def test_background_and_inline_compression_write_the_same_bytes(tmp_path, threads):
    for ext in ("fq.gz", "fq.bgz"):
        out = tmp_path / f"{threads}.{ext}"
        with Writer(out, threads=threads) as w:
            for chunk in dbg.iter_chunks(NOVASEQ, 50):
                w.write(chunk)
        ref = tmp_path / f"ref.{ext}"
        with Writer(ref, threads=0) as w:
            w.write(read(NOVASEQ))
        if ext == "fq.bgz":  # block boundaries do not depend on the chunking
            assert out.read_bytes() == ref.read_bytes()
        assert gzip.decompress(out.read_bytes()) == NOVASEQ.read_bytes()
