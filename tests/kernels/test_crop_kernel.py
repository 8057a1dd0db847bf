import pytest
import torch
from batches import batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.crop import crop as naive_crop
from naive.crop import take_windows as naive_take_windows

from deepbiop_gpu.ops import crop, take_windows
from deepbiop_gpu.ops._crop import MODES, crop_torch


def indices(n, seed=0):
    return torch.randint(0, 2**40, (n,), generator=torch.Generator().manual_seed(seed))


def assert_same(got, expected):
    for g, e in zip(got, expected, strict=True):
        assert g.dtype == e.dtype and g.shape == e.shape
        assert torch.equal(g.cpu(), e)


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = indices(len(reads))
    for mode in MODES:
        for length in (0, 1, 37, 1600):
            got = crop(seqs.to(kdevice), lengths.to(kdevice), length, mode, 3, index.to(kdevice), 1)
            assert_same(got, naive_crop(seqs, lengths, length, mode, 3, index, 1))
            assert_same(got, crop_torch(seqs, lengths, index, length, mode, 3, 1))


def test_random_large_counters_int32_lengths(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    lengths = lengths.int()
    index = indices(9, 2) + 2**45
    seed, epoch = 2**63 - 1, 2**33 + 5
    got = crop(seqs.to(kdevice), lengths.to(kdevice), 64, "random", seed, index.to(kdevice), epoch)
    assert_same(got, naive_crop(seqs, lengths, 64, "random", seed, index, epoch))


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.bool, torch.int64])
def test_take_windows(dtype, kdevice):
    gen = torch.Generator().manual_seed(3)
    x = torch.randint(0, 3, (6, 40), generator=gen).to(dtype)
    starts = torch.tensor([0, 5, 39, 40, 10, 2])
    lens = torch.tensor([40, 10, 1, 0, 30, 3], dtype=torch.int32)
    got = take_windows(x.to(kdevice), starts.to(kdevice), lens.to(kdevice), 32)
    assert got.dtype == dtype
    assert torch.equal(got.cpu(), naive_take_windows(x, starts, lens, 32))


def test_lengths_clamped(kdevice):
    seqs, _ = pack([b"ACGTACGT", b"GG"])
    bad = torch.tensor([20, -4])
    got = torch.ops.deepbiop_gpu.crop(seqs.to(kdevice), bad.to(kdevice), None, 4, "end", 0, 0)
    assert_same(got, crop_torch(seqs, bad, None, 4, "end", 0, 0))
    w = torch.ops.deepbiop_gpu.take_windows(
        seqs.to(kdevice), torch.tensor([6, -3], device=kdevice),
        torch.tensor([5, 5], device=kdevice), 5,
    )  # fmt: skip
    assert bytes(w[0].cpu().tolist()) == b"GT\0\0\0" and bytes(w[1].cpu().tolist()) == b"\0\0\0GG"


@given(
    batch=batches(max_reads=5, max_len=20),
    length=st.integers(0, 25),
    mode=st.sampled_from(MODES),
    seed=st.integers(0, 2**63 - 1),
)
@kernel_settings
def test_hypothesis(batch, length, mode, seed, kdevice):
    seqs, lengths = batch
    index = indices(len(lengths), seed % 1000)
    got = crop(seqs.to(kdevice), lengths.to(kdevice), length, mode, seed, index.to(kdevice), 3)
    assert_same(got, naive_crop(seqs, lengths, length, mode, seed, index, 3))
