import pytest
import torch
from batches import batches, edge_cases, pack, random_reads
from hypothesis import given, settings
from hypothesis import strategies as st
from naive.integer import integer as naive_integer

from deepbiop_gpu.ops import encode, integer
from deepbiop_gpu.ops.integer import integer_torch

PAD_VALUES = [-1, 4, -100, 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("pad_value", [-1, 4, -(2**63)])
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, pad_value, device):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    got = integer(seqs.to(device), lengths.to(device), pad_value)
    assert got.dtype == torch.int64 and got.shape == seqs.shape
    assert torch.equal(got.cpu(), naive_integer(seqs, lengths, pad_value))


@given(batches(), st.sampled_from(PAD_VALUES))
@settings(max_examples=150, deadline=None)
def test_random_batches_match_naive(batch, pad_value):
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


def test_large_random_batch(device):
    gen = torch.Generator().manual_seed(1)
    seqs, lengths = pack(random_reads(gen, 64, 700))
    expected = naive_integer(seqs, lengths, -7)
    assert torch.equal(integer(seqs.to(device), lengths.to(device), -7).cpu(), expected)


def test_inputs_not_mutated():
    seqs, lengths = pack([b"acgtn", b"GG"])
    before = seqs.clone(), lengths.clone()
    integer(seqs, lengths)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])


def test_noncontiguous_input():
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


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYK"])
    seqs, lengths = seqs.to(device), lengths.to(device)
    fn = torch.compile(lambda s, n: integer(s, n, -100) + 1, fullgraph=True, dynamic=True)
    assert torch.equal(fn(seqs, lengths), integer_torch(seqs, lengths, -100) + 1)
    s2, l2 = pack([b"A" * 33, b"cg"])
    assert torch.equal(fn(s2.to(device), l2.to(device)).cpu(), naive_integer(s2, l2, -100) + 1)
