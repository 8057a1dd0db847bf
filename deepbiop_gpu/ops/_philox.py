"""Philox-4x32-10 in plain torch, bit-identical to Triton's ``tl.philox``.

Every random op draws its numbers from one counter-based generator so that a
read's result depends only on ``(seed, epoch, index, position)`` — never on
the batch it sits in, the number of workers, or the device.  The CUDA kernels
call ``tl.philox(seed, c0, c1, c2, c3)`` (32-bit counters); this module
computes the same words on the CPU.

Counter layout (shared by every op; documented in the README)
-----------------------------------------------------------
* key: ``seed`` (``0 <= seed < 2**63``), split into low and high 32 bits;
* ``c0``: the draw number within the read (for per-base draws: ``position // 4``,
  each call giving the words of 4 consecutive positions; per-read draws use 0);
* ``c1``: ``index & 0xFFFFFFFF`` (the sample index of the read);
* ``c2``: ``epoch & 0xFFFFFFFF``;
* ``c3``: ``stream | ((index >> 32) << 8)`` (low 32 bits), where ``stream``
  names the op (:data:`STREAM_MUTATE`, :data:`STREAM_CROP`,
  :data:`STREAM_REVERSE_COMPLEMENT`, :data:`STREAM_UNKNOWN_BASE`) so that ops
  never share numbers.

Probabilities become integer thresholds
---------------------------------------
A draw with probability ``p`` is "word < T" with the integer
``T = min(floor(p * 2**32), 2**32)`` (:func:`probability_threshold`), computed
once in Python and passed to the ops and kernels as an ``int``: no float ever
reaches a kernel (Inductor would specialise it to fp64), and CPU and GPU
compare the same integers.  ``p = 0`` never fires, ``p = 1`` always does.

All tensors here are ``int64`` holding unsigned 32-bit values.

Speed on the CPU
----------------
The torch code runs ~100 elementwise passes per Philox call (~20 M calls/s
on two cores).  When `numba <https://numba.pydata.org>`_ is installed, the CPU
implementations of the per-base ops use fused loops compiled by it instead
(:func:`numba_philox`, ~10x faster, bit-identical, checked by the tests); set
``DEEPBIOP_GPU_NUMBA=0`` to turn that off.
"""

from __future__ import annotations

import functools
import math

import torch

from ._numba import NUMBA_ENV, numba_module  # noqa: F401 (NUMBA_ENV re-exported)

__all__ = [
    "NUMBA_ENV",
    "STREAM_MUTATE",
    "STREAM_CROP",
    "STREAM_REVERSE_COMPLEMENT",
    "STREAM_UNKNOWN_BASE",
    "numba_philox",
    "philox4x32",
    "probability_threshold",
    "read_counters",
    "read_words",
]

STREAM_MUTATE = 1
STREAM_CROP = 2
STREAM_REVERSE_COMPLEMENT = 3
#: one-hot ``unknown="random"``: the column drawn for each unknown base
STREAM_UNKNOWN_BASE = 5

_M32 = 0xFFFFFFFF
_ROUND_A = 0xD2511F53
_ROUND_B = 0xCD9E8D57
_KEY_A = 0x9E3779B9
_KEY_B = 0xBB67AE85
_CHUNK = 1 << 16  # elements per pass: keeps the working set in cache


def _philox_block(c0, c1, c2, c3, k0: int, k1: int, rounds: int):
    """Philox rounds on ``int64`` tensors of one shape (broadcast views welcome: only read).

    int64 arithmetic: a 32x32-bit product can exceed 2**63 and wrap, but its
    low 64 bits stay exact, so ``(p >> 32) & M`` is the high word (umulhi) and
    ``p & M`` the low word.  The low words (``y1``, ``y3``) are kept unmasked
    between rounds: only their low 32 bits are ever used (XOR, then masked).
    The first round reads the counters where they are (no copy of a broadcast
    counter); every round writes into six preallocated buffers (``out=`` and
    in-place ops): 10 passes over memory a round, no allocation (large
    allocations are ``mmap``-ed and page-faulted afresh each time, which costs
    more than the arithmetic).
    """
    if rounds == 0:
        return tuple(c.clone() for c in (c0, c1, c2, c3))

    def buffer():
        return torch.empty(c0.shape, dtype=torch.int64, device=c0.device)

    x0, x2, p0, p1 = buffer(), buffer(), buffer(), buffer()
    y1, y3 = c1, c3  # read-only in round 1
    torch.mul(c0, _ROUND_A, out=p0)
    torch.mul(c2, _ROUND_B, out=p1)
    for r in range(rounds):
        if r:
            torch.mul(x0, _ROUND_A, out=p0)
            torch.mul(x2, _ROUND_B, out=p1)
        torch.bitwise_right_shift(p1, 32, out=x0)
        x0.bitwise_xor_(y1).bitwise_xor_(k0).bitwise_and_(_M32)
        torch.bitwise_right_shift(p0, 32, out=x2)
        x2.bitwise_xor_(y3).bitwise_xor_(k1).bitwise_and_(_M32)
        if r:
            y1, p1 = p1, y1
            y3, p0 = p0, y3
        else:  # the counters are not ours to overwrite: two more buffers
            y1, y3 = p1, p0
            p0, p1 = buffer(), buffer()
        k0 = (k0 + _KEY_A) & _M32
        k1 = (k1 + _KEY_B) & _M32
    return x0, y1.bitwise_and_(_M32), x2, y3.bitwise_and_(_M32)


def philox4x32(
    seed: int,
    c0: torch.Tensor,
    c1: torch.Tensor,
    c2: torch.Tensor,
    c3: torch.Tensor,
    rounds: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four output words of Philox-4x32 for each counter ``(c0, c1, c2, c3)``.

    Large inputs are processed in slices of the first dimension of about
    :data:`_CHUNK` elements each (a working set that stays in cache).

    Parameters
    ----------
    seed : int
        The key, ``0 <= seed < 2**64``; low/high 32 bits are the two key words,
        as in ``tl.philox``.
    c0, c1, c2, c3 : Tensor, int64, broadcastable
        Counter words, each in ``[0, 2**32)``; never modified.

    Returns
    -------
    Four new ``int64`` tensors of the broadcast shape, values in ``[0, 2**32)``.

    Examples
    --------
    >>> z = torch.zeros(2, dtype=torch.int64)
    >>> [w.tolist() for w in philox4x32(0, torch.tensor([0, 1]), z, z, z)][0][0]
    1713891541
    """
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    counters = torch.broadcast_tensors(*(c.to(torch.int64) for c in (c0, c1, c2, c3)))
    shape = counters[0].shape
    n = counters[0].numel()
    if n <= _CHUNK or len(shape) == 0:
        return _philox_block(*counters, k0, k1, rounds)  # type: ignore[return-value]
    step = max(1, _CHUNK * shape[0] // n)  # rows of the first dimension per slice
    outs = [torch.empty(shape, dtype=torch.int64, device=counters[0].device) for _ in range(4)]
    for start in range(0, shape[0], step):
        words = _philox_block(*(c[start : start + step] for c in counters), k0, k1, rounds)
        for o, w in zip(outs, words, strict=True):
            o[start : start + step] = w
    return tuple(outs)  # type: ignore[return-value]


def read_counters(
    index: torch.Tensor, epoch: int, stream: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Counter words ``(c1, c2, c3)`` of each read (see the module docstring).

    ``index`` is ``int64 [B]``; returns three ``int64 [B]`` tensors.
    """
    index = index.to(torch.int64)
    c1 = index & _M32
    c2 = torch.full_like(index, epoch & _M32)
    c3 = (((index >> 32) << 8) | stream) & _M32
    return c1, c2, c3


def read_words(
    seed: int, index: torch.Tensor, epoch: int, stream: int, draw: torch.Tensor | int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Philox words for each read's ``draw`` number(s).

    Parameters
    ----------
    index : Tensor ``int64 [B]``
        Sample index of each read.
    draw : int or Tensor ``int64`` broadcastable against ``[B, 1]``
        The ``c0`` counter (``position // 4`` for per-base draws).

    Returns
    -------
    Four ``int64`` tensors: ``[B]`` for a scalar draw, else the broadcast of
    ``[B, 1]`` with ``draw``.
    """
    c1, c2, c3 = read_counters(index, epoch, stream)
    if isinstance(draw, int):
        c0 = torch.full_like(c1, draw & _M32)
    else:
        c0 = draw.to(torch.int64)
        c1, c2, c3 = c1[:, None], c2[:, None], c3[:, None]
    return philox4x32(seed, c0, c1, c2, c3)


def probability_threshold(p: float, name: str = "p") -> int:
    """The integer threshold ``T = min(floor(p * 2**32), 2**32)`` of a probability.

    A uniform 32-bit word ``w`` fires with probability ``T / 2**32`` when
    tested as ``w < T`` (exactly ``p`` up to ``2**-32``).  ``p`` outside
    ``[0, 1]`` (or NaN, or not a real number) raises an error naming ``name``.
    """
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{name} must be a float in [0, 1], got {type(p).__name__}")
    p = float(p)
    if not 0.0 <= p <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {p}")
    return min(math.floor(p * 4294967296.0), 1 << 32)


@functools.cache
def numba_philox():
    """Philox-4x32-10 as a numba ``njit`` function (inlined into its callers), or None.

    ``philox(k0, k1, c0, c1, c2, c3) -> (w0, w1, w2, w3)`` on ``uint64``
    scalars holding 32-bit values; the same arithmetic as :func:`philox4x32`.
    None when numba is not installed (the torch code is used then).
    """
    numba = numba_module()
    if numba is None:
        return None
    from ._fused_cpu import philox  # one numba Philox, beside the cached loop that inlines it

    return philox
