"""Naive references of the fixed-length export rule (tests only): crop / pad, then encode."""

from __future__ import annotations

import numpy as np


def reference_one_hot(seq: bytes, length: int, crop: str) -> np.ndarray:
    start = (len(seq) - length) // 2 if crop == "center" and len(seq) > length else 0
    kept = seq[start : start + length]
    out = np.zeros((length, 4), np.uint8)
    for i, c in enumerate(kept.upper()):
        j = b"ACGT".find(bytes([c])) if c != ord("U") else 3
        if j >= 0:
            out[i, j] = 1
    return out


def reference_integer(seq: bytes, length: int, crop: str) -> np.ndarray:
    start = (len(seq) - length) // 2 if crop == "center" and len(seq) > length else 0
    kept = seq[start : start + length]
    out = np.full(length, -1, np.int8)
    for i, c in enumerate(kept.upper()):
        j = b"ACGT".find(bytes([c])) if c != ord("U") else 3
        out[i] = j if j >= 0 else 4
    return out
