"""Worker batches through reusable shared-memory slots: same batches, slots freed and resized."""

import pickle

import pytest
import torch

from deepbiop_gpu import Compose, DataLoader, Dataset, Mutator, OneHotEncoder, PackedReads, PairedDataset
from deepbiop_gpu.data.worker_slots import SlotBatch, SlotReceiver, WorkerSlots


def _batch(n=5, L=16):
    return {
        "sequences": torch.randn(n, L, 4),
        "lengths": torch.arange(n, dtype=torch.int32),
        "empty": torch.zeros(n, 0, dtype=torch.uint8),
        "pair": {"x": torch.arange(6, dtype=torch.int64).view(2, 3), "names": ["a", "b"]},
        "names": [f"r{i}" for i in range(n)],
        "epoch": 4,
    }


def assert_same(got, want):
    assert got.keys() == want.keys()
    for k, v in want.items():
        if isinstance(v, torch.Tensor):
            assert got[k].dtype == v.dtype and got[k].shape == v.shape and torch.equal(got[k], v), k
        elif isinstance(v, dict):
            assert_same(got[k], v)
        else:
            assert got[k] == v, k


def test_pack_and_unpack_round_trip():
    slots, receiver = WorkerSlots(3), SlotReceiver()
    batch = _batch()
    packed = slots.pack(batch)
    assert isinstance(packed, SlotBatch) and packed.ring is not None
    assert int(slots.busy.sum()) == 1
    packed = pickle.loads(pickle.dumps(packed))  # what crosses the process boundary (tensors aside)
    packed.ring = (slots.slots, slots.busy)
    out = receiver.unpack(packed)
    assert_same(out, batch)
    assert int(slots.busy.sum()) == 0  # the slot is free again
    storages = {out[k].untyped_storage().data_ptr() for k in ("sequences", "lengths")}
    assert storages == {out["pair"]["x"].untyped_storage().data_ptr()}  # one buffer per batch
    assert out["sequences"].untyped_storage().data_ptr() != slots.slots.untyped_storage().data_ptr()
    again = slots.pack(_batch())
    assert again.ring is None and again.key == packed.key  # the main process has the ring


def test_slots_grow_for_bigger_batches_and_run_out_gracefully():
    slots, receiver = WorkerSlots(2), SlotReceiver()
    small = slots.pack(_batch(2, 4))
    receiver.unpack(small)
    big_batch = _batch(8, 40_000)  # 5 MB: more than the first ring's slots
    big = slots.pack(big_batch)
    assert big.key != small.key and big.ring is not None
    assert_same(receiver.unpack(big), big_batch)
    first, second = slots.pack(_batch()), slots.pack(_batch())
    assert first is not None and second is not None
    assert slots.pack(_batch()) is None  # both slots in flight: the batch goes the ordinary way
    receiver.unpack(first)
    assert slots.pack(_batch()) is not None
    assert slots.pack({"names": ["a"]}) is None and slots.pack([torch.ones(2)]) is None


def _dataset(lengths):
    gen = torch.Generator().manual_seed(0)
    recs = [
        (f"read{i}", bytes(torch.tensor(list(b"ACGTN"))[torch.randint(0, 5, (n,), generator=gen)].tolist()),
         b"I" * n)
        for i, n in enumerate(lengths)
    ]  # fmt: skip
    return Dataset.from_reads(PackedReads.from_records(recs))


def _epochs(ds, epochs=2, **kwargs):
    loader = DataLoader(ds, batch_size=8, shuffle=True, seed=2,
                        transform=Compose([Mutator(0.1), OneHotEncoder()]), **kwargs)  # fmt: skip
    return [list(loader) for _ in range(epochs)]


@pytest.mark.parametrize("persistent", [False, True])
def test_worker_batches_equal_in_process_batches(persistent):
    ds = _dataset([5 + (i * 37) % 120 for i in range(90)])
    want = _epochs(ds)
    got = _epochs(ds, num_workers=2, persistent_workers=persistent)
    for g_epoch, w_epoch in zip(got, want, strict=True):
        assert len(g_epoch) == len(w_epoch)
        for g, w in zip(g_epoch, w_epoch, strict=True):
            g, w = dict(g), dict(w)
            assert list(g.pop("names")) == list(w.pop("names"))
            assert_same(g, w)


def test_growing_batches_resize_the_slots():
    ds = _dataset([20] * 16 + [30_000] * 16)  # the later batches need 1.9 MB each
    loader = DataLoader(ds, batch_size=8, num_workers=2, transform=OneHotEncoder())
    want = list(DataLoader(ds, batch_size=8, transform=OneHotEncoder()))
    got = list(loader)
    assert [b["sequences"].shape for b in got] == [b["sequences"].shape for b in want]
    assert all(torch.equal(g["sequences"], w["sequences"]) for g, w in zip(got, want, strict=True))


def test_two_passes_at_once_keep_their_own_slots():
    ds = _dataset([50] * 64)
    loader = DataLoader(ds, batch_size=8, num_workers=2, transform=OneHotEncoder())
    first, second = iter(loader), iter(loader)
    a = [next(first) for _ in range(3)]
    b = list(second)
    a += list(first)
    assert len(a) == len(b) == 8
    assert all(torch.equal(x["sequences"], y["sequences"]) for x, y in zip(a, b, strict=True))


def test_paired_batches_through_slots(data_dir):
    r1 = data_dir / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    r2 = data_dir / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"
    ds = PairedDataset(r1, r2)
    kwargs = dict(batch_size=16, shuffle=True, transform=OneHotEncoder())
    want = list(DataLoader(ds, **kwargs))
    got = list(DataLoader(ds, num_workers=2, **kwargs))
    for g, w in zip(got, want, strict=True):
        for side in ("r1", "r2"):
            assert torch.equal(g[side]["sequences"], w[side]["sequences"])
            assert torch.equal(g[side]["qualities"], w[side]["qualities"])
            assert list(g[side]["names"]) == list(w[side]["names"])


def test_names_travel_as_bytes_and_come_back_lazy():
    import numpy as np

    from deepbiop_gpu import StringColumn
    from deepbiop_gpu.packed import ColumnView

    column = StringColumn.from_strings([f"read_{i}/1 ünïcode" for i in range(50)])
    rows = np.array([7, 3, 49, 3])
    batch = {"sequences": torch.zeros(4, 8, dtype=torch.uint8), "names": column.view(rows),
             "pair": {"names": column.view(rows[:2])}}  # fmt: skip
    slots, receiver = WorkerSlots(2), SlotReceiver()
    packed = slots.pack(batch)
    packed.rest = pickle.loads(pickle.dumps(packed.rest))
    sent = packed.rest["names"]
    assert not isinstance(sent, list) and sent.column.data.dtype == np.uint8  # bytes, not str
    out = receiver.unpack(packed)
    assert isinstance(out["names"], ColumnView) and out["names"]._items is None  # not decoded yet
    assert out["names"] == [column[i] for i in rows.tolist()]
    assert out["pair"]["names"] == [column[7], column[3]]
    assert column.select(rows).tolist() == out["names"].tolist()
    assert column.select(np.array([], dtype=np.int64)).tolist() == []
