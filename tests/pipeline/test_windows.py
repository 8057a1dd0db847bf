"""Dataset.windows: a view of windows (read, start) over long reads (deepbiop_gpu.data.windows)."""

import doctest

import numpy as np
import pytest
import torch

import deepbiop_gpu.data.windows as windows_module
from deepbiop_gpu import (
    Collate,
    Compose,
    DataLoader,
    Dataset,
    Mutator,
    OneHotEncoder,
    PackedReads,
    ReverseComplement,
    Windows,
)
from deepbiop_gpu.data.windows import WindowBatch, window_counts

ONT = "fastq/ont_lambda_236reads_wrapped80.fastq.gz"


def naive_windows(n, length, stride, min_length):
    """Every (start, end) of a read of n bases, one window at a time."""
    out, start = [], 0
    while start < n:
        end = min(start + length, n)
        if end - start == length or end - start >= min_length:
            out.append((start, end))
        if end == n:
            break
        start += stride
    return out


def test_docstring_examples():
    assert doctest.testmod(windows_module).failed == 0


def test_counts_match_the_naive_tiling():
    rng = np.random.default_rng(0)
    lengths = np.concatenate([[0, 1, 2, 5, 7, 10, 11, 20, 21], rng.integers(0, 60, 200)])
    for length in (1, 3, 7, 10):
        for stride in (1, 2, 5, 7, 10, 13):
            for min_length in sorted({1, 2, length // 2 or 1, length}):
                got = window_counts(lengths, length, stride, min_length)
                want = [len(naive_windows(int(n), length, stride, min_length)) for n in lengths]
                assert got.tolist() == want, (length, stride, min_length)


def _toy():
    rng = np.random.default_rng(1)
    recs = []
    for i, n in enumerate([0, 3, 10, 25, 40, 7]):
        seq = bytes(rng.choice(list(b"ACGTN"), n).astype(np.uint8).tolist())
        recs.append((f"r{i}", seq, bytes(rng.integers(33, 74, n).astype(np.uint8).tolist())))
    return Dataset.from_reads(PackedReads.from_records(recs), labels=torch.arange(6) * 10)


@pytest.mark.parametrize("length,stride,min_length", [(10, None, None), (8, 3, 2), (4, 6, 1), (50, None, 1)])
def test_items_are_the_naive_windows(length, stride, min_length):
    ds = _toy()
    w = ds.windows(length, stride=stride, min_length=min_length)
    expected = []
    for r in range(len(ds)):
        seq, qual = ds[r]["sequence"], ds[r]["quality"]
        for a, b in naive_windows(len(seq), length, stride or length, min_length or length):
            expected.append((r, a, b, bytes(seq[a:b].tolist()), bytes(qual[a:b].tolist())))
    assert len(w) == len(expected)
    assert w.item_lengths().tolist() == [b - a for _, a, b, _, _ in expected]
    for i, (r, a, b, seq, qual) in enumerate(expected):
        s = w[i]
        assert bytes(s["sequence"].tolist()) == seq and bytes(s["quality"].tolist()) == qual
        assert s["name"] == f"r{r}/{a}-{b}" and s["index"] == i
        assert s["label"] == r * 10 and s["read_index"] == r and s["window_start"] == a
    assert w[-1]["index"] == len(w) - 1
    with pytest.raises(IndexError):
        w[len(w)]


def test_fast_collate_equals_sample_path():
    w = _toy().windows(8, stride=3, min_length=2)
    idx = [5, 0, 11, 3, len(w) - 1]
    fast = Collate()(w.__getitems__(idx))
    assert isinstance(w.__getitems__(idx), WindowBatch)
    slow = Collate()._collate_samples([w[i] for i in idx])
    for key in ("sequences", "lengths", "qualities", "index", "labels"):
        assert torch.equal(fast[key], slow[key]), key
    assert fast["names"] == slow["names"]
    assert fast["read_index"].tolist() == [w[i]["read_index"] for i in idx]
    assert fast["window_start"].tolist() == [w[i]["window_start"] for i in idx]


def test_no_bases_copied_over_a_memory_mapped_cache(tmp_path, data_dir):
    ds = Dataset(data_dir / ONT, cache_dir=tmp_path / "c")
    w = ds.windows(1000, stride=500)
    base = ds.reads.sequences
    s = w[37]
    assert s["sequence"].untyped_storage().data_ptr() == base.untyped_storage().data_ptr()
    a = int(ds.reads.offsets[s["read_index"]]) + s["window_start"]
    assert torch.equal(s["sequence"], base[a : a + 1000])
    assert w._first.nbytes == 8 * (len(ds) + 1)  # one int64 per read, whatever the windows


def test_labels_follow_their_read_and_subset(data_dir):
    files = [data_dir / ONT, data_dir / "fastq/illumina_novaseq_800reads.fastq"]
    ds = Dataset(files, labels=["ont", "novaseq"])
    sub, _ = ds.split(0.5, seed=2)
    w = sub.windows(100)
    assert torch.equal(w.labels, ds.labels[torch.from_numpy(w._locate(np.arange(len(w)))[0])])
    reads = set(sub.indices.tolist())
    batch = next(iter(DataLoader(w, batch_size=len(w))))
    assert set(batch["read_index"].tolist()) <= reads
    assert torch.equal(batch["labels"], ds.labels[batch["read_index"]])
    assert w.classes == ds.classes and set(w.classes) == {"ont", "novaseq"}


def test_augmentations_keyed_on_the_window_index():
    reads = PackedReads.from_records([("a", b"A" * 400, None)])
    w = Dataset.from_reads(reads).windows(100)
    pipeline = Compose([ReverseComplement(p=0.5, seed=3), Mutator(0.2, seed=1)])
    batch = next(iter(DataLoader(w, batch_size=4, transform=pipeline)))
    rows = [bytes(r.tolist()) for r in batch["sequences"]]
    assert len(set(rows)) == 4  # independent draws for the four windows of one read
    for i in range(4):  # each window alone, by its index, gives its row
        one = Collate()._collate_samples([w[i]])
        one["epoch"] = 0
        assert bytes(pipeline(one)["sequences"][0].tolist()) == rows[i]


def test_loader_fast_path_with_one_hot_and_workers(data_dir):
    ds = Dataset(data_dir / ONT)
    w = ds.windows(2000, stride=1500)
    kw = dict(batch_size=32, shuffle=True, seed=1, transform=Compose([Mutator(0.01, seed=2), OneHotEncoder(layout="NCL")]))
    a = list(DataLoader(w, **kw))
    b = list(DataLoader(w, num_workers=2, **kw))
    assert len(a) == len(b) == -(-len(w) // 32)
    for x, y in zip(a, b):
        assert x["sequences"].shape[1:] == (4, 2000)
        assert torch.equal(x["sequences"], y["sequences"]) and x["names"] == y["names"]
    assert sorted(i for x in a for i in x["index"].tolist()) == list(range(len(w)))


def test_summary_counts_windows(data_dir):
    ds = Dataset(data_dir / ONT)
    w = ds.windows(3000, stride=2000, min_length=1000)
    s = w.summary()
    assert s.n_records == len(w)
    assert s.total_bases == int(w.item_lengths().sum())
    packed = w.packed()
    assert packed.names.tolist() == [w[i]["name"] for i in range(len(w))]
    assert bytes(packed.sequences[: len(w[0]["sequence"])].tolist()) == bytes(w[0]["sequence"].tolist())


@pytest.mark.parametrize("kwargs,name", [
    (dict(length=0), "length"), (dict(length=-3), "length"), (dict(length=2.5), "length"),
    (dict(length=10, stride=0), "stride"), (dict(length=10, min_length=0), "min_length"),
    (dict(length=10, min_length=11), "min_length"),
])
def test_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        _toy().windows(**kwargs)


def test_only_datasets_and_subsets():
    with pytest.raises(TypeError, match="Dataset or Subset"):
        Windows([1, 2, 3], 10)
