"""Loader iterators shut down deterministically: their threads are joined when
the iterator is dropped, and at the latest at exit (``data/shutdown.py``)."""

from __future__ import annotations

import threading

import deepbiop_gpu as dg
from deepbiop_gpu.data import shutdown


def _collate_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("deepbiop_gpu-collate")]


def _loader(data_dir):
    ds = dg.Dataset(data_dir / "fastq" / "illumina_novaseq_800reads.fastq")
    return dg.DataLoader(ds, batch_size=16, num_threads=2)


def test_an_iterator_left_early_is_closed_by_close_all(data_dir):
    it = iter(_loader(data_dir))
    next(it)
    assert _collate_threads(), "the pool should be running while the iterator is alive"
    shutdown.close_all()
    assert _collate_threads() == []
    assert next(it, None) is None  # a closed iterator is exhausted, not broken


def test_dropping_an_iterator_joins_its_threads(data_dir):
    it = iter(_loader(data_dir))
    next(it)
    del it
    assert _collate_threads() == []

