"""``tl.philox`` and ``read_philox`` in a kernel against the torch mirror, bit for bit."""

import pytest
import torch
import triton
import triton.language as tl
from deepbiop_gpu.kernels._random import read_philox
from naive.mutate import read_philox as naive_read_philox

from deepbiop_gpu.ops import bernoulli_gate
from deepbiop_gpu.ops._philox import (
    STREAM_CROP,
    STREAM_MUTATE,
    STREAM_REVERSE_COMPLEMENT,
    philox4x32,
    read_words,
)
from deepbiop_gpu.ops._random_gate import bernoulli_gate_torch


@triton.jit
def philox_kernel(seed, c_ptr, o_ptr, N, BLOCK: tl.constexpr):
    i = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    m = i < N
    c0 = tl.load(c_ptr + i, mask=m, other=0).to(tl.uint32)
    c1 = tl.load(c_ptr + N + i, mask=m, other=0).to(tl.uint32)
    c2 = tl.load(c_ptr + 2 * N + i, mask=m, other=0).to(tl.uint32)
    c3 = tl.load(c_ptr + 3 * N + i, mask=m, other=0).to(tl.uint32)
    w0, w1, w2, w3 = tl.philox(seed, c0, c1, c2, c3)
    tl.store(o_ptr + i, w0.to(tl.int64), mask=m)
    tl.store(o_ptr + N + i, w1.to(tl.int64), mask=m)
    tl.store(o_ptr + 2 * N + i, w2.to(tl.int64), mask=m)
    tl.store(o_ptr + 3 * N + i, w3.to(tl.int64), mask=m)


@triton.jit
def read_philox_kernel(seed, idx_ptr, o_ptr, B, epoch, D: tl.constexpr, STREAM: tl.constexpr):
    rows = tl.arange(0, 16)
    draws = tl.arange(0, D)
    ok = rows < B
    index = tl.load(idx_ptr + rows, mask=ok, other=0)
    w0, w1, w2, w3 = read_philox(seed, draws[None, :], index[:, None], epoch, STREAM)
    offs = rows[:, None] * (4 * D) + draws[None, :] * 4
    m = ok[:, None] & (draws[None, :] < D)
    tl.store(o_ptr + offs, w0.to(tl.int64), mask=m)
    tl.store(o_ptr + offs + 1, w1.to(tl.int64), mask=m)
    tl.store(o_ptr + offs + 2, w2.to(tl.int64), mask=m)
    tl.store(o_ptr + offs + 3, w3.to(tl.int64), mask=m)


@pytest.mark.parametrize("seed", [0, 1, 12345, 2**32 - 1, 2**32, 2**63 - 1, 0x0123456789ABCDEF])
def test_tl_philox_equals_torch_mirror(seed, kdevice):
    gen = torch.Generator().manual_seed(seed % 1000)
    n = 1000
    c = torch.randint(0, 2**32, (4, n), generator=gen, dtype=torch.int64)
    c[:, :4] = torch.tensor([[0], [1], [2**31], [2**32 - 1]])
    out = torch.empty_like(c, device=kdevice)
    philox_kernel[(triton.cdiv(n, 128),)](seed, c.to(kdevice), out, n, BLOCK=128)
    assert torch.equal(out.cpu(), torch.stack(philox4x32(seed, *c)))


@pytest.mark.parametrize("stream", [STREAM_MUTATE, STREAM_CROP, STREAM_REVERSE_COMPLEMENT])
@pytest.mark.parametrize("epoch", [0, 5, 2**32 + 9])
def test_read_philox_equals_read_words(stream, epoch, kdevice):
    index = torch.tensor([0, 1, 2**32 + 3, 2**40 - 1, 2**62 + 12345, 77])
    D = 8
    out = torch.zeros(16, 4 * D, dtype=torch.int64, device=kdevice)
    read_philox_kernel[(1,)](2**40 + 3, index.to(kdevice), out, 6, epoch, D=D, STREAM=stream)
    words = read_words(2**40 + 3, index, epoch, stream, torch.arange(D)[None, :])
    expected = torch.stack(words, dim=-1).reshape(6, 4 * D)
    assert torch.equal(out[:6].cpu(), expected)
    assert int(out[2, 4 * 3 + 1]) == naive_read_philox(2**40 + 3, 3, 2**32 + 3, epoch, stream)[1]


@pytest.mark.parametrize("p", [0.0, 2**-32, 0.3, 0.5, 1.0])
def test_bernoulli_gate_kernel(p, kdevice):
    index = torch.cat([torch.arange(300), torch.tensor([2**32, 2**50 + 1])])
    for stream in (STREAM_REVERSE_COMPLEMENT, 0, 255):
        got = bernoulli_gate(p, 2**33 + 1, index.to(kdevice), 4, stream).cpu()
        t = min(int(p * 2**32), 2**32)
        expected = bernoulli_gate_torch(index, t, 2**33 + 1, 4, stream)
        assert got.dtype == torch.bool and torch.equal(got, expected)


def test_bernoulli_gate_kernel_empty(kdevice):
    got = bernoulli_gate(0.5, 1, torch.zeros(0, dtype=torch.int64, device=kdevice))
    assert got.shape == (0,) and got.dtype == torch.bool
