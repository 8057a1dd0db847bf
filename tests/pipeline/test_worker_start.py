"""spawn / forkserver workers start once (``deepbiop_gpu/data/worker_start.py``).

* with ``spawn`` and ``forkserver`` the loader keeps its workers across epochs
  (the same processes serve epoch 2) and the batches equal fork's, epoch by
  epoch, for map-style datasets and streams;
* a persistent stream's workers see each new epoch (they used to repeat the
  first epoch's shuffle);
* a forkserver loader preloads this package: the server has torch and numba
  loaded and no threads, so its workers start at fork speed (the speed itself
  is measured in ``benchmarks/bench_spawn.py``, not asserted here);
* persistent workers stop on ``close()`` and at exit.
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from multiprocessing import forkserver
from pathlib import Path

import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu.data import shutdown
from deepbiop_gpu.data.worker_start import PRELOAD_MODULE, start_method

HERE = Path(__file__).parent
FASTQ = ("fastq", "illumina_novaseq_800reads.fastq")


def _same(a: list[dict], b: list[dict]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert set(x) == set(y)
        for k in x:
            if isinstance(x[k], torch.Tensor):
                assert torch.equal(x[k], y[k]), k
            else:
                assert list(x[k]) == list(y[k]) if k == "names" else x[k] == y[k], k


def _source(data_dir, kind: str):
    path = data_dir.joinpath(*FASTQ)
    if kind == "map":
        return dg.Dataset(path, labels=["a"])
    return dg.IterableDataset(path, reads_per_chunk=64, shuffle_buffer=200)


def _loader(ds, **kwargs):
    transform = dg.Compose([dg.Mutator(0.05, seed=3), dg.OneHotEncoder()])
    return dg.DataLoader(ds, batch_size=96, shuffle=True, seed=5, num_workers=2,
                         transform=transform, **kwargs)


def _worker_pids(loader) -> list[int]:
    return [w.pid for w in loader._loader._iterator._workers]


def test_start_method_follows_the_context_without_fixing_the_default():
    before = multiprocessing.get_start_method(allow_none=True)
    assert start_method("spawn") == "spawn"
    assert start_method(multiprocessing.get_context("forkserver")) == "forkserver"
    assert start_method(None) == (before or multiprocessing.get_all_start_methods()[0])
    assert multiprocessing.get_start_method(allow_none=True) == before


@pytest.mark.parametrize(
    ("context", "kwargs", "kind", "persistent"),
    [
        ("spawn", {}, "map", True),
        ("forkserver", {}, "stream", True),
        ("fork", {}, "map", False),  # fork workers are cheap: torch's default stays
        ("spawn", {"persistent_workers": False}, "map", False),  # the caller decides
        ("spawn", {"sampler": list(range(800))}, "map", False),  # the epoch would not reach them
    ],
)
def test_spawn_and_forkserver_keep_workers_unless_told(data_dir, context, kwargs, kind, persistent):
    loader = dg.DataLoader(_source(data_dir, kind), batch_size=8, num_workers=2,
                           multiprocessing_context=context, **kwargs)  # fmt: skip
    assert loader.start_method == context
    assert loader._loader.persistent_workers is persistent
    foreign = dg.DataLoader(torch.utils.data.TensorDataset(torch.arange(10)), num_workers=1,
                            multiprocessing_context=context)  # fmt: skip
    assert foreign._loader.persistent_workers is False  # not ours: its epochs are not ours to carry


def test_a_forkserver_loader_adds_the_preload_and_keeps_the_list():
    server = forkserver._forkserver
    before = list(server._preload_modules)
    try:
        server._preload_modules = ["__main__", "my_module"]
        dg.DataLoader(list(range(10)), num_workers=1, multiprocessing_context="forkserver")
        assert server._preload_modules == ["__main__", "my_module", PRELOAD_MODULE]
        dg.DataLoader(list(range(10)), num_workers=1, multiprocessing_context="forkserver")
        assert server._preload_modules.count(PRELOAD_MODULE) == 1
    finally:
        server._preload_modules = before


def test_persistent_stream_workers_see_each_epoch(data_dir):
    fresh = _loader(_source(data_dir, "stream"))  # fork, a new pool each epoch
    kept = _loader(_source(data_dir, "stream"), persistent_workers=True)
    want = [list(fresh) for _ in range(2)]
    got = [list(kept) for _ in range(2)]
    assert [b["index"].tolist() for b in want[0]] != [b["index"].tolist() for b in want[1]]
    for g, w in zip(got, want, strict=True):
        _same(g, w)
    pids = _worker_pids(kept)
    workers = kept._loader._iterator._workers
    kept.close()
    assert kept._loader._iterator is None and all(not w.is_alive() for w in workers)
    kept.set_epoch(0)
    _same(list(kept), want[0])  # a closed loader starts new workers
    assert _worker_pids(kept) != pids
    kept.close()


@pytest.mark.slow
@pytest.mark.parametrize(("context", "kind"), [("spawn", "map"), ("forkserver", "stream")])
def test_reused_workers_give_forks_batches_epoch_after_epoch(data_dir, context, kind):
    fork = _loader(_source(data_dir, kind), multiprocessing_context="fork")
    want = [list(fork), list(fork)]
    loader = _loader(_source(data_dir, kind), multiprocessing_context=context)
    got, pids = [], []
    for _ in range(2):
        got.append(list(loader))
        pids.append(_worker_pids(loader))
    assert pids[0] == pids[1]  # the same processes served both epochs
    assert loader.epoch == 2
    for g, w in zip(got, want, strict=True):
        _same(g, w)
    workers = loader._loader._iterator._workers
    shutdown.close_all()  # what runs at exit stops them
    assert loader._loader._iterator is None
    assert all(not w.is_alive() for w in workers)


@pytest.mark.slow
def test_forkserver_workers_come_from_a_preloaded_server(tmp_path):
    """In a fresh interpreter (the forkserver is one per program): the server has
    torch and numba loaded and one thread; loaders' workers are its children;
    exiting mid-epoch with persistent workers running is clean."""
    out = subprocess.run([sys.executable, str(HERE / "forkserver_check.py")], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Traceback" not in out.stderr and "Exception ignored" not in out.stderr, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["started_before"] is False  # the loader set the preload before the server started
    assert PRELOAD_MODULE in result["preload_list"]
    assert result["server_maps_torch"] and result["server_maps_numba"]
    assert result["server_threads"] == 1  # a server with threads must not fork
    assert result["workers_are_server_children"] is True
    assert result["same_batches"] is True
