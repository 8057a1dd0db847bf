"""layout="packed": reads back to back with cu_seqlens; the same values as the padded layout."""

import doctest

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import deepbiop_gpu.data.packed_layout as packed_layout
from deepbiop_gpu import (
    Compose,
    DataLoader,
    Dataset,
    IntegerEncoder,
    IterableDataset,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    PackedReads,
    PairedDataset,
    ReverseComplement,
    Sampler,
    to_nested,
)
from deepbiop_gpu.data.packed_layout import pack_batch

NOVASEQ = "fastq/illumina_novaseq_800reads.fastq"
ONT = "fastq/ont_lambda_236reads_wrapped80.fastq.gz"


def _ragged_reads():
    """Ragged lengths (0, 1, not multiples of 8), N, lowercase, IUPAC."""
    rng = np.random.default_rng(0)
    recs = []
    for i, n in enumerate([0, 1, 2, 7, 9, 33, 64, 100, 5, 3]):
        seq = bytes(rng.choice(list(b"ACGTNacgtnRYKM"), n).astype(np.uint8).tolist())
        recs.append((f"r{i}", seq, bytes(rng.integers(33, 74, n).astype(np.uint8).tolist())))
    recs.append(("allN", b"N" * 12, b"#" * 12))
    return PackedReads.from_records(recs)


PIPELINES = {
    "bytes": lambda: None,
    "augment": lambda: Compose([ReverseComplement(p=0.5, seed=1), Mutator(0.1, seed=2)]),
    "crop": lambda: Compose([Sampler(6, seed=4), Mutator(0.1, seed=2)]),
    "one_hot": lambda: Compose([Mutator(0.05, seed=2), OneHotEncoder()]),
    "one_hot_bf16": lambda: OneHotEncoder(dtype=torch.bfloat16, unknown="uniform"),
    "integer": lambda: Compose([ReverseComplement(p=0.5, seed=1), IntegerEncoder()]),
    "kmer3": lambda: Compose([Mutator(0.05, seed=2), KmerEncoder(3, mode="ids")]),
    "kmer4_stride2_hashed": lambda: KmerEncoder(4, mode="ids", stride=2, canonical=True, buckets=50),
}


def _token_counts(name, lengths):
    if name.startswith("kmer3"):
        return np.maximum(lengths - 3 + 1, 0)
    if name.startswith("kmer4"):
        return np.maximum((lengths - 4) // 2 + 1, 0)
    return lengths


def assert_packed_matches_padded(name, padded, packed):
    """Each read's packed segment is its padded row's valid positions, bit for bit."""
    lengths = padded["lengths"].numpy()
    assert torch.equal(packed["lengths"], padded["lengths"])
    assert torch.equal(packed["index"], padded["index"])
    counts = _token_counts(name, lengths)
    cu = packed["cu_seqlens"]
    assert cu.dtype == torch.int32 and cu.shape == (len(lengths) + 1,) and int(cu[0]) == 0
    assert cu.diff().tolist() == counts.tolist()
    assert packed["max_seqlen"] == int(counts.max(initial=0)) and type(packed["max_seqlen"]) is int
    seqs = packed["sequences"]
    assert seqs.shape[0] == int(cu[-1]) and seqs.shape[1:] == padded["sequences"].shape[2:]
    assert seqs.dtype == padded["sequences"].dtype
    for b, n in enumerate(counts.tolist()):
        seg = seqs[int(cu[b]) : int(cu[b + 1])]
        assert torch.equal(seg.view(torch.uint8) if seg.dtype == torch.bfloat16 else seg,
                           (padded["sequences"][b, :n].view(torch.uint8) if seg.dtype == torch.bfloat16
                            else padded["sequences"][b, :n])), (name, b)
    if "qualities" in padded:
        qcu = packed.get("cu_seqlens_qualities", cu)
        assert ("cu_seqlens_qualities" in packed) == name.startswith("kmer")
        assert qcu.diff().tolist() == lengths.tolist()
        for b, n in enumerate(lengths.tolist()):
            assert torch.equal(packed["qualities"][int(qcu[b]) : int(qcu[b + 1])], padded["qualities"][b, :n])


def test_docstring_examples():
    assert doctest.testmod(packed_layout).failed == 0


@pytest.mark.parametrize("name", list(PIPELINES))
def test_loader_packed_equals_padded(name, cpu_path):
    """Through the loader: the fused CPU collate path (numba) and the torch path."""
    ds = Dataset.from_reads(_ragged_reads())
    kw = dict(batch_size=4, shuffle=True, seed=3)
    padded = DataLoader(ds, transform=PIPELINES[name](), **kw)
    packed = DataLoader(ds, transform=PIPELINES[name](), layout="packed", **kw)
    for epoch in (0, 1):
        padded.set_epoch(epoch)
        packed.set_epoch(epoch)
        batches = list(zip(padded, packed, strict=True))
        assert len(batches) == 3
        for a, b in batches:
            assert_packed_matches_padded(name, a, b)


@pytest.mark.parametrize("name", ["augment", "one_hot", "kmer3"])
def test_transform_on_a_batch_then_pack(name, cpu_path):
    """Step by step (no fusion): the transform on the padded batch, then pack_batch."""
    ds = Dataset.from_reads(_ragged_reads())
    batch = next(iter(DataLoader(ds, batch_size=len(ds))))
    batch["epoch"] = 2
    transform = PIPELINES[name]()
    padded = batch
    for step in (transform if isinstance(transform, Compose) else [transform]):
        padded = step(padded)
    kmer = (3, 1) if name == "kmer3" else None
    assert_packed_matches_padded(name, padded, pack_batch(padded, kmer))


def test_workers_and_max_tokens(data_dir):
    ds = Dataset(data_dir / NOVASEQ)
    transform = lambda: Compose([Mutator(0.05, seed=2), KmerEncoder(3, mode="ids")])  # noqa: E731
    packed = DataLoader(ds, max_tokens=5000, layout="packed", shuffle=True, num_workers=2, transform=transform())
    padded = DataLoader(ds, batch_size=50, transform=transform())
    by_index = {}
    for batch in padded:
        for i, row, n in zip(batch["index"].tolist(), batch["sequences"], batch["lengths"].tolist()):
            by_index[i] = row[: max(n - 2, 0)]
    seen = 0
    for batch in packed:
        assert int(batch["lengths"].sum()) <= 5000  # the budget counts bases
        cu = batch["cu_seqlens"]
        for b, i in enumerate(batch["index"].tolist()):
            assert torch.equal(batch["sequences"][int(cu[b]) : int(cu[b + 1])], by_index[i])
            seen += 1
    assert seen == len(ds)


def test_paired_and_iterable(data_dir):
    ds = PairedDataset(data_dir / "fastq/illumina_hiseq2500_pe_R1.fastq.gz",
                       data_dir / "fastq/illumina_hiseq2500_pe_R2.fastq.gz")
    batch = next(iter(DataLoader(ds, batch_size=5, layout="packed", transform=OneHotEncoder())))
    for side in ("r1", "r2"):
        assert batch[side]["sequences"].shape == (int(batch[side]["lengths"].sum()), 4)
    stream = IterableDataset(data_dir / NOVASEQ, reads_per_chunk=100)
    total = sum(int(b["cu_seqlens"][-1]) for b in DataLoader(stream, batch_size=64, layout="packed"))
    assert total == Dataset(data_dir / NOVASEQ).reads.total_bases


def test_windows_packed(data_dir):
    w = Dataset(data_dir / ONT).windows(1000, min_length=100)
    batch = next(iter(DataLoader(w, max_tokens=8000, layout="packed", transform=IntegerEncoder())))
    assert batch["sequences"].shape == (int(batch["cu_seqlens"][-1]),) and int(batch["cu_seqlens"][-1]) <= 8000
    assert batch["sequences"].dtype == torch.int64 and (batch["sequences"] >= 0).all()


def test_to_nested_and_sdpa_on_cpu():
    ds = Dataset.from_reads(_ragged_reads())
    batch = next(iter(DataLoader(ds, batch_size=6, layout="packed", transform=OneHotEncoder())))
    keep = batch["lengths"] > 0
    nt = to_nested(batch)
    assert nt.layout == torch.jagged and nt.is_nested and nt.size(0) == 6
    cu = batch["cu_seqlens"].tolist()
    for b, t in enumerate(nt.unbind()):
        assert torch.equal(t, batch["sequences"][cu[b] : cu[b + 1]])
    assert to_nested(batch, "qualities").size(0) == 6
    # SDPA over the jagged tensor equals attention read by read (non-empty reads)
    batch = next(iter(DataLoader(Dataset.from_reads(_ragged_reads()[[3, 4, 5, 7]]), batch_size=4,
                                 layout="packed", transform=OneHotEncoder())))
    assert keep.any()
    torch.manual_seed(0)
    proj = torch.nn.Linear(4, 8)
    x = to_nested(batch)
    q = proj(x).unflatten(-1, (2, 4)).transpose(1, 2)
    out = F.scaled_dot_product_attention(q, q, q).transpose(1, 2).flatten(-2)
    cu = batch["cu_seqlens"].tolist()
    for b, got in enumerate(out.unbind()):
        qb = proj(batch["sequences"][cu[b] : cu[b + 1]]).unflatten(-1, (2, 4)).transpose(0, 1)
        want = F.scaled_dot_product_attention(qb, qb, qb).transpose(0, 1).flatten(-2)
        torch.testing.assert_close(got, want)


def test_encoders_that_cannot_be_packed():
    ds = Dataset.from_reads(_ragged_reads())
    with pytest.raises(ValueError, match="layout='packed'.*counts"):
        DataLoader(ds, layout="packed", transform=KmerEncoder(3))
    with pytest.raises(ValueError, match="layout='packed'.*NLC"):
        DataLoader(ds, layout="packed", transform=Compose([Mutator(0.1), OneHotEncoder(layout="NCL")]))
    with pytest.raises(ValueError, match="layout"):
        DataLoader(ds, layout="jagged")
    with pytest.raises(ValueError, match="packed batch"):
        to_nested({"sequences": torch.zeros(2, 3)})
    with pytest.raises(ValueError, match="per-position"):  # a user callable giving one value per read
        list(DataLoader(ds, batch_size=4, layout="packed", transform=lambda b: {**b, "sequences": b["lengths"]}))
