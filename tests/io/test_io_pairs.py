"""Paired-end files: names checked pair by pair, pairs kept together in chunks."""

from __future__ import annotations

from pathlib import Path

import pytest

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads

DATA = Path(__file__).resolve().parents[1] / "data"
R1 = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
R2 = DATA / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"


def fastq(records) -> bytes:
    return b"".join(b"@%s\n%s\n+\n%s\n" % (n.encode(), s, b"I" * len(s)) for n, s in records)


def test_iter_pair_chunks_equals_read_pairs():
    a, b = dbg.read_pairs(R1, R2)
    chunks = list(dbg.iter_pair_chunks(R1, R2, 700, block_size=50_000))
    assert [len(x) for x, _ in chunks] == [len(y) for _, y in chunks]
    assert [len(x) for x, _ in chunks[:-1]] == [700] * (len(chunks) - 1)
    assert PackedReads.concat([x for x, _ in chunks]).equals(a)
    assert PackedReads.concat([y for _, y in chunks]).equals(b)
    for x, y in chunks:
        assert x.names == y.names


def test_mate_suffixes_are_ignored(tmp_path):
    p1, p2 = tmp_path / "a_1.fq", tmp_path / "a_2.fq"
    p1.write_bytes(fastq([("r1/1", b"ACGT"), ("r2/1", b"GG"), ("r3", b"T")]))
    p2.write_bytes(fastq([("r1/2", b"TT"), ("r2/2", b"CCC"), ("r3", b"A")]))
    a, b = dbg.read_pairs(p1, p2)
    assert a.names.tolist() == ["r1/1", "r2/1", "r3"]  # names are returned unchanged
    assert b.names.tolist() == ["r1/2", "r2/2", "r3"]


def test_mismatching_names_name_both_files_and_the_pair(tmp_path):
    names1 = [f"read{i}/1" for i in range(10)]
    names2 = [f"read{i}/2" for i in range(10)]
    names2[6] = "other/2"
    p1, p2 = tmp_path / "x_R1.fq", tmp_path / "x_R2.fq"
    p1.write_bytes(fastq([(n, b"ACGT") for n in names1]))
    p2.write_bytes(fastq([(n, b"ACGT") for n in names2]))
    pattern = rf"pair 7: read names differ: 'read6/1' in {p1}, 'other/2' in {p2}"
    with pytest.raises(dbg.PairedReadsError, match=pattern) as info:
        dbg.read_pairs(p1, p2)
    err = info.value
    assert isinstance(err, dbg.FormatError)
    assert err.record == 7 and err.paths == (str(p1), str(p2)) and err.path == str(p1)
    with pytest.raises(dbg.PairedReadsError, match=pattern):
        for _ in dbg.iter_pair_chunks(p1, p2, 3, block_size=20):
            pass


def test_different_counts(tmp_path):
    p1, p2 = tmp_path / "R1.fq", tmp_path / "R2.fq"
    p1.write_bytes(fastq([(f"r{i}", b"AC") for i in range(5)]))
    p2.write_bytes(fastq([(f"r{i}", b"AC") for i in range(4)]))
    with pytest.raises(dbg.PairedReadsError, match=rf"{p2} has fewer reads than {p1}") as info:
        dbg.read_pairs(p1, p2)
    assert info.value.record == 5
    with pytest.raises(dbg.PairedReadsError, match="has fewer reads") as info:
        list(dbg.iter_pair_chunks(p1, p2, 2))
    assert info.value.record == 5
    with pytest.raises(dbg.PairedReadsError, match=rf"{p2} has fewer reads than {p1}"):
        list(dbg.iter_pair_chunks(p1, p2, 4))


def test_a_skipped_record_is_caught_by_the_name_check(tmp_path):
    p1, p2 = tmp_path / "R1.fq", tmp_path / "R2.fq"
    p1.write_bytes(fastq([("a", b"AC"), ("b", b"AC"), ("c", b"AC")]))
    p2.write_bytes(b"@a\nAC\n+\nII\n@b\nAC\n+\nI\x00\n@c\nAC\n+\nII\n")
    with (
        pytest.warns(dbg.SkippedRecordsWarning),
        pytest.raises(dbg.PairedReadsError, match="pair 2"),
    ):
        dbg.read_pairs(p1, p2, on_error="skip")
