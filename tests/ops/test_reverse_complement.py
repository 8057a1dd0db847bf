import pytest
import torch
from batches import batches, edge_cases, pack, random_reads
from hypothesis import given, settings
from hypothesis import strategies as st
from naive.reverse_complement import complement_byte
from naive.reverse_complement import reverse_complement as naive_rc

from deepbiop_gpu.ops import reverse_complement
from deepbiop_gpu.ops._philox import NUMBA_ENV, numba_philox
from deepbiop_gpu.ops._reverse_complement import reverse_complement_torch

HAS_NUMBA = numba_philox() is not None


@pytest.fixture(
    params=["torch", pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba"))]
)
def impl(request, monkeypatch):
    """Which CPU implementation the op runs: the torch code, or the numba loop."""
    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param


def random_apply(n, seed):
    return torch.rand(n, generator=torch.Generator().manual_seed(seed)) < 0.5


@pytest.mark.parametrize("complement", [True, False])
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, complement, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for apply in (None, random_apply(len(reads), 0)):
        expected = naive_rc(seqs, lengths, apply, complement)
        got = reverse_complement(
            seqs.to(device),
            lengths.to(device),
            None if apply is None else apply.to(device),
            complement=complement,
        )
        assert got.dtype == torch.uint8 and got.shape == seqs.shape
        assert torch.equal(got.cpu(), expected)


@given(batches(), st.integers(0, 2**16), st.booleans(), st.booleans())
@settings(max_examples=150, deadline=None)
def test_random_batches_match_naive(batch, seed, use_apply, complement):
    seqs, lengths = batch
    apply = random_apply(len(lengths), seed) if use_apply else None
    expected = naive_rc(seqs, lengths, apply, complement)
    for flag in ("0", "1"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(NUMBA_ENV, flag)
            assert torch.equal(reverse_complement(seqs, lengths, apply, complement), expected)
            assert torch.equal(reverse_complement(seqs, lengths.int(), apply, complement), expected)


def test_every_byte_and_iupac(impl):
    every = bytes(range(1, 256))
    seqs, lengths = pack([every, b"ACGTURYKMBVDHSWNacgturykmbvdhswn"])
    out = reverse_complement(seqs, lengths)
    assert torch.equal(out, naive_rc(seqs, lengths))
    assert bytes(out[1, : lengths[1]].tolist()) == b"nwsdhbvkmryaacgtNWSDHBVKMRYAACGT"


def test_involution_on_dna():
    gen = torch.Generator().manual_seed(3)
    alphabet = b"ACGTRYKMBVDHSWNacgtrykmbvdhswn.-"  # no U: U -> A is not reversible
    seqs, lengths = pack(random_reads(gen, 50, 300, alphabet))
    twice = reverse_complement(reverse_complement(seqs, lengths), lengths)
    inside = torch.arange(seqs.shape[1]) < lengths[:, None]
    assert torch.equal(twice, torch.where(inside, seqs, 0))


def test_qualities_follow_their_bases(impl):
    gen = torch.Generator().manual_seed(4)
    reads = random_reads(gen, 40, 120)
    seqs, lengths = pack(reads)
    quals = torch.randint(33, 75, seqs.shape, generator=gen, dtype=torch.uint8)
    apply = random_apply(len(reads), 5)
    rs = reverse_complement(seqs, lengths, apply)
    rq = reverse_complement(quals, lengths, apply, complement=False)
    for b, n in enumerate(lengths.tolist()):
        for i in range(n):
            j = n - 1 - i if apply[b] else i  # base i of the output came from position j
            assert rq[b, i] == quals[b, j]
            x = int(seqs[b, j])
            assert rs[b, i] == (complement_byte(x) if apply[b] else x)
        assert not rq[b, n:].any()


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool, torch.float16])
def test_complement_false_any_dtype(dtype, impl):
    seqs, lengths = pack([b"ACGTN", b"", b"GG"])
    x = torch.arange(15, dtype=torch.float32).reshape(3, 5).to(dtype)
    apply = torch.tensor([True, False, True])
    got = reverse_complement(x, lengths, apply, complement=False)
    expected = torch.zeros_like(x)
    expected[0] = x[0].flip(0)
    expected[2, :2] = x[2, :2].flip(0)
    assert got.dtype == dtype and torch.equal(got, expected)


def test_large_random_batch(device, impl):
    gen = torch.Generator().manual_seed(1)
    seqs, lengths = pack(random_reads(gen, 64, 700))
    apply = random_apply(64, 1)
    expected = naive_rc(seqs, lengths, apply)
    got = reverse_complement(seqs.to(device), lengths.to(device), apply.to(device))
    assert torch.equal(got.cpu(), expected)


def test_inputs_not_mutated(impl):
    seqs, lengths = pack([b"acgtn", b"GG"])
    apply = torch.tensor([True, False])
    before = seqs.clone(), lengths.clone(), apply.clone()
    reverse_complement(seqs, lengths, apply)
    reverse_complement(seqs, lengths, apply, complement=False)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])
    assert torch.equal(apply, before[2])


def test_noncontiguous_input(impl):
    seqs, lengths = pack([b"ACGTACGT", b"ttttgggg"])
    view = seqs[:, ::2]
    got = reverse_complement(view, lengths // 2)
    assert got.is_contiguous()
    assert torch.equal(got, naive_rc(view.contiguous(), lengths // 2))


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        reverse_complement(seqs.int(), lengths)
    with pytest.raises(ValueError, match=r"seqs must have shape \[B, L\]"):
        reverse_complement(seqs[0], lengths)
    with pytest.raises(ValueError, match=r"seqs must have shape \[B, L\]"):
        reverse_complement(seqs[0], lengths, complement=False)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 5 is outside \[0, L\]"):
        reverse_complement(seqs, torch.tensor([4, 5]))
    with pytest.raises(ValueError, match=r"lengths\[1\] = 5 is outside \[0, L\]"):
        reverse_complement(seqs.float(), torch.tensor([4, 5]), complement=False)
    with pytest.raises(TypeError, match="lengths must be int32 or int64"):
        reverse_complement(seqs, lengths.float())
    with pytest.raises(ValueError, match=r"apply must be bool of shape \[B\] = \[2\]"):
        reverse_complement(seqs, lengths, torch.tensor([1, 0]))
    with pytest.raises(ValueError, match=r"apply must be bool of shape \[B\] = \[2\]"):
        reverse_complement(seqs, lengths, torch.tensor([True]))
    with pytest.raises(ValueError, match="apply is on meta but seqs is on cpu"):
        reverse_complement(seqs, lengths, torch.ones(2, dtype=torch.bool, device="meta"))
    with pytest.raises(ValueError, match="lengths is on meta but seqs is on cpu"):
        reverse_complement(seqs, lengths.to("meta"))
    with pytest.raises(TypeError, match="complement must be a bool"):
        reverse_complement(seqs, lengths, complement=1)
    with pytest.raises(TypeError, match="apply must be a torch.Tensor"):
        reverse_complement(seqs, lengths, [True, False])


def test_opcheck(impl):
    seqs, lengths = pack([b"ACGTN", b"", b"gg"])
    apply = torch.tensor([True, False, True])
    op = torch.ops.deepbiop_gpu.reverse_complement.default
    torch.library.opcheck(op, (seqs, lengths, None, True))
    torch.library.opcheck(op, (seqs, lengths, apply, True))
    torch.library.opcheck(op, (seqs.float(), lengths.int(), apply, False))


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYK"])
    seqs, lengths = seqs.to(device), lengths.to(device)
    apply = torch.tensor([True, True, False], device=device)

    def fn(s, n, a):
        return reverse_complement(s, n, a).to(torch.int64) + 1

    compiled = torch.compile(fn, fullgraph=True, dynamic=True)
    assert torch.equal(compiled(seqs, lengths, apply), fn(seqs, lengths, apply))
    s2, l2 = pack([b"A" * 33, b"CG"])
    a2 = torch.tensor([True, False])
    expected = naive_rc(s2, l2, a2).long() + 1
    assert torch.equal(compiled(s2.to(device), l2.to(device), a2.to(device)).cpu(), expected)


def test_implementations_clamp_lengths(impl):
    # on CUDA the lengths are not checked: the code must still stay in bounds
    seqs, _ = pack([b"ACGT", b"GG"])
    expected = naive_rc(seqs, torch.tensor([4, 0]))
    assert torch.equal(reverse_complement_torch(seqs, torch.tensor([9, -3])), expected)
    op = torch.ops.deepbiop_gpu.reverse_complement
    assert torch.equal(op(seqs, torch.tensor([9, -3]), None, True), expected)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba")
def test_numba_threads_do_not_change_the_result(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "1")
    gen = torch.Generator().manual_seed(9)
    seqs, lengths = pack(random_reads(gen, 700, 40))
    apply = random_apply(700, 9)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = reverse_complement(seqs, lengths, apply)
        torch.set_num_threads(3)
        many = reverse_complement(seqs, lengths, apply)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many) and torch.equal(one, naive_rc(seqs, lengths, apply))
