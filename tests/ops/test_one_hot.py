import itertools

import pytest
import torch
from aot import compile_for_cuda
from batches import ALPHABETS, alphabet_cases, batches, edge_cases, pack, random_reads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive.one_hot import one_hot as naive_one_hot

from deepbiop_gpu.ops import one_hot
from deepbiop_gpu.ops._philox import NUMBA_ENV, numba_philox
from deepbiop_gpu.ops._one_hot import one_hot_torch, uniform_share

HAS_NUMBA = numba_philox() is not None


@pytest.fixture(
    params=["torch", pytest.param("numba", marks=pytest.mark.skipif(not HAS_NUMBA, reason="numba"))]
)
def impl(request, monkeypatch):
    """Which CPU implementation the op runs: the torch code, or the numba loop."""
    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param


DTYPES = [torch.float32, torch.bfloat16, torch.float16, torch.uint8]
# every supported (dtype, layout, unknown); uint8 has no uniform mode
COMBOS = [
    (dtype, layout, unknown)
    for dtype, layout, unknown in itertools.product(DTYPES, ["NLC", "NCL"], ["zeros", "uniform"])
    if not (dtype == torch.uint8 and unknown == "uniform")
]


def combo_id(c):
    return f"{str(c[0]).removeprefix('torch.')}-{c[1]}-{c[2]}"


@pytest.mark.parametrize("combo", COMBOS, ids=combo_id)
@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases(case, combo, device, impl):
    _, reads, width = case
    dtype, layout, unknown = combo
    seqs, lengths = pack(reads, width)
    got = one_hot(seqs.to(device), lengths.to(device), dtype, layout, unknown)
    B, L = seqs.shape
    assert got.dtype == dtype and got.is_contiguous()
    assert got.shape == ((B, L, 4) if layout == "NLC" else (B, 4, L))
    assert torch.equal(got.cpu(), naive_one_hot(seqs, lengths, dtype, layout, unknown))


@pytest.mark.parametrize("alphabet", ["rna", "protein"])
@pytest.mark.parametrize("case", edge_cases() + alphabet_cases(), ids=lambda c: c[0])
def test_alphabet_edge_cases(case, alphabet, device, impl):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    B, L = seqs.shape
    C = 20 if alphabet == "protein" else 4
    for combo in COMBOS:
        dtype, layout, unknown = combo
        got = one_hot(seqs.to(device), lengths.to(device), *combo, alphabet=alphabet).cpu()
        assert got.dtype == dtype and got.is_contiguous()
        assert got.shape == ((B, L, C) if layout == "NLC" else (B, C, L))
        expected = naive_one_hot(seqs, lengths, *combo, alphabet=alphabet)
        assert torch.equal(got, expected), combo
        assert torch.equal(one_hot_torch(seqs, lengths, *combo, alphabet), expected), combo


@pytest.mark.parametrize("alphabet", ALPHABETS)
@given(data=st.data(), combo=st.sampled_from(COMBOS))
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_alphabets_random_batches_match_naive(alphabet, data, combo, impl):
    seqs, lengths = data.draw(batches(alphabet=alphabet))
    expected = naive_one_hot(seqs, lengths, *combo, alphabet=alphabet)
    assert torch.equal(one_hot(seqs, lengths, *combo, alphabet=alphabet), expected)


def test_alphabet_values():
    seqs, lengths = pack([b"ACGUTacgut", b"ACDEFGHIKLMNPQRSTVWYX*"])
    eye = torch.eye(4)
    rna = one_hot(seqs, lengths, alphabet="rna")[0, :10]
    assert torch.equal(rna, torch.cat([eye, torch.zeros(1, 4), eye, torch.zeros(1, 4)]))
    protein = one_hot(seqs, lengths, unknown="uniform", alphabet="protein")
    assert protein.shape == (2, 22, 20)
    assert torch.equal(protein[1, :20], torch.eye(20))
    assert torch.equal(protein[1, 20:], torch.full((2, 20), 0.05))  # X and *: 1/20 each
    assert torch.equal(protein[0, 10:], torch.zeros(12, 20))  # padding


@given(batch=batches(), combo=st.sampled_from(COMBOS))
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_random_batches_match_naive(batch, combo, impl):
    seqs, lengths = batch
    expected = naive_one_hot(seqs, lengths, *combo)
    assert torch.equal(one_hot(seqs, lengths, *combo), expected)
    assert torch.equal(one_hot(seqs, lengths.to(torch.int32), *combo), expected)


def test_values():
    seqs, lengths = pack([b"ACGTUacgtuN-\x00", b"R"], garbage=b"A")
    got = one_hot(seqs, lengths, unknown="uniform")
    eye = torch.eye(4)
    assert torch.equal(got[0, :10], torch.cat([eye, eye[3:], eye, eye[3:]]))
    assert torch.equal(got[0, 10:], torch.full((3, 4), 0.25))
    assert torch.equal(got[1], torch.tensor([[0.25] * 4] + [[0.0] * 4] * 12))
    assert torch.equal(one_hot(seqs, lengths, layout="NCL"), one_hot(seqs, lengths).transpose(1, 2))


def test_large_random_batch(device, impl):
    gen = torch.Generator().manual_seed(1)
    seqs, lengths = pack(random_reads(gen, 32, 700))
    for combo in [(torch.float32, "NLC", "zeros"), (torch.bfloat16, "NCL", "uniform")]:
        expected = naive_one_hot(seqs, lengths, *combo)
        assert torch.equal(one_hot(seqs.to(device), lengths.to(device), *combo).cpu(), expected)


def test_inputs_not_mutated(impl):
    seqs, lengths = pack([b"acgtn", b"GG"])
    before = seqs.clone(), lengths.clone()
    for combo in COMBOS:
        one_hot(seqs, lengths, *combo)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])


def test_noncontiguous_input(impl):
    seqs, lengths = pack([b"ACGTACGT", b"ttttgggg"])
    view = seqs[:, ::2]
    for layout in ("NLC", "NCL"):
        expected = naive_one_hot(view.contiguous(), lengths // 2, layout=layout)
        assert torch.equal(one_hot(view, lengths // 2, layout=layout), expected)


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        one_hot(seqs.int(), lengths)
    with pytest.raises(ValueError, match=r"lengths must have shape \[B\]"):
        one_hot(seqs, lengths[:1])
    with pytest.raises(TypeError, match="dtype must be one of"):
        one_hot(seqs, lengths, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype must be one of"):
        one_hot(seqs, lengths, dtype="float32")
    with pytest.raises(ValueError, match="layout must be 'NLC' or 'NCL', got 'NHWC'"):
        one_hot(seqs, lengths, layout="NHWC")
    with pytest.raises(ValueError, match="unknown must be 'zeros', 'uniform' or 'random', got 'nan'"):
        one_hot(seqs, lengths, unknown="nan")
    with pytest.raises(ValueError, match="unknown='uniform' needs a floating dtype"):
        one_hot(seqs, lengths, dtype=torch.uint8, unknown="uniform")


@pytest.mark.parametrize("combo", COMBOS[:6], ids=combo_id)
def test_opcheck(combo):
    seqs, lengths = pack([b"ACGTN", b"", b"gu"])
    torch.library.opcheck(torch.ops.deepbiop_gpu.one_hot.default, (seqs, lengths, *combo))
    op = torch.ops.deepbiop_gpu.one_hot.default
    torch.library.opcheck(op, (seqs, lengths, *combo, "protein"))


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYK"])
    seqs, lengths = seqs.to(device), lengths.to(device)

    def f(s, n):
        x = one_hot(s, n, torch.bfloat16, "NCL", "uniform")
        return x.float().sum(1) + one_hot(s, n).sum(-1)

    fn = torch.compile(f, fullgraph=True, dynamic=True)
    assert torch.equal(fn(seqs, lengths), f(seqs, lengths))
    s2, l2 = pack([b"A" * 33, b"NN"])
    assert torch.equal(fn(s2.to(device), l2.to(device)).cpu(), f(s2, l2))
    assert torch.equal(one_hot_torch(s2, l2), naive_one_hot(s2, l2))


def test_compile_fullgraph_protein():
    seqs, lengths = pack([b"MKWVTFISLLXacd*", b"", b"GT"])
    f = lambda s, n: one_hot(s, n, torch.bfloat16, "NCL", "uniform", alphabet="protein")  # noqa: E731
    got = torch.compile(f, fullgraph=True, dynamic=True)(seqs, lengths)
    assert got.shape == (3, 20, 15) and torch.equal(got, f(seqs, lengths))


def test_lengths_out_of_range_are_clamped(impl):
    # on CUDA the lengths are not checked: the code must still stay in bounds
    seqs, _ = pack([b"ACGT", b"GG"])
    op = torch.ops.deepbiop_gpu.one_hot
    for combo in COMBOS:
        expected = naive_one_hot(seqs, torch.tensor([4, 0]), *combo)
        assert torch.equal(op(seqs, torch.tensor([9, -3]), *combo), expected)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba")
def test_numba_threads_do_not_change_the_result(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "1")
    gen = torch.Generator().manual_seed(9)
    seqs, lengths = pack(random_reads(gen, 300, 600))
    threads = torch.get_num_threads()
    try:
        for combo in [(torch.float32, "NLC", "zeros"), (torch.float16, "NCL", "uniform")]:
            torch.set_num_threads(1)
            one = one_hot(seqs, lengths, *combo)
            torch.set_num_threads(3)
            many = one_hot(seqs, lengths, *combo)
            assert torch.equal(one, many)
            assert torch.equal(one, naive_one_hot(seqs, lengths, *combo))
    finally:
        torch.set_num_threads(threads)


_AOT_OTHER = [(torch.float32, "NLC", "uniform"), (torch.bfloat16, "NCL", "uniform"),
              (torch.uint8, "NLC", "random")]  # fmt: skip


@pytest.mark.parametrize(
    "combo, alphabet",
    [(c, "dna") for c in COMBOS + [(torch.float32, "NLC", "random"), (torch.uint8, "NCL", "random")]]
    + [(c, a) for a in ("rna", "protein") for c in _AOT_OTHER],
    ids=lambda x: combo_id(x) if isinstance(x, tuple) else x,
)
def test_kernel_compiles_for_cuda(combo, alphabet):
    from deepbiop_gpu.kernels.one_hot import one_hot_kernel
    from deepbiop_gpu.ops._philox import STREAM_UNKNOWN_BASE

    dtype, layout, unknown = combo
    ptr = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.float16: "*fp16"}
    sig = {"seq_ptr": "*u8", "len_ptr": "*i64", "out_ptr": ptr.get(dtype, "*u8")}
    sig |= {"B": "i32", "L": "i32", "stride_s": "i32", "stride_ob": "i32", "stride_oc": "i32"}
    sig |= {k: "constexpr" for k in ("STRIDE_OL", "ROWS", "BLOCK_L", "UNIFORM", "NCL")}
    ncl, random = layout == "NCL", unknown == "random"
    C = 20 if alphabet == "protein" else 4
    consts = {"STRIDE_OL": 1 if ncl else C, "ROWS": 4, "BLOCK_L": 256}
    consts |= {"UNIFORM": unknown == "uniform", "NCL": ncl}
    sig |= {k: "constexpr" for k in ("ALPHABET", "NCOLS", "NCOLS_P2", "SHARE")}
    consts |= {"ALPHABET": ALPHABETS.index(alphabet), "NCOLS": C, "NCOLS_P2": 4 if C == 4 else 32}
    consts |= {"SHARE": uniform_share(dtype, C) if unknown == "uniform" else 0.25}
    sig |= {"idx_ptr": "*i64" if random else "constexpr", "seed": "i64", "epoch": "i64"}
    sig |= {"RANDOM": "constexpr", "STREAM": "constexpr"}
    consts |= {"RANDOM": random, "STREAM": STREAM_UNKNOWN_BASE} | ({} if random else {"idx_ptr": None})
    assert "cubin" in compile_for_cuda(one_hot_kernel, sig, consts).asm
