"""Triton kernel and launcher for ``reverse_complement`` (ragged, per-read)."""

import torch
import triton
import triton.language as tl

from ._codes import complement_byte, tile_rows_cols
from ._config import tile_config
from ._launch import launch


@triton.jit(do_not_specialize=["B"])
def reverse_complement_kernel(
    seq_ptr, len_ptr, apply_ptr, out_ptr, B, L, stride_s, stride_o,
    HAS_APPLY: tl.constexpr, COMPLEMENT: tl.constexpr,
    ROWS: tl.constexpr, BLOCK_L: tl.constexpr,
):
    rows, cols = tile_rows_cols(L, ROWS, BLOCK_L)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    lens = tl.minimum(tl.maximum(lens, 0), L)  # values are unchecked on the GPU
    if HAS_APPLY:
        flip = tl.load(apply_ptr + rows, mask=row_ok, other=0) != 0
    else:
        flip = row_ok
    in_bounds = row_ok[:, None] & (cols[None, :] < L)
    inside = in_bounds & (cols[None, :] < lens[:, None])
    src = tl.where(flip[:, None], lens[:, None] - 1 - cols[None, :], cols[None, :])
    x = tl.load(seq_ptr + rows[:, None] * stride_s + src, mask=inside, other=0)
    if COMPLEMENT:
        x = tl.where(flip[:, None], complement_byte(x), x.to(tl.int32)).to(tl.uint8)
    x = tl.where(inside, x, tl.zeros_like(x))
    tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], x, mask=in_bounds)


def reverse_complement_triton(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    apply: torch.Tensor | None,
    complement: bool,
) -> torch.Tensor:
    """Launch ``reverse_complement_kernel``: ``[B, L]`` -> new ``[B, L]`` (dtype of ``seqs``)."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    out = torch.empty_like(seqs)
    if B == 0 or L == 0:
        return out
    # bool tensors travel as bytes (same storage, no copy)
    src = seqs.view(torch.uint8) if seqs.dtype == torch.bool else seqs
    dst = out.view(torch.uint8) if out.dtype == torch.bool else out
    flags = lengths if apply is None else apply.contiguous().view(torch.uint8)
    cfg = tile_config(L)
    launch(
        reverse_complement_kernel, cfg.grid(B, L),
        src, lengths, flags, dst, B, L, src.stride(0), dst.stride(0),
        HAS_APPLY=apply is not None, COMPLEMENT=complement,
        ROWS=cfg.rows, BLOCK_L=cfg.block_l, num_warps=cfg.num_warps,
    )
    return out
