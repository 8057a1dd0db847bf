"""filter_file: streaming equals the in-memory ReadFilter for every chunk size."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from deepbiop_gpu import PackedReads, ReadFilter, filter_file, read

DATA = Path(__file__).resolve().parents[1] / "data"
FILES = [
    DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz",
    DATA / "fastq" / "zero_length_records.fastq",
    DATA / "fastq" / "illumina_novaseq_800reads.fastq",
    DATA / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz",
    DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz",  # again: every read a duplicate
]
SMALL = [
    DATA / "fastq" / "illumina_novaseq_800reads.fastq",
    DATA / "fastq" / "zero_length_records.fastq",
]


@functools.cache
def in_memory(files: tuple[Path, ...]) -> PackedReads:
    return PackedReads.concat([read(f) for f in files])


STREAM_CASES = [
    {"min_length": 150, "min_quality": 28.5, "max_n": 0},
    {"dedup": "exact"},
    {"dedup": "canonical", "subsample": 0.4, "seed": 11},
    {"min_quality": 20.5, "subsample": 1000, "seed": 2},
    {"dedup": "exact", "subsample": 333, "seed": 9, "gc_range": (0.35, 0.65)},
    {"subsample": 0},
]


@pytest.mark.parametrize("crit", STREAM_CASES, ids=str)
@pytest.mark.parametrize("chunk", [97, 1000, 10**6])
def test_streaming_equals_in_memory(crit, chunk, tmp_path):
    out = tmp_path / "kept.fq.gz"
    report = filter_file(FILES, out, reads_per_chunk=chunk, **crit)
    f = ReadFilter(**crit)
    expected = f(in_memory(tuple(FILES)))
    got = read(out)
    assert got.equals(expected) if len(expected) else len(got) == 0
    assert report == f.report
    assert report.reads_in == len(in_memory(tuple(FILES))) and report.kept == len(got)
    assert report.bases_kept == got.total_bases


@pytest.mark.parametrize(
    "crit", [{"dedup": "canonical", "subsample": 0.5}, {"subsample": 17, "seed": 4}], ids=str
)
def test_one_read_chunks(crit, tmp_path, cpu_path):
    out = tmp_path / "kept.fa"
    report = filter_file(SMALL, out, reads_per_chunk=1, **crit)
    f = ReadFilter(**crit)
    expected = f(in_memory(tuple(SMALL)))
    back = read(out)
    assert back.equals(
        PackedReads(
            expected.sequences, expected.offsets, None, expected.names, expected.descriptions
        )
    )
    assert report == f.report


def test_seeded_stream_is_reproducible(tmp_path):
    a, b, c = tmp_path / "a.fq", tmp_path / "b.fq", tmp_path / "c.fq"
    filter_file(FILES[:3], a, subsample=0.2, seed=1, reads_per_chunk=500)
    filter_file(FILES[:3], b, subsample=0.2, seed=1, reads_per_chunk=64)
    filter_file(FILES[:3], c, subsample=0.2, seed=2, reads_per_chunk=500)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()


def test_output_options_and_progress(tmp_path):
    seen = []
    out = tmp_path / "x.fq"
    report = filter_file(
        SMALL[0],
        out,
        max_n=0,
        output_quality_offset=64,
        line_width=50,
        reads_per_chunk=300,
        progress=lambda n, b: seen.append(n),
    )
    assert seen == [300, 600, 800]
    back = read(out, quality_offset=64)
    assert back.equals(ReadFilter(max_n=0)(read(SMALL[0]))) and report.kept == len(back)


def test_reservoir_memory_is_bounded(tmp_path, monkeypatch):
    """An int subsample over a stream holds at most ~2k candidate reads at a time."""
    from deepbiop_gpu import filters

    peak = {"n": 0}
    real = filters._FilterRun._prune

    def watch(self):
        peak["n"] = max(peak["n"], sum(len(p) for p in self.res_parts))
        return real(self)

    monkeypatch.setattr(filters._FilterRun, "_prune", watch)
    filter_file(FILES, tmp_path / "s.fq", subsample=50, reads_per_chunk=100)
    assert 0 < peak["n"] <= 2 * 50 + 100


def test_failure_mid_stream_leaves_no_output(tmp_path):
    bad = DATA / "fastq_malformed" / "truncated_after_plus_line.fastq"
    out = tmp_path / "out.fq.gz"
    from deepbiop_gpu import FormatError

    with pytest.raises(FormatError, match="record"):
        filter_file([SMALL[0], bad], out, reads_per_chunk=100)
    assert list(tmp_path.iterdir()) == []


def test_fasta_input_quality_criterion_raises(tmp_path):
    with pytest.raises(ValueError, match="no qualities"):
        filter_file(
            DATA / "fasta" / "softmasked_with_N_4seqs.fasta", tmp_path / "o.fa", min_quality=20
        )
    assert list(tmp_path.iterdir()) == []
    report = filter_file(
        DATA / "fasta" / "softmasked_with_N_4seqs.fasta", tmp_path / "o.fa", max_n=0
    )
    assert (
        report.kept
        == len(read(tmp_path / "o.fa"))
        == int(
            np.sum(ReadFilter(max_n=0).mask(read(DATA / "fasta" / "softmasked_with_N_4seqs.fasta")))
        )
    )
