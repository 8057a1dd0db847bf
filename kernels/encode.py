"""Triton kernel and launcher for ``encode`` (ASCII -> base codes)."""

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops._tables import ALPHABET_IDS, alphabet_columns

from ._codes import alphabet_code, row_tile
from ._config import tile_config
from ._launch import launch


@triton.jit(do_not_specialize=["B"])
def encode_kernel(
    seq_ptr, len_ptr, out_ptr, B, L, stride_s, stride_o,
    ROWS: tl.constexpr, BLOCK_L: tl.constexpr, ALPHABET: tl.constexpr = 0,
    PAD: tl.constexpr = 5,
):
    rows, cols, in_bounds, inside, b = row_tile(seq_ptr, len_ptr, B, L, stride_s, ROWS, BLOCK_L)
    code = tl.where(inside, alphabet_code(b, ALPHABET), PAD)
    tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], code.to(tl.uint8), mask=in_bounds)


def encode_triton(seqs: torch.Tensor, lengths: torch.Tensor, alphabet: str = "dna") -> torch.Tensor:
    """Launch ``encode_kernel``: ``uint8 [B, L]`` -> ``uint8 [B, L]`` codes of ``alphabet``."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    out = torch.empty_like(seqs)
    if B == 0 or L == 0:
        return out
    cfg = tile_config(L)
    launch(
        encode_kernel, cfg.grid(B, L),
        seqs, lengths, out, B, L, seqs.stride(0), out.stride(0),
        ROWS=cfg.rows, BLOCK_L=cfg.block_l, ALPHABET=ALPHABET_IDS[alphabet],
        PAD=len(alphabet_columns(alphabet)) + 1, num_warps=cfg.num_warps,
    )
    return out
