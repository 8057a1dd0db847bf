"""Ragged transfer: a batch crosses as its reads' bytes (+ offsets and index), gathered into a
reused staging ring, and is padded + transformed on the device side by the fused op.

Run on the CPU (the "device" is the CPU; pinned memory needs an accelerator), which exercises
the same gather, layout, ring and device-side assembly as on CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu import (
    Compose,
    IntegerEncoder,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
)
from deepbiop_gpu.data.staging import StagingRing, gather_ragged
from deepbiop_gpu.ops._numba import NUMBA_ENV

FILES = [
    "fastq/illumina_novaseq_800reads.fastq",
    "fastq/ont_lambda_236reads_wrapped80.fastq.gz",
    "fasta/ncbi_28S_rRNA_570seqs_iupac.fasta",
]


@pytest.fixture(scope="module", params=FILES, ids=["150bp", "ont", "fasta"])
def dataset(request, data_dir):
    return dg.Dataset(data_dir / request.param)


@pytest.mark.parametrize("max_len", [None, 100])
@pytest.mark.parametrize("numba", ["1", "0"])
def test_the_staging_slot_holds_offsets_index_bases_and_qualities_only(dataset, max_len, numba,
                                                                       monkeypatch):  # fmt: skip
    monkeypatch.setenv(NUMBA_ENV, numba)
    reads = dataset.reads
    rows = np.random.default_rng(0).permutation(len(dataset))[:37]
    index = torch.from_numpy(rows)
    ring = StagingRing(3, pin=False)
    rb = gather_ragged(reads, rows, index, None, 2, ring, max_len, 8)
    lengths = (reads.offsets[rows + 1] - reads.offsets[rows]).numpy()
    clamped = np.minimum(lengths, max_len) if max_len is not None else lengths
    T, B = int(clamped.sum()), len(rows)
    has_quals = reads.qualities is not None
    # the bytes that cross: the reads' bases (and qualities), offsets and index; no padding
    assert rb.nbytes == T * (2 if has_quals else 1) + 8 * (B + 1) + 8 * B
    assert rb.width == (max_len if max_len is not None else -(-int(lengths.max()) // 8) * 8)
    offsets, idx, bases, quals = rb.views(rb.data)
    assert offsets.tolist() == [0, *np.cumsum(clamped).tolist()]
    assert torch.equal(idx, index)
    want = b"".join(bytes(reads.sequences[a : a + n].numpy()) for a, n in
                    zip(reads.offsets[rows].tolist(), clamped.tolist()))  # fmt: skip
    assert bytes(bases.numpy()) == want
    if has_quals:
        want_q = b"".join(bytes(reads.qualities[a : a + n].numpy()) for a, n in
                          zip(reads.offsets[rows].tolist(), clamped.tolist()))  # fmt: skip
        assert bytes(quals.numpy()) == want_q
    else:
        assert quals is None


def test_the_ring_reuses_its_buffers(dataset):
    ring = StagingRing(3, pin=False)
    rng = np.random.default_rng(1)
    batches = [rng.permutation(len(dataset))[:32] for _ in range(30)]
    sizes = []
    for rows in batches:
        rb = gather_ragged(dataset.reads, rows, torch.from_numpy(rows), None, 0, ring, None, 8)
        sizes.append(rb.nbytes)
    # one buffer per slot, plus one more only when a batch outgrew its slot's buffer
    grown = sum(1 for i in range(3, len(sizes)) if sizes[i] > max(sizes[i % 3 : i : 3]) * 1.0)
    assert ring.allocations <= 3 + grown
    assert ring.allocations < len(batches) // 2


TRANSFORMS = {
    "none": None,
    "crop-rc-mut-onehot": Compose([Sampler(64), ReverseComplement(p=0.5), Mutator(0.05),
                                   OneHotEncoder()]),  # fmt: skip
    "rc-int": Compose([ReverseComplement(p=0.5, seed=3), IntegerEncoder()]),
    "mut-kmer": Compose([Mutator(0.1), KmerEncoder(3, mode="ids")]),
    "onehot-only": OneHotEncoder(layout="NCL"),
    "callable-first": Compose([lambda b: {**b, "seen": True}, Mutator(0.1)]),
}


def _epoch(dataset, transform, ragged: bool, **kwargs):
    loader = dg.DataLoader(dataset, batch_size=24, shuffle=True, seed=5, transform=transform, **kwargs)
    if ragged:
        loader._use_ragged_feed(pin=False)
        assert loader.feed == "ragged"
    loader.set_epoch(3)
    return list(loader)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_ragged_batches_equal_padded_batches(dataset, name):
    transform = TRANSFORMS[name]
    want = _epoch(dataset, transform, ragged=False)
    got = _epoch(dataset, transform, ragged=True)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert list(g.pop("names")) == list(w.pop("names"))
        assert g.keys() == w.keys()
        for key, value in w.items():
            if isinstance(value, torch.Tensor):
                assert g[key].dtype == value.dtype and torch.equal(g[key], value), key
            else:
                assert g[key] == value, key


def test_ragged_feed_with_max_len_and_labels(data_dir):
    paths = [data_dir / FILES[0], data_dir / FILES[2]]
    ds = dg.Dataset(paths, labels=["illumina", "rRNA"])
    transform = Compose([Mutator(0.02), OneHotEncoder()])
    collate = dg.data.collate.Collate(max_len=90)
    want = _epoch(ds, transform, ragged=False, collate_fn=collate)
    got = _epoch(ds, transform, ragged=True, collate_fn=collate)
    for g, w in zip(got, want, strict=True):
        g.pop("names"), w.pop("names")
        for key in w:
            assert torch.equal(g[key], w[key]) if isinstance(w[key], torch.Tensor) else g[key] == w[key]
