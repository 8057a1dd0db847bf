"""Triton kernel and launcher for ``integer`` (ASCII -> int64 base codes, padding value)."""

import torch
import triton
import triton.language as tl

from ._codes import base_code
from ._config import tile_config


@triton.jit
def integer_kernel(
    seq_ptr, len_ptr, out_ptr, B, L, stride_s, stride_o, pad_value,
    ROWS: tl.constexpr, BLOCK_L: tl.constexpr,
):
    rows = tl.program_id(0).to(tl.int64) * ROWS + tl.arange(0, ROWS)
    cols = tl.program_id(1).to(tl.int64) * BLOCK_L + tl.arange(0, BLOCK_L)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    in_bounds = row_ok[:, None] & (cols[None, :] < L)
    inside = in_bounds & (cols[None, :] < lens[:, None])
    b = tl.load(seq_ptr + rows[:, None] * stride_s + cols[None, :], mask=inside, other=0)
    pad = tl.zeros([ROWS, BLOCK_L], dtype=tl.int64) + pad_value
    code = tl.where(inside, base_code(b).to(tl.int64), pad)
    tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], code, mask=in_bounds)


def integer_triton(seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int) -> torch.Tensor:
    """Launch ``integer_kernel``: ``uint8 [B, L]`` -> ``int64 [B, L]`` codes."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    out = torch.empty((B, L), dtype=torch.int64, device=seqs.device)
    if B == 0 or L == 0:
        return out
    cfg = tile_config(L)
    integer_kernel[cfg.grid(B, L)](
        seqs, lengths, out, B, L, seqs.stride(0), out.stride(0), pad_value,
        ROWS=cfg.rows, BLOCK_L=cfg.block_l, num_warps=cfg.num_warps,
    )
    return out
