"""Samples own their bytes: a pickled sample costs its read, never the dataset."""

import pickle

import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu import Compose, Mutator, OneHotEncoder
from deepbiop_gpu.data.sampler import IndexBatch

FASTQ = "fastq/ont_lambda_236reads_wrapped80.fastq.gz"  # long reads: a view would pickle MBs


def _payload(sample) -> int:
    """Bytes of a sample's tensors (its read, encoded or not)."""
    total = 0
    for v in sample.values():
        if isinstance(v, torch.Tensor):
            total += v.numel() * v.element_size()
        elif isinstance(v, dict):
            total += _payload(v)
    return total


def _compact(sample) -> bool:
    return len(pickle.dumps(sample)) <= 2 * _payload(sample) + 1024


def _identity(batch):
    return batch


@pytest.fixture(scope="module")
def ds(data_dir):
    return dg.Dataset(data_dir / FASTQ)


def test_a_sample_pickles_at_the_size_of_its_read(ds):
    assert ds.reads.sequences.numel() > 100_000  # the dataset is far larger than a read
    for i in (0, 1, len(ds) - 1):
        sample = ds[i]
        read_bytes = 2 * len(sample["sequence"])  # bases and qualities
        assert len(pickle.dumps(sample)) <= 2 * read_bytes + 1024
        assert sample["sequence"].untyped_storage().nbytes() == len(sample["sequence"])
    sub = ds.split(0.5, seed=0)[0]
    assert _compact(sub[0])


def test_transformed_samples_are_compact(data_dir):
    ds = dg.Dataset(data_dir / FASTQ, transform=Compose([Mutator(0.1), OneHotEncoder()]))
    sample = ds[3]
    assert sample["sequence"].shape == (sample["length"], 4) and _compact(sample)


def test_a_sample_batch_pickles_as_its_list_of_samples(ds):
    batch = ds.__getitems__(IndexBatch([5, 2, 9], 0))
    assert hasattr(batch, "collate")  # our loader's fast path
    back = pickle.loads(pickle.dumps(batch))
    assert type(back) is list and [s["index"] for s in back] == [5, 2, 9]
    assert all(_compact(s) for s in back)
    assert len(pickle.dumps(batch)) < sum(2 * _payload(s) + 1024 for s in back)


def test_torch_dataloader_identity_collate_yields_lists_of_compact_samples(ds):
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=lambda b: b)
    batch = next(iter(loader))
    assert type(batch) is list and len(batch) == 4
    assert all(type(s) is dict and s["index"] == i for i, s in enumerate(batch))
    assert all(_compact(s) for s in batch)
    # and torch's DataLoader with our collate gives the same batch as our loader's fast path
    ours = dg.default_collate(ds.__getitems__(IndexBatch([0, 1, 2, 3], 0)))
    theirs = next(
        iter(torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=dg.default_collate))
    )
    for key in ("sequences", "lengths", "qualities", "index"):
        assert torch.equal(ours[key], theirs[key]), key


def test_torch_dataloader_workers_send_compact_samples(ds):
    loader = torch.utils.data.DataLoader(ds, batch_size=3, num_workers=2, collate_fn=_identity)
    batches = [b for _, b in zip(range(4), loader, strict=False)]
    assert all(type(b) is list and len(b) == 3 for b in batches)
    assert [s["index"] for b in batches for s in b] == list(range(12))
    assert all(_compact(s) for b in batches for s in b)


def test_paired_and_subset_lists(data_dir):
    fq = data_dir / "fastq"
    paired = dg.PairedDataset(
        fq / "illumina_hiseq2500_pe_R1.fastq.gz", fq / "illumina_hiseq2500_pe_R2.fastq.gz"
    )
    batch = next(iter(torch.utils.data.DataLoader(paired, batch_size=2, collate_fn=_identity)))
    assert type(batch) is list and batch[1]["r2"]["index"] == 1 and all(_compact(s) for s in batch)
    back = pickle.loads(pickle.dumps(paired.__getitems__(IndexBatch([1, 0], 0))))
    assert type(back) is list and back[0]["index"] == 1


def test_streamed_and_map_style_samples_carry_description(data_dir):
    path = data_dir / "fastq/illumina_novaseq_800reads.fastq"
    mapped = dg.Dataset(path)
    streamed = list(dg.IterableDataset(path, reads_per_chunk=64))
    assert len(streamed) == len(mapped)
    first = mapped.reads[0]
    assert first.description == "1:N:0:CAATGGAA+CGAGGCTG"  # the header after the id
    for i in (0, 1, 799):
        assert (
            streamed[i]["description"] == mapped[i]["description"] == mapped.reads.descriptions[i]
        )
        assert streamed[i]["name"] == mapped[i]["name"] and _compact(streamed[i])
    assert dg.default_collate(streamed[:2])["descriptions"] == [
        streamed[0]["description"],
        streamed[1]["description"],
    ]
