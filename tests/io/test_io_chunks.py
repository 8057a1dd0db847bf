"""Chunked reading of the real files: any chunk and block size gives the same reads."""

from __future__ import annotations

import doctest
import importlib
import warnings
from pathlib import Path

import pytest

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
FILES = sorted(
    [p for p in (DATA / "fastq").iterdir()]
    + [p for p in (DATA / "fasta").iterdir() if p.suffix not in (".fai", ".gzi")]
)


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
@pytest.mark.parametrize("reads_per_chunk, block_size", [(1, 61), (7, 1000), (500, 1 << 16)])
def test_chunks_equal_whole_file(path, reads_per_chunk, block_size):
    if path.stat().st_size > 100_000:
        block_size *= 16  # same code paths, fewer parser calls on the big files
    whole = dbg.read(path)
    chunks = list(dbg.iter_chunks(path, reads_per_chunk, block_size=block_size))
    assert sum(len(c) for c in chunks) == len(whole)
    assert all(len(c) == reads_per_chunk for c in chunks[:-1])
    assert PackedReads.concat(chunks).equals(whole)


@pytest.mark.parametrize("threads", [0, 1])
def test_one_byte_blocks(threads, oracle):
    path = DATA / "fastq" / "multimember_gzip_3reads.fastq.gz"
    chunks = list(dbg.iter_chunks(path, 2, block_size=1, threads=threads))
    n = len(oracle.fastx(path))
    assert [len(c) for c in chunks] == [2] * (n // 2) + [1] * (n % 2)
    assert oracle.records(PackedReads.concat(chunks)) == oracle.fastx(path)


def test_chunks_do_not_share_memory():
    path = DATA / "fastq" / "illumina_novaseq_800reads.fastq"
    chunks = list(dbg.iter_chunks(path, 100, block_size=5000))
    first = chunks[0].sequences.clone()
    for c in chunks[1:]:
        c.sequences.fill_(0)
        c.qualities.fill_(0)
    assert dbg.read(path)[:100].sequences.equal(first)
    assert chunks[0].sequences.equal(first)


def test_stopping_early_releases_the_reader():
    path = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    it = dbg.iter_chunks(path, 10, block_size=4096, threads=1)
    assert len(next(it)) == 10
    it.close()  # joins the decompression thread


def test_fasta_on_error_skip(tmp_path):
    path = tmp_path / "x.fa"
    path.write_bytes(b"junk\n>a\nAC\n>b\nA\x01C\nGG\n>c\nTT\n>d\x02\nA\n>e\nCC\n")
    with pytest.warns(dbg.SkippedRecordsWarning) as caught:
        reads = dbg.read(path, on_error="skip", format="fasta")  # junk first: not detectable
    (warning,) = [w.message for w in caught if isinstance(w.message, dbg.SkippedRecordsWarning)]
    assert warning.count == 3
    assert [e.line for e in warning.errors] == [1, 5, 9]
    assert "skipped 3 malformed records" in str(warning)
    assert [(r.name, r.sequence) for r in reads] == [("a", b"AC"), ("c", b"TT"), ("e", b"CC")]
    for block_size in (1, 3, 7):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dbg.SkippedRecordsWarning)
            chunks = list(
                dbg.iter_chunks(path, 1, block_size=block_size, on_error="skip", format="fasta")
            )
        assert PackedReads.concat(chunks).equals(reads)


def test_fastq_skip_then_resync(tmp_path):
    path = tmp_path / "x.fq"
    path.write_bytes(
        b"@a\nACGT\n+\nIIII\n"
        b">b\nAC\n"  # not FASTQ: skipped up to the next '@' line
        b"@c\nGG\n+\nII\n"
        b"@d\nAC\n+\nIIX\n"  # quality too long
        b"@e\nT\n+\nI\n"
    )
    with pytest.warns(dbg.SkippedRecordsWarning, match="skipped 2 malformed records") as caught:
        reads = dbg.read(path, on_error="skip")
    (warning,) = [w.message for w in caught if isinstance(w.message, dbg.SkippedRecordsWarning)]
    assert [(e.record, e.line) for e in warning.errors] == [(2, 5), (4, 14)]
    assert reads.names.tolist() == ["a", "c", "e"]


MODULES = [
    "deepbiop_gpu.errors",
    "deepbiop_gpu.io.sniff",
    "deepbiop_gpu.io.compression",
    "deepbiop_gpu.io.ragged",
    "deepbiop_gpu.io.sink",
    "deepbiop_gpu.io.fastq",
    "deepbiop_gpu.io.fasta",
    "deepbiop_gpu.io.alignment",
    "deepbiop_gpu.io.chunks",
    "deepbiop_gpu.io.readers",
    "deepbiop_gpu.io.pairs",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples use paths relative to the repository
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{name} has no examples"
    assert result.failed == 0
