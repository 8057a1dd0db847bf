import torch

from naive.encode import base_code
from naive.mutate import read_philox

STREAM_UNKNOWN_BASE = 5


def one_hot(
    seqs: torch.Tensor, lengths: torch.Tensor, dtype=torch.float32, layout="NLC", unknown="zeros",
    *, seed: int = 0, index=None, epoch: int = 0,
) -> torch.Tensor:
    """Base by base.  ``unknown="random"``: unknown base ``i`` of read ``b`` gets column
    ``word >> 30``, word ``i % 4`` of draw ``i // 4`` of read ``index[b]`` (stream 5)."""
    B, L = seqs.shape
    idx = [0] * B if index is None else index.tolist()
    rows = []
    for row, n, r in zip(seqs.tolist(), lengths.tolist(), idx, strict=True):
        cols = []
        for i, b in enumerate(row):
            if i >= n:
                cols.append([0.0] * 4)
                continue
            code = base_code(b)
            if code == 4 and unknown == "random":
                code = read_philox(seed, i // 4, r, epoch, STREAM_UNKNOWN_BASE)[i % 4] >> 30
            if code < 4:
                cols.append([1.0 if c == code else 0.0 for c in range(4)])
            else:
                cols.append([0.25 if unknown == "uniform" else 0.0] * 4)
        rows.append(cols)
    out = torch.tensor(rows, dtype=torch.float64).reshape(B, L, 4)
    if layout == "NCL":
        out = out.transpose(1, 2).contiguous()
    return out.to(dtype)
