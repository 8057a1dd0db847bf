import itertools

import pytest
import torch
from batches import batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.one_hot import one_hot as naive_one_hot

from deepbiop_gpu.ops import one_hot
from deepbiop_gpu.ops.one_hot import one_hot_torch

DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.uint8]
COMBOS = [
    (dtype, layout, unknown)
    for dtype, layout, unknown in itertools.product(DTYPES, ["NLC", "NCL"], ["zeros", "uniform"])
    if not (dtype == torch.uint8 and unknown == "uniform")
]


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for combo in COMBOS:
        got = one_hot(seqs.to(kdevice), lengths.to(kdevice), *combo).cpu()
        assert got.dtype == combo[0] and got.is_contiguous()
        assert torch.equal(got, naive_one_hot(seqs, lengths, *combo)), combo
        assert torch.equal(got, one_hot_torch(seqs, lengths, *combo)), combo


def test_random(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    for combo in [(torch.float32, "NLC", "zeros"), (torch.float16, "NCL", "uniform")]:
        got = one_hot(seqs.to(kdevice), lengths.to(kdevice).to(torch.int32), *combo).cpu()
        assert torch.equal(got, naive_one_hot(seqs, lengths, *combo))


@given(batch=batches(max_reads=5, max_len=20), combo=st.sampled_from(COMBOS))
@kernel_settings
def test_hypothesis(batch, combo, kdevice):
    seqs, lengths = batch
    got = one_hot(seqs.to(kdevice), lengths.to(kdevice), *combo).cpu()
    assert torch.equal(got, naive_one_hot(seqs, lengths, *combo))
