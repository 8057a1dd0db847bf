"""Dataset.summary(): every number against pysam + plain Python on the bundled files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from oracle import ALIGNED, FASTA, FASTQ, median, n50, records

import deepbiop_gpu as dbg
from deepbiop_gpu.data import Dataset, PairedDataset
from deepbiop_gpu.summary import Summary, summarize

FILES = FASTQ + FASTA + ALIGNED


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_numbers_match_an_independent_count(path):
    recs = records(path)
    s = Dataset(path).summary()
    lengths = [len(seq) for _, seq, _ in recs]
    bases = "".join(seq for _, seq, _ in recs)
    assert isinstance(s, Summary)
    assert s.n_records == len(recs) and s.total_bases == len(bases)
    assert s.length_min == min(lengths) and s.length_max == max(lengths)
    assert s.length_mean == pytest.approx(sum(lengths) / len(lengths))
    assert s.length_median == median(lengths) and s.length_n50 == n50(lengths)

    counts = Counter(bases.upper())
    expect = {
        "A": counts["A"],
        "C": counts["C"],
        "G": counts["G"],
        "T": counts["T"] + counts["U"],
        "N": counts["N"],
    }
    expect["other"] = len(bases) - sum(expect.values())
    assert s.composition == expect
    acgt = expect["A"] + expect["C"] + expect["G"] + expect["T"]
    assert s.gc_fraction == pytest.approx((expect["G"] + expect["C"]) / acgt)
    assert s.n_fraction == pytest.approx(expect["N"] / len(bases))
    assert s.lowercase_fraction == pytest.approx(sum(c.islower() for c in bases) / len(bases))

    quals = [q for _, _, q in recs]
    has_q = all(q is not None for q in quals)
    assert s.has_qualities == has_q
    if has_q:
        scores = [ord(c) - 33 for q in quals for c in q]
        assert s.mean_quality == pytest.approx(sum(scores) / len(scores))
        assert s.q20_fraction == pytest.approx(sum(x >= 20 for x in scores) / len(scores))
        assert s.q30_fraction == pytest.approx(sum(x >= 30 for x in scores) / len(scores))
        assert (s.quality_min, s.quality_max) == (min(scores), max(scores))
        assert s.quality_histogram.sum() == len(scores)
    else:
        assert s.mean_quality is None and s.q20_fraction is None


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_length_histogram_is_consistent_with_its_edges(path):
    lengths = [len(seq) for _, seq, _ in records(path)]
    counts, edges = Dataset(path).summary().length_histogram
    assert len(edges) == len(counts) + 1 and counts.sum() == len(lengths)
    expected = [0] * len(counts)
    for length in lengths:
        for i in range(len(counts)):
            last = i == len(counts) - 1
            if edges[i] <= length < edges[i + 1] or (last and length == edges[i + 1]):
                expected[i] += 1
                break
    assert counts.tolist() == expected


def test_per_position_quality_on_a_small_file(data_dir):
    path = data_dir / "fastq" / "sanger_454_wrapped_quality.fastq"
    recs = records(path)
    s = Dataset(path).summary()
    longest = max(len(q) for _, _, q in recs)
    expected = []
    for pos in range(longest):
        at = [ord(q[pos]) - 33 for _, _, q in recs if len(q) > pos]
        expected.append(sum(at) / len(at))
    assert s.per_position_quality.tolist() == pytest.approx(expected)


def test_labels_files_and_memory(data_dir):
    files = [
        data_dir / "fastq" / "crlf_dos_3reads.fastq",
        data_dir / "fastq" / "illumina_novaseq_800reads.fastq",
    ]
    ds = Dataset(files, labels=["dos", "novaseq"])
    s = ds.summary()
    assert s.label_counts == {"dos": len(records(files[0])), "novaseq": len(records(files[1]))}
    assert s.files == [(str(f), len(records(f))) for f in files]
    reads = ds.reads
    packed = reads.sequences.numel() + reads.qualities.numel() + 8 * reads.offsets.numel()
    packed += reads.names.data.size + 8 * reads.names.offsets.size
    packed += reads.descriptions.data.size + 8 * reads.descriptions.offsets.size
    assert s.memory_bytes == packed + 8 * len(ds)


def test_float_labels_count_missing(data_dir):
    reads = dbg.read(data_dir / "fastq" / "crlf_dos_3reads.fastq")
    s = summarize(Dataset.from_reads(reads, labels=torch.tensor([0.5, float("nan"), 0.5])))
    assert s.label_counts == {0.5: 2, "missing": 1}


def test_paired_summary_counts_both_mates(data_dir):
    r1 = data_dir / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    r2 = data_dir / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"
    s = summarize(PairedDataset(r1, r2))
    a, b = records(r1), records(r2)
    assert s.n_pairs == len(a) and s.n_records == len(a) + len(b)
    assert s.total_bases == sum(len(x[1]) for x in a + b)


def test_empty_dataset():
    s = summarize(dbg.PackedReads.empty(with_qualities=True))
    assert s.n_records == 0 and s.length_min is None and s.gc_fraction is None
    assert s.to_dict()["n_records"] == 0 and "0 reads" in str(s)


def test_views_text_json_and_plot(tmp_path, data_dir):
    path = data_dir / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz"
    s = Dataset(path, labels=["lambda"]).summary()
    text = str(s)
    assert "236 reads" in text and f"{s.total_bases:,}" in text and "lambda: 236" in text
    assert f"N50 {n50([len(x[1]) for x in records(path)]):,}" in text
    d = json.loads(s.to_json())
    assert d["n_records"] == 236 and d["composition"] == s.composition
    assert sum(d["length_histogram"]["counts"]) == 236
    assert math.isclose(sum(v for v in d["composition_fraction"].values()), 1.0)
    out = s.plot(tmp_path / "ont.png")
    data = open(out, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plot_without_matplotlib_says_how_to_install(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.modules['matplotlib.figure'] = None\n"
        "from deepbiop_gpu import PackedReads\n"
        "from deepbiop_gpu.summary import summarize\n"
        "try:\n"
        "    summarize(PackedReads.from_records([('a', b'ACGT', b'IIII')])).plot('x.png')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "pip install 'deepbiop-gpu[plot]'" in out.stdout


def test_a_million_reads_summarise_exactly():
    """1M reads in one pass (the speed is measured in benchmarks/bench_summary.py)."""
    rng = np.random.default_rng(0)
    n, length = 1_000_000, 150
    block = np.frombuffer(b"ACGTN", np.uint8)[rng.integers(0, 5, 150_000)]
    seqs = torch.from_numpy(np.tile(block, n * length // len(block)))
    quals = torch.from_numpy(
        np.tile(rng.integers(35, 75, 150_000, dtype=np.uint8), n * length // 150_000)
    )
    offsets = torch.arange(0, n * length + 1, length, dtype=torch.int64)
    reads = dbg.PackedReads(seqs, offsets, quals, validate=False)
    s = summarize(reads)
    assert s.n_records == n and s.total_bases == n * length
    assert s.length_min == s.length_max == length


def test_subset_summary_counts_its_reads(data_dir):
    path = data_dir / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz"
    recs = records(path)
    sub = dbg.data.Subset(Dataset(path, labels=["lambda"]), list(range(0, 236, 2)))
    s = summarize(sub)
    assert s.n_records == 118 and s.total_bases == sum(len(recs[i][1]) for i in range(0, 236, 2))
    assert s.label_counts == {"lambda": 118}
