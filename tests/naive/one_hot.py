import torch

from naive.encode import base_code


def one_hot(
    seqs: torch.Tensor, lengths: torch.Tensor, dtype=torch.float32, layout="NLC", unknown="zeros"
) -> torch.Tensor:
    B, L = seqs.shape
    rows = []
    for row, n in zip(seqs.tolist(), lengths.tolist(), strict=True):
        cols = []
        for i, b in enumerate(row):
            if i >= n:
                cols.append([0.0] * 4)
                continue
            code = base_code(b)
            if code < 4:
                cols.append([1.0 if c == code else 0.0 for c in range(4)])
            else:
                cols.append([0.25 if unknown == "uniform" else 0.0] * 4)
        rows.append(cols)
    out = torch.tensor(rows, dtype=torch.float64).reshape(B, L, 4)
    if layout == "NCL":
        out = out.transpose(1, 2).contiguous()
    return out.to(dtype)
