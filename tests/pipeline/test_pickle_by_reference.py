"""Reads and datasets pickle by reference (``deepbiop_gpu/_sharing.py``).

* a cached dataset pickles as its directory, version token and rows (a few
  hundred bytes for a million reads) and reopens the same maps;
* in-memory reads pickled for a process being spawned move once into one
  shared-memory segment and travel as its name;
* spawn / forkserver DataLoader workers give the same batches as fork.
"""

from __future__ import annotations

import multiprocessing.context
import pickle
from multiprocessing.reduction import ForkingPickler

import numpy as np
import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu._sharing import CacheRef, SharedSegment
from deepbiop_gpu.cache import Cache, CacheError

N_BIG = 1_000_000


@pytest.fixture(scope="session")
def big_cache(tmp_path_factory):
    """A 1M-read cache (20 bases each, labels), built once per session from packed tensors (~2 s)."""
    rng = np.random.default_rng(0)
    seq = torch.from_numpy(rng.choice(np.frombuffer(b"ACGTN", np.uint8), N_BIG * 20))
    offsets = torch.arange(0, N_BIG * 20 + 1, 20, dtype=torch.int64)
    reads = dg.PackedReads(seq, offsets, seq.clone(), names=[f"r{i}" for i in range(N_BIG)])
    ds = dg.Dataset.from_reads(reads, labels=torch.arange(N_BIG) % 7)
    return Cache.save(ds, tmp_path_factory.mktemp("big") / "reads.cache")


def _same_batches(a, b) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if set(x) != set(y):
            return False
        for k in x:
            if isinstance(x[k], torch.Tensor):
                if not torch.equal(x[k], y[k]):
                    return False
            elif x[k] != y[k]:
                return False
    return True


def test_a_loaders_cached_dataset_pickles_under_64_kb(big_cache):
    ds = Cache.load(big_cache)
    loader = dg.DataLoader(ds, batch_size=256, shuffle=True, num_workers=2, multiprocessing_context="spawn")
    for dumps in (pickle.dumps, lambda x: bytes(ForkingPickler.dumps(x))):
        data = dumps(loader.dataset)
        assert len(data) < 64 * 1024, len(data)
    again = pickle.loads(pickle.dumps(loader.dataset))
    assert len(again) == N_BIG
    assert again.reads.equals(ds.reads)
    assert torch.equal(again.labels, ds.labels)
    assert again[123_456]["name"] == "r123456"
    assert again.reads.names[999_999] == "r999999"


def test_a_slice_of_cached_reads_pickles_as_its_rows(big_cache):
    reads = Cache.load(big_cache).reads
    ref = reads._ref
    assert isinstance(ref, CacheRef) and (ref.start, ref.stop) == (0, N_BIG)
    data = pickle.dumps(reads)
    assert len(data) < 1024
    assert pickle.loads(data).equals(reads)


def test_unpickling_after_the_cache_was_rebuilt_raises(tmp_path, data_dir):
    ds = dg.Dataset(data_dir / "fastq" / "illumina_novaseq_800reads.fastq", labels=["x"])
    target = Cache.save(ds, tmp_path / "c")
    data = pickle.dumps(Cache.load(target))
    Cache.save(dg.Dataset.from_reads(ds.reads[:10]), target)  # another process rebuilds it
    with pytest.raises(CacheError, match="rebuilt"):
        pickle.loads(data)
    assert len(Cache.load(target)) == 10  # the next load sees the new version


def test_in_memory_reads_travel_to_a_spawned_process_as_one_segment_name(data_dir):
    ds = dg.Dataset(data_dir / "fastq" / "illumina_novaseq_800reads.fastq")
    expected = ds.reads[np.arange(len(ds))]  # a copy, by value
    plain = pickle.dumps(ds.reads)  # an ordinary pickle stays self-contained (by value)
    assert len(plain) > ds.reads.total_bases
    multiprocessing.context.set_spawning_popen(object())  # as Process.start() does
    try:
        first = bytes(ForkingPickler.dumps(ds))
        second = bytes(ForkingPickler.dumps(ds))
    finally:
        multiprocessing.context.set_spawning_popen(None)
    seg = ds.reads._ref
    assert isinstance(seg, SharedSegment)
    assert len(first) < 4096 and seg.shm.name.encode() in first
    assert first == second  # the same segment, not a new copy each time
    assert ds.reads.equals(expected)  # this process now reads the segment: same reads
    attached = pickle.loads(first)
    assert attached.reads.equals(expected)
    assert attached.reads._ref.shm.name == seg.shm.name


@pytest.mark.slow
@pytest.mark.parametrize(("context", "kind"), [("spawn", "cache"), ("forkserver", "memory")])
def test_spawn_and_forkserver_batches_equal_forks(tmp_path, data_dir, context, kind):
    ds = dg.Dataset(data_dir / "fastq" / "illumina_novaseq_800reads.fastq", labels=["a"])
    if kind == "cache":
        ds = Cache.load(Cache.save(ds, tmp_path / "c"))
    transform = dg.Compose([dg.Mutator(0.05, seed=3), dg.OneHotEncoder()])

    def batches(ctx):
        loader = dg.DataLoader(ds, batch_size=96, shuffle=True, seed=5, num_workers=2,
                               multiprocessing_context=ctx, transform=transform)
        loader.set_epoch(1)
        return list(loader)

    fork = batches("fork")
    assert len(fork) == 9
    assert _same_batches(batches(context), fork)
