"""The mutate kernel with ``rate="phred"`` (per-base thresholds from the qualities) against the
naive reference and the torch code: small inputs (the interpreter is slow)."""

import pytest
import torch
from batches import batches, edge_cases, kernel_settings, pack, random_reads
from hypothesis import given
from hypothesis import strategies as st
from naive.mutate import mutate_phred as naive_phred

from deepbiop_gpu.ops import mutate
from deepbiop_gpu.ops._mutate import mutate_torch, phred_thresholds


def indices(n, seed=0):
    return torch.randint(0, 2**40, (n,), generator=torch.Generator().manual_seed(seed))


def quals_for(seqs, seed=0, low=33, high=127):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, seqs.shape, generator=gen, dtype=torch.uint8)


@pytest.mark.parametrize("case", edge_cases(long=300), ids=lambda c: c[0])
def test_edge_cases(case, kdevice):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    quals = quals_for(seqs, len(reads))
    index = indices(len(reads))
    for scale in (0.0, 1.0, 1e6):
        got = mutate(seqs.to(kdevice), lengths.to(kdevice), "phred", 11, index.to(kdevice), 2,
                     qualities=quals.to(kdevice), scale=scale).cpu()  # fmt: skip
        assert torch.equal(got, naive_phred(seqs, lengths, quals, scale, 11, index, 2))
        table = phred_thresholds(scale)
        assert torch.equal(got, mutate_torch(seqs, lengths, index, 0, 11, 2, quals, table))


def test_random_reads_and_large_counters(kdevice):
    gen = torch.Generator().manual_seed(2)
    seqs, lengths = pack(random_reads(gen, 9, 300))
    quals = quals_for(seqs, 2, high=60)  # Q 0 .. 26: many hits
    index = indices(9, 2) + 2**45
    seed, epoch = 2**63 - 1, 2**33 + 5
    got = mutate(seqs.to(kdevice), lengths.to(kdevice).int(), "phred", seed, index.to(kdevice),
                 epoch, qualities=quals.to(kdevice), scale=3.0).cpu()  # fmt: skip
    assert torch.equal(got, naive_phred(seqs, lengths, quals, 3.0, seed, index, epoch))


@given(batch=batches(max_reads=5, max_len=20), scale=st.floats(0, 20),
       seed=st.integers(0, 2**63 - 1), epoch=st.integers(0, 2**40))  # fmt: skip
@kernel_settings
def test_hypothesis(batch, scale, seed, epoch, kdevice):
    seqs, lengths = batch
    quals = quals_for(seqs, seed % 1000, low=0, high=256)
    quals[:, :1] = 50
    index = indices(len(lengths), seed % 1000)
    got = mutate(seqs.to(kdevice), lengths.to(kdevice), "phred", seed, index.to(kdevice), epoch,
                 qualities=quals.to(kdevice), scale=scale)  # fmt: skip
    assert torch.equal(got.cpu(), naive_phred(seqs, lengths, quals, scale, seed, index, epoch))
