"""Triton kernel and launcher for ``integer`` (ASCII -> int64 base codes, padding value)."""

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops._tables import ALPHABET_IDS

from ._codes import alphabet_code, row_tile
from ._config import tile_config
from ._launch import launch


@triton.jit(do_not_specialize=["B", "pad_value"])
def integer_kernel(
    seq_ptr, len_ptr, out_ptr, B, L, stride_s, stride_o, pad_value,
    ROWS: tl.constexpr, BLOCK_L: tl.constexpr, ALPHABET: tl.constexpr = 0,
):
    rows, cols, in_bounds, inside, b = row_tile(seq_ptr, len_ptr, B, L, stride_s, ROWS, BLOCK_L)
    pad = tl.zeros([ROWS, BLOCK_L], dtype=tl.int64) + pad_value
    code = tl.where(inside, alphabet_code(b, ALPHABET).to(tl.int64), pad)
    tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], code, mask=in_bounds)


def integer_triton(
    seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int, alphabet: str = "dna"
) -> torch.Tensor:
    """Launch ``integer_kernel``: ``uint8 [B, L]`` -> ``int64 [B, L]`` codes of ``alphabet``."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    out = torch.empty((B, L), dtype=torch.int64, device=seqs.device)
    if B == 0 or L == 0:
        return out
    cfg = tile_config(L)
    launch(
        integer_kernel, cfg.grid(B, L),
        seqs, lengths, out, B, L, seqs.stride(0), out.stride(0), pad_value,
        ROWS=cfg.rows, BLOCK_L=cfg.block_l, ALPHABET=ALPHABET_IDS[alphabet],
        num_warps=cfg.num_warps,
    )
    return out
