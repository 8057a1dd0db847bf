"""``mutate(rate="phred")``: each base's probability from its own quality, same words as the
numeric rate; naive reference == torch == numba (the kernel: tests/kernels)."""

import importlib
import math

import pytest
import torch
from batches import batches, edge_cases, pack, random_reads
from hypothesis import given, settings
from hypothesis import strategies as st
from naive.mutate import mutate as naive_mutate
from naive.mutate import mutate_phred as naive_phred
from naive.mutate import phred_threshold as naive_threshold

from deepbiop_gpu import Mutator
from deepbiop_gpu.ops import mutate
from deepbiop_gpu.ops._mutate import mutate_torch, phred_thresholds
from deepbiop_gpu.ops._philox import NUMBA_ENV, numba_philox

mutate_module = importlib.import_module("deepbiop_gpu.ops._mutate")
HAS_NUMBA = numba_philox() is not None
SCALES = [0.0, 0.5, 1.0, 7.5, 1e6]


@pytest.fixture(
    params=["torch", pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba"))]
)
def impl(request, monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param


def indices(n, seed=0):
    return torch.randint(0, 2**40, (n,), generator=torch.Generator().manual_seed(seed))


def random_quals(shape, seed=0, low=33, high=127):
    """Phred+33 bytes, Q 0 .. 93; also in the padding (never read there)."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, generator=gen, dtype=torch.uint8)


def test_threshold_table_is_the_probability_rule():
    for scale in SCALES:
        table = phred_thresholds(scale)
        assert table.dtype == torch.int64 and table.shape == (256,)
        assert table.tolist() == [naive_threshold(x, scale) for x in range(256)]
    one = phred_thresholds(1.0)
    assert one[33] == 2**32  # Q 0: probability 1
    assert one[0] == 2**32 and one[20] == 2**32  # bytes below '!' count as Q 0
    assert one[33 + 10] == math.floor(0.1 * 2**32)
    assert one[126] == one[255] > 0  # Q 93 and above: clamped, tiny but not 0
    assert phred_thresholds(0.0).eq(0).all()
    assert phred_thresholds(1e6)[33 + 40] == 2**32  # min(1, ...)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, scale, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    quals = random_quals(seqs.shape, len(reads))
    index = indices(len(reads))
    want = naive_phred(seqs, lengths, quals, scale, 11, index, 2)
    got = mutate(seqs.to(device), lengths.to(device), "phred", 11, index.to(device), 2,
                 qualities=quals.to(device), scale=scale)  # fmt: skip
    assert got.dtype == torch.uint8 and got.shape == seqs.shape
    assert torch.equal(got.cpu(), want)


@given(
    batches(),
    st.one_of(st.sampled_from([0.0, 1.0, 1e9]), st.floats(0, 50)),
    st.integers(0, 2**63 - 1),
    st.integers(0, 2**40),
    st.integers(0, 2**62),
)
@settings(max_examples=60, deadline=None)
def test_random_batches_match_naive(batch, scale, seed, epoch, index_base):
    seqs, lengths = batch
    quals = random_quals(seqs.shape, seed % 97, low=0, high=256)  # any byte, 0 too
    quals[:, :1] = 70  # every non-empty read has a quality
    index = index_base + torch.arange(len(lengths))
    want = naive_phred(seqs, lengths, quals, scale, seed, index, epoch)
    for flag in ("0", "1"):
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv(NUMBA_ENV, flag)
            got = mutate(seqs, lengths, "phred", seed, index, epoch, qualities=quals, scale=scale)
            assert torch.equal(got, want)


@pytest.mark.parametrize("compact_below", [0.0, 2.0], ids=["dense-draws", "compact-draws"])
@pytest.mark.parametrize("sparse", [True, False], ids=["sparse", "dense"])
def test_torch_paths_give_the_same_bits(compact_below, sparse, monkeypatch):
    monkeypatch.setattr(mutate_module, "_COMPACT_BELOW", compact_below)
    if not sparse:  # the path of devices where nonzero() would synchronise
        monkeypatch.setattr(mutate_module, "_SPARSE_DEVICES", ())
    monkeypatch.setattr(mutate_module, "_CHUNK_DRAWS", 64)  # a few rows per chunk
    gen = torch.Generator().manual_seed(6)
    seqs, lengths = pack(random_reads(gen, 30, 90, alphabet=b"ACGTNNNNNNacgt"))
    quals = random_quals(seqs.shape, 6, high=60)
    index = indices(30, 6)
    table = phred_thresholds(2.0)
    want = naive_phred(seqs, lengths, quals, 2.0, 5, index, 1)
    assert torch.equal(mutate_torch(seqs, lengths, index, 0, 5, 1, quals, table), want)


def test_uniform_quality_equals_the_numeric_rate(impl):
    """Every base at Q 10 with scale 1: exactly the numeric rate 0.1 (same words, same T)."""
    gen = torch.Generator().manual_seed(3)
    seqs, lengths = pack(random_reads(gen, 50, 120))
    quals = torch.full(seqs.shape, 33 + 10, dtype=torch.uint8)
    index = indices(50, 3)
    want = mutate(seqs, lengths, 0.1, 9, index, 4)
    assert torch.equal(mutate(seqs, lengths, "phred", 9, index, 4, qualities=quals), want)
    assert torch.equal(want, naive_mutate(seqs, lengths, 0.1, 9, index, 4))


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_observed_rate_per_quality_bin(scale, impl):
    """~216k bases, qualities Q 0..40 at random: per Q, the fraction substituted is
    min(1, scale * 10^(-Q/10)) within 5 binomial sigmas (plus one base)."""
    gen = torch.Generator().manual_seed(12)
    seqs, lengths = pack(random_reads(gen, 1200, 180, alphabet=b"ACGTacgt", min_len=180))
    q = torch.randint(0, 41, seqs.shape, generator=gen)
    quals = (q + 33).to(torch.uint8)
    out = mutate(seqs, lengths, "phred", 2024, torch.arange(1200), qualities=quals, scale=scale)
    changed = out != seqs
    for level in range(41):
        in_bin = q == level
        n = int(in_bin.sum())
        k = int(changed[in_bin].sum())
        p = min(1.0, scale * 10 ** (-level / 10))
        sigma = math.sqrt(n * p * (1 - p))
        assert n > 4000
        assert abs(k - n * p) <= 5 * sigma + 1, (level, k, n * p, sigma)


def test_q0_always_and_scale_0_never(impl):
    seqs, lengths = pack([b"ACGTacgtNRYacgt" * 5, b"GATTACA"])
    index = torch.tensor([4, 8])
    bang = torch.full(seqs.shape, ord("!"), dtype=torch.uint8)
    out = mutate(seqs, lengths, "phred", 1, index, qualities=bang)
    acgt = torch.tensor([[chr(x) in "ACGTacgt" for x in row] for row in seqs.tolist()])
    inside = torch.arange(seqs.shape[1]) < lengths[:, None]
    assert torch.equal((out != seqs) & inside, acgt & inside)  # Q 0, scale 1: p = 1
    half = mutate(seqs, lengths, "phred", 1, index, qualities=bang, scale=0.5)
    assert torch.equal(half, naive_mutate(seqs, lengths, 0.5, 1, index))  # p = 0.5 exactly
    none = mutate(seqs, lengths, "phred", 1, index, qualities=bang, scale=0.0)
    assert torch.equal(none, torch.where(inside, seqs, 0))


def test_qualities_are_not_changed_and_inputs_kept(impl):
    seqs, lengths = pack([b"ACGTACGT", b"GG"])
    quals = random_quals(seqs.shape, 1, high=40)
    before = seqs.clone(), quals.clone()
    batch = {"sequences": seqs, "lengths": lengths, "index": torch.arange(2), "qualities": quals}
    out = Mutator(rate="phred", seed=3)(batch)
    assert out["qualities"] is quals and torch.equal(quals, before[1])
    assert torch.equal(seqs, before[0])


def reads_quals_index(n=40, seed=7):
    gen = torch.Generator().manual_seed(seed)
    reads = random_reads(gen, n, 200, min_len=1)
    quals = [bytes((torch.randint(33, 60, (len(r),), generator=gen)).tolist()) for r in reads]
    return reads, quals, indices(n, seed)


def per_read(out, lengths):
    return [bytes(row[:n]) for row, n in zip(out.tolist(), lengths.tolist(), strict=True)]


def test_same_read_same_result_whatever_the_batch(impl):
    """The seeding contract: a read's mutation depends on (seed, epoch, index, its bases and
    qualities), not on the batch it sits in, its order, its padding or the batch width."""
    reads, quals, index = reads_quals_index()
    seqs, lengths = pack(reads)
    qs, _ = pack(quals)
    full = per_read(mutate(seqs, lengths, "phred", 42, index, 5, qualities=qs, scale=4.0), lengths)
    perm = torch.randperm(len(reads), generator=torch.Generator().manual_seed(1))
    s2, l2 = pack([reads[i] for i in perm], width=seqs.shape[1] + 9, garbage=b"N\xff")
    q2, _ = pack([quals[i] for i in perm], width=seqs.shape[1] + 9, garbage=b"\x00!")
    got = per_read(mutate(s2, l2, "phred", 42, index[perm], 5, qualities=q2, scale=4.0), l2)
    assert got == [full[i] for i in perm]
    got = []
    for sl in (slice(0, 13), slice(13, 14), slice(14, None)):
        s3, l3 = pack(reads[sl])
        q3, _ = pack(quals[sl])
        got += per_read(mutate(s3, l3, "phred", 42, index[sl], 5, qualities=q3, scale=4.0), l3)
    assert got == full
    other = per_read(mutate(seqs, lengths, "phred", 42, index + 1, 5, qualities=qs, scale=4.0),
                     lengths)  # fmt: skip
    assert other != full


def test_no_qualities_raise_a_clear_error(impl):
    seqs, lengths = pack([b"ACGT", b"GGA", b""])
    index = torch.arange(3)
    with pytest.raises(ValueError, match=r"rate='phred' needs qualities \(batch\['qualities'\]\); "
                                         r"add SimulateQualities"):  # fmt: skip
        mutate(seqs, lengths, "phred", 0, index)
    quals = torch.zeros(seqs.shape, dtype=torch.uint8)
    quals[0, :4] = 40
    quals[1, 3:] = 50  # only in the padding: read 1 has none
    with pytest.raises(ValueError, match=r"read 1 of the batch \(and 0 more\) has none \(all its "
                                         r"quality bytes are 0\); add SimulateQualities"):  # fmt: skip
        mutate(seqs, lengths, "phred", 0, index, qualities=quals)
    quals[1, 0] = 40  # read 2 is empty: needs none
    assert mutate(seqs, lengths, "phred", 0, index, qualities=quals).shape == seqs.shape
    batch = {"sequences": seqs, "lengths": lengths, "index": index}
    with pytest.raises(ValueError, match=r"needs qualities.*SimulateQualities"):
        Mutator(rate="phred")(batch)


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    index = torch.arange(2)
    quals = torch.full(seqs.shape, 40, dtype=torch.uint8)
    with pytest.raises(TypeError, match=r"rate must be a float in \[0, 1\] or 'phred', got 'Phred'"):
        mutate(seqs, lengths, "Phred", 0, index, qualities=quals)
    for scale in (-1.0, float("nan"), float("inf"), "1", True):
        with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
            mutate(seqs, lengths, "phred", 0, index, qualities=quals, scale=scale)
        with pytest.raises(ValueError, match="scale must be a finite number >= 0"):
            Mutator(rate="phred", scale=scale)
    with pytest.raises(ValueError, match="scale applies to rate='phred' only"):
        mutate(seqs, lengths, 0.1, 0, index, scale=2.0)
    with pytest.raises(ValueError, match="scale applies to rate='phred' only"):
        Mutator(0.1, scale=2.0)
    with pytest.raises(ValueError, match=r"rate must be a number in \[0, 1\] or 'phred'"):
        Mutator("solexa")
    with pytest.raises(ValueError, match=r"qualities must be uint8 shaped like seqs \(2, 4\)"):
        mutate(seqs, lengths, "phred", 0, index, qualities=quals[:, :3])
    with pytest.raises(ValueError, match=r"qualities must be uint8 shaped like seqs"):
        mutate(seqs, lengths, "phred", 0, index, qualities=quals.int())
    assert repr(Mutator("phred", seed=2, scale=0.5)) == "Mutator(rate='phred', scale=0.5, seed=2)"


def test_compiles_and_matches_eager():
    seqs, lengths = pack([b"ACGTACGTAC", b"GGTTA"])
    quals = random_quals(seqs.shape, 2, high=50)
    index = torch.tensor([3, 9])

    def f(s, n, q, i):
        return mutate(s, n, "phred", 5, i, 1, qualities=q, scale=2.0)

    compiled = torch.compile(f, fullgraph=True, backend="eager")
    assert torch.equal(compiled(seqs, lengths, quals, index), f(seqs, lengths, quals, index))


@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
@pytest.mark.parametrize("phred", [True, False])
def test_kernel_compiles_for_sm90(phred):
    """The mutate kernel with and without the per-base (phred) thresholds, ahead of time."""
    pytest.importorskip("triton")
    from aot import compile_for_cuda

    from deepbiop_gpu.kernels.mutate import mutate_kernel
    from deepbiop_gpu.ops._philox import STREAM_MUTATE

    consts = {"STREAM": STREAM_MUTATE, "ROWS": 8, "BLOCK_D": 64, "PHRED": phred}
    types = {"seq_ptr": "*u8", "len_ptr": "*i64", "idx_ptr": "*i64", "out_ptr": "*u8",
             "qual_ptr": "*u8", "thr_ptr": "*i64", "threshold": "i64", "divisor": "i64",
             "seed": "i64"}  # fmt: skip
    sig = {a: "constexpr" if a in consts else types.get(a, "i32") for a in mutate_kernel.arg_names}
    assert compile_for_cuda(mutate_kernel, sig, consts).asm["cubin"]
