import pytest
import torch
from batches import alphabet_cases, batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.integer import integer as naive_integer

from deepbiop_gpu.ops import integer
from deepbiop_gpu.ops._integer import integer_torch


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for pad_value in (-1, -(2**63), 2**40):
        got = integer(seqs.to(kdevice), lengths.to(kdevice), pad_value).cpu()
        assert torch.equal(got, naive_integer(seqs, lengths, pad_value))
        assert torch.equal(got, integer_torch(seqs, lengths, pad_value))


def test_random(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    got = integer(seqs.to(kdevice), lengths.to(kdevice).to(torch.int32), 1).cpu()
    assert torch.equal(got, naive_integer(seqs, lengths, 1))


@given(batch=batches(max_reads=5, max_len=20), pad_value=st.integers(-(2**63), 2**63 - 1))
@kernel_settings
def test_hypothesis(batch, pad_value, kdevice):
    seqs, lengths = batch
    got = integer(seqs.to(kdevice), lengths.to(kdevice), pad_value).cpu()
    assert torch.equal(got, naive_integer(seqs, lengths, pad_value))


# --- alphabets (issue 12) ---------------------------------------------------------


@pytest.mark.parametrize("alphabet", ["rna", "protein"])
@pytest.mark.parametrize("case", edge_cases(long=300) + alphabet_cases(long=300), ids=lambda c: c[0])
def test_alphabet_edge_cases(case, alphabet, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for pad_value in (-1, 2**40):
        got = integer(seqs.to(kdevice), lengths.to(kdevice), pad_value, alphabet=alphabet).cpu()
        assert torch.equal(got, naive_integer(seqs, lengths, pad_value, alphabet))
        assert torch.equal(got, integer_torch(seqs, lengths, pad_value, alphabet))
