"""layout="packed" under the Triton kernels: packed values equal the CPU path's padded ones."""

import pytest
import torch
from batches import edge_cases, pack

from deepbiop_gpu import IntegerEncoder, KmerEncoder, Mutator, OneHotEncoder, ReverseComplement, Sampler
from deepbiop_gpu.data.packed_layout import pack_batch
from deepbiop_gpu.ops._dispatch import FORCE_TRITON_ENV

PIPELINES = {
    "augment": ([ReverseComplement(p=0.5, seed=1), Mutator(0.2, seed=2)], None),
    "crop_one_hot": ([Sampler(5, seed=3), OneHotEncoder()], None),
    "integer": ([Mutator(0.1, seed=2), IntegerEncoder()], None),
    "kmer": ([ReverseComplement(p=0.5, seed=1), KmerEncoder(3, mode="ids", stride=2)], (3, 2)),
}


def _run(steps, batch):
    for step in steps:  # one op at a time: each goes to the Triton kernel on kdevice
        batch = step(batch)
    return batch


@pytest.mark.parametrize("name", list(PIPELINES))
def test_packed_under_triton_equals_padded_on_cpu(name, kdevice, monkeypatch):
    steps, kmer = PIPELINES[name]
    reads = [r for _, rs, _ in edge_cases(long=40) for r in rs][:14] + [b"ACGTN" * 3, b"acgtRYK", b""]
    seqs, lengths = pack(reads)
    batch = {"sequences": seqs, "lengths": lengths.to(torch.int32), "qualities": seqs.clone(),
             "index": torch.arange(len(reads), dtype=torch.int64) * 7, "epoch": 3}
    on_device = {k: v.to(kdevice) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    packed = pack_batch(_run(steps, on_device), kmer)
    monkeypatch.delenv(FORCE_TRITON_ENV, raising=False)
    padded = _run(steps, batch)  # the CPU (torch) path
    counts = padded["lengths"].to(torch.int64)
    if kmer is not None:
        counts = torch.clamp((counts - kmer[0]) // kmer[1] + 1, min=0)
    cu = packed["cu_seqlens"].cpu()
    assert cu.tolist() == [0, *torch.cumsum(counts, 0).tolist()]
    assert packed["max_seqlen"] == int(counts.max())
    got = packed["sequences"].cpu()
    for b, n in enumerate(counts.tolist()):
        assert torch.equal(got[int(cu[b]) : int(cu[b + 1])], padded["sequences"][b, :n]), (name, b)
    qcu = packed.get("cu_seqlens_qualities", packed["cu_seqlens"]).cpu()
    for b, n in enumerate(padded["lengths"].tolist()):
        assert torch.equal(packed["qualities"].cpu()[int(qcu[b]) : int(qcu[b + 1])], padded["qualities"][b, :n])
