"""Every bundled data file reads back exactly as pysam reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads

DATA = Path(__file__).resolve().parents[1] / "data"
FASTQ = sorted((DATA / "fastq").iterdir())
FASTA = sorted(p for p in (DATA / "fasta").iterdir() if p.suffix not in (".fai", ".gzi"))
ALIGNED = sorted(
    p
    for p in (DATA / "sam_bam").iterdir()
    if p.suffix in (".bam", ".sam") and not p.name.startswith("malformed")
)
PHRED64 = [p for p in FASTQ if "phred64" in p.name or "offset64" in p.name]


def _ids(paths):
    return [p.name for p in paths]


def _check_layout(reads: PackedReads) -> None:
    assert reads.sequences.dtype == torch.uint8 and reads.sequences.dim() == 1
    assert reads.offsets.dtype == torch.int64 and reads.offsets.numel() == len(reads) + 1
    assert int(reads.offsets[0]) == 0 and int(reads.offsets[-1]) == reads.sequences.numel()
    if reads.qualities is not None:
        assert reads.qualities.shape == reads.sequences.shape
        assert reads.qualities.dtype == torch.uint8


@pytest.mark.parametrize("path", FASTQ + FASTA, ids=_ids(FASTQ + FASTA))
def test_fastx_matches_pysam(path, oracle):
    expected = oracle.fastx(path)
    reads = dbg.read(path)
    _check_layout(reads)
    assert len(reads) == len(expected)
    assert oracle.records(reads) == expected
    if path in FASTA:
        assert reads.qualities is None


@pytest.mark.parametrize("path", FASTQ + FASTA, ids=_ids(FASTQ + FASTA))
def test_read_fastx_and_threads_agree(path):
    reads = dbg.read(path)
    assert dbg.read_fastx(path).equals(reads)
    assert dbg.read(path, threads=0).equals(reads)


@pytest.mark.parametrize("path", PHRED64, ids=_ids(PHRED64))
def test_phred64_converted_to_phred33(path, oracle):
    expected = [(n, d, s, bytes(c - 31 for c in q)) for n, d, s, q in oracle.fastx(path)]
    reads = dbg.read(path, quality_offset=64)
    assert oracle.records(reads) == expected
    assert int(reads.qualities.min()) >= 33


def test_phred33_file_read_as_phred64_names_the_record(oracle):
    path = DATA / "fastq" / "iupac_misc_dna.fastq"  # qualities from '!' (Q0)
    expected = oracle.fastx(path)
    first_low = next(i for i, r in enumerate(expected) if min(r[3]) < 64)
    with pytest.raises(
        dbg.FormatError, match=r"below the phred\+64 offset.*quality_offset=33"
    ) as info:
        dbg.read(path, quality_offset=64)
    assert info.value.record == first_low + 1
    assert info.value.line == 4 * first_low + 4
    assert info.value.path == str(path)


@pytest.mark.parametrize("path", ALIGNED, ids=_ids(ALIGNED))
def test_alignment_files_match_pysam(path, oracle):
    expected = oracle.alignments(path)
    reads = dbg.read(path)
    _check_layout(reads)
    got = [(r.name, r.sequence, r.quality) for r in reads]
    if all(q is None for _, _, q in expected):
        assert reads.qualities is None
        expected = [(n, s, None) for n, s, _ in expected]
    assert got == expected
    assert reads.descriptions.tolist() == [""] * len(reads)
    assert dbg.read_bam(path).equals(reads)


@pytest.mark.parametrize("path", ALIGNED, ids=_ids(ALIGNED))
def test_alignment_files_as_stored(path, oracle):
    expected = oracle.alignments(path, as_sequenced=False)
    reads = dbg.read(path, as_sequenced=False)
    got = [(r.name, r.sequence, r.quality if reads.qualities is not None else None) for r in reads]
    assert got == expected


def test_unmapped_missing_quals_has_no_qualities(oracle):
    path = DATA / "sam_bam" / "unmapped_missing_quals.bam"
    expected = oracle.alignments(path)
    assert all(q is None for _, _, q in expected)  # the premise of this test
    reads = dbg.read(path)
    assert reads.qualities is None
    assert [r.sequence for r in reads] == [s for _, s, _ in expected]


def test_paired_files_match_pysam(oracle):
    r1 = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    r2 = DATA / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"
    a, b = dbg.read_pairs(r1, r2)
    assert oracle.records(a) == oracle.fastx(r1)
    assert oracle.records(b) == oracle.fastx(r2)
    assert a.names == b.names


def test_soft_masking_kept(oracle):
    path = DATA / "fasta" / "hg18_chrM_chr20-1Mb_softmasked.fasta.gz"
    reads = dbg.read(path)
    lower = int(((reads.sequences >= ord("a")) & (reads.sequences <= ord("z"))).sum())
    expected = sum(sum(c.islower() for c in s.decode()) for _, _, s, _ in oracle.fastx(path))
    assert lower == expected > 0
