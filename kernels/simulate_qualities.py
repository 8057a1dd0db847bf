"""Triton kernel and launcher for ``simulate_qualities`` (seeded Phred+33 qualities).

The rule (integer arithmetic only) is documented in
``deepbiop_gpu/quality_models.py``; ``deepbiop_gpu/ops/_simulate_qualities.py``
computes the same bytes on the CPU.
"""

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops._simulate_qualities import STREAM_SIMULATE_QUALITIES

from ._config import cdiv, tile_config
from ._launch import launch
from ._random import read_philox

DRAW_TILE = 1024  # Philox calls per program (4 words each: 4096 positions)


@triton.jit
def quality_score(word, pos, lens, table_ptr, mask, a, b, sign, sd, NORMAL: tl.constexpr):
    """The Phred score (int64) of positions ``pos`` of reads ``lens`` long, one 32-bit
    ``word`` each: the integer rule of ``deepbiop_gpu/quality_models.py``.

    ``pos``: int tensor (``>= 0`` where ``mask``), ``lens``: int64 broadcastable against
    it; ``a, b, sign, sd``: the model's int64 scalars; the normal table is read where
    ``mask`` only.  Shared by this op's kernel and the fused kernel.
    """
    w = word.to(tl.int64)  # uint32 -> int64 zero-extends
    if NORMAL:
        z = tl.load(table_ptr + (w >> 16), mask=mask, other=0).to(tl.int64)
        denom = tl.maximum(lens - 1, 1)
        mean = a + sign * ((b * pos.to(tl.int64)) // denom)  # non-negative operands only
        v = mean * 65536 + sd * z + 2147483648
        q = tl.minimum(tl.maximum(v, 0) >> 32, 93)
    else:
        q = a + ((w * b) >> 32)
    return q


@triton.jit
def _quality_lane(
    out_ptr, table_ptr, rows, pos, row_ok, lens, word, W, stride_o,
    a, b, sign, sd, NORMAL: tl.constexpr,
):
    """Phred+33 bytes of positions ``pos`` (``[1, BLOCK_D]``) of ``rows``, one ``word`` each."""
    in_bounds = row_ok[:, None] & (pos < W)
    inside = in_bounds & (pos < lens[:, None])
    q = quality_score(word, pos, lens[:, None], table_ptr, inside, a, b, sign, sd, NORMAL)
    y = tl.where(inside, q + 33, 0)
    tl.store(out_ptr + rows[:, None] * stride_o + pos, y.to(tl.uint8), mask=in_bounds)


@triton.jit(do_not_specialize=["B", "a", "b", "sign", "sd", "seed", "epoch", "col_blocks"])
def simulate_qualities_kernel(
    len_ptr, idx_ptr, table_ptr, out_ptr, B, W, stride_o,
    a, b, sign, sd, seed, epoch, col_blocks,
    NORMAL: tl.constexpr, STREAM: tl.constexpr, ROWS: tl.constexpr, BLOCK_D: tl.constexpr,
):
    # a 1-D grid: column blocks vary fastest (no cap on the number of row blocks)
    pid = tl.program_id(0).to(tl.int64)
    rows = (pid // col_blocks) * ROWS + tl.arange(0, ROWS)
    draws = (pid % col_blocks) * BLOCK_D + tl.arange(0, BLOCK_D)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    lens = tl.maximum(lens, 0)
    index = tl.load(idx_ptr + rows, mask=row_ok, other=0)
    # the model's integers in int64 (a value that fits 32 bits arrives as int32)
    a = a.to(tl.int64)
    b = b.to(tl.int64)
    sign = sign.to(tl.int64)
    sd = sd.to(tl.int64)
    # draw d serves positions 4d .. 4d+3, word k position 4d+k
    w0, w1, w2, w3 = read_philox(seed, draws[None, :], index[:, None], epoch, STREAM)
    pos = draws[None, :] * 4
    _quality_lane(out_ptr, table_ptr, rows, pos, row_ok, lens, w0, W, stride_o,
                  a, b, sign, sd, NORMAL)
    _quality_lane(out_ptr, table_ptr, rows, pos + 1, row_ok, lens, w1, W, stride_o,
                  a, b, sign, sd, NORMAL)
    _quality_lane(out_ptr, table_ptr, rows, pos + 2, row_ok, lens, w2, W, stride_o,
                  a, b, sign, sd, NORMAL)
    _quality_lane(out_ptr, table_ptr, rows, pos + 3, row_ok, lens, w3, W, stride_o,
                  a, b, sign, sd, NORMAL)


def simulate_qualities_triton(
    lengths: torch.Tensor,
    index: torch.Tensor,
    table: torch.Tensor,
    kind: int,
    a: int,
    b: int,
    sign: int,
    sd: int,
    seed: int,
    epoch: int,
    width: int,
) -> torch.Tensor:
    """Launch ``simulate_qualities_kernel``: ``[B]`` lengths -> ``uint8 [B, width]``.

    ``(kind, a, b, sign, sd)`` are :meth:`QualityModel.params`; ``table`` is
    the ``int32 [65536]`` normal-quantile table on the device of ``lengths``.
    """
    lengths = lengths.contiguous()
    index = index.contiguous()
    (B,) = lengths.shape
    out = torch.empty((B, width), dtype=torch.uint8, device=lengths.device)
    if B == 0 or width == 0:
        return out
    D = cdiv(width, 4)
    cfg = tile_config(D, tile=DRAW_TILE)
    col_blocks = cdiv(D, cfg.block_l)
    grid = (col_blocks * cdiv(B, cfg.rows),)
    launch(
        simulate_qualities_kernel, grid,
        lengths, index, table, out, B, width, out.stride(0),
        a, b, sign, sd, seed, epoch, col_blocks,
        NORMAL=kind == 1, STREAM=STREAM_SIMULATE_QUALITIES, ROWS=cfg.rows, BLOCK_D=cfg.block_l,
        num_warps=cfg.num_warps,
    )  # fmt: skip
    return out
