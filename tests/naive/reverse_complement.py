"""Naive per-read reverse complement (tests only)."""

import torch

PAIRS = {"A": "T", "C": "G", "G": "C", "T": "A", "U": "A", "R": "Y", "Y": "R",
         "K": "M", "M": "K", "B": "V", "V": "B", "D": "H", "H": "D"}  # fmt: skip


def complement_byte(byte: int) -> int:
    ch = chr(byte)
    if ch in PAIRS:
        return ord(PAIRS[ch])
    if ch.upper() in PAIRS and ch.islower():
        return ord(PAIRS[ch.upper()].lower())
    return byte


def reverse_complement(seqs, lengths, apply=None, complement=True):
    """Row by row: ``out[b, :n] = comp(seqs[b, n-1::-1])`` where applied, zeros past ``n``."""
    B, L = seqs.shape
    flags = [True] * B if apply is None else apply.tolist()
    out = torch.zeros_like(seqs)
    for b, (row, n, flip) in enumerate(zip(seqs.tolist(), lengths.tolist(), flags, strict=True)):
        read = row[:n]
        if flip:
            read = read[::-1]
            if complement:
                read = [complement_byte(x) for x in read]
        for i, x in enumerate(read):
            out[b, i] = x
    return out
