import pytest
import torch
from aot import compile_for_cuda
from batches import batches, edge_cases, pack, random_reads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive.kmer import kmer_counts as naive_counts
from naive.kmer import kmer_ids as naive_ids
from naive.kmer import splitmix64

from deepbiop_gpu.ops import kmer_counts, kmer_ids
from deepbiop_gpu.ops._philox import NUMBA_ENV, numba_philox
from deepbiop_gpu.ops._kmer import kmer_ids_torch, splitmix64_torch

HAS_NUMBA = numba_philox() is not None


@pytest.fixture(
    params=["torch", pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba"))]
)
def impl(request, monkeypatch):
    """Which CPU implementation the op runs: the torch code, or the numba loop."""
    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param


# (k, stride, canonical, buckets): exact, strided, canonical, hashed (k <= 31 and k = 32)
PARAMS = [
    (1, 1, False, None),
    (1, 2, True, None),
    (3, 1, False, None),
    (3, 1, True, 64),  # 4**3 <= buckets: still exact
    (4, 3, True, None),
    (7, 2, False, 1000),  # hashed
    (11, 1, True, 4**11 - 1),  # hashed, one bucket short of exact
    (31, 1, False, None),
    (31, 5, True, 2**62),  # 4**31 == 2**62 buckets: exact
    (31, 1, True, 2**61),  # hashed
    (32, 1, False, 2**63 - 1),
    (32, 2, True, 97),
]


def pid(p):
    return "k{}-s{}-{}-{}".format(p[0], p[1], "canon" if p[2] else "fwd", p[3])


@pytest.mark.parametrize("params", PARAMS, ids=pid)
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, params, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    k, stride, canonical, buckets = params
    got = kmer_ids(seqs.to(device), lengths.to(device), k, stride, canonical, buckets)
    B, L = seqs.shape
    assert got.dtype == torch.int64 and got.shape == (B, max((L - k) // stride + 1, 0))
    assert torch.equal(got.cpu(), naive_ids(seqs, lengths, k, stride, canonical, buckets))


@st.composite
def kmer_params(draw):
    k = draw(st.integers(1, 32))
    stride = draw(st.integers(1, 6))
    canonical = draw(st.booleans())
    if k > 31 or draw(st.booleans()):
        buckets = draw(st.one_of(st.integers(1, 5000), st.integers(1, 2**63 - 1)))
    else:
        buckets = None
    return k, stride, canonical, buckets


@given(batch=batches(), params=kmer_params())
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_batches_match_naive(batch, params, impl):
    seqs, lengths = batch
    expected = naive_ids(seqs, lengths, *params)
    assert torch.equal(kmer_ids(seqs, lengths, *params), expected)
    assert torch.equal(kmer_ids(seqs, lengths.to(torch.int32), *params), expected)


@given(batch=batches(max_len=30), k=st.integers(1, 4))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_counts_random_batches_match_naive(batch, k, impl):
    seqs, lengths = batch
    for canonical in (False, True):
        expected = naive_counts(seqs, lengths, k, canonical)
        assert torch.equal(kmer_counts(seqs, lengths, k, canonical), expected)


@pytest.mark.parametrize("k,canonical", [(1, False), (2, True), (3, False), (5, True)])
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_counts_edge_cases(case, k, canonical, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    got = kmer_counts(seqs.to(device), lengths.to(device), k, canonical)
    assert got.dtype == torch.float32 and got.shape == (seqs.shape[0], 4**k)
    assert torch.equal(got.cpu(), naive_counts(seqs, lengths, k, canonical))


def test_counts_sum_to_valid_windows():
    gen = torch.Generator().manual_seed(4)
    seqs, lengths = pack(random_reads(gen, 30, 200, alphabet=b"ACGTacgtN"))
    ids = kmer_ids(seqs, lengths, 6)
    counts = kmer_counts(seqs, lengths, 6)
    assert torch.equal(counts.sum(1), (ids >= 0).sum(1).float())


def test_exact_ids_and_known_hash_values():
    seqs, lengths = pack([b"ACGTN", b"tt"])
    assert kmer_ids(seqs, lengths, 2).tolist() == [[1, 6, 11, -1], [15, -1, -1, -1]]
    assert kmer_ids(seqs, lengths, 2, canonical=True).tolist() == [[1, 6, 1, -1], [0, -1, -1, -1]]
    # SplitMix64 seeded with 0 first outputs 0xE220A8397B1DCDAF (Vigna's reference code)
    assert splitmix64(0) == 0xE220A8397B1DCDAF
    x = torch.tensor([0, 1, 2**62, -1, -(2**63)])
    expected = [splitmix64(v & (2**64 - 1)) for v in x.tolist()]
    assert [v & (2**64 - 1) for v in splitmix64_torch(x).tolist()] == expected
    # hashed: (splitmix64(id) & (2**63 - 1)) % buckets
    aa = kmer_ids(pack([b"AAAAAAAAAA"])[0], torch.tensor([10]), 10, buckets=1000)
    assert aa.tolist() == [[(0xE220A8397B1DCDAF & (2**63 - 1)) % 1000]]


def test_canonical_is_strand_symmetric():
    gen = torch.Generator().manual_seed(5)
    reads = random_reads(gen, 16, 120, alphabet=b"ACGT", min_len=40)
    comp = bytes.maketrans(b"ACGT", b"TGCA")
    rc_reads = [r.translate(comp)[::-1] for r in reads]
    seqs, lengths = pack(reads)
    rc_seqs, _ = pack(rc_reads)
    for k, buckets in [(5, None), (31, None), (32, 12345)]:
        fwd = kmer_ids(seqs, lengths, k, canonical=True, buckets=buckets)
        rev = kmer_ids(rc_seqs, lengths, k, canonical=True, buckets=buckets)
        for i, n in enumerate(lengths.tolist()):
            w = n - k + 1
            assert fwd[i, :w].tolist() == rev[i, :w].flip(0).tolist()


def test_k_beyond_width():
    seqs, lengths = pack([b"ACG", b"T"])
    assert kmer_ids(seqs, lengths, 5).shape == (2, 0)
    assert kmer_ids(seqs, lengths, 3, stride=4).tolist() == [[6], [-1]]
    assert torch.equal(kmer_counts(seqs, lengths, 5), torch.zeros(2, 4**5))


def test_large_random_batch(device, impl):
    gen = torch.Generator().manual_seed(1)
    seqs, lengths = pack(random_reads(gen, 32, 700, alphabet=b"ACGTacgtuN"))
    for params in [(6, 1, False, None), (21, 3, True, 2**20), (32, 1, True, 2**40)]:
        expected = naive_ids(seqs, lengths, *params)
        assert torch.equal(kmer_ids(seqs.to(device), lengths.to(device), *params).cpu(), expected)


def test_inputs_not_mutated(impl):
    seqs, lengths = pack([b"acgtn", b"GG"])
    before = seqs.clone(), lengths.clone()
    kmer_ids(seqs, lengths, 1, canonical=True)
    kmer_ids(seqs, lengths, 2, buckets=3)
    kmer_counts(seqs, lengths, 2)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])


def test_noncontiguous_input(impl):
    seqs, lengths = pack([b"ACGTACGTAC", b"ttttggggaa"])
    view = seqs[:, ::2]
    expected = naive_ids(view.contiguous(), lengths // 2, 2)
    assert torch.equal(kmer_ids(view, lengths // 2, 2), expected)


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        kmer_ids(seqs.int(), lengths, 3)
    with pytest.raises(ValueError, match=r"k must be in \[1, 32\], got 0"):
        kmer_ids(seqs, lengths, 0)
    with pytest.raises(ValueError, match=r"k must be in \[1, 32\], got 33"):
        kmer_ids(seqs, lengths, 33, buckets=10)
    with pytest.raises(TypeError, match="k must be an int"):
        kmer_ids(seqs, lengths, 2.0)
    with pytest.raises(ValueError, match=r"stride must be in \[1, "):
        kmer_ids(seqs, lengths, 2, stride=0)
    with pytest.raises(TypeError, match="canonical must be a bool"):
        kmer_ids(seqs, lengths, 2, canonical=1)
    with pytest.raises(ValueError, match=r"buckets must be in \[1, "):
        kmer_ids(seqs, lengths, 2, buckets=0)
    with pytest.raises(TypeError, match="buckets must be an int"):
        kmer_ids(seqs, lengths, 2, buckets=10.0)
    with pytest.raises(ValueError, match="buckets is required for k = 32"):
        kmer_ids(seqs, lengths, 32)
    with pytest.raises(ValueError, match=r"k must be in \[1, 12\], got 13"):
        kmer_counts(seqs, lengths, 13)
    with pytest.raises(TypeError, match="canonical must be a bool"):
        kmer_counts(seqs, lengths, 2, canonical="yes")
    with pytest.raises(ValueError, match=r"lengths\[0\] = 9 is outside"):
        kmer_counts(seqs, torch.tensor([9, 1]), 2)


@pytest.mark.parametrize("params", PARAMS[:2] + PARAMS[5:7] + PARAMS[-1:], ids=pid)
def test_opcheck(params):
    seqs, lengths = pack([b"ACGTNACGGT", b"", b"gu"])
    torch.library.opcheck(torch.ops.deepbiop_gpu.kmer_ids.default, (seqs, lengths, *params))


def test_opcheck_counts():
    seqs, lengths = pack([b"ACGTNACGGT", b"", b"gu"])
    for args in [(2, False), (3, True)]:
        torch.library.opcheck(torch.ops.deepbiop_gpu.kmer_counts.default, (seqs, lengths, *args))


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYKACG"])
    seqs, lengths = seqs.to(device), lengths.to(device)

    def f(s, n):
        ids = kmer_ids(s, n, 3, stride=2, canonical=True, buckets=50)
        return ids.sum(1).float() + kmer_counts(s, n, 2).sum(1)

    fn = torch.compile(f, fullgraph=True, dynamic=True)
    assert torch.equal(fn(seqs, lengths), f(seqs, lengths))
    s2, l2 = pack([b"A" * 33, b"NNC"])
    assert torch.equal(fn(s2.to(device), l2.to(device)).cpu(), f(s2, l2))
    s3, l3 = pack([b"AC", b"G"])  # fewer bases than k: no windows at all
    assert torch.equal(fn(s3.to(device), l3.to(device)).cpu(), f(s3, l3))
    assert torch.equal(kmer_ids_torch(s3, l3, 3, 2, True, 50), torch.empty(2, 0, dtype=torch.int64))


def test_lengths_out_of_range_are_clamped(impl):
    # on CUDA the lengths are not checked: the code must still stay in bounds
    seqs, _ = pack([b"ACGT", b"GG"])
    fixed = torch.tensor([4, 0])
    op = torch.ops.deepbiop_gpu
    for params in PARAMS:
        expected = naive_ids(seqs, fixed, *params)
        assert torch.equal(op.kmer_ids(seqs, torch.tensor([9, -3]), *params), expected)
    expected = naive_counts(seqs, fixed, 2, True)
    assert torch.equal(op.kmer_counts(seqs, torch.tensor([9, -3]), 2, True), expected)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba")
def test_numba_threads_do_not_change_the_result(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "1")
    gen = torch.Generator().manual_seed(9)
    seqs, lengths = pack(random_reads(gen, 300, 600, alphabet=b"ACGTacgtN"))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = kmer_ids(seqs, lengths, 9, 2, True, 1000), kmer_counts(seqs, lengths, 3)
        torch.set_num_threads(3)
        many = kmer_ids(seqs, lengths, 9, 2, True, 1000), kmer_counts(seqs, lengths, 3)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one[0], many[0]) and torch.equal(one[1], many[1])
    assert torch.equal(one[0], naive_ids(seqs, lengths, 9, 2, True, 1000))
    assert torch.equal(one[1], naive_counts(seqs, lengths, 3))


@pytest.mark.parametrize(
    "k,canonical,hashed", [(3, False, False), (9, True, True), (32, True, True)]
)
def test_kernels_compile_for_cuda(k, canonical, hashed):
    from deepbiop_gpu.kernels.kmer import kmer_counts_kernel, kmer_ids_kernel

    common = {"seq_ptr": "*u8", "len_ptr": "*i64", "B": "i32", "L": "i32", "W": "i32"}
    sig = {**common, "out_ptr": "*i64", "stride_s": "i32", "stride_o": "i32", "stride": "i32"}
    sig |= {"buckets": "i64", "K": "constexpr", "CANONICAL": "constexpr", "HASH": "constexpr"}
    sig |= {"ROWS": "constexpr", "BLOCK_W": "constexpr"}
    consts = {"K": k, "CANONICAL": canonical, "HASH": hashed, "ROWS": 4, "BLOCK_W": 256}
    assert "cubin" in compile_for_cuda(kmer_ids_kernel, sig, consts).asm
    sig = {**common, "counts_ptr": "*fp32", "stride_s": "i32", "stride_c": "i32"}
    sig |= {"K": "constexpr", "CANONICAL": "constexpr", "ROWS": "constexpr", "BLOCK_W": "constexpr"}
    consts = {"K": min(k, 12), "CANONICAL": canonical, "ROWS": 4, "BLOCK_W": 256}
    assert "cubin" in compile_for_cuda(kmer_counts_kernel, sig, consts).asm
