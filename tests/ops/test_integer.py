import importlib

import pytest
import torch
from aot import compile_for_cuda
from batches import ALPHABETS, alphabet_cases, batches, edge_cases, pack, random_reads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive.integer import integer as naive_integer

from deepbiop_gpu.ops import encode, integer
from deepbiop_gpu.ops._philox import NUMBA_ENV, numba_philox
from deepbiop_gpu.ops._integer import integer_torch

HAS_NUMBA = numba_philox() is not None


@pytest.fixture(
    params=["torch", pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba"))]
)
def impl(request, monkeypatch):
    """Which CPU implementation the op runs: the torch code, or the numba loop."""
    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param


PAD_VALUES = [-1, 4, -100, 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("pad_value", [-1, 4, -(2**63)])
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, pad_value, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    got = integer(seqs.to(device), lengths.to(device), pad_value)
    assert got.dtype == torch.int64 and got.shape == seqs.shape
    assert torch.equal(got.cpu(), naive_integer(seqs, lengths, pad_value))


@pytest.mark.parametrize("alphabet", ALPHABETS)
@pytest.mark.parametrize("case", edge_cases() + alphabet_cases(), ids=lambda c: c[0])
def test_alphabet_edge_cases(case, alphabet, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    expected = naive_integer(seqs, lengths, -100, alphabet)
    got = integer(seqs.to(device), lengths.to(device), -100, alphabet=alphabet)
    assert got.dtype == torch.int64 and got.shape == seqs.shape
    assert torch.equal(got.cpu(), expected)
    assert torch.equal(integer_torch(seqs, lengths, -100, alphabet), expected)


@pytest.mark.parametrize("alphabet", ALPHABETS)
@given(data=st.data(), pad_value=st.sampled_from(PAD_VALUES))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_alphabets_random_batches_match_naive(alphabet, data, pad_value, impl):
    seqs, lengths = data.draw(batches(alphabet=alphabet))
    expected = naive_integer(seqs, lengths, pad_value, alphabet)
    assert torch.equal(integer(seqs, lengths, pad_value, alphabet=alphabet), expected)


def test_protein_ids():
    seqs, lengths = pack([b"ACDEFGHIKLMNPQRSTVWY", b"acdefghiklmnpqrstvwy", b"XBZJUO*-"])
    got = integer(seqs, lengths, alphabet="protein")
    assert got[0].tolist() == list(range(20)) and got[1].tolist() == list(range(20))
    assert got[2].tolist() == [20] * 8 + [-1] * 12
    rna = integer(*pack([b"ACGUT"]), alphabet="rna")
    assert rna.tolist() == [[0, 1, 2, 3, 4]]


@given(batch=batches(), pad_value=st.sampled_from(PAD_VALUES))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_batches_match_naive(batch, pad_value, impl):
    seqs, lengths = batch
    expected = naive_integer(seqs, lengths, pad_value)
    assert torch.equal(integer(seqs, lengths, pad_value), expected)
    assert torch.equal(integer(seqs, lengths.to(torch.int32), pad_value), expected)


def test_default_pad_value_and_codes_match_encode():
    gen = torch.Generator().manual_seed(3)
    seqs, lengths = pack(random_reads(gen, 20, 60))
    got = integer(seqs, lengths)
    codes = encode(seqs, lengths).long()
    assert torch.equal(got, torch.where(codes == 5, -1, codes))


def test_large_random_batch(device, impl):
    gen = torch.Generator().manual_seed(1)
    seqs, lengths = pack(random_reads(gen, 64, 700))
    expected = naive_integer(seqs, lengths, -7)
    assert torch.equal(integer(seqs.to(device), lengths.to(device), -7).cpu(), expected)


def test_inputs_not_mutated(impl):
    seqs, lengths = pack([b"acgtn", b"GG"])
    before = seqs.clone(), lengths.clone()
    integer(seqs, lengths)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])


def test_noncontiguous_input(impl):
    seqs, lengths = pack([b"ACGTACGT", b"ttttgggg"])
    view = seqs[:, ::2]
    expected = naive_integer(view.contiguous(), lengths // 2)
    assert torch.equal(integer(view, lengths // 2), expected)


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        integer(seqs.int(), lengths)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 5 is outside \[0, L\]"):
        integer(seqs, torch.tensor([4, 5]))
    with pytest.raises(TypeError, match="pad_value must be an int"):
        integer(seqs, lengths, pad_value=-1.0)
    with pytest.raises(TypeError, match="pad_value must be an int"):
        integer(seqs, lengths, pad_value=True)
    with pytest.raises(ValueError, match="pad_value must be in"):
        integer(seqs, lengths, pad_value=2**63)


def test_opcheck():
    seqs, lengths = pack([b"ACGTN", b"", b"gg"])
    for pad_value in (-1, 9):
        torch.library.opcheck(torch.ops.deepbiop_gpu.integer.default, (seqs, lengths, pad_value))
    for alphabet in ("rna", "protein"):
        args = (seqs, lengths, -1, alphabet)
        torch.library.opcheck(torch.ops.deepbiop_gpu.integer.default, args)


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYK"])
    seqs, lengths = seqs.to(device), lengths.to(device)
    fn = torch.compile(lambda s, n: integer(s, n, -100) + 1, fullgraph=True, dynamic=True)
    assert torch.equal(fn(seqs, lengths), integer_torch(seqs, lengths, -100) + 1)
    s2, l2 = pack([b"A" * 33, b"cg"])
    assert torch.equal(fn(s2.to(device), l2.to(device)).cpu(), naive_integer(s2, l2, -100) + 1)


def test_lengths_out_of_range_are_clamped(impl):
    # on CUDA the lengths are not checked: the code must still stay in bounds
    seqs, _ = pack([b"ACGT", b"GG"])
    expected = naive_integer(seqs, torch.tensor([4, 0]), -1)
    op = torch.ops.deepbiop_gpu.integer
    assert torch.equal(op(seqs, torch.tensor([9, -3]), -1), expected)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba")
def test_numba_threads_do_not_change_the_result(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "1")
    gen = torch.Generator().manual_seed(9)
    seqs, lengths = pack(random_reads(gen, 300, 600))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = integer(seqs, lengths)
        torch.set_num_threads(3)
        many = integer(seqs, lengths)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many) and torch.equal(one, naive_integer(seqs, lengths))


@pytest.mark.skipif(not HAS_NUMBA, reason="numba")
def test_numba_failure_falls_back_to_torch(monkeypatch):
    from numba.core.errors import TypingError

    # the package exports a function of the same name: fetch the module itself
    mod = importlib.import_module("deepbiop_gpu.ops._integer")

    def broken(*args):
        raise TypingError("cannot compile")

    monkeypatch.setenv(NUMBA_ENV, "1")
    monkeypatch.setattr(importlib.import_module("deepbiop_gpu.ops._numba"), "_NUMBA_FAILED", set())
    monkeypatch.setattr(mod, "lookup_loop", lambda: broken)
    seqs, lengths = pack([b"ACGTN", b"gg"])
    with pytest.warns(RuntimeWarning, match="numba failed on the integer loop"):
        got = integer(seqs, lengths)
    assert torch.equal(got, naive_integer(seqs, lengths))
    assert not importlib.import_module("deepbiop_gpu.ops._numba").numba_ok("integer")  # no second try
    assert torch.equal(integer(seqs, lengths), got)


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_kernel_compiles_for_cuda(alphabet):
    from deepbiop_gpu.kernels.integer import integer_kernel
    from deepbiop_gpu.ops._tables import ALPHABET_IDS

    sig = {"seq_ptr": "*u8", "len_ptr": "*i32", "out_ptr": "*i64", "B": "i32", "L": "i32"}
    sig |= {"stride_s": "i32", "stride_o": "i32", "pad_value": "i64"}
    sig |= {"ROWS": "constexpr", "BLOCK_L": "constexpr", "ALPHABET": "constexpr"}
    consts = {"ROWS": 16, "BLOCK_L": 256, "ALPHABET": ALPHABET_IDS[alphabet]}
    assert "cubin" in compile_for_cuda(integer_kernel, sig, consts).asm
