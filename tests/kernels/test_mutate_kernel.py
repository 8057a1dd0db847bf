import pytest
import torch
from batches import batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.mutate import mutate as naive_mutate

from deepbiop_gpu.ops import mutate
from deepbiop_gpu.ops._philox import probability_threshold
from deepbiop_gpu.ops._mutate import mutate_torch


def indices(n, seed=0):
    return torch.randint(0, 2**40, (n,), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = indices(len(reads))
    for rate in (0.0, 0.3, 1.0):
        got = mutate(seqs.to(kdevice), lengths.to(kdevice), rate, 11, index.to(kdevice), 2).cpu()
        assert torch.equal(got, naive_mutate(seqs, lengths, rate, 11, index, 2))
        t = probability_threshold(rate)
        assert torch.equal(got, mutate_torch(seqs, lengths, index, t, 11, 2))


def test_random_and_large_counters(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    index = indices(9, 2) + 2**45
    seed, epoch = 2**63 - 1, 2**33 + 5
    got = mutate(
        seqs.to(kdevice), lengths.to(kdevice).to(torch.int32), 0.25, seed, index.to(kdevice), epoch
    ).cpu()
    assert torch.equal(got, naive_mutate(seqs, lengths, 0.25, seed, index, epoch))


def test_tiny_and_huge_thresholds(kdevice):
    # T = 1 and T = 2**32 - 1 (Triton specialises the integer 1; 2**32 - 1 needs 64 bits)
    seqs, lengths = pack([b"ACGT" * 20, b"acgtn" * 9])
    index = torch.tensor([1, 2])
    for rate in (2**-32, 1 - 2**-32):
        got = mutate(seqs.to(kdevice), lengths.to(kdevice), rate, 5, index.to(kdevice)).cpu()
        assert torch.equal(got, naive_mutate(seqs, lengths, rate, 5, index))


def test_lengths_clamped(kdevice):
    seqs, _ = pack([b"ACGT", b"GG"])
    bad = torch.tensor([9, -3])
    index = torch.tensor([0, 1])
    got = torch.ops.deepbiop_gpu.mutate(seqs.to(kdevice), bad.to(kdevice), index.to(kdevice),
                                        2**31, 3, 0)  # fmt: skip
    assert torch.equal(got.cpu(), naive_mutate(seqs, torch.tensor([4, 0]), 0.5, 3, index))


@given(
    batch=batches(max_reads=5, max_len=20),
    rate=st.floats(0, 1),
    seed=st.integers(0, 2**63 - 1),
    epoch=st.integers(0, 2**40),
)
@kernel_settings
def test_hypothesis(batch, rate, seed, epoch, kdevice):
    seqs, lengths = batch
    index = indices(len(lengths), seed % 1000)
    got = mutate(seqs.to(kdevice), lengths.to(kdevice), rate, seed, index.to(kdevice), epoch)
    assert torch.equal(got.cpu(), naive_mutate(seqs, lengths, rate, seed, index, epoch))
