"""Resident datasets: ``Dataset.to(device)`` and a loader that builds batches from indices only.

The CPU is the resident device here (the CPU twin of the CUDA path: the same batch building,
with the fused op run by the CPU loop); batches must equal those of a loader over the same
dataset on the host, in the same order.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu import Compose, IntegerEncoder, KmerEncoder, Mutator, OneHotEncoder, ReverseComplement, Sampler
from deepbiop_gpu.packed import check_fits

FILES = [
    "fastq/illumina_novaseq_800reads.fastq",
    "fastq/ont_lambda_236reads_wrapped80.fastq.gz",
    "fasta/ncbi_28S_rRNA_570seqs_iupac.fasta",
]


@pytest.fixture(scope="module", params=FILES, ids=["150bp", "ont", "fasta"])
def dataset(request, data_dir):
    return dg.Dataset(data_dir / request.param)


def _same_batches(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert list(g.pop("names")) == list(w.pop("names"))
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, torch.Tensor):
                assert g[key].dtype == value.dtype and torch.equal(g[key], value), key
            else:
                assert g[key] == value, key


def _epoch(ds, epoch=2, **kwargs):
    loader = dg.DataLoader(ds, **kwargs)
    loader.set_epoch(epoch)
    return loader, list(loader)


TRANSFORMS = [
    None,
    Compose([Sampler(70), ReverseComplement(p=0.5), Mutator(0.05), OneHotEncoder(layout="NCL")]),
    Compose([ReverseComplement(p=0.5, seed=4), IntegerEncoder()]),
    Compose([Mutator(0.1), KmerEncoder(3, mode="ids")]),
]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=["none", "crop-rc-mut-onehot", "rc-int", "mut-kmer"])
@pytest.mark.parametrize("batch_size, drop_last", [(32, False), (50, True)])
def test_a_resident_dataset_gives_the_same_batches(dataset, transform, batch_size, drop_last):
    resident = dataset.to("cpu")
    assert resident.resident == torch.device("cpu") and dataset.resident is None
    kwargs = dict(batch_size=batch_size, shuffle=True, seed=7, transform=transform, drop_last=drop_last)
    loader, got = _epoch(resident, **kwargs)
    assert loader.feed == "resident"
    _, want = _epoch(dataset, **kwargs)
    _same_batches(got, want)


def test_subsets_labels_and_a_fixed_width(data_dir):
    ds = dg.Dataset([data_dir / FILES[0], data_dir / FILES[2]], labels=["a", "b"])
    rows = np.random.default_rng(3).permutation(len(ds))[:300]
    transform = Compose([Mutator(0.02), OneHotEncoder()])
    collate = dg.data.collate.Collate(max_len=120)
    kwargs = dict(batch_size=40, shuffle=True, seed=1, transform=transform, collate_fn=collate)
    _, got = _epoch(dg.data.dataset.Subset(ds.to("cpu"), rows), **kwargs)
    _, want = _epoch(dg.data.dataset.Subset(ds, rows), **kwargs)
    _same_batches(got, want)
    assert "labels" in want[0]


def test_workers_are_not_used_with_a_resident_dataset(dataset):
    resident = dataset.to("cpu")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loader = dg.DataLoader(resident, batch_size=64, num_workers=2, persistent_workers=True)
    assert sum("num_workers=2 ignored" in str(w.message) for w in caught) == 1
    assert loader.num_workers == 0 and loader.feed == "resident"
    _, want = _epoch(dataset, batch_size=64)
    loader.set_epoch(2)
    _same_batches(list(loader), want)


def test_a_resident_dataset_must_be_delivered_where_it_lives(dataset):
    with pytest.raises(ValueError, match="resident on cpu but the DataLoader delivers to meta"):
        dg.DataLoader(dataset.to("cpu"), batch_size=4, device="meta")


def test_too_large_for_the_device_is_a_clear_error_before_any_copy(dataset, monkeypatch):
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1000, 2000))
    with pytest.raises(MemoryError, match=r"need 5,000 bytes on cuda:0 but only 1,000 of 2,000"):
        check_fits(5000, torch.device("cuda:0"))
    needed = dataset.reads.sequences.numel() * (2 if dataset.reads.qualities is not None else 1)
    needed += 8 * dataset.reads.offsets.numel()
    with pytest.raises(MemoryError, match=f"need {needed:,} bytes on cuda:0"):
        dataset.to("cuda:0")
    with pytest.raises(MemoryError, match=f"need {needed:,} bytes on cuda:0"):
        dataset.reads.to("cuda:0")


def test_cache_load_onto_a_device(tmp_path, data_dir):
    path = data_dir / FILES[0]
    ds = dg.Dataset(path)
    dg.Cache.save(ds, tmp_path / "c")
    loaded = dg.Cache.load(tmp_path / "c", device="cpu")
    assert loaded.resident == torch.device("cpu")
    kwargs = dict(batch_size=100, shuffle=True, transform=Compose([Mutator(0.1), OneHotEncoder()]))
    _, got = _epoch(loaded, **kwargs)
    _, want = _epoch(ds, **kwargs)
    _same_batches(got, want)
