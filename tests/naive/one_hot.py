import torch

from naive.encode import COLUMNS, base_code
from naive.mutate import read_philox

STREAM_UNKNOWN_BASE = 5


def one_hot(
    seqs: torch.Tensor, lengths: torch.Tensor, dtype=torch.float32, layout="NLC", unknown="zeros",
    *, seed: int = 0, index=None, epoch: int = 0, alphabet: str = "dna",
) -> torch.Tensor:
    """Base by base.  ``unknown="random"``: unknown base ``i`` of read ``b`` gets column
    ``word >> 30``, word ``i % 4`` of draw ``i // 4`` of read ``index[b]`` (stream 5);
    with C columns (protein: 20), column ``(word * C) >> 32``.  ``"uniform"``: 1 / C
    (rounded to float32 first, as the library stores it)."""
    B, L = seqs.shape
    C = COLUMNS[alphabet]
    share = float(torch.tensor(1.0 / C, dtype=torch.float32))
    idx = [0] * B if index is None else index.tolist()
    rows = []
    for row, n, r in zip(seqs.tolist(), lengths.tolist(), idx, strict=True):
        cols = []
        for i, b in enumerate(row):
            if i >= n:
                cols.append([0.0] * C)
                continue
            code = base_code(b, alphabet)
            if code == C and unknown == "random":
                word = read_philox(seed, i // 4, r, epoch, STREAM_UNKNOWN_BASE)[i % 4]
                code = (word * C) >> 32
            if code < C:
                cols.append([1.0 if c == code else 0.0 for c in range(C)])
            else:
                cols.append([share if unknown == "uniform" else 0.0] * C)
        rows.append(cols)
    out = torch.tensor(rows, dtype=torch.float64).reshape(B, L, C)
    if layout == "NCL":
        out = out.transpose(1, 2).contiguous()
    return out.to(dtype)
