import torch

CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}


def base_code(byte: int) -> int:
    ch = chr(byte)
    return CODES.get(ch.upper(), 4) if ch.isascii() else 4


def encode(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    B, L = seqs.shape
    out = []
    for row, n in zip(seqs.tolist(), lengths.tolist()):
        out.append([base_code(b) for b in row[:n]] + [5] * (L - n))
    return torch.tensor(out, dtype=torch.uint8).reshape(B, L)
