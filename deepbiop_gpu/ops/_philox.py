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
  :data:`STREAM_REVERSE_COMPLEMENT`) so that ops never share numbers.

All tensors here are ``int64`` holding unsigned 32-bit values.
"""

from __future__ import annotations

import torch

__all__ = [
    "STREAM_MUTATE",
    "STREAM_CROP",
    "STREAM_REVERSE_COMPLEMENT",
    "philox4x32",
    "read_counters",
    "read_words",
]

STREAM_MUTATE = 1
STREAM_CROP = 2
STREAM_REVERSE_COMPLEMENT = 3

_M32 = 0xFFFFFFFF
_ROUND_A = 0xD2511F53
_ROUND_B = 0xCD9E8D57
_KEY_A = 0x9E3779B9
_KEY_B = 0xBB67AE85
_CHUNK = 1 << 16  # elements per pass: keeps the working set in cache


def _philox_flat(c0, c1, c2, c3, k0: int, k1: int, rounds: int):
    # int64 arithmetic: a 32x32-bit product can exceed 2**63 and wrap, but its
    # low 64 bits stay exact, so (p >> 32) & M is the high word (umulhi) and
    # p & M the low word.  c1/c3 keep the unmasked products between rounds:
    # only their low 32 bits are ever used (XOR, then masked).
    for _ in range(rounds):
        p0 = c0 * _ROUND_A
        p1 = c2 * _ROUND_B
        c0 = (p1 >> 32).bitwise_xor_(c1).bitwise_xor_(k0).bitwise_and_(_M32)
        c2 = (p0 >> 32).bitwise_xor_(c3).bitwise_xor_(k1).bitwise_and_(_M32)
        c1, c3 = p1, p0
        k0 = (k0 + _KEY_A) & _M32
        k1 = (k1 + _KEY_B) & _M32
    return c0, c1 & _M32, c2, c3 & _M32


def philox4x32(
    seed: int,
    c0: torch.Tensor,
    c1: torch.Tensor,
    c2: torch.Tensor,
    c3: torch.Tensor,
    rounds: int = 10,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The four output words of Philox-4x32 for each counter ``(c0, c1, c2, c3)``.

    Parameters
    ----------
    seed : int
        The key, ``0 <= seed < 2**64``; low/high 32 bits are the two key words,
        as in ``tl.philox``.
    c0, c1, c2, c3 : Tensor, int64, broadcastable
        Counter words, each in ``[0, 2**32)``.

    Returns
    -------
    Four ``int64`` tensors of the broadcast shape, values in ``[0, 2**32)``.

    Examples
    --------
    >>> z = torch.zeros(2, dtype=torch.int64)
    >>> [w.tolist() for w in philox4x32(0, torch.tensor([0, 1]), z, z, z)][0][0]
    1713891541
    """
    k0, k1 = seed & _M32, (seed >> 32) & _M32
    c0, c1, c2, c3 = torch.broadcast_tensors(c0, c1, c2, c3)
    shape = c0.shape
    flat = [c.reshape(-1).to(torch.int64) for c in (c0, c1, c2, c3)]
    n = flat[0].numel()
    if n <= _CHUNK:
        out = _philox_flat(*flat, k0, k1, rounds)
        return tuple(o.reshape(shape) for o in out)  # type: ignore[return-value]
    outs = [torch.empty(n, dtype=torch.int64, device=flat[0].device) for _ in range(4)]
    for start in range(0, n, _CHUNK):
        sl = slice(start, start + _CHUNK)
        words = _philox_flat(*(f[sl] for f in flat), k0, k1, rounds)
        for o, w in zip(outs, words):
            o[sl] = w
    return tuple(o.reshape(shape) for o in outs)  # type: ignore[return-value]


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
