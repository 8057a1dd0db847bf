"""Sample indices are checked on every device (issue 17, finding 3).

On CUDA, value checks that would need a host synchronisation are skipped
(``_values_checkable`` is False there).  Indices must still be checked: a
missing or negative index gives every read the same random numbers.  These
tests run the CUDA branch on the CPU by patching ``_values_checkable``.
"""

import pytest
import torch

import deepbiop_gpu.ops._checks as checks
from deepbiop_gpu import Collate, DataLoader, Mutator, ops


def _samples(n, **extra):
    seq = torch.tensor(list(b"ACGTACGTACGTACGTACGT"), dtype=torch.uint8)
    return [{"sequence": seq.clone(), **{k: v[i] for k, v in extra.items()}} for i in range(n)]


@pytest.fixture(params=["cpu branch", "cuda branch"])
def branch(request, monkeypatch):
    if request.param == "cuda branch":
        monkeypatch.setattr(checks, "_values_checkable", lambda t: False)
    return request.param


def test_samples_without_index_make_random_transforms_raise(branch):
    loader = DataLoader(_samples(8), batch_size=8, transform=Mutator(0.3, seed=1))
    with pytest.raises(KeyError, match="needs batch\\['index'\\]"):
        next(iter(loader))


def test_samples_without_index_are_fine_without_random_transforms():
    batch = Collate()(_samples(3))
    assert "index" not in batch and batch["sequences"].shape == (3, 20)


def test_negative_or_partial_indices_raise_on_the_host(branch):
    with pytest.raises(ValueError, match="sample 1 of the batch has index -1"):
        Collate()(_samples(2, index=[0, -1]))
    with pytest.raises(ValueError, match="sample 1 of the batch has no 'index'"):
        Collate()(_samples(2, index=[0, None]))
    assert Collate()(_samples(2, index=[4, 2]))["index"].tolist() == [4, 2]


def test_indexed_samples_draw_different_numbers(branch):
    loader = DataLoader(_samples(8, index=list(range(8))), batch_size=8,
                        transform=Mutator(0.3, seed=1))
    seqs = next(iter(loader))["sequences"]
    assert len({bytes(row.tolist()) for row in seqs}) > 1


def test_ops_check_negative_indices_on_the_device_branch(branch):
    seqs = torch.tensor([list(b"ACGTACGT")] * 2, dtype=torch.uint8)
    lengths = torch.tensor([8, 8])
    index = torch.tensor([0, -1])
    # the CPU branch raises ValueError; the device branch torch._assert_async, which on
    # CUDA fails asynchronously (no host sync) and on the CPU at once
    error = ValueError if branch == "cpu branch" else RuntimeError
    with pytest.raises(error, match="index must be >= 0"):
        ops.mutate(seqs, lengths, 0.1, 0, index)
    with pytest.raises(error, match="index must be >= 0"):
        ops.crop(seqs, lengths, 4, mode="random", seed=0, index=index)
    with pytest.raises(error, match="index must be >= 0"):
        ops.bernoulli_gate(0.5, 0, index)
    ops.mutate(seqs, lengths, 0.1, 0, torch.tensor([0, 1]))  # valid indices pass
