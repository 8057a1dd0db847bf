"""Triton kernels and launchers for ``kmer_ids`` and ``kmer_counts``.

The rules (window validity, 2-bit ids, canonical ids, the SplitMix64 hash)
are documented in ``deepbiop_gpu/ops/_kmer.py``; these kernels compute the
same bits as its torch code.  Each program handles a ``ROWS x BLOCK_W`` tile
of windows and reads the ``K`` bases of each window (neighbouring windows
share bytes, which the cache serves).
"""

import torch
import triton
import triton.language as tl

from ._codes import base_code, tile_rows_cols
from ._config import TileConfig, tile_config
from ._launch import launch

KMER_TILE = 1024  # windows per program (k <= 16; half of it beyond, see kmer_tile)

# SplitMix64 constants as signed int64 (same bits as the uint64 constants)
GOLDEN = tl.constexpr(-7046029254386353131)  # 0x9E3779B97F4A7C15
MIX1 = tl.constexpr(-4658895280553007687)  # 0xBF58476D1CE4E5B9
MIX2 = tl.constexpr(-7723592293110705685)  # 0x94D049BB133111EB


@triton.jit
def window_ids(seq_ptr, rows, row_ok, lens, starts, L, stride_s,
               K: tl.constexpr, CANONICAL: tl.constexpr):
    """2-bit ids of the windows starting at ``starts`` ([1, BLOCK_W], int64).

    Returns ``(ids, bad)``: ``int64 [ROWS, BLOCK_W]`` ids (``uint64`` bits at
    ``K = 32``; canonical when asked, compared unsigned) and a mask of the
    windows that touch a non-ACGTU byte or run past the read (or ``L``).
    """
    fwd = tl.zeros([rows.shape[0], starts.shape[1]], dtype=tl.int64)
    rc = tl.zeros([rows.shape[0], starts.shape[1]], dtype=tl.int64)
    bad = fwd != 0  # all False
    for t in tl.static_range(K):
        pos = starts + t
        ok = row_ok[:, None] & (pos < L) & (pos < lens[:, None])
        b = tl.load(seq_ptr + rows[:, None] * stride_s + pos, mask=ok, other=0)
        code = base_code(b)  # 4 for a masked-off byte (0) too
        bad = bad | (code == 4)
        c = (code & 3).to(tl.int64)
        fwd = (fwd << 2) | c
        if CANONICAL:
            rc = rc | ((3 - c) << (2 * t))
    if CANONICAL:
        # unsigned minimum (at K = 32 the ids use all 64 bits)
        fwd_u = fwd.to(tl.uint64, bitcast=True)
        rc_u = rc.to(tl.uint64, bitcast=True)
        fwd = tl.where(fwd_u <= rc_u, fwd, rc)
    return fwd, bad


@triton.jit
def splitmix64_bucket(x, buckets):
    """``(splitmix64(x) & (2**63 - 1)) % buckets`` in wrapping int64 arithmetic."""
    z = x + GOLDEN
    z = (z ^ ((z >> 30) & 0x3FFFFFFFF)) * MIX1
    z = (z ^ ((z >> 27) & 0x1FFFFFFFFF)) * MIX2
    z = z ^ ((z >> 31) & 0x1FFFFFFFF)
    return (z & 0x7FFFFFFFFFFFFFFF) % buckets


@triton.jit(do_not_specialize=["B", "buckets"])
def kmer_ids_kernel(
    seq_ptr, len_ptr, out_ptr, B, L, W, stride_s, stride_o, stride, buckets,
    K: tl.constexpr, CANONICAL: tl.constexpr, HASH: tl.constexpr,
    ROWS: tl.constexpr, BLOCK_W: tl.constexpr,
):
    rows, wins = tile_rows_cols(W, ROWS, BLOCK_W)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    starts = wins[None, :] * stride
    ids, bad = window_ids(seq_ptr, rows, row_ok, lens, starts, L, stride_s, K, CANONICAL)
    if HASH:
        ids = splitmix64_bucket(ids, buckets)
    ids = tl.where(bad, -1, ids)
    in_bounds = row_ok[:, None] & (wins[None, :] < W)
    tl.store(out_ptr + rows[:, None] * stride_o + wins[None, :], ids, mask=in_bounds)


@triton.jit(do_not_specialize=["B"])
def kmer_counts_kernel(
    seq_ptr, len_ptr, counts_ptr, B, L, W, stride_s, stride_c,
    K: tl.constexpr, CANONICAL: tl.constexpr, ROWS: tl.constexpr, BLOCK_W: tl.constexpr,
):
    rows, wins = tile_rows_cols(W, ROWS, BLOCK_W)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    ids, bad = window_ids(seq_ptr, rows, row_ok, lens, wins[None, :], L, stride_s, K, CANONICAL)
    count = row_ok[:, None] & (wins[None, :] < W) & (bad == 0)
    ones = tl.full([ROWS, BLOCK_W], 1.0, dtype=tl.float32)
    # float32 sums of 1.0 are exact below 2**24 per cell, whatever the order
    tl.atomic_add(counts_ptr + rows[:, None] * stride_c + ids, ones, mask=count, sem="relaxed")


def kmer_tile(W: int, k: int) -> TileConfig:
    """Tile of ``W`` windows of ``k`` bases: 1024 windows a program up to k = 16, 512 beyond.

    The ``k`` loads of a window are unrolled; at k >= 24 with 8 windows a
    thread (1024 windows, 4 warps) that needed 255 registers and 0.6-1.2 kB
    of spill (sm_90, ``cuobjdump -res-usage``); 4 windows a thread need at
    most ~170 and no spill (tests/ops/test_aot_resources.py).
    """
    tile = KMER_TILE if k <= 16 else KMER_TILE // 2
    return tile_config(W, tile=tile, max_block_l=tile)


def _num_windows(L: int, k: int, stride: int) -> int:
    return max((L - k) // stride + 1, 0)


def kmer_ids_triton(
    seqs: torch.Tensor, lengths: torch.Tensor, k: int, stride: int, canonical: bool,
    buckets: int | None,
) -> torch.Tensor:
    """Launch ``kmer_ids_kernel``: ``uint8 [B, L]`` -> ``int64 [B, W]`` window ids."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    W = _num_windows(L, k, stride)
    out = torch.empty((B, W), dtype=torch.int64, device=seqs.device)
    if B == 0 or W == 0:
        return out
    hashed = buckets is not None and 4**k > buckets
    cfg = kmer_tile(W, k)
    launch(
        kmer_ids_kernel, cfg.grid(B, W, "the number of windows W"),
        seqs, lengths, out, B, L, W, seqs.stride(0), out.stride(0), stride,
        buckets if hashed else 1,
        K=k, CANONICAL=canonical, HASH=hashed,
        ROWS=cfg.rows, BLOCK_W=cfg.block_l, num_warps=cfg.num_warps,
    )
    return out


def kmer_counts_triton(
    seqs: torch.Tensor, lengths: torch.Tensor, k: int, canonical: bool
) -> torch.Tensor:
    """Launch ``kmer_counts_kernel``: ``uint8 [B, L]`` -> ``float32 [B, 4**k]`` counts."""
    seqs = seqs.contiguous()
    lengths = lengths.contiguous()
    B, L = seqs.shape
    W = _num_windows(L, k, 1)
    counts = torch.zeros((B, 4**k), dtype=torch.float32, device=seqs.device)
    if B == 0 or W == 0:
        return counts
    cfg = tile_config(W, tile=KMER_TILE)
    launch(
        kmer_counts_kernel, cfg.grid(B, W, "the number of windows W"),
        seqs, lengths, counts, B, L, W, seqs.stride(0), counts.stride(0),
        K=k, CANONICAL=canonical, ROWS=cfg.rows, BLOCK_W=cfg.block_l, num_warps=cfg.num_warps,
    )
    return counts
