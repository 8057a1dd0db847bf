import pickle

import pytest
import torch

from deepbiop_gpu import PackedReads
from deepbiop_gpu.data import Collate, Dataset, EpochBatchSampler, default_collate
from deepbiop_gpu.data.sampler import IndexBatch, mix_seed


def _reads():
    return PackedReads.from_records(
        [("r0", b"ACGTACGTAC", b"IIIIIIIIII"), ("r1", b"", b""), ("r2", b"GGN", b"#$%"),
         ("r3", b"T" * 17, b"5" * 17)]
    )


def test_fast_path_equals_sample_path():
    ds = Dataset.from_reads(_reads(), labels=[3])
    idx = IndexBatch([3, 0, 1], epoch=4)
    fast = default_collate(ds.__getitems__(idx))
    slow = default_collate([ds[i] for i in idx])
    assert fast["sequences"].shape == (3, 17)  # the exact longest read
    for key in ("sequences", "lengths", "qualities", "index", "labels"):
        assert torch.equal(fast[key], slow[key]), key
    assert fast["names"] == slow["names"] == ["r3", "r0", "r1"]
    assert fast["epoch"] == 4
    assert fast["lengths"].dtype == torch.int32 and fast["index"].dtype == torch.int64
    row = fast["sequences"][0]
    assert bytes(row[:17].tolist()) == b"T" * 17 and row[17:].eq(0).all()


def test_fixed_max_len_truncates():
    ds = Dataset.from_reads(_reads())
    batch = Collate(max_len=4)(ds.__getitems__(IndexBatch([0, 2], 0)))
    assert batch["sequences"].shape == (2, 4)
    assert batch["lengths"].tolist() == [4, 3]
    assert bytes(batch["qualities"][0].tolist()) == b"IIII"


def test_collate_generic_samples_and_errors():
    samples = [{"sequence": torch.tensor(list(b"AC"), dtype=torch.uint8), "name": "a", "index": 5,
                "label": 1.5, "quality": None}]
    batch = Collate(multiple_of=1)(samples)
    assert batch["sequences"].tolist() == [[65, 67]] and "qualities" not in batch
    assert batch["labels"].dtype == torch.float32
    with pytest.raises(TypeError, match="expects sample dicts"):
        default_collate([torch.zeros(3)])
    with pytest.raises(ValueError, match="multiple_of must be a positive int"):
        Collate(multiple_of=0)
    with pytest.raises(ValueError, match="max_len"):
        Collate(max_len=-1)


def test_empty_collate():
    ds = Dataset.from_reads(_reads())
    batch = default_collate(ds.__getitems__(IndexBatch([], 0)))
    assert batch["sequences"].shape == (0, 0) and batch["names"] == []


def test_sampler_order_depends_on_seed_and_epoch_only():
    a = EpochBatchSampler(100, 7, shuffle=True, seed=3)
    b = EpochBatchSampler(100, 7, shuffle=True, seed=3)
    assert [list(x) for x in a] == [list(x) for x in b]
    first = [i for batch in a for i in batch]
    a.set_epoch(1)
    second = [i for batch in a for i in batch]
    assert sorted(first) == sorted(second) == list(range(100)) and first != second
    c = EpochBatchSampler(100, 7, shuffle=True, seed=4)
    assert [i for batch in c for i in batch] != first
    assert len(a) == 15 and all(batch.epoch == 1 for batch in a)


def test_sampler_shards_cover_exactly_once():
    for n, world in [(10, 3), (101, 4), (2, 4)]:
        seen = []
        for rank in range(world):
            s = EpochBatchSampler(n, 4, shuffle=True, seed=0, rank=rank, world=world)
            batches = list(s)
            assert len(batches) == len(s)
            seen += [i for b in batches for i in b]
        assert sorted(seen) == list(range(n))
    s = EpochBatchSampler(10, 4, shuffle=False, drop_last=True, rank=0, world=1)
    assert [list(b) for b in s] == [[0, 1, 2, 3], [4, 5, 6, 7]] and len(s) == 2
    with pytest.raises(ValueError, match="rank must be in"):
        EpochBatchSampler(10, 4, False, rank=2, world=2)


def test_index_batch_pickles_with_epoch():
    b = pickle.loads(pickle.dumps(IndexBatch([1, 2], epoch=9)))
    assert list(b) == [1, 2] and b.epoch == 9 and b.array is None


def test_sampler_batches_carry_their_numpy_twin():
    import numpy as np

    batches = list(EpochBatchSampler(10, 4, True, seed=3))
    for b in batches:
        assert b.array.dtype == np.int64 and b.array.tolist() == list(b)
        again = pickle.loads(pickle.dumps(b))  # as it reaches a worker
        assert list(again) == list(b) and again.epoch == b.epoch
        assert again.array.tolist() == list(b)
    assert batches[0].array.base is None  # a copy: batches never alias the epoch's order


def test_mix_seed_is_stable():
    assert mix_seed(0, 0) != mix_seed(0, 1) != mix_seed(1, 0)
    assert mix_seed(5, 6) == mix_seed(5, 6) and 0 <= mix_seed(2**70, 3) < 2**63
