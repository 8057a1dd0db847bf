import pytest
import torch
from batches import alphabet_cases, batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from naive.encode import encode as naive_encode

from deepbiop_gpu.ops import encode
from deepbiop_gpu.ops._encode import encode_torch


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    got = encode(seqs.to(kdevice), lengths.to(kdevice)).cpu()
    assert torch.equal(got, naive_encode(seqs, lengths))
    assert torch.equal(got, encode_torch(seqs, lengths))


def test_random(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    got = encode(seqs.to(kdevice), lengths.to(kdevice).to(torch.int32)).cpu()
    assert torch.equal(got, naive_encode(seqs, lengths))


@given(batch=batches(max_reads=5, max_len=20))
@kernel_settings
def test_hypothesis(batch, kdevice):
    seqs, lengths = batch
    assert torch.equal(encode(seqs.to(kdevice), lengths.to(kdevice)).cpu(), naive_encode(seqs, lengths))


# --- alphabets (issue 12) ---------------------------------------------------------


@pytest.mark.parametrize("alphabet", ["rna", "protein"])
@pytest.mark.parametrize("case", edge_cases(long=300) + alphabet_cases(long=300), ids=lambda c: c[0])
def test_alphabet_edge_cases(case, alphabet, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    got = encode(seqs.to(kdevice), lengths.to(kdevice), alphabet=alphabet).cpu()
    assert torch.equal(got, naive_encode(seqs, lengths, alphabet))
    assert torch.equal(got, encode_torch(seqs, lengths, alphabet))
