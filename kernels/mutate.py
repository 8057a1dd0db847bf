"""Triton kernel and launcher for ``mutate`` (seeded A/C/G/T substitutions)."""

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops._philox import STREAM_MUTATE

from ._codes import acgt_byte, acgt_code, tile_blocks
from ._config import tile_config
from ._launch import launch
from ._random import read_philox

DRAW_TILE = 1024  # Philox calls per program (4 words each: 4096 positions)


@triton.jit
def phred_threshold(thr_ptr, q, mask):
    """Each base's mutate threshold (``rate="phred"``): ``thr[q]`` for its quality byte ``q``
    (int64; 0 where masked off).  ``thr_ptr``: the ``int64 [256]`` table of the op.
    Shared with the fused kernel."""
    return tl.load(thr_ptr + (q & 255), mask=mask, other=0)


@triton.jit
def _mutate_lane(
    seq_ptr, out_ptr, rows, pos, row_ok, lens, word, threshold, divisor, L, stride_s, stride_o,
    qual_ptr, thr_ptr, stride_q, PHRED: tl.constexpr,
):
    """Positions ``pos`` (``[1, N]``) of ``rows``, each with its own Philox ``word``."""
    in_bounds = row_ok[:, None] & (pos < L)
    inside = in_bounds & (pos < lens[:, None])
    # masked by the batch bounds only (padding lies inside the allocation), so the
    # contiguous positions load as vectors; bytes past a read's length are not used
    x = tl.load(seq_ptr + rows[:, None] * stride_s + pos, mask=in_bounds, other=0).to(tl.int32)
    code = acgt_code(x)
    if PHRED:  # rate="phred": each base's own threshold, from its quality byte
        q = tl.load(qual_ptr + rows[:, None] * stride_q + pos, mask=inside, other=0).to(tl.int32)
        threshold = phred_threshold(thr_ptr, q, inside)
        divisor = tl.maximum(threshold, 1)
    w = word.to(tl.int64)  # uint32 -> int64 zero-extends
    hit = inside & (code < 4) & (w < threshold)
    j = (w * 3) // divisor  # 0, 1 or 2 where hit
    new = acgt_byte((code + 1 + j) & 3) | (x & 0x20)
    y = tl.where(hit, new, x)
    y = tl.where(inside, y, 0)
    tl.store(out_ptr + rows[:, None] * stride_o + pos, y.to(tl.uint8), mask=in_bounds)


@triton.jit(do_not_specialize=["B", "threshold", "divisor", "seed", "epoch"])
def mutate_kernel(
    seq_ptr, len_ptr, idx_ptr, out_ptr, B, L, stride_s, stride_o,
    threshold, divisor, seed, epoch,
    STREAM: tl.constexpr, ROWS: tl.constexpr, BLOCK_D: tl.constexpr,
    qual_ptr=None, thr_ptr=None, stride_q=0, PHRED: tl.constexpr = False,
):
    row_block, col_block = tile_blocks(tl.cdiv(L, 4), BLOCK_D)
    rows = row_block * ROWS + tl.arange(0, ROWS)
    draws = col_block * BLOCK_D + tl.arange(0, BLOCK_D)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    lens = tl.minimum(tl.maximum(lens, 0), L)  # values are unchecked on the GPU
    index = tl.load(idx_ptr + rows, mask=row_ok, other=0)
    # draw d serves positions 4d .. 4d+3, word k position 4d+k: the four words are
    # interleaved into one [ROWS, 4 * BLOCK_D] tile of contiguous positions (one wide
    # load and store per thread instead of four strided byte accesses)
    w0, w1, w2, w3 = read_philox(seed, draws[None, :], index[:, None], epoch, STREAM)
    words = tl.reshape(tl.join(tl.join(w0, w2), tl.join(w1, w3)), [ROWS, 4 * BLOCK_D])
    pos = col_block * (4 * BLOCK_D) + tl.arange(0, 4 * BLOCK_D)
    _mutate_lane(seq_ptr, out_ptr, rows, pos[None, :], row_ok, lens, words, threshold, divisor, L,
                 stride_s, stride_o, qual_ptr, thr_ptr, stride_q, PHRED)


def mutate_triton(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    threshold: int,
    seed: int,
    epoch: int,
    qualities: torch.Tensor | None = None,
    thresholds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Launch ``mutate_kernel``: ``uint8 [B, L]`` -> new ``uint8 [B, L]``.

    ``threshold`` is the integer ``T`` of ``deepbiop_gpu.ops.mutate`` (no
    float reaches the kernel); the replacement divides by ``max(T, 1)``.
    With ``thresholds`` (``int64 [256]``) and ``qualities`` (``uint8 [B, L]``:
    ``rate="phred"``) each base's ``T`` is ``thresholds[its quality byte]``.
    """
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    index = index.contiguous()
    B, L = seqs.shape
    out = torch.empty_like(seqs)
    if B == 0 or L == 0:
        return out
    D = triton.cdiv(L, 4)
    cfg = tile_config(D, tile=DRAW_TILE)
    # rate="phred": the qualities and the table (else stand-ins the kernel never reads)
    phred = dict(qual_ptr=seqs, thr_ptr=index, stride_q=0, PHRED=False)
    if qualities is not None and thresholds is not None:
        qualities = qualities.contiguous()
        phred = dict(qual_ptr=qualities, thr_ptr=thresholds.contiguous(),
                     stride_q=qualities.stride(0), PHRED=True)  # fmt: skip
    launch(
        mutate_kernel, cfg.grid(B, D, "L / 4"),
        seqs, lengths, index, out, B, L, seqs.stride(0), out.stride(0),
        threshold, max(threshold, 1), seed, epoch,
        STREAM=STREAM_MUTATE, ROWS=cfg.rows, BLOCK_D=cfg.block_l, num_warps=cfg.num_warps,
        **phred,
    )
    return out
