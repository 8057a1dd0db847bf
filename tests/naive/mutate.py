"""Naive per-base mutate (tests only), with its own scalar Philox-4x32-10."""

import torch

M32 = 0xFFFFFFFF
STREAM_MUTATE = 1


def philox(seed: int, c0: int, c1: int, c2: int, c3: int, rounds: int = 10):
    """Philox-4x32 on Python ints (Salmon et al. 2011; Random123's ``philox4x32``)."""
    k0, k1 = seed & M32, (seed >> 32) & M32
    for _ in range(rounds):
        p0, p1 = 0xD2511F53 * c0, 0xCD9E8D57 * c2
        c0, c1, c2, c3 = (p1 >> 32) ^ c1 ^ k0, p1 & M32, (p0 >> 32) ^ c3 ^ k1, p0 & M32
        k0, k1 = (k0 + 0x9E3779B9) & M32, (k1 + 0xBB67AE85) & M32
    return c0, c1, c2, c3


def read_philox(seed: int, draw: int, index: int, epoch: int, stream: int):
    """The four words of ``draw`` for read ``index`` (layout of ``deepbiop_gpu.ops._philox``)."""
    return philox(seed, draw & M32, index & M32, epoch & M32, (stream | (index >> 32) << 8) & M32)


def threshold(p: float) -> int:
    return min(int(p * 2**32), 2**32)


def _mutate_each(seqs, lengths, seed, index, epoch, threshold_at):
    """Base by base: A/C/G/T at ``i`` of read ``b`` mutates iff word ``i % 4`` of draw
    ``i // 4`` < ``threshold_at(b, i)``, to ``"ACGT"[(code + 1 + word * 3 // T) % 4]``."""
    out = torch.zeros_like(seqs)
    rows = zip(seqs.tolist(), lengths.tolist(), index.tolist(), strict=True)
    for b, (row, n, idx) in enumerate(rows):
        for i, x in enumerate(row[:n]):
            ch = chr(x)
            t = threshold_at(b, i)
            if ch.upper() in "ACGT" and ch.isascii():
                word = read_philox(seed, i // 4, idx, epoch, STREAM_MUTATE)[i % 4]
                if word < t:
                    j = word * 3 // t
                    new = "ACGT"[("ACGT".index(ch.upper()) + 1 + j) % 4]
                    x = ord(new.lower() if ch.islower() else new)
            out[b, i] = x
    return out


def mutate(seqs, lengths, rate, seed, index, epoch=0):
    """Every base with the same T = ``threshold(rate)``."""
    t = threshold(rate)
    return _mutate_each(seqs, lengths, seed, index, epoch, lambda b, i: t)


def phred_threshold(quality_byte: int, scale: float) -> int:
    """T of a base with Phred+33 byte ``quality_byte``: p = min(1, scale * 10^(-Q/10)), Q in [0, 93]."""
    q = min(max(quality_byte - 33, 0), 93)
    return threshold(min(1.0, scale * 10.0 ** (-q / 10.0)))


def mutate_phred(seqs, lengths, qualities, scale, seed, index, epoch=0):
    """``rate="phred"`` base by base: the same words, each base's T from its own quality."""
    quals = qualities.tolist()
    return _mutate_each(seqs, lengths, seed, index, epoch,
                        lambda b, i: phred_threshold(quals[b][i], scale))  # fmt: skip
