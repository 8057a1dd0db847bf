"""Naive per-read crop and take_windows (tests only)."""

import torch

from naive.mutate import read_philox

STREAM_CROP = 2


def window_start(n: int, length: int, mode: str, seed: int, index: int, epoch: int) -> int:
    excess = max(n - length, 0)
    if mode == "start":
        return 0
    if mode == "center":
        return excess // 2
    if mode == "end":
        return excess
    word = read_philox(seed, 0, index, epoch, STREAM_CROP)[0]
    return (word * (excess + 1)) >> 32


def take_windows(x, starts, lengths, length):
    out = torch.zeros((x.shape[0], length), dtype=x.dtype)
    for b, (s, n) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        for i in range(min(n, length)):
            out[b, i] = x[b, s + i]
    return out


def crop(seqs, lengths, length, mode="random", seed=0, index=None, epoch=0):
    """``(windows, new_lengths, starts)`` read by read."""
    idx = [0] * len(lengths) if index is None else index.tolist()
    starts = [
        window_start(n, length, mode, seed, i, epoch)
        for n, i in zip(lengths.tolist(), idx, strict=True)
    ]
    starts = torch.tensor(starts, dtype=torch.int64)
    new_lengths = torch.tensor([min(n, length) for n in lengths.tolist()], dtype=lengths.dtype)
    return take_windows(seqs, starts, new_lengths, length), new_lengths, starts
