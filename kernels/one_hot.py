"""Triton kernel and launcher for ``one_hot`` (ASCII -> one-hot, NLC or NCL).

``NLC`` stores the 4 values of a base as one ``[ROWS, BLOCK_L, 4]`` tile
(the channel dimension is contiguous, so each base is one coalesced 4-wide
store); ``NCL`` stores 4 channel planes, each contiguous along the read.

Other alphabets (issue 12) are compile-time: ``ALPHABET`` picks the byte ->
id rule of ``_codes.alphabet_code``, ``NCOLS`` is the number of columns (4,
or 20 for protein, whose ``NLC`` rows are stored through a 32-wide masked
range ``NCOLS_P2``).
"""

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops._one_hot import uniform_share
from deepbiop_gpu.ops._philox import STREAM_UNKNOWN_BASE
from deepbiop_gpu.ops._tables import ALPHABET_IDS, alphabet_columns

from ._codes import alphabet_code, row_tile
from ._config import tile_config
from ._launch import launch
from ._random import read_philox

ONE_HOT_TILE = 1024  # bases per program (x 4 output values)
WIDE_ONE_HOT_TILE = 256  # bases per program with 20 columns (x 32 lanes)


@triton.jit(do_not_specialize=["B", "seed", "epoch"])
def one_hot_kernel(
    seq_ptr, len_ptr, out_ptr, B, L, stride_s, stride_ob, stride_oc, STRIDE_OL: tl.constexpr,
    ROWS: tl.constexpr, BLOCK_L: tl.constexpr, UNIFORM: tl.constexpr, NCL: tl.constexpr,
    idx_ptr=None, seed=0, epoch=0, RANDOM: tl.constexpr = False,
    STREAM: tl.constexpr = STREAM_UNKNOWN_BASE,
    ALPHABET: tl.constexpr = 0, NCOLS: tl.constexpr = 4, NCOLS_P2: tl.constexpr = 4,
    SHARE: tl.constexpr = 0.25,
):
    rows, cols, in_bounds, inside, b = row_tile(seq_ptr, len_ptr, B, L, stride_s, ROWS, BLOCK_L)
    # 0..NCOLS-1 columns, NCOLS unknown, NCOLS + 1 padding
    code = tl.where(inside, alphabet_code(b, ALPHABET), NCOLS + 1)
    if RANDOM:
        # unknown base at position i: column word >> 30 of word i % 4 of draw i // 4
        index = tl.load(idx_ptr + rows, mask=rows < B, other=0)
        w0, w1, w2, w3 = read_philox(seed, cols[None, :] // 4, index[:, None], epoch, STREAM)
        lane = cols[None, :] % 4
        word = tl.where(lane == 0, w0, tl.where(lane == 1, w1, tl.where(lane == 2, w2, w3)))
        if NCOLS == 4:
            drawn = (word >> 30).to(tl.int32)
        else:  # (word * C) >> 32: the same as word >> 30 for 4 columns
            drawn = ((word.to(tl.int64) * NCOLS) >> 32).to(tl.int32)
        code = tl.where(code == NCOLS, drawn, code)
    if UNIFORM:
        unk = tl.where(code == NCOLS, SHARE, 0.0)  # 1 / NCOLS, already rounded to the dtype
    else:
        unk = tl.zeros([ROWS, BLOCK_L], dtype=tl.float32)
    base = out_ptr + rows[:, None] * stride_ob + cols[None, :] * STRIDE_OL
    dtype = out_ptr.dtype.element_ty
    if NCL:
        plane = stride_oc + tl.zeros([1], dtype=tl.int64)  # int64: 3 * L may pass 2**31
        for c in tl.static_range(NCOLS):
            v = tl.where(code == c, 1.0, unk)
            tl.store(base + c * plane, v.to(dtype), mask=in_bounds)
    else:
        ch = tl.arange(0, NCOLS_P2)
        v = tl.where(code[:, :, None] == ch[None, None, :], 1.0, unk[:, :, None])
        mask = in_bounds[:, :, None] & (ch[None, None, :] < NCOLS)
        tl.store(base[:, :, None] + ch[None, None, :] * stride_oc, v.to(dtype), mask=mask)


def one_hot_triton(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    index: torch.Tensor | None = None,
    seed: int = 0,
    epoch: int = 0,
    alphabet: str = "dna",
) -> torch.Tensor:
    """Launch ``one_hot_kernel``: ``uint8 [B, L]`` -> ``dtype [B, L, C]`` or ``[B, C, L]``.

    ``unknown="random"`` takes the reads' sample ``index`` (``int64 [B]``),
    ``seed`` and ``epoch`` (see ``deepbiop_gpu.ops.one_hot``); ``C`` is the
    number of columns of ``alphabet`` (4, or 20 for protein).
    """
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    ncl = layout == "NCL"
    C = len(alphabet_columns(alphabet))
    shape = (B, C, L) if ncl else (B, L, C)
    out = torch.empty(shape, dtype=dtype, device=seqs.device)
    if B == 0 or L == 0:
        return out
    stride_ob = out.stride(0)
    # the stride along L is a compile-time constant (1 for NCL, 4 for NLC), so the
    # compiler sees contiguous runs and can vectorise the stores
    stride_ol, stride_oc = (out.stride(2), out.stride(1)) if ncl else (out.stride(1), out.stride(2))
    cfg = tile_config(L, tile=ONE_HOT_TILE if C == 4 else WIDE_ONE_HOT_TILE)
    extra_args = {}
    if unknown == "random":
        extra_args = dict(idx_ptr=index.contiguous(), seed=seed, epoch=epoch, RANDOM=True)
    if alphabet != "dna":  # dna's launch keeps the defaults (its compiled variants unchanged)
        extra_args.update(ALPHABET=ALPHABET_IDS[alphabet], NCOLS=C, NCOLS_P2=4 if C == 4 else 32,
                          SHARE=uniform_share(dtype, C) if unknown == "uniform" else 0.25)
    launch(
        one_hot_kernel, cfg.grid(B, L),
        seqs, lengths, out, B, L, seqs.stride(0), stride_ob, stride_oc, STRIDE_OL=stride_ol,
        ROWS=cfg.rows, BLOCK_L=cfg.block_l, UNIFORM=unknown == "uniform", NCL=ncl,
        **extra_args, num_warps=cfg.num_warps,
    )
    return out
