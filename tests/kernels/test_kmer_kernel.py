import pytest
import torch
from batches import batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.kmer import kmer_counts as naive_counts
from naive.kmer import kmer_ids as naive_ids

from deepbiop_gpu.ops import kmer_counts, kmer_ids
from deepbiop_gpu.ops._kmer import kmer_counts_torch, kmer_ids_torch

# (k, stride, canonical, buckets): exact, strided + canonical, hashed, k = 31 and 32
PARAMS = [
    (1, 1, False, None),
    (4, 3, True, None),
    (7, 2, False, 1000),
    (31, 1, True, 2**61),
    (32, 2, True, 97),
    (32, 1, False, 2**63 - 1),
]


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for params in PARAMS:
        got = kmer_ids(seqs.to(kdevice), lengths.to(kdevice), *params).cpu()
        assert torch.equal(got, naive_ids(seqs, lengths, *params)), params
        assert torch.equal(got, kmer_ids_torch(seqs, lengths, *params)), params


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_counts_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for k, canonical in [(1, False), (3, True)]:
        got = kmer_counts(seqs.to(kdevice), lengths.to(kdevice), k, canonical).cpu()
        assert torch.equal(got, naive_counts(seqs, lengths, k, canonical))
        assert torch.equal(got, kmer_counts_torch(seqs, lengths, k, canonical))


def test_random(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300, alphabet=b"ACGTacgtuN"))
    lens32 = lengths.to(kdevice).to(torch.int32)
    for params in [(5, 1, False, None), (12, 1, True, 4**11), (32, 3, False, 1 << 40)]:
        got = kmer_ids(seqs.to(kdevice), lens32, *params).cpu()
        assert torch.equal(got, naive_ids(seqs, lengths, *params))
    got = kmer_counts(seqs.to(kdevice), lens32, 4, True).cpu()
    assert torch.equal(got, naive_counts(seqs, lengths, 4, True))


@st.composite
def kmer_params(draw):
    k = draw(st.integers(1, 32))
    buckets = draw(st.one_of(st.none(), st.integers(1, 2**63 - 1)))
    if k > 31 and buckets is None:
        buckets = draw(st.integers(1, 5000))
    return k, draw(st.integers(1, 4)), draw(st.booleans()), buckets


@given(batch=batches(max_reads=5, max_len=40), params=kmer_params())
@kernel_settings
def test_hypothesis(batch, params, kdevice):
    seqs, lengths = batch
    got = kmer_ids(seqs.to(kdevice), lengths.to(kdevice), *params).cpu()
    assert torch.equal(got, naive_ids(seqs, lengths, *params))
