import math

import pytest
import torch
from naive.mutate import read_philox as naive_read_philox
from naive.mutate import threshold as naive_threshold

from deepbiop_gpu.ops import bernoulli_gate
from deepbiop_gpu.ops._philox import STREAM_CROP, STREAM_REVERSE_COMPLEMENT


def naive_gate(p, seed, index, epoch=0, stream=STREAM_REVERSE_COMPLEMENT):
    t = naive_threshold(p)
    return torch.tensor(
        [naive_read_philox(seed, 0, i, epoch, stream)[0] < t for i in index.tolist()],
        dtype=torch.bool,
    )


@pytest.mark.parametrize("p", [0.0, 2**-32, 0.1, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("stream", [STREAM_REVERSE_COMPLEMENT, STREAM_CROP, 0, 255])
def test_matches_naive(p, stream, device, cpu_path):
    index = torch.cat([torch.arange(200), torch.tensor([2**32, 2**40 + 7, 2**62])])
    got = bernoulli_gate(p, 2**35 + 9, index.to(device), epoch=3, stream=stream)
    assert got.dtype == torch.bool and got.shape == index.shape
    assert torch.equal(got.cpu(), naive_gate(p, 2**35 + 9, index, 3, stream))


def test_extremes():
    index = torch.arange(1000)
    assert not bernoulli_gate(0.0, 1, index).any()
    assert bernoulli_gate(1.0, 1, index).all()


def test_independent_of_batch(cpu_path):
    index = torch.randint(0, 2**40, (500,), generator=torch.Generator().manual_seed(0))
    full = bernoulli_gate(0.5, 7, index, 2)
    perm = torch.randperm(500)
    assert torch.equal(bernoulli_gate(0.5, 7, index[perm], 2), full[perm])
    assert torch.equal(bernoulli_gate(0.5, 7, index[17:18], 2), full[17:18])
    other = [bernoulli_gate(0.5, 8, index, 2), bernoulli_gate(0.5, 7, index, 3),
             bernoulli_gate(0.5, 7, index + 1, 2), bernoulli_gate(0.5, 7, index, 2, 5)]  # fmt: skip
    for o in other:
        assert not torch.equal(o, full)


@pytest.mark.parametrize("p", [0.01, 0.5, 0.8])
def test_frequency_within_binomial_bound(p):
    n = 100_000
    k = int(bernoulli_gate(p, 123, torch.arange(n)).sum())
    assert abs(k - n * p) < 5 * math.sqrt(n * p * (1 - p))


def test_empty(cpu_path):
    got = bernoulli_gate(0.5, 1, torch.zeros(0, dtype=torch.int64))
    assert got.shape == (0,) and got.dtype == torch.bool


def test_bad_arguments():
    index = torch.arange(3)
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\], got 1.5"):
        bernoulli_gate(1.5, 0, index)
    with pytest.raises(ValueError, match=r"seed must be in \[0, "):
        bernoulli_gate(0.5, -1, index)
    with pytest.raises(ValueError, match=r"epoch must be in \[0, "):
        bernoulli_gate(0.5, 0, index, epoch=-2)
    with pytest.raises(ValueError, match=r"stream must be in \[0, 255\], got 256"):
        bernoulli_gate(0.5, 0, index, stream=256)
    with pytest.raises(TypeError, match="index must be a torch.Tensor"):
        bernoulli_gate(0.5, 0, [0, 1])
    with pytest.raises(ValueError, match="index must be int64"):
        bernoulli_gate(0.5, 0, index.int())
    with pytest.raises(ValueError, match="index must be >= 0"):
        bernoulli_gate(0.5, 0, torch.tensor([-1]))


def test_opcheck():
    op = torch.ops.deepbiop_gpu.bernoulli_gate.default
    for t in (0, 1, 2**31, 2**32):
        torch.library.opcheck(op, (torch.tensor([0, 5, 2**40]), t, 7, 1, 3))


def test_compile_fullgraph(device):
    index = torch.arange(64, device=device)

    def fn(i):
        gate = bernoulli_gate(0.5, 11, i, epoch=2)
        return torch.where(gate, i, -i)

    compiled = torch.compile(fn, fullgraph=True, dynamic=True)
    assert torch.equal(compiled(index), fn(index))
    assert torch.equal(compiled(index[:7] + 100), fn(index[:7] + 100))
