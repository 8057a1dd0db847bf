"""max_tokens: length-bucketed batches under a token budget (deepbiop_gpu.data.buckets)."""

import doctest
import warnings

import numpy as np
import pytest
import torch

import deepbiop_gpu.data.buckets as buckets
from deepbiop_gpu import Collate, DataLoader, Dataset, IterableDataset, Mutator, PackedReads, PairedDataset
from deepbiop_gpu.data.buckets import TokenBatchSampler, dataset_lengths, plan_token_batches

ONT = "fastq/ont_lambda_236reads_wrapped80.fastq.gz"
NOVASEQ = "fastq/illumina_novaseq_800reads.fastq"

pytestmark = pytest.mark.filterwarnings("ignore:.*longer than max_tokens:UserWarning")


def _mix(n, seed=0):
    """Log-normal long reads around 8 kb plus 150 bp reads, and a few empty ones."""
    rng = np.random.default_rng(seed)
    long = rng.lognormal(np.log(8000), 0.7, n).astype(np.int64)
    return np.concatenate([long, np.full(n, 150), [0, 0, 1]])


def _padded(lengths, batch, multiple_of=8):
    w = int(lengths[batch].max())
    return len(batch) * (-(-w // multiple_of) * multiple_of)


def test_docstring_examples():
    assert doctest.testmod(buckets).failed == 0


@pytest.mark.parametrize("layout", ["padded", "packed"])
@pytest.mark.parametrize("max_tokens,batch_size", [(65536, None), (20000, 16), (4096, None), (300, 3)])
def test_budget_every_read_once_and_exact_len(layout, max_tokens, batch_size):
    lengths = _mix(3000)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = TokenBatchSampler(lengths, max_tokens, batch_size, shuffle=True, seed=3, layout=layout,
                              rank=0, world=1)
    over = (lengths if layout == "packed" else -(-lengths // 8) * 8) > max_tokens
    assert len([w for w in caught if "longer than max_tokens" in str(w.message)]) == (1 if over.any() else 0)
    for epoch in (0, 1):
        s.set_epoch(epoch)
        batches = [b.array for b in s]
        assert len(batches) == len(s)
        flat = np.concatenate(batches)
        assert np.array_equal(np.sort(flat), np.arange(len(lengths)))  # every read exactly once
        for b in batches:
            assert b.dtype == np.int64 and len(b) >= 1
            if batch_size is not None:
                assert len(b) <= batch_size
            size = _padded(lengths, b) if layout == "padded" else int(lengths[b].sum())
            if size > max_tokens:  # only an over-long read, alone
                assert len(b) == 1 and over[b[0]]
        # over-long reads never share a batch
        assert all(len(b) == 1 for b in batches if over[b].any())


def test_padding_ratio_under_target_on_the_synthetic_mix():
    lengths = _mix(20000)
    padded = TokenBatchSampler(lengths, 65536, shuffle=True, rank=0, world=1)
    batches = list(padded)
    shipped = sum(_padded(lengths, b.array) for b in batches)
    assert shipped / lengths.sum() <= 1.10
    assert padded.padding_ratio() == pytest.approx(shipped / lengths.sum())


def test_shuffled_by_seed_and_epoch():
    lengths = np.full(500, 150)  # one bucket: composition changes only by the shuffle
    s = TokenBatchSampler(lengths, 1600, shuffle=True, seed=1, rank=0, world=1)
    a = [b.array.tolist() for b in s]
    assert a == [b.array.tolist() for b in TokenBatchSampler(lengths, 1600, shuffle=True, seed=1, rank=0, world=1)]
    s.set_epoch(1)
    b = [x.array.tolist() for x in s]
    assert {frozenset(x) for x in a} != {frozenset(x) for x in b}  # shuffled within the bucket
    other_seed = [x.array.tolist() for x in TokenBatchSampler(lengths, 1600, shuffle=True, seed=2, rank=0, world=1)]
    assert other_seed != a
    # without shuffling: order kept inside buckets, short reads first
    plain = [x.array.tolist() for x in TokenBatchSampler(np.array([900, 10, 11, 905]), 2000, rank=0, world=1)]
    assert plain == [[1, 2], [0, 3]]


@pytest.mark.parametrize("world", [2, 3, 4])
@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_ranks_disjoint_same_steps(world, layout):
    lengths = _mix(300, seed=world)
    seen, steps = [], []
    for rank in range(world):
        s = TokenBatchSampler(lengths, 30000, shuffle=True, seed=5, layout=layout, rank=rank, world=world)
        s.set_epoch(2)
        mine = [b.array for b in s]
        assert len(mine) == len(s)
        steps.append(len(mine))
        seen.append(np.concatenate(mine))
    assert len(set(steps)) == 1  # the same number of steps on every rank
    flat = np.concatenate(seen)
    assert np.array_equal(np.sort(flat), np.arange(len(lengths)))  # disjoint, all covered


def test_fewer_reads_than_ranks_warns():
    with pytest.warns(UserWarning, match="different numbers of steps"):
        TokenBatchSampler(np.array([10]), 100, rank=0, world=2)


@pytest.mark.parametrize("bad", [0, -5, 1.5, True, "100"])
def test_bad_max_tokens(bad):
    with pytest.raises(ValueError, match="max_tokens"):
        TokenBatchSampler(np.array([10]), bad)
    ds = Dataset.from_reads(PackedReads.from_records([("a", b"ACGT", None)]))
    with pytest.raises(ValueError, match="max_tokens"):
        DataLoader(ds, max_tokens=bad)


def test_bad_loader_arguments():
    ds = Dataset.from_reads(PackedReads.from_records([("a", b"ACGT", None)]))
    with pytest.raises(ValueError, match="layout"):
        DataLoader(ds, layout="ragged")
    with pytest.raises(ValueError, match="drop_last"):
        DataLoader(ds, max_tokens=10, drop_last=True)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, max_tokens=10, batch_size=0)


def _bytes_by_index(loader):
    out = {}
    for batch in loader:
        seqs, lengths = batch["sequences"], batch["lengths"]
        for i, row, n in zip(batch["index"].tolist(), seqs, lengths.tolist()):
            assert i not in out
            out[i] = bytes(row[:n].tolist())
    return out


def test_loader_same_augmentations_as_fixed_batches(data_dir):
    ds = Dataset(data_dir / ONT)
    fixed = DataLoader(ds, batch_size=7, shuffle=True, seed=4, transform=Mutator(0.05, seed=9))
    tokens = DataLoader(ds, max_tokens=60000, shuffle=True, seed=4, transform=Mutator(0.05, seed=9))
    fixed.set_epoch(3)
    tokens.set_epoch(3)
    n_batches = len(tokens)
    got = _bytes_by_index(tokens)
    assert got == _bytes_by_index(fixed)  # keyed on the read's index only
    assert len(got) == len(ds)
    assert tokens.epoch == 4 and n_batches == len(tokens)
    lengths = dataset_lengths(ds)
    for batch in tokens:  # budget on the delivered padded batches (exact longest read)
        assert batch["sequences"].numel() <= 60000 or len(batch["index"]) == 1
        assert batch["sequences"].shape[1] == int(lengths[batch["index"].numpy()].max())


def test_subset_cache_and_collate_width(tmp_path, data_dir):
    ds = Dataset(data_dir / ONT, cache_dir=tmp_path / "cache")
    train, _ = ds.split(0.7, seed=1)
    loader = DataLoader(train, max_tokens=40000, shuffle=True, collate_fn=Collate(max_len=3000))
    seen = []
    for batch in loader:
        assert batch["sequences"].shape[1] == 3000 and batch["sequences"].numel() <= 40000
        seen += batch["index"].tolist()
    assert sorted(seen) == sorted(train.indices.tolist())
    assert len(seen) == len(train) and len(loader) == -(-len(train) // (40000 // 3000))


def test_workers_same_batches_as_in_process(data_dir):
    ds = Dataset(data_dir / NOVASEQ)
    kw = dict(max_tokens=4096, batch_size=20, shuffle=True, seed=2, transform=Mutator(0.02, seed=1))
    a = [b["index"].tolist() for b in DataLoader(ds, **kw)]
    w = DataLoader(ds, num_workers=2, **kw)
    b = [x["index"].tolist() for x in w]
    assert a == b and len(w) == len(b)


def test_paired_dataset(data_dir):
    ds = PairedDataset(data_dir / "fastq/illumina_hiseq2500_pe_R1.fastq.gz",
                       data_dir / "fastq/illumina_hiseq2500_pe_R2.fastq.gz")
    loader = DataLoader(ds, max_tokens=2000, shuffle=True)
    seen = []
    for batch in loader:
        for side in ("r1", "r2"):
            assert batch[side]["sequences"].numel() <= 2000
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(len(ds)))


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("layout", ["padded", "packed"])
def test_iterable_dataset_buckets_within_its_buffer(data_dir, shuffle, layout):
    stream = IterableDataset(data_dir / NOVASEQ, reads_per_chunk=100, shuffle_buffer=300)
    loader = DataLoader(stream, max_tokens=3000, shuffle=shuffle, seed=1, layout=layout)
    seen = []
    for batch in loader:
        if layout == "packed":
            assert int(batch["cu_seqlens"][-1]) <= 3000
        else:
            assert batch["sequences"].numel() <= 3000
        seen += batch["index"].tolist()
    assert sorted(seen) == list(range(800))
    if shuffle:  # bucketed within windows of 300 reads: no read leaves its window
        windows = [set(range(a, min(a + 300, 800))) for a in range(0, 800, 300)]
        pos = 0
        for batch in DataLoader(stream, max_tokens=3000, shuffle=True, seed=1, layout=layout):
            idx = set(batch["index"].tolist())
            assert any(idx <= w for w in windows)
            pos += len(idx)


def test_dataset_lengths_kinds(data_dir):
    ds = Dataset(data_dir / ONT)
    full = np.diff(ds.reads.offsets.numpy())
    assert np.array_equal(dataset_lengths(ds), full)
    sub, _ = ds.split(0.5)
    assert np.array_equal(dataset_lengths(sub), full[sub.indices])
    w = ds.windows(1000, min_length=1)
    assert np.array_equal(dataset_lengths(w), [len(w[i]["sequence"]) for i in range(len(w))])
    with pytest.raises(TypeError, match="item_lengths"):
        dataset_lengths(torch.utils.data.TensorDataset(torch.zeros(3)))


def test_plan_is_vectorised_for_a_million_reads():
    lengths = np.random.default_rng(0).integers(50, 300, 1_000_000)
    plan = plan_token_batches(lengths, 65536, shuffle=True, seed=0, epoch=0)
    assert sum(len(b) for b in plan) == 1_000_000
