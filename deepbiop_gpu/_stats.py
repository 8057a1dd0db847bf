"""Vectorised statistics over packed reads, shared by :mod:`summary` and :mod:`validation`.

Everything works on the flat ``uint8`` buffers and ``int64`` offsets of
:class:`~deepbiop_gpu.PackedReads` / :class:`~deepbiop_gpu.StringColumn`,
in bounded chunks, without a Python object per read.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["byte_histogram", "per_read_counts", "hash_ranges", "as_numpy"]

#: Bytes processed per step by the chunked helpers (bounds temporary memory).
CHUNK_BYTES = 1 << 24

_HASH_BASE = np.uint64(0x100000001B3)  # FNV-64 prime, odd: multiplication is a bijection mod 2**64


def as_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    """CPU numpy view of a tensor (copied only if it lives on another device)."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def byte_histogram(data: torch.Tensor | np.ndarray) -> np.ndarray:
    """How often each byte value occurs: ``int64 [256]``.

    Examples
    --------
    >>> h = byte_histogram(np.frombuffer(b"ACCA", dtype=np.uint8)); int(h[ord("C")])
    2
    """
    if isinstance(data, torch.Tensor):
        t = data
    else:
        with warnings.catch_warnings():  # read-only arrays are fine: bincount only reads
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(np.ascontiguousarray(data))
    t = t.detach().cpu().reshape(-1)
    if t.numel() == 0:
        return np.zeros(256, dtype=np.int64)
    if t.dtype != torch.uint8:
        t = t.to(torch.uint8)
    return torch.bincount(t, minlength=256).numpy().astype(np.int64)


def _segment_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, dtype) -> np.ndarray:
    """``values[starts[i]:starts[i]+lengths[i]].sum()`` for contiguous, ordered segments."""
    out = np.zeros(len(starts), dtype=dtype)
    if len(values) == 0 or len(starts) == 0:
        return out
    idx = np.minimum(starts, len(values) - 1)
    sums = np.add.reduceat(values, idx, dtype=dtype)
    out[:] = np.where(lengths > 0, sums, 0)
    return out


def per_read_counts(
    data: torch.Tensor | np.ndarray, offsets: torch.Tensor | np.ndarray, table: np.ndarray
) -> np.ndarray:
    """Per read, how many of its bytes ``b`` have ``table[b]`` true: ``int64 [n]``.

    Matching bytes are located chunk by chunk; when they are sparse (the
    usual case: N, non-IUPAC symbols) each is mapped to its read with a
    binary search over the offsets, otherwise the per-read sums come from
    ``np.add.reduceat``.

    Parameters
    ----------
    data : ``uint8 [total]``
    offsets : ``int64 [n + 1]``
    table : ``bool [256]``

    Examples
    --------
    >>> is_n = np.zeros(256, bool); is_n[ord("N")] = True
    >>> per_read_counts(np.frombuffer(b"ANNCN", np.uint8), np.array([0, 3, 3, 5]), is_n).tolist()
    [2, 0, 1]
    """
    data = as_numpy(data)
    offsets = as_numpy(offsets)
    n = len(offsets) - 1
    out = np.zeros(n, dtype=np.int64)
    if n <= 0 or offsets[-1] == 0:
        return out
    table = np.asarray(table, dtype=bool)
    targets = np.flatnonzero(table)
    a = 0
    while a < n:
        # as many reads as fit in CHUNK_BYTES (at least one)
        b = int(np.searchsorted(offsets, offsets[a] + CHUNK_BYTES, side="right")) - 1
        b = min(max(b, a + 1), n)
        lo, hi = int(offsets[a]), int(offsets[b])
        seg = data[lo:hi]
        mask = seg == targets[0] if len(targets) == 1 else table[seg]
        hits = np.flatnonzero(mask)
        if len(hits) * 8 < len(seg):
            rows = np.searchsorted(offsets[a : b + 1], hits + lo, side="right") - 1
            out[a:b] = np.bincount(rows, minlength=b - a)
        else:
            starts = offsets[a:b] - lo
            lengths = offsets[a + 1 : b + 1] - offsets[a:b]
            out[a:b] = _segment_sums(mask.view(np.uint8), starts, lengths, np.int32)
        a = b
    return out


def _hash_rows(words: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mix the 64-bit words of each row (zero-padded bytes) and its length into one hash."""
    h = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    for j in range(words.shape[1]):
        h ^= words[:, j]
        h *= _HASH_BASE
        h ^= h >> np.uint64(29)
    return h


def hash_ranges(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each byte range ``data[s:s+l]``: ``uint64 [n]``.

    Equal ranges have equal hashes; different ranges collide with
    probability about 2**-64 (callers confirm candidate duplicates exactly).
    Rows are copied, zero-padded, into ``[rows, width]`` blocks (width: the
    longest range of the block, rounded up to 8 bytes) whose 64-bit words are
    mixed column by column; blocks are sized to bound temporary memory.

    Examples
    --------
    >>> buf = np.frombuffer(b"abab", np.uint8)
    >>> h = hash_ranges(buf, np.array([0, 2]), np.array([2, 2])); bool(h[0] == h[1])
    True
    """
    data = as_numpy(data)
    n = len(starts)
    out = np.zeros(n, dtype=np.uint64)
    if n == 0:
        return out
    starts = np.asarray(starts, dtype=np.int64)
    lengths = np.asarray(lengths, dtype=np.int64)
    budget = 1 << 22  # bytes per block
    with np.errstate(over="ignore"):
        a = 0
        rows = max(1, budget // max(int(lengths[: min(n, 4096)].max()), 8))
        while a < n:
            b = min(n, a + rows)
            ln = lengths[a:b]
            width = -(-max(int(ln.max()), 1) // 8) * 8
            if (b - a) * width > 4 * budget and b - a > 1:
                rows = max(1, (b - a) // 4)  # a long range in this block: smaller blocks
                continue
            st = starts[a:b]
            lo = int(st.min())
            hi = int((st + ln).max())
            seg = np.zeros(hi - lo + width, dtype=np.uint8)
            seg[: hi - lo] = data[lo:hi]
            mat = sliding_window_view(seg, width)[st - lo]  # [rows, width] copy
            mat[np.arange(width)[None, :] >= ln[:, None]] = 0
            words = mat.view("<u8")
            out[a:b] = _hash_rows(words, ln)
            a = b
            rows = max(1, budget // width)
    return out
