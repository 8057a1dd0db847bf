"""DataLoader mechanics on in-memory reads (real files are covered in test_loader_files.py)."""

import pytest
import torch

from deepbiop_gpu import PackedReads
from deepbiop_gpu.data import DataLoader, Dataset


def _dataset(n=50):
    gen = torch.Generator().manual_seed(0)
    recs = []
    for i in range(n):
        L = int(torch.randint(0, 40, (1,), generator=gen))
        seq = bytes(torch.tensor(list(b"ACGTN"))[torch.randint(0, 5, (L,), generator=gen)].tolist())
        recs.append((f"read{i}", seq, b"I" * L))
    return Dataset.from_reads(PackedReads.from_records(recs), labels=[1])


class Tag(torch.nn.Module):
    """A transform that records the epoch it saw in every row."""

    def forward(self, batch):
        out = dict(batch)
        out["seen_epoch"] = torch.full_like(batch["index"], batch["epoch"])
        return out


@pytest.mark.parametrize("num_workers", [0, 2])
def test_every_read_once_per_epoch(num_workers):
    ds = _dataset()
    loader = DataLoader(ds, batch_size=8, shuffle=True, num_workers=num_workers, seed=1)
    assert len(loader) == 7
    seen = torch.cat([b["index"] for b in loader])
    assert sorted(seen.tolist()) == list(range(len(ds)))
    batch = next(iter(loader))
    lengths = batch["lengths"]
    assert batch["sequences"].dtype == torch.uint8 and batch["sequences"].shape[1] == int(lengths.max())
    assert batch["labels"].tolist() == [1] * 8


def test_order_depends_on_seed_and_epoch_not_workers():
    ds = _dataset()

    def order(**kw):
        loader = DataLoader(ds, batch_size=8, shuffle=True, **kw)
        loader.set_epoch(3)
        return torch.cat([b["index"] for b in loader]).tolist()

    assert order(num_workers=0, seed=5) == order(num_workers=2, seed=5)
    assert order(num_workers=0, seed=5) != order(num_workers=0, seed=6)


def test_epoch_advances_after_each_full_pass_and_reaches_transforms():
    ds = _dataset()
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=16, shuffle=True, num_workers=workers, transform=Tag())
        first = [b["seen_epoch"].unique().tolist() for b in loader]
        second = [b["seen_epoch"].unique().tolist() for b in loader]
        assert all(e == [0] for e in first) and all(e == [1] for e in second)
        loader.set_epoch(7)
        assert all(b["epoch"] == 7 for b in loader)


def test_torch_kwargs_pass_through_and_collate_fn_is_used():
    ds = _dataset()
    calls = []

    def my_collate(samples):
        calls.append(len(samples))
        return [s["name"] for s in samples]

    loader = DataLoader(ds, batch_size=10, collate_fn=my_collate)
    names = [n for batch in loader for n in batch]
    assert names == [f"read{i}" for i in range(50)] and calls == [10] * 5
    loader = DataLoader(ds, batch_size=10, num_workers=2, persistent_workers=True, prefetch_factor=4)
    assert sum(len(b["names"]) for b in loader) == 50
    assert sum(len(b["names"]) for b in loader) == 50


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size must be a positive int"),
        ({"num_workers": -1}, "num_workers must be a non-negative int"),
        ({"seed": -3}, "seed must be a non-negative int"),
        ({"pin_memory": "yes"}, "pin_memory must be True, False or 'auto'"),
        ({"transform": 3}, "transform must be callable"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        DataLoader(_dataset(), **kwargs)


def test_cuda_device_without_cuda_is_refused():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(ValueError, match="CUDA is not available"):
        DataLoader(_dataset(), device="cuda")


def test_split_subsets_keep_parent_indices_and_cover_everything():
    ds = _dataset(40)
    train, val = ds.split(0.75, seed=2)
    assert len(train) == 30 and len(val) == 10
    both = sorted(train.indices.tolist() + val.indices.tolist())
    assert both == list(range(40))
    loader = DataLoader(val, batch_size=4, num_workers=2)
    seen = torch.cat([b["index"] for b in loader]).tolist()
    assert sorted(seen) == sorted(val.indices.tolist())
    assert val[0]["index"] == int(val.indices[0])
    again, _ = ds.split(0.75, seed=2)
    assert again.indices.tolist() == train.indices.tolist()
    with pytest.raises(ValueError, match="fraction must be a number in"):
        ds.split(1.5)


def test_collate_threads_give_the_same_batches_in_the_same_order():
    ds = _dataset(200)

    def epoch(threads):
        loader = DataLoader(ds, batch_size=7, shuffle=True, seed=3, num_threads=threads, transform=Tag())
        loader.set_epoch(1)
        return [(b["index"].tolist(), b["sequences"].tolist(), b["seen_epoch"].tolist()) for b in loader]

    reference = epoch(0)
    assert epoch(1) == reference and epoch(3) == reference


def test_breaking_out_of_a_threaded_epoch_stops_cleanly():
    import threading

    ds = _dataset(200)
    loader = DataLoader(ds, batch_size=4, num_threads=2)
    before = threading.active_count()
    for i, _ in enumerate(loader):
        if i == 3:
            break
    import gc

    gc.collect()
    assert threading.active_count() <= before
    assert sum(len(b["index"]) for b in loader) == 200  # a new pass starts afresh


def test_names_are_decoded_lazily_but_behave_like_a_list():
    import pickle

    ds = _dataset(20)
    batch = next(iter(DataLoader(ds, batch_size=5)))
    names = batch["names"]
    assert names == [f"read{i}" for i in range(5)] and len(names) == 5 and names[-1] == "read4"
    assert list(names) == names.tolist() and names[1:3] == ["read1", "read2"]
    assert pickle.loads(pickle.dumps(names)) == ["read0", "read1", "read2", "read3", "read4"]
    assert type(pickle.loads(pickle.dumps(names))) is list
    rebuilt = type(names)(s.upper() for s in names)  # how collection utilities rebuild sequences
    assert rebuilt == ["READ0", "READ1", "READ2", "READ3", "READ4"] and len(rebuilt) == 5


def test_worker_batches_arrive_as_one_storage():
    ds = _dataset(40)
    for batch in DataLoader(ds, batch_size=8, num_workers=2, transform=Tag()):
        storages = {t.untyped_storage().data_ptr() for t in batch.values() if isinstance(t, torch.Tensor)}
        assert len(storages) == 1
    expected = [b["sequences"] for b in DataLoader(ds, batch_size=8, transform=Tag())]
    got = [b["sequences"] for b in DataLoader(ds, batch_size=8, num_workers=2, transform=Tag())]
    assert all(torch.equal(a, b) for a, b in zip(expected, got))


def test_one_storage_keeps_values_dtypes_and_nesting():
    from deepbiop_gpu.data.worker_slots import one_storage

    batch = {
        "a": torch.arange(7, dtype=torch.uint8), "b": torch.randn(3, 5), "c": torch.tensor([True, False]),
        "pair": {"x": torch.arange(4, dtype=torch.int64).view(2, 2), "names": ["n"]}, "epoch": 3,
    }
    packed = one_storage(batch)
    assert packed["epoch"] == 3 and packed["pair"]["names"] == ["n"]
    for key in ("a", "b", "c"):
        assert torch.equal(packed[key], batch[key]) and packed[key].dtype == batch[key].dtype
    assert torch.equal(packed["pair"]["x"], batch["pair"]["x"])
    ptrs = {packed[k].untyped_storage().data_ptr() for k in ("a", "b", "c")}
    assert ptrs == {packed["pair"]["x"].untyped_storage().data_ptr()}
    assert batch["a"].untyped_storage().data_ptr() not in ptrs  # the input batch is untouched


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without an accelerator")
@pytest.mark.parametrize("num_workers", [0, 2])
def test_pin_memory_without_an_accelerator_warns_and_still_loads(num_workers):
    ds = _dataset(20)
    with pytest.warns(UserWarning, match="no accelerator to pin memory for"):
        loader = DataLoader(ds, batch_size=8, num_workers=num_workers, pin_memory=True)
    batches = list(loader)
    assert loader.pin_memory is False and sum(len(b["index"]) for b in batches) == 20
