"""Processed-sample caches: Cache.save(samples) / Cache.load / Cache.is_valid."""

import os
import pickle
import shutil

import numpy as np
import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu import Compose, IntegerEncoder, KmerEncoder, Mutator, OneHotEncoder
from deepbiop_gpu.cache import Cache, CacheError
from deepbiop_gpu.sample_cache import SampleCacheDataset

FASTQ = "fastq/illumina_novaseq_800reads.fastq"


def _same(a, b):
    assert a.keys() == b.keys()
    for key in a:
        x, y = a[key], b[key]
        assert type(x) is type(y), key
        if isinstance(x, torch.Tensor):
            assert x.dtype == y.dtype and torch.equal(x, y), key
        elif isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), key
        else:
            assert x == y, key


@pytest.mark.parametrize(
    "steps",
    [
        [Mutator(0.05, seed=1), OneHotEncoder()],
        [IntegerEncoder()],
        [KmerEncoder(3, mode="ids")],
        [KmerEncoder(2)],
    ],
    ids=["one-hot", "integer", "kmer-ids", "kmer-counts"],
)
def test_round_trip_of_encoded_samples(data_dir, tmp_path, steps):
    path = data_dir / FASTQ
    ds = dg.Dataset(path, labels=["x"], transform=Compose(steps))
    samples = [ds[i] for i in range(40)]
    out = Cache.save(iter(samples), tmp_path / "enc.samples", sources=[path])
    again = Cache.load(out)
    assert isinstance(again, SampleCacheDataset) and len(again) == 40
    for i in (0, 17, 39):
        _same(again[i], samples[i])
    assert Cache.is_valid(out, [path]) and Cache.check(out).valid
    with pytest.raises(ValueError, match="processed-sample cache: it opens on the CPU"):
        Cache.load(out, device="cpu")
    # collated alike: the declared pad values (integer ids: -1) come back with the samples
    want, got = dg.default_collate(samples[:8]), dg.default_collate([again[i] for i in range(8)])
    for key in ("sequences", "lengths", "qualities", "index", "labels"):
        assert torch.equal(want[key], got[key]), key
    assert want["names"] == got["names"] and want["descriptions"] == got["descriptions"]


def test_any_dtype_scalars_strings_none_and_empty_rows(tmp_path):
    samples = [
        {
            "x": torch.arange(n * 3, dtype=torch.bfloat16).view(n, 3),
            "mask": torch.ones(n, dtype=torch.bool),
            "np": np.arange(n, dtype=np.int16),
            "id": i,
            "w": 0.5 * i,
            "flag": i % 2 == 0,
            "np_scalar": np.float32(i),
            "t0": torch.tensor(i, dtype=torch.int32),
            "name": f"ré{i}",
            "quality": None,
        }
        for i, n in enumerate([3, 0, 1, 5])
    ]
    ds = Cache.load(Cache.save(samples, tmp_path / "c"))
    assert len(ds) == 4 and ds.keys == list(samples[0])
    for a, b in zip(samples, ds, strict=True):
        _same(b, a)
    # zero-copy: a sample's tensor is a view of the mapped file, and pickles at its own size
    x = ds[3]["x"]
    assert not x.untyped_storage().resizable() and len(pickle.dumps(x)) < 1024
    back = pickle.loads(pickle.dumps(ds))  # by path: workers re-open the maps
    _same(back[2], ds[2])


def test_a_changed_source_is_reported(data_dir, tmp_path):
    src = tmp_path / "reads.fastq"
    shutil.copy(data_dir / FASTQ, src)
    ds = dg.Dataset(src, transform=IntegerEncoder())
    out = Cache.save((ds[i] for i in range(5)), tmp_path / "int.samples", sources=src)
    assert Cache.is_valid(out, [src]) and Cache.is_valid(out) and Cache.is_valid(out, src)
    with open(src, "ab") as fh:
        fh.write(b"@extra\nACGT\n+\nIIII\n")
    assert not Cache.is_valid(out, str(src))  # one path, as DeepBioP's source_file
    status = Cache.check(out, [src])
    assert not status.valid and "changed: size" in status.reason and "reads.fastq" in status.reason
    assert not Cache.is_valid(out)  # the recorded source, checked without being named
    with pytest.raises(CacheError, match="changed"):
        Cache.load(out)
    assert Cache.info(out)["n_samples"] == 5


def test_saves_are_atomic_and_checked(tmp_path):
    target = tmp_path / "c"
    Cache.save([{"x": torch.zeros(2)}], target)

    def failing():
        yield {"x": torch.ones(3)}
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Cache.save(failing(), target)
    assert torch.equal(Cache.load(target)[0]["x"], torch.zeros(2))  # the previous cache, intact
    assert sorted(os.listdir(tmp_path)) == ["c"]  # no temporary left behind
    with pytest.raises(
        TypeError, match=r"sample 1 field 'x' is a torch float64 array \[L\], but the first"
    ):
        Cache.save(
            [{"x": torch.zeros(2)}, {"x": torch.zeros(2, dtype=torch.float64)}], tmp_path / "d"
        )
    with pytest.raises(TypeError, match=r"sample 1 field 'x' is a torch float32 array \[L, 3\]"):
        Cache.save([{"x": torch.zeros(2, 4)}, {"x": torch.zeros(2, 3)}], tmp_path / "d")
    with pytest.raises(TypeError, match="different keys"):
        Cache.save([{"x": 1}, {"y": 1}], tmp_path / "d")
    with pytest.raises(TypeError, match="'x' is a object"):
        Cache.save([{"x": object()}], tmp_path / "d")
    assert not (tmp_path / "d").exists()
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not a deepbiop_gpu sample cache"):
        Cache.save([{"x": 1}], other)
    assert (other / "notes.txt").read_text() == "keep"
    os.truncate(target / "x.bin", 4)
    assert "truncated" in Cache.check(target).reason


def test_read_caches_are_unchanged(data_dir, tmp_path):
    ds = dg.Dataset(data_dir / FASTQ)
    out = Cache.save(ds, tmp_path / "reads.cache")
    again = Cache.load(out)
    assert isinstance(again, dg.Dataset) and again.reads.equals(ds.reads)


def test_our_dataloader_over_a_sample_cache(data_dir, tmp_path):
    path = data_dir / "fastq/iupac_misc_dna.fastq"
    ds = dg.Dataset(path, transform=IntegerEncoder())
    cached = Cache.load(Cache.save(iter(ds), tmp_path / "int.samples", sources=path))
    rows = list(range(min(len(ds), 6)))
    got = next(iter(dg.DataLoader(cached, batch_size=len(rows))))
    want = dg.default_collate([ds[i] for i in rows])
    for key in ("sequences", "lengths", "index"):
        assert torch.equal(got[key], want[key]), key
    assert len(set(want["lengths"].tolist())) > 1  # ragged: the padding (-1) is checked too
    assert got["sequences"].min() == -1
