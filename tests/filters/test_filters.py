"""ReadFilter: every criterion against a naive per-record Python reference, on real files."""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from naive.reverse_complement import complement_byte

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads, ReadFilter, read
from deepbiop_gpu.filters import CRITERIA, STREAM_SUBSAMPLE, FilterReport, sequence_hashes
from deepbiop_gpu.ops._philox import philox4x32

DATA = Path(__file__).resolve().parents[1] / "data"


@functools.cache
def with_quals() -> PackedReads:
    """Real FASTQ reads with the edge cases: empty reads, N, lowercase, IUPAC, phred64, long ONT."""
    parts = [
        read(DATA / "fastq" / "zero_length_records.fastq"),
        read(DATA / "fastq" / "iupac_misc_dna.fastq"),
        read(DATA / "fastq" / "illumina13_phred64_20reads.fastq", quality_offset=64),
        read(DATA / "fastq" / "illumina_novaseq_800reads.fastq"),
        read(DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz")[:600],
        read(DATA / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz")[:40],
        read(DATA / "fastq" / "crlf_dos_3reads.fastq"),
        read(DATA / "fastq" / "multimember_gzip_3reads.fastq.gz"),  # the same 3 reads again
    ]
    reads = PackedReads.concat(parts)
    # an all-N read, its reverse complement's twin and a lowercase copy
    extra = PackedReads.from_records(
        [
            ("allN", b"NNNNNNNNNN", b"IIIIIIIIII"),
            ("rc_of_first_hiseq", _revcomp(parts[4][0].sequence), parts[4][0].quality[::-1]),
            ("lower", parts[3][5].sequence.lower(), parts[3][5].quality),
        ]
    )
    return PackedReads.concat([reads, extra])


@functools.cache
def without_quals() -> PackedReads:
    parts = [
        read(DATA / "fasta" / "softmasked_with_N_4seqs.fasta"),
        read(DATA / "fasta" / "empty_ids_and_sequences.fasta"),
        read(DATA / "fasta" / "ncbi_28S_rRNA_570seqs_iupac.fasta"),
    ]
    return PackedReads.concat(parts)


def _revcomp(seq: bytes) -> bytes:
    return bytes(complement_byte(b) for b in reversed(seq))


# ------------------------------------------------------------ naive reference
def naive_fails(rec: dbg.Record, crit: dict) -> str | None:
    """The first criterion (name) that removes ``rec``, per record, in plain Python."""
    seq, n = rec.sequence, len(rec.sequence)
    q = None if rec.quality is None else [c - 33 for c in rec.quality]
    if "min_length" in crit and n < crit["min_length"]:
        return "min_length"
    if "max_length" in crit and n > crit["max_length"]:
        return "max_length"
    if "min_quality" in crit:
        if n == 0:
            mean = 0.0
        elif crit.get("quality_mean", "error") == "error":
            mean = -10 * math.log10(sum(10 ** (-x / 10) for x in q) / n)
        else:
            mean = sum(q) / n
        if mean < crit["min_quality"]:
            return "min_quality"
    if "low_quality_threshold" in crit or "max_low_quality_fraction" in crit:
        t = crit.get("low_quality_threshold", 15)
        f = crit.get("max_low_quality_fraction", 0.4)
        if n and sum(x < t for x in q) / n > f:
            return "low_quality"
    ns = sum(c in b"Nn" for c in seq)
    if "max_n" in crit and ns > crit["max_n"]:
        return "max_n"
    if "max_n_fraction" in crit and n and ns / n > crit["max_n_fraction"]:
        return "max_n_fraction"
    if "gc_range" in crit:
        acgt = sum(c in b"ACGTacgt" for c in seq)
        gc = sum(c in b"GCgc" for c in seq)
        lo, hi = crit["gc_range"]
        if acgt == 0 or not lo <= gc / acgt <= hi:
            return "gc_range"
    if "names" in crit and rec.name not in set(crit["names"]):
        return "names"
    if "exclude_names" in crit and rec.name in set(crit["exclude_names"]):
        return "exclude_names"
    return None


def naive_filter(reads: PackedReads, crit: dict, predicate_keep=None) -> tuple[list[bool], dict]:
    removed: dict[str, int] = {}
    keep = []
    seen: set[bytes] = set()
    for i, rec in enumerate(reads):
        why = naive_fails(rec, crit)
        if why is None and predicate_keep is not None and not predicate_keep[i]:
            why = "predicate"
        if why is None and crit.get("dedup"):
            key = rec.sequence
            if crit["dedup"] == "canonical":
                key = min(key, _revcomp(key))
            if key in seen:
                why = "dedup"
            seen.add(key)
        if why is not None:
            removed[why] = removed.get(why, 0) + 1
        keep.append(why is None)
    return keep, removed


CASES = [
    {"min_length": 100},
    {"max_length": 149},
    {"min_length": 1, "max_length": 150},
    {"min_quality": 27.7},
    {"min_quality": 31.3},
    {"min_quality": 27.7, "quality_mean": "arithmetic"},
    {"min_quality": 34.5, "quality_mean": "arithmetic"},
    {"low_quality_threshold": 20, "max_low_quality_fraction": 0.1},
    {"low_quality_threshold": 30},
    {"max_low_quality_fraction": 0.05},
    {"max_n": 0},
    {"max_n": 2},
    {"max_n_fraction": 0.01},
    {"max_n_fraction": 1 / 150},  # exactly one N in a 150 bp read: on the boundary, kept
    {"gc_range": (0.5, 0.5)},
    {"gc_range": (0.4, 0.6)},
    {"gc_range": (0.0, 1.0)},
    {"dedup": "exact"},
    {"dedup": "canonical"},
    {"min_length": 30, "min_quality": 25.3, "max_n": 1, "gc_range": (0.3, 0.7), "dedup": "exact"},
]


@pytest.mark.parametrize("crit", CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_criteria_match_naive_reference(crit, cpu_path):
    """Both CPU paths (numba loops, numpy) against the reference."""
    reads = with_quals()
    keep, removed = naive_filter(reads, crit)
    f = ReadFilter(**crit)
    mask = f.mask(reads)
    assert mask.dtype == np.bool_ and mask.shape == (len(reads),)
    assert mask.tolist() == keep
    assert {k: v for k, v in f.report.removed.items() if v} == removed
    assert f.report.reads_in == len(reads) and f.report.kept == sum(keep)
    kept = f(reads)
    assert kept.equals(reads[np.flatnonzero(keep)])
    assert f.report.bases_kept == kept.total_bases


def test_numba_and_numpy_hashes_are_bit_identical(monkeypatch):
    from deepbiop_gpu.ops._numba import NUMBA_ENV

    reads = with_quals()
    got = {}
    for flag in ("0", "1"):
        monkeypatch.setenv(NUMBA_ENV, flag)
        got[flag] = [sequence_hashes(reads, canonical=c) for c in (False, True)]
    assert all((a == b).all() for a, b in zip(got["0"], got["1"], strict=True))


def test_names_and_exclude_names_from_lists_and_files(tmp_path):
    reads = with_quals()
    names = reads.names.tolist()
    wanted = names[::7] + ["not_a_read", "A" * 500]
    path = tmp_path / "names.txt"
    path.write_text("".join(f"{n}\textra column\n" for n in wanted) + "\n")
    for spec in (wanted, path, str(path)):
        for key in ("names", "exclude_names"):
            f = ReadFilter(**{key: spec})
            keep, removed = naive_filter(reads, {key: wanted})
            assert f.mask(reads).tolist() == keep
            assert {k: v for k, v in f.report.removed.items() if v} == removed
    with pytest.raises(FileNotFoundError, match="one name per line"):
        ReadFilter(names=str(tmp_path / "missing.txt"))


def test_predicate_is_vectorised_and_checked():
    reads = with_quals()
    lengths = reads.lengths.numpy()
    keep_even = np.arange(len(reads)) % 2 == 0
    f = ReadFilter(min_length=10, predicate=lambda r: torch.from_numpy(keep_even.copy()))
    keep, removed = naive_filter(reads, {"min_length": 10}, predicate_keep=keep_even)
    assert f.mask(reads).tolist() == keep and f.report.removed == removed | {
        k: 0 for k in ("min_length", "predicate") if k not in removed
    }
    assert (lengths[f.mask(reads)] >= 10).all()
    with pytest.raises(ValueError, match="bool mask"):
        ReadFilter(predicate=lambda r: np.ones(3, dtype=bool)).mask(reads)


def test_first_criterion_counts_the_read():
    reads = PackedReads.from_records(
        [("a", b"NN", b"!!"), ("b", b"ACGTACGT", b"IIIIIIII"), ("c", b"NNNNNNNN", b"!!!!!!!!")]
    )
    f = ReadFilter(min_length=4, min_quality=10, max_n=0)
    assert f.mask(reads).tolist() == [False, True, False]
    assert f.report.removed == {"min_length": 1, "min_quality": 1, "max_n": 0}
    assert list(f.report.removed) == [c for c in CRITERIA if c in f.report.removed]
    text = str(f.report)
    assert "reads in" in text and "min_quality" in text and "kept" in text
    d = f.report.to_dict()
    assert d == {
        "reads_in": 3,
        "removed": {"min_length": 1, "min_quality": 1, "max_n": 0},
        "kept": 1,
        "bases_in": 18,
        "bases_kept": 8,
    }


def test_quality_criteria_without_qualities_raise():
    reads = without_quals()
    for crit in (
        {"min_quality": 20},
        {"low_quality_threshold": 20},
        {"max_low_quality_fraction": 0.2},
    ):
        with pytest.raises(ValueError, match="no qualities"):
            ReadFilter(**crit).mask(reads)


@pytest.mark.parametrize(
    "crit",
    [
        {"min_length": 200},
        {"max_n": 0},
        {"max_n_fraction": 0.001},
        {"gc_range": (0.45, 0.55)},
        {"dedup": "exact"},
        {"dedup": "canonical"},
        {"names": ["chr1", "MT", ""]},
    ],
    ids=str,
)
def test_criteria_on_fasta_match_naive_reference(crit, cpu_path):
    reads = without_quals()
    keep, removed = naive_filter(reads, crit)
    f = ReadFilter(**crit)
    assert f.mask(reads).tolist() == keep
    assert {k: v for k, v in f.report.removed.items() if v} == removed


def test_dedup_hash_is_case_sensitive_and_canonical_is_strand_blind(cpu_path):
    reads = PackedReads.from_records(
        [
            ("a", b"AACCGT", None),
            ("b", b"aaccgt", None),
            ("c", b"ACGGTT", None),
            ("d", b"AACCGT", None),
            ("e", b"", None),
            ("f", b"", None),
            ("g", b"RYN", None),
            ("h", b"NRY", None),
        ]
    )
    assert ReadFilter(dedup="exact").mask(reads).tolist() == [
        True,
        True,
        True,
        False,
        True,
        False,
        True,
        True,
    ]
    assert ReadFilter(dedup="canonical").mask(reads).tolist() == [
        True,
        True,
        False,
        False,
        True,
        False,
        True,
        False,
    ]
    h = sequence_hashes(reads)
    assert h.shape == (8, 2) and h.dtype == np.uint64
    assert (sequence_hashes(reads, rows=np.array([3, 0])) == h[[3, 0]]).all()
    # equal-length rows (2-D path) and ragged rows (reduceat path) hash alike
    same = PackedReads.from_records([("x", b"AACCGT", None), ("y", b"ACG", None)])
    assert (sequence_hashes(same)[0] == h[0]).all()


def philox_words_naive(seed: int, index: int) -> tuple[int, int]:
    """Words 0 and 1 of Philox for one read, counters as the seeding contract lays out."""
    c = [
        torch.tensor([v])
        for v in (0, index & 0xFFFFFFFF, 0, (STREAM_SUBSAMPLE | ((index >> 32) << 8)) & 0xFFFFFFFF)
    ]
    w = philox4x32(seed, *c)
    return int(w[0]), int(w[1])


def test_float_subsample_is_philox_keyed_on_seed_and_read_index():
    reads = with_quals()
    f = ReadFilter(subsample=0.3, seed=7)
    mask = f.mask(reads)
    threshold = math.floor(0.3 * 2**32)
    expected = [philox_words_naive(7, i)[0] < threshold for i in range(len(reads))]
    assert mask.tolist() == expected
    assert f.report.removed == {"subsample": len(reads) - sum(expected)}
    assert 0.25 < mask.mean() < 0.35
    assert ReadFilter(subsample=0.3, seed=7).mask(reads).tolist() == mask.tolist()  # reproducible
    assert ReadFilter(subsample=0.3, seed=8).mask(reads).tolist() != mask.tolist()
    assert (
        ReadFilter(subsample=1.0).mask(reads).all()
        and not ReadFilter(subsample=0.0).mask(reads).any()
    )


def test_int_subsample_keeps_exactly_k_of_the_passing_reads():
    reads = with_quals()
    passing = ReadFilter(min_length=50).mask(reads)
    rows = np.flatnonzero(passing).tolist()
    keys = {i: (lambda w: (w[0] << 32) | w[1])(philox_words_naive(3, i)) for i in rows}
    for k in (0, 1, 37, int(passing.sum()), int(passing.sum()) + 5):
        f = ReadFilter(min_length=50, subsample=k, seed=3)
        mask = f.mask(reads)
        assert int(mask.sum()) == min(k, int(passing.sum()))
        assert not (mask & ~passing).any()
        # reference: the k passing reads with the smallest 64-bit Philox keys
        chosen = sorted(sorted(rows, key=lambda i: (keys[i], i))[:k])
        assert np.flatnonzero(mask).tolist() == chosen
        assert f.report.removed["subsample"] == len(rows) - len(chosen)
    a = ReadFilter(subsample=50, seed=1).mask(reads)
    assert (a == ReadFilter(subsample=50, seed=1).mask(reads)).all()
    assert (a != ReadFilter(subsample=50, seed=2).mask(reads)).any()


def test_subsample_after_dedup_counts_in_order():
    reads = with_quals()
    f = ReadFilter(dedup="exact", subsample=0.5, seed=0)
    mask = f.mask(reads)
    keep, removed = naive_filter(reads, {"dedup": "exact"})
    threshold = 1 << 31
    expected = [k and philox_words_naive(0, i)[0] < threshold for i, k in enumerate(keep)]
    assert mask.tolist() == expected
    assert f.report.removed == {"dedup": removed["dedup"], "subsample": sum(keep) - sum(expected)}


def test_arguments_are_checked():
    for bad in (
        {"dedup": "fuzzy"},
        {"quality_mean": "median"},
        {"min_length": -1},
        {"max_n_fraction": 2.0},
        {"gc_range": (0.8, 0.2)},
        {"subsample": 1.5},
        {"subsample": -3},
    ):
        with pytest.raises(ValueError):
            ReadFilter(**bad)
    with pytest.raises(TypeError):
        ReadFilter(subsample=True)
    with pytest.raises(TypeError):
        ReadFilter(predicate=3)


def test_empty_input_and_no_criteria():
    empty = PackedReads.empty(with_qualities=True)
    f = ReadFilter(min_quality=20, dedup="canonical", subsample=10)
    kept = f(empty)
    assert len(kept) == 0 and kept.qualities is not None
    assert f.report.to_dict()["reads_in"] == 0
    reads = with_quals()
    g = ReadFilter()
    assert g(reads).equals(reads) and g.report.kept == len(reads) and g.report.removed == {}
    assert isinstance(g.report, FilterReport)


def test_dataset_filter_is_a_view_with_labels_and_report():
    files = [
        DATA / "fastq" / "illumina_novaseq_800reads.fastq",
        DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz",
    ]
    ds = dbg.Dataset(files, labels=["nova", "hiseq"])
    crit = {"min_quality": 25.5, "max_n": 0, "dedup": "exact", "subsample": 0.8, "seed": 5}
    view = ds.filter(**crit)
    f = ReadFilter(**crit)
    mask = f.mask(ds.reads)
    assert isinstance(view, dbg.Subset) and view.dataset is ds
    assert view.indices.tolist() == np.flatnonzero(mask).tolist()
    assert view.filter_report == f.report and view.filter_report.kept == len(view)
    assert torch.equal(view.labels, ds.labels[torch.from_numpy(view.indices)])
    assert view.classes == ds.classes == sorted(["nova", "hiseq"])
    i = len(view) // 2
    sample = view[i]
    parent = ds[int(view.indices[i])]
    assert sample["index"] == parent["index"] and torch.equal(
        sample["sequence"], parent["sequence"]
    )
    # a view: the subset indexes the parent's buffers (samples are compact copies, issue 15)
    assert view.dataset.reads.sequences.data_ptr() == ds.reads.sequences.data_ptr()
    assert ds.split(0.5)[0].filter_report is None
    batch = view.__getitems__(np.arange(16))  # the loader's fast batch path
    assert batch.indices.tolist() == view.indices[:16].tolist()
