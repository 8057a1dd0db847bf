"""default_collate on per-sample data: pads what it is given, keeps dtypes, never casts."""

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
from deepbiop_gpu.data import Collate, default_collate
from deepbiop_gpu.data.collate import Sample
from deepbiop_gpu.data.sampler import IndexBatch

FASTQ = "fastq/illumina_novaseq_800reads.fastq"


def _one_hot_sample(seq: bytes, quality: bool):
    rows = {ord("A"): 0, ord("C"): 1, ord("G"): 2, ord("T"): 3}
    x = torch.zeros(len(seq), 4)
    for i, b in enumerate(seq):
        if b in rows:
            x[i, rows[b]] = 1.0
        else:
            x[i] = 0.25
    s = {"sequence": x, "name": seq.decode(), "index": len(seq)}
    if quality:
        s["quality"] = torch.tensor(list(b"I" * len(seq)), dtype=torch.uint8)
    return s


@pytest.mark.parametrize("quality", [False, True])
def test_one_hot_samples_keep_their_values_and_dtype(quality):
    samples = [_one_hot_sample(s, quality) for s in (b"ACGN", b"T", b"GGCAT")]
    batch = default_collate(samples)
    x = batch["sequences"]
    assert x.dtype == torch.float32 and x.shape == (3, 5, 4)  # exact Lmax
    assert batch["lengths"].tolist() == [4, 1, 5] and batch["lengths"].dtype == torch.int32
    for row, s in zip(x, samples, strict=True):
        n = len(s["sequence"])
        assert torch.equal(row[:n], s["sequence"]) and row[n:].eq(0).all()
    assert x[0, 3].tolist() == [0.25] * 4  # never 0 (no cast to bytes)
    assert batch["names"] == ["ACGN", "T", "GGCAT"] and batch["index"].tolist() == [4, 1, 5]
    if quality:
        assert batch["qualities"].dtype == torch.uint8 and batch["qualities"].shape == (3, 5)
        assert batch["qualities"][1].tolist() == [73, 0, 0, 0, 0]
    else:
        assert "qualities" not in batch


def test_integer_ids_pad_with_the_declared_value_and_keep_negatives():
    samples = [{"sequence": torch.tensor([0, -1, 3])}, {"sequence": torch.tensor([4])}]
    assert default_collate(samples)["sequences"].tolist() == [[0, -1, 3], [4, 0, 0]]
    declared = [Sample(s, pad_values={"sequence": -1}) for s in samples]
    assert default_collate(declared)["sequences"].tolist() == [[0, -1, 3], [4, -1, -1]]
    # the Collate option wins over what samples declare; batch-key spelling works too
    assert Collate(pad_values={"sequence": 9})(declared)["sequences"].tolist() == [
        [0, -1, 3],
        [4, 9, 9],
    ]
    assert Collate(pad_values={"sequences": 7})(samples)["sequences"][1].tolist() == [4, 7, 7]


def test_any_leading_length_field_any_dtype_and_numpy():
    samples = [
        {
            "sequence": np.arange(6, dtype=np.int16).reshape(3, 2),
            "mask": torch.ones(3, dtype=torch.bool),
            "score": np.float64(0.5),
            "weight": 2.5,
            "label": 1,
            "tag": "x",
        },
        {
            "sequence": np.arange(2, dtype=np.int16).reshape(1, 2),
            "mask": torch.ones(1, dtype=torch.bool),
            "score": np.float64(1.5),
            "weight": 1.0,
            "label": 0,
            "tag": "y",
        },
    ]
    batch = default_collate(samples)
    assert batch["sequences"].dtype == torch.int16 and batch["sequences"].shape == (2, 3, 2)
    assert batch["sequences"][1].tolist() == [[0, 1], [0, 0], [0, 0]]
    assert batch["mask"].dtype == torch.bool and batch["mask"].tolist() == [
        [True] * 3,
        [True, False, False],
    ]
    assert batch["score"].dtype == torch.float64 and batch["score"].tolist() == [0.5, 1.5]
    assert batch["weight"].dtype == torch.float32 and batch["labels"].tolist() == [1, 0]
    assert batch["tag"] == ["x", "y"] and batch["lengths"].tolist() == [3, 1]


def test_lmax_rule_multiple_of_and_max_len_apply_to_every_field():
    samples = [{"sequence": torch.ones(5, 4)}, {"sequence": torch.ones(2, 4)}]
    assert default_collate(samples)["sequences"].shape == (2, 5, 4)
    assert Collate(multiple_of=8)(samples)["sequences"].shape == (2, 8, 4)
    cut = Collate(max_len=3)(samples)
    assert cut["sequences"].shape == (2, 3, 4) and cut["lengths"].tolist() == [3, 2]


@pytest.mark.parametrize(
    "samples, message",
    [
        (
            [{"sequence": torch.zeros(3, 4)}, {"sequence": torch.zeros(3, 4, dtype=torch.float64)}],
            r"'sequence': mixed dtypes.*torch.float32 \[3, 4\], torch.float64 \[3, 4\]",
        ),
        (
            [{"sequence": torch.zeros(3, 4)}, {"sequence": torch.zeros(3, 5)}],
            r"'sequence': ragged trailing dimensions.*\[3, 4\], torch.float32 \[3, 5\]",
        ),
        (
            [{"sequence": torch.zeros(4, 3)}, {"extra": 1, "sequence": torch.zeros(4, 2)}],
            "different keys",
        ),
        ([{"sequence": torch.zeros(2), "obj": object()}] * 2, r"'obj'.*object"),
        ([{"sequence": np.array(["a", "b"])}] * 2, r"'sequence'.*numpy dtype <U1"),
        (
            [
                {"sequence": torch.zeros(2), "quality": None},
                {"sequence": torch.zeros(2), "quality": torch.zeros(2)},
            ],
            r"'quality': None in some",
        ),
        ([{"sequence": torch.zeros(2, dtype=torch.uint8)}] * 2, None),  # fine: the control case
    ],
)
def test_what_cannot_be_collated_raises_naming_key_dtype_shape(samples, message):
    if message is None:
        assert default_collate(samples)["sequences"].shape == (2, 2)
        return
    with pytest.raises(TypeError, match=message):
        default_collate(samples)


def test_pad_value_that_the_dtype_cannot_hold_raises():
    samples = [
        {"sequence": torch.zeros(2, dtype=torch.uint8)},
        {"sequence": torch.zeros(1, dtype=torch.uint8)},
    ]
    with pytest.raises(TypeError, match=r"pad value -1 is not a torch.uint8 value"):
        Collate(pad_values={"sequence": -1})(samples)
    with pytest.raises(TypeError, match="pad_values"):
        Collate(pad_values={"sequence": "x"})


def _pipelines():
    return [
        [ReverseComplement(p=0.5, seed=3), Mutator(0.05, seed=4), OneHotEncoder()],
        [Mutator(0.1, seed=1), IntegerEncoder()],
        [IntegerEncoder(pad_value=-7)],
        [ReverseComplement(p=0.5, seed=2), KmerEncoder(3, mode="ids")],
        [Sampler(40, mode="random", seed=5), OneHotEncoder(unknown="uniform")],
    ]


@pytest.mark.parametrize(
    "steps", _pipelines(), ids=["rc-mut-onehot", "mut-int", "int-pad7", "rc-kmer", "crop-uniform"]
)
def test_per_sample_pipeline_equals_batch_pipeline(data_dir, steps):
    path = data_dir / FASTQ
    per_sample = dg.Dataset(path, transform=Compose(steps))
    per_sample.set_epoch(2)
    plain = dg.Dataset(path)
    rows = [7, 0, 123, 5, 64, 33]
    got = default_collate([per_sample[i] for i in rows])
    batch = plain.__getitems__(IndexBatch(rows, 2))
    want = Compose(steps)(default_collate(batch))
    assert got["sequences"].dtype == want["sequences"].dtype
    assert torch.equal(got["lengths"], want["lengths"].to(torch.int32))
    assert got["index"].tolist() == rows == want["index"].tolist()
    lengths = want["lengths"].tolist()
    kmer = isinstance(steps[-1], KmerEncoder)
    for b, n in enumerate(lengths):
        valid = max(n - steps[-1].k + 1, 0) if kmer else n
        assert torch.equal(got["sequences"][b, :valid], want["sequences"][b, :valid]), b
    # and the padding too: same width, same pad value (integer ids: the encoder's pad_value)
    assert torch.equal(got["sequences"], want["sequences"])
    assert torch.equal(got["qualities"], want["qualities"])


def test_paired_samples_collate_into_paired_batches(data_dir):
    fq = data_dir / "fastq"
    ds = dg.PairedDataset(
        fq / "illumina_hiseq2500_pe_R1.fastq.gz", fq / "illumina_hiseq2500_pe_R2.fastq.gz"
    )
    got = default_collate([ds[i] for i in (3, 1)])
    want = default_collate(ds.__getitems__(IndexBatch([3, 1], 0)))
    for side in ("r1", "r2"):
        for key in ("sequences", "lengths", "qualities", "index"):
            assert torch.equal(got[side][key], want[side][key]), (side, key)
    assert got["index"].tolist() == [3, 1]


def _shift(sample):
    """A per-sample (not batch) transform: int64 codes, 1000 + byte."""
    out = dict(sample)
    out["sequence"] = sample["sequence"].to(torch.int64) + 1000
    return out


def test_a_per_sample_callable_transform_runs_in_our_loader_too(data_dir):
    ds = dg.Dataset(data_dir / FASTQ, labels=["x"], transform=_shift)
    rows = [3, 1, 4]
    want = default_collate([ds[i] for i in rows])
    assert want["sequences"].dtype == torch.int64 and want["sequences"][0, 0] > 1000
    got = default_collate(ds.__getitems__(IndexBatch(rows, 0)))  # the fast path's batch
    for key in ("sequences", "lengths", "qualities", "index", "labels"):
        assert torch.equal(got[key], want[key]), key
    batch = next(iter(dg.DataLoader(ds, batch_size=3)))
    assert batch["sequences"].dtype == torch.int64 and batch["sequences"].min() >= 0
    assert torch.equal(
        batch["sequences"][:, :1], torch.stack([ds[i]["sequence"][:1] for i in range(3)])
    )
