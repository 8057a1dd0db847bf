"""Dataset.validate(): findings on the bundled files, counted independently with pysam."""

from __future__ import annotations

import types
from collections import Counter

import pytest
import torch
from oracle import ALIGNED, DATA, FASTA, FASTQ, records

import deepbiop_gpu as dbg
from deepbiop_gpu.data import Dataset, PairedDataset
from deepbiop_gpu.validation import SEVERITIES, Finding, validate

IUPAC = set("ACGTURYSWKMBDHVNacgturyswkmbdhvn-.")
AMBIGUOUS = set("RYSWKMBDHVryswkmbdhv")
PHRED64 = {"illumina13_phred64_20reads.fastq", "solexa_scores_offset64_5reads.fastq"}
FILES = FASTQ + FASTA + ALIGNED


def _by_code(findings: list[Finding]) -> dict[str, Finding]:
    codes = [f.code for f in findings]
    assert len(codes) == len(set(codes)), codes
    return {f.code: f for f in findings}


def _check(finding: Finding | None, rows: list[int], names: list[str]) -> None:
    """The finding exists exactly when rows do, counts them and names some of them."""
    if not rows:
        assert finding is None
        return
    assert finding is not None and finding.count == len(rows)
    shown = {names[r] or f"#{r}" for r in rows}
    assert finding.examples and set(finding.examples) <= shown


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_read_level_findings_match_an_independent_check(path):
    recs = records(path)
    names = [n for n, _, _ in recs]
    found = _by_code(Dataset(path).validate(min_length=20, max_n_fraction=0.1))
    seqs = [s for _, s, _ in recs]
    _check(found.get("empty-reads"), [i for i, s in enumerate(seqs) if not s], names)
    _check(found.get("short-reads"), [i for i, s in enumerate(seqs) if 0 < len(s) < 20], names)
    high_n = [i for i, s in enumerate(seqs) if s and sum(c in "Nn" for c in s) / len(s) > 0.1]
    _check(found.get("high-n"), high_n, names)
    _check(found.get("non-iupac"), [i for i, s in enumerate(seqs) if set(s) - IUPAC], names)
    _check(
        found.get("ambiguity-codes"), [i for i, s in enumerate(seqs) if set(s) & AMBIGUOUS], names
    )
    _check(
        found.get("empty-names"),
        [i for i, n in enumerate(names) if not n],
        [f"#{i}" for i in range(len(names))],
    )
    counts = Counter(n for n in names if n)
    dups = [i for i, n in enumerate(names) if n and counts[n] > 1]
    _check(found.get("duplicate-names"), dups, names)
    if dups:
        distinct = sum(1 for c in counts.values() if c > 1)
        assert f"share {distinct:,} name" in found["duplicate-names"].message
    assert ("quality-encoding" in found) == (path.name in PHRED64)
    assert "missing-labels" not in found and "pair-names" not in found


def test_the_bundled_files_exercise_every_read_check():
    seen = set()
    for path in FILES:
        seen |= {f.code for f in Dataset(path).validate()}
    assert {
        "empty-reads",
        "short-reads",
        "high-n",
        "non-iupac",
        "ambiguity-codes",
        "empty-names",
        "duplicate-names",
        "quality-encoding",
    } <= seen


def test_phred64_read_as_phred33_is_an_error_with_the_fix(data_dir):
    path = data_dir / "fastq" / "illumina13_phred64_20reads.fastq"
    found = _by_code(Dataset(path).validate())
    f = found["quality-encoding"]
    assert f.severity == "error" and "quality_offset=64" in f.message and f.count == 20
    assert "quality-encoding" not in _by_code(Dataset(path, quality_offset=64).validate())


def test_severity_order_and_text(data_dir):
    findings = Dataset(data_dir / "fasta" / "empty_ids_and_sequences.fasta").validate()
    ranks = [SEVERITIES.index(f.severity) for f in findings]
    assert ranks == sorted(ranks)
    empty = _by_code(findings)["empty-reads"]
    assert str(empty).startswith("warning [empty-reads]: 4 reads of length 0") and "(e.g. " in str(
        empty
    )
    assert empty.to_dict()["examples"] == list(empty.examples)


def test_thresholds_are_honoured(data_dir):
    path = data_dir / "fasta" / "softmasked_with_N_4seqs.fasta"
    recs = records(path)
    fractions = [sum(c in "Nn" for c in s) / len(s) for _, s, _ in recs]
    for limit in (0.0, 0.15, max(fractions)):
        found = _by_code(Dataset(path).validate(max_n_fraction=limit, min_length=0))
        expected = sum(f > limit for f in fractions)
        assert (found["high-n"].count if "high-n" in found else 0) == expected
    assert "short-reads" not in _by_code(Dataset(path).validate(min_length=10))
    assert _by_code(Dataset(path).validate(min_length=11))["short-reads"].count == 4


def test_missing_and_negative_labels(data_dir):
    reads = dbg.read(data_dir / "fastq" / "illumina_novaseq_800reads.fastq")
    floats = torch.ones(len(reads))
    floats[[3, 17, 400]] = float("nan")
    floats[5] = float("inf")
    f = _by_code(Dataset.from_reads(reads, labels=floats).validate())["missing-labels"]
    assert f.severity == "error" and f.count == 4
    assert set(f.examples) <= {reads.names[i] for i in (3, 5, 17, 400)}
    ints = torch.zeros(len(reads), dtype=torch.int64)
    ints[:7] = -1
    assert _by_code(Dataset.from_reads(reads, labels=ints).validate())["negative-labels"].count == 7


def test_label_table_missing_reads(tmp_path, data_dir):
    path = data_dir / "fastq" / "crlf_dos_3reads.fastq"
    names = [n for n, _, _ in records(path)]
    table = tmp_path / "labels.tsv"
    table.write_text(f"name\tlabel\n{names[0]}\tx\n")
    f = _by_code(Dataset(path).validate(labels=table))["missing-labels"]
    assert f.count == len(names) - 1 and set(f.examples) == set(names[1:])
    assert "missing-labels" not in _by_code(Dataset(path).validate(labels={n: 1 for n in names}))


def _pair(r1: dbg.PackedReads, r2: dbg.PackedReads):
    return types.SimpleNamespace(r1=Dataset.from_reads(r1), r2=Dataset.from_reads(r2))


def _key(name: str) -> str:
    return name[:-2] if name.endswith(("/1", "/2")) else name


def test_pairs(data_dir):
    p1 = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    p2 = DATA / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"
    findings = validate(PairedDataset(p1, p2))
    codes = [f.code for f in findings]
    assert [f.message[:3] for f in findings if f.code == "high-n"] == ["R1:"]
    assert "pair-names" not in codes and "pair-count" not in codes
    assert codes.count("high-n") == 1  # R1 has one N-rich read, R2 none (see the per-file test)
    r1, r2 = dbg.read(p1), dbg.read(p2)
    shifted = dbg.PackedReads.concat([r2[10:20], r2[:10], r2[20:]])
    f = _by_code(validate(_pair(r1, shifted)))["pair-names"]
    a, b = r1.names.tolist(), shifted.names.tolist()
    assert (
        f.severity == "error"
        and f.count == sum(_key(x) != _key(y) for x, y in zip(a, b, strict=False)) == 20
    )
    f = _by_code(validate(_pair(r1, r2[:-3])))["pair-count"]
    assert f.severity == "error" and f.count == 3
    slash = dbg.PackedReads.from_records([("x/1", b"A", b"I"), ("y/1", b"C", b"I")])
    mates = dbg.PackedReads.from_records([("x/2", b"A", b"I"), ("z/2", b"C", b"I")])
    f = _by_code(validate(_pair(slash, mates), min_length=0))["pair-names"]
    assert f.count == 1 and f.examples == ("y/1 / z/2",)


def test_packed_reads_and_bad_arguments():
    reads = dbg.PackedReads.from_records([("a", b"ACGT", b"IIII")])
    assert validate(reads) == [
        Finding("warning", "short-reads", validate(reads)[0].message, 1, ("a",))
    ]
    with pytest.raises(ValueError, match="max_n_fraction"):
        validate(reads, max_n_fraction=2)
    with pytest.raises(TypeError, match="validate takes"):
        validate([1, 2, 3])


def test_subsets_are_checked_on_their_own_reads(data_dir):
    path = data_dir / "fastq" / "zero_length_records.fastq"
    ds = Dataset(path)
    empty = [i for i, (_, s, _) in enumerate(records(path)) if not s]
    keep, drop = ds.split(0.0, seed=0)[1], ds.split(0.0, seed=0)[0]  # everything / nothing
    assert _by_code(validate(keep))["empty-reads"].count == len(empty)
    assert validate(drop) == []
    others = dbg.data.Subset(ds, [i for i in range(len(ds)) if i not in empty])
    assert "empty-reads" not in _by_code(validate(others))
