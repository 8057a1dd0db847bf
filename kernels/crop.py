"""Triton kernel and launchers for ``crop`` and ``take_windows`` (one window per read)."""

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops._philox import STREAM_CROP

from ._config import tile_config
from ._launch import launch
from ._codes import tile_blocks
from ._random import read_philox

MODE_IDS = {"random": 0, "start": 1, "center": 2, "end": 3}
GIVEN_STARTS = -1  # take_windows: the starts come in, not out


@triton.jit(do_not_specialize=["B", "seed", "epoch"])
def crop_kernel(
    seq_ptr, len_ptr, idx_ptr, start_ptr, newlen_ptr, out_ptr,
    B, L, W, stride_s, stride_o, seed, epoch,
    MODE: tl.constexpr, STREAM: tl.constexpr, ROWS: tl.constexpr, BLOCK_W: tl.constexpr,
):
    """Windows of width ``W``: ``out[b, i] = seq[b, start[b] + i]`` for ``i < newlen[b]``.

    ``MODE`` 0..3 (random/start/center/end) computes ``start`` and ``newlen``
    from the read lengths (and stores them, once per row); ``MODE == -1``
    loads them (``len_ptr`` then holds the window lengths).
    """
    row_block, col_block = tile_blocks(W, BLOCK_W)
    rows = row_block * ROWS + tl.arange(0, ROWS)
    cols = col_block * BLOCK_W + tl.arange(0, BLOCK_W)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    if MODE == -1:
        starts = tl.load(start_ptr + rows, mask=row_ok, other=0)
        newlen = lens
    else:
        lens = tl.minimum(tl.maximum(lens, 0), L)  # values are unchecked on the GPU
        excess = tl.maximum(lens - W, 0)
        if MODE == 0:
            w0, _, _, _ = read_philox(seed, rows * 0, tl.load(idx_ptr + rows, mask=row_ok, other=0),
                                      epoch, STREAM)  # fmt: skip
            starts = (w0.to(tl.int64) * (excess + 1)) >> 32
        elif MODE == 1:
            starts = excess * 0
        elif MODE == 2:
            starts = excess // 2
        else:
            starts = excess
        newlen = tl.minimum(lens, W)
        if col_block == 0:
            tl.store(start_ptr + rows, starts, mask=row_ok)
            tl.store(newlen_ptr + rows, newlen, mask=row_ok)  # cast to the lengths dtype
    src = starts[:, None] + cols[None, :]
    in_bounds = row_ok[:, None] & (cols[None, :] < W)
    valid = in_bounds & (cols[None, :] < newlen[:, None]) & (src >= 0) & (src < L)
    x = tl.load(seq_ptr + rows[:, None] * stride_s + src, mask=valid, other=0)
    x = tl.where(valid, x, tl.zeros_like(x))
    tl.store(out_ptr + rows[:, None] * stride_o + cols[None, :], x, mask=in_bounds)


def _launch(seqs, lengths, index, starts, new_lengths, length, mode_id, seed, epoch):
    B, L = seqs.shape
    out = torch.empty((B, length), dtype=seqs.dtype, device=seqs.device)
    if B == 0:
        return out
    src = seqs.view(torch.uint8) if seqs.dtype == torch.bool else seqs
    dst = out.view(torch.uint8) if out.dtype == torch.bool else out
    cfg = tile_config(length)
    launch(
        crop_kernel, cfg.grid(B, length, "the window width"),
        src, lengths, lengths if index is None else index, starts, new_lengths, dst,
        B, L, length, src.stride(0), dst.stride(0), seed, epoch,
        MODE=mode_id, STREAM=STREAM_CROP,
        ROWS=cfg.rows, BLOCK_W=cfg.block_l, num_warps=cfg.num_warps,
    )
    return out


def crop_triton(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor | None,
    length: int,
    mode: str,
    seed: int,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Launch ``crop_kernel``: ``(seqs [B, length], new_lengths [B], starts int64 [B])``."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    index = None if index is None else index.contiguous()
    B = seqs.shape[0]
    starts = torch.empty(B, dtype=torch.int64, device=seqs.device)
    new_lengths = torch.empty_like(lengths)
    out = _launch(seqs, lengths, index, starts, new_lengths, length, MODE_IDS[mode], seed, epoch)
    return out, new_lengths, starts


def take_windows_triton(
    x: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, length: int
) -> torch.Tensor:
    """Launch ``crop_kernel`` with given windows: ``[B, L]`` -> ``[B, length]`` (dtype of ``x``)."""
    x = x.contiguous()
    starts = starts.contiguous()
    lengths = lengths.contiguous()
    return _launch(x, lengths, None, starts, lengths, length, GIVEN_STARTS, 0, 0)
