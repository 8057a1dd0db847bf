"""Naive per-base quality simulation (tests only): Python ints, naive.mutate's scalar Philox."""

from __future__ import annotations

import functools
from statistics import NormalDist

import torch

from .mutate import read_philox

STREAM_SIMULATE_QUALITIES = 0x51


@functools.cache
def normal_quantiles() -> list[int]:
    """``round(Φ⁻¹((k + 0.5) / 2**16) · 2**16)`` for k in 0 .. 2**16 - 1."""
    inv = NormalDist().inv_cdf
    return [round(inv((k + 0.5) / 65536) * 65536) for k in range(65536)]


def quality(model, word: int, i: int, n: int) -> int:
    """Phred score of position ``i`` of a read of ``n`` bases from one 32-bit word."""
    if model.kind == "uniform":
        return model.low + (word * (model.high - model.low + 1)) // 2**32
    start, end = round(model.start_mean * 65536), round(model.end_mean * 65536)
    mean = start + ((end - start) * i) // (n - 1) if end >= start and n > 1 else (
        start - ((start - end) * i) // (n - 1) if n > 1 else start
    )
    z = normal_quantiles()[word >> 16]
    value = mean * 65536 + round(model.sd * 65536) * z + 2**31
    return min(max(value, 0) // 2**32, 93)


def simulate_qualities(lengths, model, seed, index, epoch=0, width=None):
    """Position by position: word ``i % 4`` of draw ``i // 4`` gives base ``i`` its score."""
    lens = lengths.tolist()
    width = max(lens, default=0) if width is None else width
    out = torch.zeros((len(lens), width), dtype=torch.uint8)
    for b, (n, idx) in enumerate(zip(lens, index.tolist(), strict=True)):
        for i in range(min(max(n, 0), width)):
            word = read_philox(seed, i // 4, idx, epoch, STREAM_SIMULATE_QUALITIES)[i % 4]
            out[b, i] = 33 + quality(model, word, i, n)
    return out
