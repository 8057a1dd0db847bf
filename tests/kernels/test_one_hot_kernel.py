import itertools

import pytest
import torch
from batches import alphabet_cases, batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.one_hot import one_hot as naive_one_hot

from deepbiop_gpu.ops import one_hot
from deepbiop_gpu.ops._one_hot import one_hot_torch

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


# --- unknown="random" (issue 15) ----------------------------------------------
RANDOM_SETTINGS = [(torch.float32, "NLC"), (torch.uint8, "NCL"), (torch.bfloat16, "NLC")]


@pytest.mark.parametrize("case", edge_cases(long=300), ids=lambda c: c[0])
def test_random_unknowns_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = torch.arange(seqs.shape[0], dtype=torch.int64) * 31 + (1 << 33)
    for dtype, layout in RANDOM_SETTINGS:
        kw = dict(seed=2**40 + 9, epoch=5)
        got = one_hot(seqs.to(kdevice), lengths.to(kdevice), dtype, layout, "random",
                      index=index.to(kdevice), **kw).cpu()  # fmt: skip
        assert got.dtype == dtype and got.is_contiguous()
        want = naive_one_hot(seqs, lengths, dtype, layout, "random", index=index, **kw)
        assert torch.equal(got, want), (dtype, layout)


def test_random_unknowns_match_the_cpu_path(kdevice):
    from deepbiop_gpu.ops._one_hot import one_hot_random_torch

    gen = torch.Generator().manual_seed(5)
    seqs, lengths = pack(random_reads(gen, 7, 200, alphabet=b"ACGTNnRYacgt"))
    index = torch.tensor([0, 1, 2, 3, 2**32, 2**33 + 7, 99])
    got = one_hot(seqs.to(kdevice), lengths.to(kdevice).to(torch.int32), unknown="random", seed=3,
                  index=index.to(kdevice), epoch=2, layout="NCL").cpu()  # fmt: skip
    assert torch.equal(got, one_hot_random_torch(seqs, lengths, index, torch.float32, "NCL", 3, 2))


# --- alphabets (issue 12) ---------------------------------------------------------
ALPHABET_COMBOS = [
    (torch.float32, "NLC", "zeros"), (torch.bfloat16, "NCL", "uniform"),
    (torch.float16, "NLC", "uniform"), (torch.uint8, "NCL", "zeros"),
]  # fmt: skip


@pytest.mark.parametrize("alphabet", ["rna", "protein"])
@pytest.mark.parametrize("case", edge_cases(long=300) + alphabet_cases(long=300), ids=lambda c: c[0])
def test_alphabet_edge_cases(case, alphabet, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    for combo in ALPHABET_COMBOS:
        got = one_hot(seqs.to(kdevice), lengths.to(kdevice), *combo, alphabet=alphabet).cpu()
        assert got.dtype == combo[0] and got.is_contiguous()
        assert torch.equal(got, naive_one_hot(seqs, lengths, *combo, alphabet=alphabet)), combo
        assert torch.equal(got, one_hot_torch(seqs, lengths, *combo, alphabet)), combo
    index = torch.arange(seqs.shape[0], dtype=torch.int64) * 31 + (1 << 33)
    for dtype, layout in RANDOM_SETTINGS[:2]:
        kw = dict(seed=2**40 + 9, epoch=5, alphabet=alphabet)
        got = one_hot(seqs.to(kdevice), lengths.to(kdevice), dtype, layout, "random",
                      index=index.to(kdevice), **kw).cpu()  # fmt: skip
        want = naive_one_hot(seqs, lengths, dtype, layout, "random", index=index, **kw)
        assert torch.equal(got, want), (dtype, layout)
