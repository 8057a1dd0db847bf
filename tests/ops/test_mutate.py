import importlib
import math

import pytest
import torch
from batches import batches, edge_cases, pack, random_reads
from hypothesis import given, settings
from hypothesis import strategies as st
from naive.mutate import mutate as naive_mutate

from deepbiop_gpu.ops import mutate
from deepbiop_gpu.ops._philox import NUMBA_ENV, numba_philox
from deepbiop_gpu.ops._mutate import mutate_torch

# the module, not the function of the same name that deepbiop_gpu.ops exports
mutate_module = importlib.import_module("deepbiop_gpu.ops._mutate")
HAS_NUMBA = numba_philox() is not None
RATES = [0.0, 0.05, 0.5, 1.0]
DNA = b"ACGTacgt"


@pytest.fixture(
    params=["torch", pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba"))]
)
def impl(request, monkeypatch):
    """Which CPU implementation the op runs: the torch code, or the numba loop."""
    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param


def indices(n, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 2**40, (n,), generator=gen)


@pytest.mark.parametrize("rate", RATES)
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, rate, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = indices(len(reads))
    expected = naive_mutate(seqs, lengths, rate, 11, index, 2)
    got = mutate(seqs.to(device), lengths.to(device), rate, 11, index.to(device), epoch=2)
    assert got.dtype == torch.uint8 and got.shape == seqs.shape
    assert torch.equal(got.cpu(), expected)


settings_random = settings(max_examples=100, deadline=None)


@given(
    batches(),
    st.one_of(st.sampled_from([0.0, 1.0, 2**-32, 1 - 2**-40]), st.floats(0, 1)),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**40),
    st.integers(0, 2**62),
)
@settings_random
def test_random_batches_match_naive(batch, rate, seed, epoch, index_base):
    seqs, lengths = batch
    index = index_base + torch.arange(len(lengths))
    expected = naive_mutate(seqs, lengths, rate, seed, index, epoch)
    for flag in ("0", "1"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(NUMBA_ENV, flag)
            assert torch.equal(mutate(seqs, lengths, rate, seed, index, epoch), expected)
            assert torch.equal(mutate(seqs, lengths.int(), rate, seed, index, epoch), expected)


@pytest.mark.parametrize("compact_below", [0.0, 2.0], ids=["dense", "compact"])
def test_torch_draw_compaction_gives_the_same_words(compact_below, monkeypatch):
    # ragged and N-rich reads: compaction computes fewer Philox calls, same result
    monkeypatch.setattr(mutate_module, "_COMPACT_BELOW", compact_below)
    gen = torch.Generator().manual_seed(6)
    reads = random_reads(gen, 30, 90, alphabet=b"ACGTNNNNNNacgt")
    seqs, lengths = pack(reads)
    index = indices(30, 6)
    t = mutate_module.probability_threshold(0.4)
    expected = naive_mutate(seqs, lengths, 0.4, 5, index, 1)
    assert torch.equal(mutate_torch(seqs, lengths, index, t, 5, 1), expected)


def test_torch_dense_path(monkeypatch):
    # the path of devices where nonzero() would synchronise (CUDA without Triton)
    monkeypatch.setattr(mutate_module, "_SPARSE_DEVICES", ())
    gen = torch.Generator().manual_seed(7)
    seqs, lengths = pack(random_reads(gen, 30, 90))
    index = indices(30, 7)
    for rate in (0.0, 0.3, 1.0):
        t = mutate_module.probability_threshold(rate)
        expected = naive_mutate(seqs, lengths, rate, 5, index, 1)
        assert torch.equal(mutate_torch(seqs, lengths, index, t, 5, 1), expected)


def test_torch_chunks_of_rows(monkeypatch):
    monkeypatch.setattr(mutate_module, "_CHUNK_DRAWS", 50)  # a few rows per chunk
    gen = torch.Generator().manual_seed(8)
    seqs, lengths = pack(random_reads(gen, 40, 120))
    index = indices(40, 8)
    t = mutate_module.probability_threshold(0.3)
    expected = naive_mutate(seqs, lengths, 0.3, 5, index, 0)
    assert torch.equal(mutate_torch(seqs, lengths, index, t, 5, 0), expected)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba")
def test_numba_threads_do_not_change_the_result(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "1")
    gen = torch.Generator().manual_seed(9)
    seqs, lengths = pack(random_reads(gen, 700, 40))
    index = indices(700, 9)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = mutate(seqs, lengths, 0.2, 3, index)
        torch.set_num_threads(3)  # 3 row ranges of >= 256 rows... or fewer
        many = mutate(seqs, lengths, 0.2, 3, index)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, many)
    assert torch.equal(one, naive_mutate(seqs, lengths, 0.2, 3, index))


def reads_and_index(n=40, seed=7):
    gen = torch.Generator().manual_seed(seed)
    return random_reads(gen, n, 200, min_len=1), indices(n, seed)


def per_read(out, lengths):
    return [bytes(row[:n]) for row, n in zip(out.tolist(), lengths.tolist(), strict=True)]


def test_same_read_same_result_whatever_the_batch(impl):
    reads, index = reads_and_index()
    seqs, lengths = pack(reads)
    full = per_read(mutate(seqs, lengths, 0.3, 42, index, 5), lengths)
    # permuted
    perm = torch.randperm(len(reads), generator=torch.Generator().manual_seed(1))
    s2, l2 = pack([reads[i] for i in perm])
    got = per_read(mutate(s2, l2, 0.3, 42, index[perm], 5), l2)
    assert got == [full[i] for i in perm]
    # split in uneven parts, and each read alone
    for parts in ([slice(0, 13), slice(13, None)], [slice(i, i + 1) for i in range(len(reads))]):
        got = []
        for sl in parts:
            s3, l3 = pack(reads[sl])
            got += per_read(mutate(s3, l3, 0.3, 42, index[sl], 5), l3)
        assert got == full
    # padded wider, other garbage
    s4, l4 = pack(reads, width=seqs.shape[1] + 13, garbage=b"N\xff")
    out4 = mutate(s4, l4, 0.3, 42, index, 5)
    assert per_read(out4, l4) == full
    assert not out4[torch.arange(s4.shape[1]) >= l4[:, None]].any()


def test_seed_epoch_index_each_change_the_result(impl):
    reads, index = reads_and_index()
    seqs, lengths = pack(reads)
    base = mutate(seqs, lengths, 0.5, 42, index, 5)
    others = [
        mutate(seqs, lengths, 0.5, 43, index, 5),
        mutate(seqs, lengths, 0.5, 42, index, 6),
        mutate(seqs, lengths, 0.5, 42, index + 1, 5),
        mutate(seqs, lengths, 0.5, 42, index + 2**32, 5),  # index bits above 32 count too
        mutate(seqs, lengths, 0.5, 42 + 2**32, index, 5),  # as do the key's high bits
    ]
    for other in others:
        for b in range(len(reads)):
            if lengths[b] >= 20:  # P(equal) <= 2**-20 per read
                assert not torch.equal(other[b], base[b])


def dna_batch(n, length, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return pack(random_reads(gen, n, length, alphabet=DNA, min_len=length))


@pytest.mark.parametrize("rate", [0.01, 0.3, 0.75])
def test_observed_rate_within_binomial_bound(rate, impl):
    seqs, lengths = dna_batch(2000, 150, seed=1)
    out = mutate(seqs, lengths, rate, 2024, torch.arange(2000))
    n = seqs.numel()
    k = int((out != seqs).sum())
    sigma = math.sqrt(n * rate * (1 - rate))
    assert abs(k - n * rate) < 5 * sigma, (k, n * rate, sigma)


def test_substitutions_uniform_over_the_other_bases(impl):
    stats = pytest.importorskip("scipy.stats")
    seqs, lengths = dna_batch(2000, 150, seed=2)
    out = mutate(seqs, lengths, 0.5, 99, torch.arange(2000))
    upper_in = seqs & 0xDF
    upper_out = out & 0xDF
    for base in b"ACGT":
        changed = (upper_in == base) & (out != seqs)
        targets = upper_out[changed]
        others = [o for o in b"ACGT" if o != base]
        counts = [int((targets == o).sum()) for o in others]
        assert sum(counts) == int(changed.sum())  # always one of the other three bases
        assert stats.chisquare(counts).pvalue > 1e-4, (chr(base), counts)
    # case kept, every position
    assert torch.equal(out & 0x20, seqs & 0x20)


def test_rate_one_changes_every_acgt_base_and_nothing_else(impl):
    reads = [b"ACGTacgtNnUuRYKMSWBDHVrykmswbdhv.-*", b"GATTACA" * 9]
    seqs, lengths = pack(reads)
    out = mutate(seqs, lengths, 1.0, 1, torch.tensor([0, 1]))
    for row_in, row_out, n in zip(seqs.tolist(), out.tolist(), lengths.tolist(), strict=True):
        for a, b in zip(row_in[:n], row_out[:n], strict=True):
            if chr(a) in "ACGTacgt":
                assert b != a and chr(b) in ("ACGT" if a < 97 else "acgt")
            else:
                assert b == a


def test_rate_zero_is_a_copy_with_zero_padding(impl):
    seqs, lengths = pack([b"ACGTN", b"G", b""], width=8)
    out = mutate(seqs, lengths, 0.0, 1, torch.arange(3))
    inside = torch.arange(8) < lengths[:, None]
    assert torch.equal(out, torch.where(inside, seqs, 0))


def test_inputs_not_mutated(impl):
    seqs, lengths = pack([b"acgtn", b"GG"])
    index = torch.tensor([3, 4])
    before = seqs.clone(), lengths.clone(), index.clone()
    mutate(seqs, lengths, 1.0, 0, index)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])
    assert torch.equal(index, before[2])


def test_noncontiguous_input(impl):
    seqs, lengths = pack([b"ACGTACGTAC", b"ttttggggcc"])
    view = seqs[:, ::2]
    index = torch.arange(2)
    got = mutate(view, lengths // 2, 0.5, 3, index)
    assert torch.equal(got, naive_mutate(view.contiguous(), lengths // 2, 0.5, 3, index))


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    index = torch.arange(2)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got 1.5"):
        mutate(seqs, lengths, 1.5, 0, index)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got -0.1"):
        mutate(seqs, lengths, -0.1, 0, index)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got nan"):
        mutate(seqs, lengths, float("nan"), 0, index)
    with pytest.raises(TypeError, match="rate must be a float"):
        mutate(seqs, lengths, "0.1", 0, index)
    with pytest.raises(ValueError, match=r"seed must be in \[0, 9223372036854775807\], got -1"):
        mutate(seqs, lengths, 0.1, -1, index)
    with pytest.raises(TypeError, match="seed must be an int"):
        mutate(seqs, lengths, 0.1, 1.0, index)
    with pytest.raises(ValueError, match="epoch must be in"):
        mutate(seqs, lengths, 0.1, 0, index, epoch=-1)
    with pytest.raises(TypeError, match="index must be a torch.Tensor"):
        mutate(seqs, lengths, 0.1, 0, None)
    with pytest.raises(ValueError, match=r"index must be int64 of shape \[B\] = \[2\]"):
        mutate(seqs, lengths, 0.1, 0, index.int())
    with pytest.raises(ValueError, match=r"index must be int64 of shape \[B\] = \[2\]"):
        mutate(seqs, lengths, 0.1, 0, index[:1])
    with pytest.raises(ValueError, match="index is on meta but seqs is on cpu"):
        mutate(seqs, lengths, 0.1, 0, index.to("meta"))
    with pytest.raises(ValueError, match="index must be >= 0"):
        mutate(seqs, lengths, 0.1, 0, torch.tensor([0, -1]))
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        mutate(seqs.int(), lengths, 0.1, 0, index)
    with pytest.raises(ValueError, match="lengths is on meta but seqs is on cpu"):
        mutate(seqs, lengths.to("meta"), 0.1, 0, index)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 5 is outside \[0, L\]"):
        mutate(seqs, torch.tensor([4, 5]), 0.1, 0, index)


@pytest.mark.parametrize("threshold", [0, 1, 2**31, 2**32])
def test_opcheck(threshold, impl):
    seqs, lengths = pack([b"ACGTN", b"", b"ggcat"])
    op = torch.ops.deepbiop_gpu.mutate.default
    torch.library.opcheck(op, (seqs, lengths, torch.tensor([0, 1, 2**40]), threshold, 7, 3))


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYKGATTACA"])
    seqs, lengths = seqs.to(device), lengths.to(device)
    index = torch.tensor([5, 6, 7], device=device)

    def fn(s, n, i):
        return mutate(s, n, 0.5, 1234, i, epoch=1).to(torch.int64) * 2

    compiled = torch.compile(fn, fullgraph=True, dynamic=True)
    assert torch.equal(compiled(seqs, lengths, index), fn(seqs, lengths, index))
    s2, l2 = pack([b"A" * 33, b"CG"])
    i2 = torch.tensor([1, 2])
    expected = naive_mutate(s2, l2, 0.5, 1234, i2, 1).long() * 2
    assert torch.equal(compiled(s2.to(device), l2.to(device), i2.to(device)).cpu(), expected)
