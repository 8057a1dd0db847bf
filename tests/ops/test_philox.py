import importlib

import pytest
import torch
from aot import compile_for_cuda
from naive.mutate import philox as naive_philox
from naive.mutate import read_philox as naive_read_philox

from deepbiop_gpu.ops._philox import (
    NUMBA_ENV,
    STREAM_CROP,
    STREAM_MUTATE,
    STREAM_REVERSE_COMPLEMENT,
    numba_philox,
    philox4x32,
    probability_threshold,
    read_words,
)

philox_module = importlib.import_module("deepbiop_gpu.ops._philox")
numba_module = importlib.import_module("deepbiop_gpu.ops._numba")
numba_enabled, run_rows = numba_module.numba_enabled, numba_module.run_rows
M32 = 2**32 - 1

# Known-answer tests of Random123 (kat_vectors: philox4x32 10 rounds):
# counter words, key words -> output words
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((M32, M32, M32, M32), (M32, M32), (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_known_answers(counter, key, expected):
    seed = key[0] | key[1] << 32
    got = philox4x32(seed, *(torch.tensor([c]) for c in counter))
    assert tuple(int(w) for w in got) == expected
    assert naive_philox(seed, *counter) == expected


def random_counters(n, seed):
    gen = torch.Generator().manual_seed(seed)
    c = torch.randint(0, 2**32, (4, n), generator=gen, dtype=torch.int64)
    c[:, :8] = torch.tensor([0, 1, 2**31 - 1, 2**31, 2**32 - 2, M32, 0xD2511F53, 0xCD9E8D57])
    return c


@pytest.mark.parametrize("seed", [0, 1, 2**32 - 1, 2**32, 2**63 - 1, 0x0123456789ABCDEF])
def test_matches_scalar_reference(seed):
    c = random_counters(300, seed % 97)
    got = torch.stack(philox4x32(seed, *c))
    expected = torch.tensor([naive_philox(seed, *col) for col in c.T.tolist()]).T
    assert torch.equal(got, expected)


def test_chunked_equals_whole(monkeypatch):
    c = random_counters(1000, 3)
    whole = philox4x32(77, *c)
    monkeypatch.setattr(philox_module, "_CHUNK", 64)
    chunked = philox4x32(77, *c)
    assert all(torch.equal(a, b) for a, b in zip(whole, chunked, strict=True))


def test_chunked_broadcast_rows_equal_whole(monkeypatch):
    draws = torch.arange(37)[None, :]  # broadcast counters, as the per-base ops use them
    c1 = torch.randint(0, 2**32, (50, 1), generator=torch.Generator().manual_seed(5))
    whole = philox4x32(3, draws, c1, torch.tensor(9), c1 ^ 1)
    for chunk in (1, 40, 100, 37 * 7):  # one row a slice, whole rows, and several
        monkeypatch.setattr(philox_module, "_CHUNK", chunk)
        chunked = philox4x32(3, draws, c1, torch.tensor(9), c1 ^ 1)
        assert all(torch.equal(a, b) for a, b in zip(whole, chunked, strict=True))
    assert int(whole[1][4, 6]) == naive_philox(3, 6, int(c1[4]), 9, int(c1[4]) ^ 1)[1]


def test_zero_rounds_is_the_identity():
    c = random_counters(10, 1)
    assert all(torch.equal(a, b) for a, b in zip(philox4x32(5, *c, rounds=0), c, strict=True))


def test_broadcasting_shapes_and_inputs_untouched():
    c0 = torch.arange(6).reshape(2, 3)
    c1 = torch.tensor([[5], [7]])
    keep = c0.clone(), c1.clone()
    words = philox4x32(9, c0, c1, torch.tensor(0), torch.tensor(3))
    assert all(w.shape == (2, 3) and w.dtype == torch.int64 for w in words)
    assert all(int(w.min()) >= 0 and int(w.max()) <= M32 for w in words)
    assert int(words[2][1, 2]) == naive_philox(9, 5, 7, 0, 3)[2]
    assert torch.equal(c0, keep[0]) and torch.equal(c1, keep[1])


def test_read_words_layout():
    index = torch.tensor([0, 1, 2**32 + 3, 2**40 - 1, 2**62 + 12345])
    for stream in (STREAM_MUTATE, STREAM_CROP, STREAM_REVERSE_COMPLEMENT):
        for epoch in (0, 7, 2**32 + 1):
            got = torch.stack(read_words(11, index, epoch, stream, 0), 1)
            expected = [naive_read_philox(11, 0, i, epoch, stream) for i in index.tolist()]
            assert got.tolist() == [list(e) for e in expected]
    draws = torch.arange(5)[None, :]
    got = read_words(11, index, 3, STREAM_MUTATE, draws)
    assert got[0].shape == (5, 5)
    for b, i in enumerate(index.tolist()):
        for d in range(5):
            assert int(got[3][b, d]) == naive_read_philox(11, d, i, 3, STREAM_MUTATE)[3]


def test_streams_differ():
    index = torch.arange(100)
    words = [read_words(5, index, 0, s)[0] for s in (1, 2, 3)]
    assert not torch.equal(words[0], words[1]) and not torch.equal(words[1], words[2])


@pytest.mark.parametrize(
    "p, t",
    [(0.0, 0), (1.0, 2**32), (0.5, 2**31), (2**-32, 1), (1e-12, 0), (0.25, 2**30), (1, 2**32),
     (1 - 2**-40, 2**32 - 1)],
)  # fmt: skip
def test_probability_threshold(p, t):
    assert probability_threshold(p) == t


def test_probability_threshold_errors():
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\], got 1.5"):
        probability_threshold(1.5, "rate")
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got nan"):
        probability_threshold(float("nan"))
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got -inf"):
        probability_threshold(float("-inf"))
    with pytest.raises(TypeError, match="p must be a float"):
        probability_threshold(True)
    with pytest.raises(TypeError, match="p must be a float"):
        probability_threshold(torch.tensor(0.5))


@pytest.mark.skipif(numba_philox() is None, reason="numba is not installed")
def test_numba_philox_matches_torch():
    import numba
    import numpy as np

    philox = numba_philox()

    @numba.njit
    def many(seed_lo, seed_hi, c, out):
        for i in range(c.shape[1]):
            w = philox(seed_lo, seed_hi, c[0, i], c[1, i], c[2, i], c[3, i])
            for k in range(4):
                out[k, i] = w[k]

    c = random_counters(500, 4)
    for seed in (0, 2**32 - 1, 2**63 - 1, 0x0123456789ABCDEF):
        out = np.zeros((4, 500), np.uint64)
        many(np.uint64(seed & M32), np.uint64(seed >> 32), c.numpy().astype(np.uint64), out)
        expected = torch.stack(philox4x32(seed, *c))
        assert torch.equal(torch.from_numpy(out.astype(np.int64)), expected)


def test_numba_switch(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "0")
    assert not numba_enabled()
    monkeypatch.setenv(NUMBA_ENV, "1")
    assert numba_enabled() == (numba_philox() is not None)


def test_run_rows_covers_every_row_once(monkeypatch):
    monkeypatch.setattr(numba_module, "_MIN_ROWS_PER_THREAD", 3)
    seen = []

    def loop(tag, r0, r1):
        seen.extend(range(r0, r1))

    threads = torch.get_num_threads()
    try:
        for t in (1, 2, 4):
            torch.set_num_threads(t)
            seen.clear()
            run_rows(loop, 10, "x")
            assert sorted(seen) == list(range(10))
    finally:
        torch.set_num_threads(threads)


# --- the kernels compile for a real GPU (no GPU needed) -----------------------
# The interpreter lane runs the kernels as Python, which accepts things the
# compiler rejects (e.g. a non-constexpr global).  Compiling them ahead of time
# for an sm_90 target (Triton's bundled LLVM and ptxas) catches those on CPU CI.


U8 = {"seq_ptr": "*u8", "out_ptr": "*u8"}
F32 = {"seq_ptr": "*fp32", "out_ptr": "*fp32"}
AOT_CASES = [
    # module, kernel, pointer types, int64 scalars (others int32), constexprs
    ("reverse_complement", "reverse_complement_kernel",
     {**U8, "len_ptr": "*i64", "apply_ptr": "*u8"}, (),
     {"HAS_APPLY": True, "COMPLEMENT": True, "ROWS": 16, "BLOCK_L": 256}),
    ("reverse_complement", "reverse_complement_kernel",
     {**F32, "len_ptr": "*i32", "apply_ptr": "*i32"}, (),
     {"HAS_APPLY": False, "COMPLEMENT": False, "ROWS": 16, "BLOCK_L": 256}),
    ("mutate", "mutate_kernel", {**U8, "len_ptr": "*i32", "idx_ptr": "*i64"},
     ("threshold", "divisor", "seed"),
     {"STREAM": STREAM_MUTATE, "ROWS": 8, "BLOCK_D": 64, "PHRED": False}),
    ("mutate", "mutate_kernel", {**U8, "len_ptr": "*i64", "idx_ptr": "*i64"}, (),
     {"threshold": 1, "divisor": 1, "STREAM": STREAM_MUTATE, "ROWS": 8, "BLOCK_D": 64,
      "PHRED": False}),
    ("crop", "crop_kernel",
     {**U8, "len_ptr": "*i32", "idx_ptr": "*i64", "start_ptr": "*i64", "newlen_ptr": "*i32"},
     ("seed", "epoch"), {"MODE": 0, "STREAM": STREAM_CROP, "ROWS": 16, "BLOCK_W": 64}),
    ("crop", "crop_kernel",
     {**U8, "len_ptr": "*i64", "idx_ptr": "*i64", "start_ptr": "*i64", "newlen_ptr": "*i64"},
     (), {"MODE": 2, "STREAM": STREAM_CROP, "ROWS": 16, "BLOCK_W": 64}),
    ("crop", "crop_kernel",
     {**F32, "len_ptr": "*i32", "idx_ptr": "*i32", "start_ptr": "*i64", "newlen_ptr": "*i32"},
     (), {"MODE": -1, "STREAM": STREAM_CROP, "ROWS": 16, "BLOCK_W": 64}),
    ("_random", "bernoulli_gate_kernel", {"idx_ptr": "*i64", "out_ptr": "*u8"},
     ("threshold", "seed"), {"STREAM": STREAM_REVERSE_COMPLEMENT, "BLOCK": 256}),
]  # fmt: skip


@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
@pytest.mark.parametrize("module, kernel, pointers, wide, constexprs", AOT_CASES)
def test_kernels_compile_for_cuda(module, kernel, pointers, wide, constexprs):
    pytest.importorskip("triton")
    fn = getattr(importlib.import_module(f"deepbiop_gpu.kernels.{module}"), kernel)
    signature = {
        a: "constexpr" if a in constexprs else pointers.get(a, "i64" if a in wide else "i32")
        for a in fn.arg_names
    }
    assert compile_for_cuda(fn, signature, constexprs).asm["cubin"]
