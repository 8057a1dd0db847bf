import pytest
import torch
from batches import batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.reverse_complement import reverse_complement as naive_rc

from deepbiop_gpu.ops import reverse_complement
from deepbiop_gpu.ops._reverse_complement import reverse_complement_torch


def random_apply(n, seed):
    return torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    apply = random_apply(len(reads), 0)
    for a, complement in ((None, True), (apply, True), (apply, False)):
        got = reverse_complement(
            seqs.to(kdevice), lengths.to(kdevice),
            None if a is None else a.to(kdevice), complement,
        ).cpu()  # fmt: skip
        assert torch.equal(got, naive_rc(seqs, lengths, a, complement))
        assert torch.equal(got, reverse_complement_torch(seqs, lengths, a, complement))


def test_every_byte(kdevice):
    seqs, lengths = pack([bytes(range(1, 256)), b"ACGTURYKMBVDHSWNacgturykmbvdhswn"])
    got = reverse_complement(seqs.to(kdevice), lengths.to(kdevice)).cpu()
    assert torch.equal(got, naive_rc(seqs, lengths))


def test_random(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    apply = random_apply(9, 2)
    got = reverse_complement(
        seqs.to(kdevice), lengths.to(kdevice).to(torch.int32), apply.to(kdevice)
    ).cpu()
    assert torch.equal(got, naive_rc(seqs, lengths, apply))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bool, torch.int64])
def test_complement_false_other_dtypes(dtype, kdevice):
    seqs, lengths = pack([b"ACGTN", b"", b"GGA"])
    x = torch.arange(15).reshape(3, 5).to(dtype)
    apply = torch.tensor([True, True, False])
    got = reverse_complement(x.to(kdevice), lengths.to(kdevice), apply.to(kdevice), False)
    assert got.dtype == dtype
    assert torch.equal(got.cpu(), reverse_complement_torch(x, lengths, apply, False))


def test_lengths_clamped(kdevice):
    seqs, _ = pack([b"ACGT", b"GG"])
    bad = torch.tensor([9, -3])
    # bypass the CPU value checks: call the op itself
    got = torch.ops.deepbiop_gpu.reverse_complement(seqs.to(kdevice), bad.to(kdevice), None, True)
    assert torch.equal(got.cpu(), naive_rc(seqs, torch.tensor([4, 0])))


@given(batch=batches(max_reads=5, max_len=20), seed=st.integers(0, 99), complement=st.booleans())
@kernel_settings
def test_hypothesis(batch, seed, complement, kdevice):
    seqs, lengths = batch
    apply = random_apply(len(lengths), seed)
    got = reverse_complement(seqs.to(kdevice), lengths.to(kdevice), apply.to(kdevice), complement)
    assert torch.equal(got.cpu(), naive_rc(seqs, lengths, apply, complement))
