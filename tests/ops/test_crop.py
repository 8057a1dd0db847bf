import pytest
import torch
from batches import batches, edge_cases, pack, random_reads
from hypothesis import given, settings
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


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, mode, device, cpu_path):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = indices(len(reads))
    for length in (0, 1, 5, 64, 2000):
        expected = naive_crop(seqs, lengths, length, mode, 3, index, 1)
        got = crop(seqs.to(device), lengths.to(device), length, mode, 3, index.to(device), 1)
        assert_same(got, expected)


@given(
    batches(),
    st.integers(0, 50),
    st.sampled_from(MODES),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**40),
    st.booleans(),
)
@settings(max_examples=150, deadline=None)
def test_random_batches_match_naive(batch, length, mode, seed, epoch, int32):
    seqs, lengths = batch
    if int32:
        lengths = lengths.int()
    index = indices(len(lengths), seed % 1000) + 2**33
    expected = naive_crop(seqs, lengths, length, mode, seed, index, epoch)
    got = crop(seqs, lengths, length, mode, seed, index, epoch)
    assert_same(got, expected)
    assert_same(crop_torch(seqs, lengths, index, length, mode, seed, epoch), expected)
    # the companion crops another per-base tensor with the same windows
    quals = seqs.float() / 2
    assert torch.equal(take_windows(quals, got[2], got[1], length),
                       naive_take_windows(quals, got[2], got[1], length))  # fmt: skip


def test_modes_on_one_read():
    seqs, lengths = pack([b"0123456789"])
    for mode, start in (("start", 0), ("center", 3), ("end", 6)):
        out, n, s = crop(seqs, lengths, 4, mode)
        assert bytes(out[0].tolist()) == b"0123456789"[start : start + 4]
        assert n.tolist() == [4] and s.tolist() == [start]
    out, n, s = crop(seqs, lengths, 3, "center")  # excess 7: start 3
    assert s.tolist() == [3]


def test_short_reads_kept_whole():
    seqs, lengths = pack([b"ACG", b"", b"ACGTACGT"])
    for mode in MODES:
        out, n, s = crop(seqs, lengths, 8, mode, index=torch.arange(3))
        assert n.tolist() == [3, 0, 8] and s.tolist() == [0, 0, 0]
        assert out.shape == (3, 8)
        assert bytes(out[0].tolist()) == b"ACG" + bytes(5)


def test_random_starts_depend_only_on_seed_epoch_index_and_length(cpu_path):
    gen = torch.Generator().manual_seed(3)
    reads = random_reads(gen, 40, 300, min_len=100)
    seqs, lengths = pack(reads)
    index = indices(40, 3)
    out, n, s = crop(seqs, lengths, 50, seed=9, index=index, epoch=4)
    perm = torch.randperm(40, generator=gen)
    s2, l2 = pack([reads[i] for i in perm], width=seqs.shape[1] + 7, garbage=b"\xff")
    out2, n2, st2 = crop(s2, l2, 50, seed=9, index=index[perm], epoch=4)
    assert torch.equal(st2, s[perm]) and torch.equal(n2, n[perm]) and torch.equal(out2, out[perm])
    for i in range(40):
        one = crop(seqs[i : i + 1], lengths[i : i + 1], 50, seed=9, index=index[i : i + 1], epoch=4)
        assert torch.equal(one[0], out[i : i + 1]) and int(one[2]) == int(s[i])
    for other in (
        crop(seqs, lengths, 50, seed=10, index=index, epoch=4)[2],
        crop(seqs, lengths, 50, seed=9, index=index, epoch=5)[2],
        crop(seqs, lengths, 50, seed=9, index=index + 1, epoch=4)[2],
    ):
        assert not torch.equal(other, s)


def test_random_starts_uniform():
    stats = pytest.importorskip("scipy.stats")
    seqs, lengths = pack([b"ACGT" * 25] * 20000)  # n = 100, length 90: starts in [0, 10]
    _, _, starts = crop(seqs, lengths, 90, seed=5, index=torch.arange(20000))
    counts = torch.bincount(starts, minlength=11)
    assert counts.shape == (11,) and int(counts.min()) > 0
    assert stats.chisquare(counts.tolist()).pvalue > 1e-4, counts.tolist()


def test_take_windows_follows_crop(cpu_path):
    gen = torch.Generator().manual_seed(4)
    reads = random_reads(gen, 30, 80)
    seqs, lengths = pack(reads)
    quals = torch.randint(33, 75, seqs.shape, generator=gen, dtype=torch.uint8)
    out, n, s = crop(seqs, lengths, 25, seed=2, index=torch.arange(30))
    cropped_quals = take_windows(quals, s, n, 25)
    assert torch.equal(take_windows(seqs, s, n, 25), out)
    for b in range(30):
        k = int(n[b])
        assert torch.equal(cropped_quals[b, :k], quals[b, s[b] : s[b] + k])
        assert not cropped_quals[b, k:].any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool, torch.bfloat16])
def test_take_windows_dtypes(dtype, cpu_path):
    x = (torch.arange(24).reshape(3, 8) % 5).to(dtype)
    starts, lens = torch.tensor([1, 0, 8]), torch.tensor([4, 8, 0], dtype=torch.int32)
    got = take_windows(x, starts, lens, 6)
    assert got.dtype == dtype
    assert torch.equal(got, naive_take_windows(x, starts, lens, 6))


def test_torch_implementation_clamps():
    # on CUDA the values are not checked: the torch code must still stay in bounds
    seqs, _ = pack([b"ACGTACGT", b"GG"])
    got = crop_torch(seqs, torch.tensor([20, -4]), None, 4, "end", 0, 0)
    assert got[2].tolist() == [4, 0] and got[1].tolist() == [4, 0]
    from deepbiop_gpu.ops._crop import take_windows_torch

    w = take_windows_torch(seqs, torch.tensor([6, -3]), torch.tensor([5, 5]), 5)
    assert bytes(w[0].tolist()) == b"GT\0\0\0"  # past L reads as 0
    assert bytes(w[1].tolist()) == b"\0\0\0GG"  # before 0 too


def test_inputs_not_mutated():
    seqs, lengths = pack([b"acgtnacgt", b"GG"])
    index = torch.tensor([3, 4])
    before = seqs.clone(), lengths.clone(), index.clone()
    crop(seqs, lengths, 4, seed=1, index=index)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])
    assert torch.equal(index, before[2])


def test_noncontiguous_input(cpu_path):
    seqs, lengths = pack([b"ACGTACGTAC", b"ttttggggcc"])
    view = seqs[:, ::2]
    got = crop(view, lengths // 2, 3, "random", 1, torch.arange(2))
    assert_same(got, naive_crop(view.contiguous(), lengths // 2, 3, "random", 1, torch.arange(2)))


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    index = torch.arange(2)
    with pytest.raises(ValueError, match=r"length must be in \[0, inf\], got -1"):
        crop(seqs, lengths, -1, "start")
    with pytest.raises(TypeError, match="length must be an int"):
        crop(seqs, lengths, 2.5, "start")
    with pytest.raises(ValueError, match="mode must be one of 'random', 'start', 'center', 'end'"):
        crop(seqs, lengths, 2, "middle")
    with pytest.raises(ValueError, match=r"crop\(mode='random'\) needs index"):
        crop(seqs, lengths, 2)
    with pytest.raises(ValueError, match=r"index must be int64 of shape \[B\] = \[2\]"):
        crop(seqs, lengths, 2, index=index.int())
    with pytest.raises(ValueError, match="index is on meta but seqs is on cpu"):
        crop(seqs, lengths, 2, index=index.to("meta"))
    with pytest.raises(ValueError, match=r"seed must be in \[0, "):
        crop(seqs, lengths, 2, seed=-5, index=index)
    with pytest.raises(ValueError, match=r"epoch must be in \[0, "):
        crop(seqs, lengths, 2, index=index, epoch=-1)
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        crop(seqs.float(), lengths, 2, "start")
    with pytest.raises(ValueError, match="lengths is on meta but seqs is on cpu"):
        crop(seqs, lengths.to("meta"), 2, "start")
    # take_windows
    with pytest.raises(ValueError, match=r"starts must be int64 of shape \[B\] = \[2\]"):
        take_windows(seqs, torch.tensor([0, 1], dtype=torch.int32), lengths, 2)
    with pytest.raises(ValueError, match="starts is on meta but x is on cpu"):
        take_windows(seqs, torch.zeros(2, dtype=torch.int64, device="meta"), lengths, 2)
    with pytest.raises(ValueError, match=r"window 1 = \[3, 5\) is outside \[0, L\] with L = 4"):
        take_windows(seqs, torch.tensor([0, 3]), lengths, 2)
    with pytest.raises(ValueError, match=r"window 0 = \[-1, 3\)"):
        take_windows(seqs, torch.tensor([-1, 0]), lengths, 2)
    with pytest.raises(ValueError, match=r"length must be in \[0, inf\], got -2"):
        take_windows(seqs, torch.tensor([0, 0]), lengths, -2)
    with pytest.raises(ValueError, match=r"x must have shape \[B, L\]"):
        take_windows(seqs[0], torch.tensor([0, 0]), lengths, 2)
    with pytest.raises(TypeError, match="lengths must be int32 or int64"):
        take_windows(seqs, torch.tensor([0, 0]), lengths.float(), 2)


def test_opcheck():
    seqs, lengths = pack([b"ACGTNACGTN", b"", b"ggcat"])
    index = torch.tensor([0, 1, 2**40])
    op = torch.ops.deepbiop_gpu.crop.default
    for mode in MODES:
        torch.library.opcheck(op, (seqs, lengths, index, 4, mode, 7, 3))
    torch.library.opcheck(op, (seqs, lengths.int(), None, 12, "center", 0, 0))
    torch.library.opcheck(op, (seqs, lengths, None, 0, "end", 0, 0))
    tw = torch.ops.deepbiop_gpu.take_windows.default
    torch.library.opcheck(tw, (seqs.float(), torch.tensor([1, 0, 2]), lengths.clamp(max=3), 5))


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtnACGT", b"", b"RYKGATTACA"])
    seqs, lengths = seqs.to(device), lengths.to(device)
    index = torch.tensor([5, 6, 7], device=device)
    quals = seqs.float()

    def fn(s, n, i, q):
        out, new_n, starts = crop(s, n, 6, "random", 77, i, epoch=2)
        return out.to(torch.int64) + 1, new_n, take_windows(q, starts, new_n, 6)

    compiled = torch.compile(fn, fullgraph=True, dynamic=True)
    got, expected = compiled(seqs, lengths, index, quals), fn(seqs, lengths, index, quals)
    for a, b in zip(got, expected, strict=True):
        assert torch.equal(a, b)
    s2, l2 = pack([b"A" * 33, b"CG"])
    i2 = torch.tensor([1, 2])
    got = compiled(s2.to(device), l2.to(device), i2.to(device), s2.float().to(device))
    expected = naive_crop(s2, l2, 6, "random", 77, i2, 2)
    assert torch.equal(got[0].cpu(), expected[0].long() + 1)
