"""``bernoulli_gate``: one seeded coin flip per read (e.g. "reverse-complement this read?")."""

from __future__ import annotations

import functools

import torch

from ._checks import check_index, check_int, check_seed
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_ok
from ._philox import STREAM_REVERSE_COMPLEMENT, probability_threshold, read_words

__all__ = ["bernoulli_gate", "bernoulli_gate_numba", "bernoulli_gate_torch"]


def bernoulli_gate_torch(
    index: torch.Tensor, threshold: int, seed: int, epoch: int, stream: int
) -> torch.Tensor:
    """Torch implementation (any device): the Philox mirror on ``B`` counters."""
    word0 = read_words(seed, index, epoch, stream, 0)[0]
    return word0 < threshold


@functools.cache
def _numba_loop():
    import numba
    import numpy as np

    from ._fused_cpu import first_word, read_counters  # the rule, shared with the fused loop

    @numba.njit(nogil=True)
    def loop(index, threshold, k0, k1, c2, stream, out):  # pragma: no cover - compiled
        t = np.uint64(threshold)
        for b in range(index.shape[0]):
            c1, c3 = read_counters(index[b], stream)
            out[b] = first_word(k0, k1, c1, c2, c3) < t

    return loop


def bernoulli_gate_numba(
    index: torch.Tensor, threshold: int, seed: int, epoch: int, stream: int
) -> torch.Tensor:
    """CPU implementation with numba: the same words and rule as :func:`bernoulli_gate_torch`."""
    import numpy as np

    out = torch.empty(index.shape, dtype=torch.bool)
    _numba_loop()(
        index.contiguous().numpy(), threshold,
        np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF),
        np.uint64(epoch & 0xFFFFFFFF), stream, out.numpy(),
    )  # fmt: skip
    return out


@torch.library.custom_op("deepbiop_gpu::bernoulli_gate", mutates_args=())
def _bernoulli_gate_op(
    index: torch.Tensor, threshold: int, seed: int, epoch: int, stream: int
) -> torch.Tensor:
    if use_triton(index):
        from deepbiop_gpu.kernels._random import bernoulli_gate_triton

        out = run_triton(bernoulli_gate_triton, index, threshold, seed, epoch, stream)
        if out is not None:
            return out
    if index.device.type == "cpu" and numba_ok("bernoulli_gate"):
        return bernoulli_gate_numba(index, threshold, seed, epoch, stream)
    return bernoulli_gate_torch(index, threshold, seed, epoch, stream)


@_bernoulli_gate_op.register_fake
def _(index: torch.Tensor, threshold: int, seed: int, epoch: int, stream: int) -> torch.Tensor:
    return torch.empty_like(index, dtype=torch.bool)


def bernoulli_gate(
    p: float,
    seed: int,
    index: torch.Tensor,
    epoch: int = 0,
    stream: int = STREAM_REVERSE_COMPLEMENT,
) -> torch.Tensor:
    """One seeded Bernoulli(``p``) draw per read, e.g. to pick the reads to reverse-complement.

    Read ``b`` fires iff ``w < T``, where ``w`` is word 0 of draw 0 (Philox
    counter ``c0 = 0``) of read ``index[b]`` on ``stream`` (see
    :mod:`deepbiop_gpu.ops._philox` for the counter layout) and
    ``T = min(floor(p * 2**32), 2**32)``.  The result depends only on
    ``(p, seed, epoch, index[b], stream)``: not on the batch, its order or the
    device (the Triton kernel and the torch code give the same bits).

    Parameters
    ----------
    p : float
        Probability of ``True``, in ``[0, 1]`` (0: never, 1: always).
    seed : int
        Philox key, ``0 <= seed < 2**63``.
    index : Tensor, ``int64 [B]``
        Sample index of each read (``>= 0``).
    epoch : int, default 0
        Training epoch, ``>= 0`` (a new epoch gives new draws).
    stream : int, default ``STREAM_REVERSE_COMPLEMENT`` (3)
        Which op the draws belong to, in ``[0, 255]``; different streams give
        independent draws for the same read.

    Returns
    -------
    Tensor, ``bool [B]`` on the device of ``index``.

    Examples
    --------
    >>> gate = bernoulli_gate(0.5, seed=7, index=torch.arange(6))
    >>> gate.dtype, gate.shape
    (torch.bool, torch.Size([6]))
    >>> bool(bernoulli_gate(1.0, 7, torch.arange(3)).all())
    True
    """
    threshold = probability_threshold(p, "p")
    check_seed(seed)
    check_seed(epoch, "epoch")
    check_int(stream, "stream", low=0, high=255)
    if not isinstance(index, torch.Tensor):
        raise TypeError(f"index must be a torch.Tensor, got {type(index).__name__}")
    check_index(index, index)
    return run_op(_bernoulli_gate_op, index, threshold, seed, epoch, stream)
