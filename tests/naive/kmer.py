"""Naive k-mer ids and counts: one window at a time, Python ints for the hash."""

import torch

from naive.encode import base_code

M64 = (1 << 64) - 1


def splitmix64(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def window_id(codes: list[int], canonical: bool) -> int | None:
    """2-bit id of one window (first base most significant), or None if invalid."""
    if any(c > 3 for c in codes):
        return None
    fwd = 0
    for c in codes:
        fwd = fwd * 4 + c
    if not canonical:
        return fwd
    rc = 0
    for c in reversed(codes):
        rc = rc * 4 + (3 - c)
    return min(fwd, rc)


def kmer_ids(seqs, lengths, k, stride=1, canonical=False, buckets=None) -> torch.Tensor:
    B, L = seqs.shape
    W = max((L - k) // stride + 1, 0)
    out = []
    for row, n in zip(seqs.tolist(), lengths.tolist(), strict=True):
        codes = [base_code(b) for b in row[:n]]
        ids = []
        for j in range(W):
            s = j * stride
            wid = window_id(codes[s : s + k], canonical) if s + k <= n else None
            if wid is None:
                ids.append(-1)
            elif buckets is None or 4**k <= buckets:
                ids.append(wid)
            else:
                ids.append((splitmix64(wid) & ((1 << 63) - 1)) % buckets)
        out.append(ids)
    return torch.tensor(out, dtype=torch.int64).reshape(B, W)


def kmer_counts(seqs, lengths, k, canonical=False) -> torch.Tensor:
    B = seqs.shape[0]
    out = torch.zeros(B, 4**k, dtype=torch.float32)
    for b, (row, n) in enumerate(zip(seqs.tolist(), lengths.tolist(), strict=True)):
        codes = [base_code(x) for x in row[:n]]
        counts: dict[int, int] = {}
        for s in range(n - k + 1):
            wid = window_id(codes[s : s + k], canonical)
            if wid is not None:
                counts[wid] = counts.get(wid, 0) + 1
        for wid, c in counts.items():
            out[b, wid] = c
    return out
