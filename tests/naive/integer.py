import torch

from naive.encode import base_code


def integer(
    seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int = -1, alphabet: str = "dna"
) -> torch.Tensor:
    B, L = seqs.shape
    out = []
    for row, n in zip(seqs.tolist(), lengths.tolist(), strict=True):
        out.append([base_code(b, alphabet) for b in row[:n]] + [pad_value] * (L - n))
    return torch.tensor(out, dtype=torch.int64).reshape(B, L)
