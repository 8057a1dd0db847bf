"""Triton kernel and launcher for ``fused``: crop / reverse-complement / mutate steps and an
encoder, from ragged reads to the padded batch, in one launch.

Each program writes a ``ROWS x BLOCK_L`` tile of the *output* (each output
element is computed once).  Per read it replays the steps on scalars (the
read's length after each step, the crop's window start, whether the
reverse-complement fires: the same Philox words as the CPU loop), composing
the affine map from an output position back to the source position
(``p0 = a * j + c``, ``a = +-1``).  It then loads each element's byte (and
quality) straight from the ragged buffer and replays the steps once more on
the bytes: complement where a reverse-complement fired, the mutation rule
with the word of the element's position *at that step* (draw ``p // 4``,
word ``p % 4``), exactly as the step-by-step ops do.

The plan is compile-time: ``KINDS`` packs one 3-bit code per step (0..3 crop
in mode random/start/center/end, 4 reverse-complement, 5 mutate, 6 mutate
with ``rate="phred"``, 7 simulate_qualities); the steps' values (window
length or threshold) and seeds come in a small int64 tensor, so new seeds or
probabilities do not recompile.  Quality steps: each element carries its
quality (loaded from its source position: qualities move with their bases);
a phred mutate looks its threshold up in row ``s`` of ``qthr_ptr`` (``int64
[S, 256]``, built on the host); a simulate_qualities step (first only:
``SIMULATE`` 1 uniform / 2 normal, model scalars ``sim_*``) draws the quality
at the element's source position with :func:`quality_score`, the op's own
rule, for every read or (``ONLY_MISSING``) the reads whose qualities are all 0
(each program scans its rows' qualities: no host pass).  One-hot
``unknown="random"`` (``RANDOM``) draws each unknown base's column from the
element's output position, its seed arriving in the runtime ``pad_value``.
The encoder's alphabet is compile-time too (``ALPHABET``, ``NCOLS`` columns,
stored through ``NCOLS_P2`` lanes: see ``kernels/one_hot.py``).
Programs are laid out on grid axis 0 only (row block * column blocks + column
block).
"""

import functools

import torch
import triton
import triton.language as tl

from deepbiop_gpu.ops import _philox
from deepbiop_gpu.ops._tables import ALPHABET_IDS, alphabet_columns
from deepbiop_gpu.ops._simulate_qualities import (
    STREAM_SIMULATE_QUALITIES as _STREAM_SIMULATE_QUALITIES,
)

from ._codes import alphabet_code, complement_byte, mutate_byte
from ._config import cdiv, tile_config
from ._launch import launch
from ._random import read_philox
from .mutate import phred_threshold
from .simulate_qualities import quality_score

FUSED_TILE = 1024  # output positions per program
WIDE_FUSED_TILE = 256  # output positions per program for one-hot with 20 columns
MAX_STEPS = 16  # steps one kernel takes (3 bits each in KINDS)
MAX_GRID_X = 2**31 - 1
KIND_REVERSE_COMPLEMENT, KIND_MUTATE = 4, 5
KIND_MUTATE_PHRED, KIND_SIMULATE_QUALITIES = 6, 7  # rate="phred"; SimulateQualities (first)
ENCODING_IDS = {"bytes": 0, "integer": 1, "one_hot": 2}
# the Philox streams of the steps, as compile-time globals the kernels may read
STREAM_CROP = tl.constexpr(_philox.STREAM_CROP)
STREAM_REVERSE_COMPLEMENT = tl.constexpr(_philox.STREAM_REVERSE_COMPLEMENT)
STREAM_MUTATE = tl.constexpr(_philox.STREAM_MUTATE)
STREAM_UNKNOWN_BASE = tl.constexpr(_philox.STREAM_UNKNOWN_BASE)
STREAM_SIMULATE_QUALITIES = tl.constexpr(_STREAM_SIMULATE_QUALITIES)


@triton.jit
def _position_word(seed, p, index, epoch, stream: tl.constexpr):
    """The Philox word of position ``p`` of each read: word ``p % 4`` of draw ``p // 4``
    (int64 holding a uint32), as the per-base ops draw them."""
    w0, w1, w2, w3 = read_philox(seed, p >> 2, index[:, None], epoch, stream)
    lane = p & 3
    w = tl.where(lane == 0, w0, tl.where(lane == 1, w1, tl.where(lane == 2, w2, w3)))
    return w.to(tl.int64)


@triton.jit
def _read_step(kind: tl.constexpr, seed, value, n, rows, index, epoch):
    """``(start, fire, n_after)`` of a step for each read: the crop's window start and the
    reverse-complement's coin (only the one that ``kind`` needs is meaningful)."""
    start = n * 0
    fire = n < 0
    n_after = n
    if kind < 4:  # crop to ``value`` bases
        excess = tl.maximum(n - value, 0)
        if kind == 0:
            w0, _, _, _ = read_philox(seed, rows * 0, index, epoch, STREAM_CROP)
            start = (w0.to(tl.int64) * (excess + 1)) >> 32
        elif kind == 2:
            start = excess // 2
        elif kind == 3:
            start = excess
        n_after = tl.minimum(n, value)
    elif kind == 4:  # reverse-complement where word 0 < threshold
        w0, _, _, _ = read_philox(seed, rows * 0, index, epoch, STREAM_REVERSE_COMPLEMENT)
        fire = w0.to(tl.int64) < value
    return start, fire, n_after


@triton.jit(do_not_specialize=["B", "width", "epoch", "pad_value", "sim_a", "sim_b", "sim_sign",
                              "sim_sd", "sim_seed"])
def fused_kernel(
    src_ptr, qsrc_ptr, start_ptr, len_ptr, idx_ptr, param_ptr, out_ptr, qout_ptr, olen_ptr,
    B, width, W, n_col_blocks, stride_ob, stride_oc, stride_q, epoch, pad_value,
    NSTEPS: tl.constexpr, KINDS: tl.constexpr, ENCODING: tl.constexpr, NCL: tl.constexpr,
    UNIFORM: tl.constexpr, STRIDE_OL: tl.constexpr, HAS_QUALS: tl.constexpr,
    ROWS: tl.constexpr, BLOCK_L: tl.constexpr, RANDOM: tl.constexpr = False,
    ALPHABET: tl.constexpr = 0, NCOLS: tl.constexpr = 4, NCOLS_P2: tl.constexpr = 4,
    SHARE: tl.constexpr = 0.25,
    qthr_ptr=None, normal_ptr=None, sim_a=0, sim_b=0, sim_sign=0, sim_sd=0, sim_seed=0,
    SIMULATE: tl.constexpr = 0, ONLY_MISSING: tl.constexpr = False,
):
    pid = tl.program_id(0).to(tl.int64)
    row_block = pid // n_col_blocks
    col_block = pid % n_col_blocks
    rows = row_block * ROWS + tl.arange(0, ROWS)
    cols = col_block * BLOCK_L + tl.arange(0, BLOCK_L)
    row_ok = rows < B
    n0 = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    n0 = tl.minimum(tl.maximum(n0, 0), width)  # values are unchecked on the GPU
    index = tl.load(idx_ptr + rows, mask=row_ok, other=0)

    # pass 1, per read: the length after the steps, and output position -> source position
    n = n0
    a = n0 * 0 + 1
    c = n0 * 0
    for s in tl.static_range(NSTEPS):
        kind = (KINDS >> (3 * s)) & 7
        value = tl.load(param_ptr + 2 * s)
        seed = tl.load(param_ptr + 2 * s + 1)
        start, fire, n_after = _read_step(kind, seed, value, n, rows, index, epoch)
        if kind < 4:
            c += a * start
        elif kind == 4:
            c = tl.where(fire, c + a * (n - 1), c)
            a = tl.where(fire, -a, a)
        n = n_after
    if col_block == 0:
        tl.store(olen_ptr + rows, n, mask=row_ok)

    in_bounds = row_ok[:, None] & (cols[None, :] < W)
    valid = in_bounds & (cols[None, :] < n[:, None])
    p = a[:, None] * cols[None, :] + c[:, None]  # the source position (inside the read)
    base = tl.load(start_ptr + rows, mask=row_ok, other=0)
    x = tl.load(src_ptr + base[:, None] + p, mask=valid, other=0).to(tl.int32)

    # the element's quality (its source position's: qualities move with their bases), read
    # by phred mutate steps and written out; SimulateQualities (first step) draws it at the
    # source position p of a read n0 long, for every read or (ONLY_MISSING) reads without any
    q = tl.zeros([ROWS, BLOCK_L], dtype=tl.int64)
    if HAS_QUALS:
        q = tl.load(qsrc_ptr + base[:, None] + p, mask=valid, other=0).to(tl.int64)
    if SIMULATE != 0:
        fill = row_ok
        if HAS_QUALS and ONLY_MISSING:  # does the read have a non-0 quality? (all of it)
            seen = tl.zeros([ROWS], dtype=tl.int32)
            for off in range(0, tl.max(n0, axis=0), BLOCK_L):
                at = off + tl.arange(0, BLOCK_L)
                inside = row_ok[:, None] & (at[None, :] < n0[:, None])
                qq = tl.load(qsrc_ptr + base[:, None] + at[None, :], mask=inside, other=0)
                seen = tl.maximum(seen, tl.max((qq != 0).to(tl.int32), axis=1))
            fill = row_ok & (seen == 0)
        w = _position_word(sim_seed, p, index, epoch, STREAM_SIMULATE_QUALITIES)
        sq = quality_score(w, p, n0[:, None], normal_ptr, valid, sim_a.to(tl.int64),
                           sim_b.to(tl.int64), sim_sign.to(tl.int64), sim_sd.to(tl.int64),
                           SIMULATE == 2)  # fmt: skip
        q = tl.where(fill[:, None] & valid, sq + 33, q)

    # pass 2, per byte: the steps again, following the byte's position through them
    n = n0
    for s in tl.static_range(NSTEPS):
        kind = (KINDS >> (3 * s)) & 7
        value = tl.load(param_ptr + 2 * s)
        seed = tl.load(param_ptr + 2 * s + 1)
        start, fire, n_after = _read_step(kind, seed, value, n, rows, index, epoch)
        if kind < 4:
            p = p - start[:, None]
        elif kind == 4:
            fired = fire[:, None]
            p = tl.where(fired, n[:, None] - 1 - p, p)
            x = tl.where(fired, complement_byte(x), x)
        elif kind == 5:  # mutate: word p % 4 of draw p // 4 of this read
            w = _position_word(seed, p, index, epoch, STREAM_MUTATE)
            x = mutate_byte(x, w, value, tl.maximum(value, 1))
        elif kind == 6:  # mutate, rate="phred": the threshold of the element's quality byte
            w = _position_word(seed, p, index, epoch, STREAM_MUTATE)
            t = phred_threshold(qthr_ptr + s * 256, q, valid)  # row s: this step's table
            x = mutate_byte(x, w, t, tl.maximum(t, 1))
        n = n_after

    if HAS_QUALS or SIMULATE != 0:
        tl.store(qout_ptr + rows[:, None] * stride_q + cols[None, :],
                 tl.where(valid, q, 0).to(tl.uint8), mask=in_bounds)  # fmt: skip

    dst = out_ptr + rows[:, None] * stride_ob + cols[None, :] * STRIDE_OL
    if ENCODING == 0:  # bytes, padding 0
        tl.store(dst, tl.where(valid, x, 0).to(tl.uint8), mask=in_bounds)
    elif ENCODING == 1:  # integer codes, padding pad_value
        code = tl.where(valid, alphabet_code(x, ALPHABET).to(tl.int64), pad_value)
        tl.store(dst, code, mask=in_bounds)
    else:  # one-hot, padding all zeros
        # 0..NCOLS-1 columns, NCOLS unknown, NCOLS + 1 padding
        code = tl.where(valid, alphabet_code(x, ALPHABET), NCOLS + 1)
        if RANDOM:  # unknown base at output position i: word i % 4 of draw i // 4, >> 30
            useed = pad_value  # one-hot random: pad_value carries the encoder's seed
            w0, w1, w2, w3 = read_philox(useed, cols[None, :] >> 2, index[:, None], epoch,
                                         STREAM_UNKNOWN_BASE)  # fmt: skip
            lane = cols[None, :] & 3
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
        dtype = out_ptr.dtype.element_ty
        if NCL:
            for ch in tl.static_range(NCOLS):
                v = tl.where(code == ch, 1.0, unk)
                tl.store(dst + ch * stride_oc, v.to(dtype), mask=in_bounds)
        else:
            ch = tl.arange(0, NCOLS_P2)
            v = tl.where(code[:, :, None] == ch[None, None, :], 1.0, unk[:, :, None])
            mask = in_bounds[:, :, None] & (ch[None, None, :] < NCOLS)
            tl.store(dst[:, :, None] + ch[None, None, :] * stride_oc, v.to(dtype), mask=mask)


def kind_codes(steps: list[int]) -> tuple[int, int]:
    """``(NSTEPS, KINDS)`` of flat ``[kind, value, seed, mode]`` step rows."""
    return _kind_codes(tuple(steps))


@functools.lru_cache(maxsize=256)
def _kind_codes(steps: tuple[int, ...]) -> tuple[int, int]:
    kinds = 0
    count = len(steps) // 4
    if count > MAX_STEPS:
        raise ValueError(f"the fused kernel takes at most {MAX_STEPS} steps, got {count}")
    for s in range(count):
        kind, mode = steps[4 * s], steps[4 * s + 3]
        code = mode if kind == 0 else (KIND_REVERSE_COMPLEMENT if kind == 1 else KIND_MUTATE)
        if kind == 2 and mode == 1:
            code = KIND_MUTATE_PHRED
        elif kind == 3:
            if s:
                raise ValueError("the fused kernel runs a simulate_qualities step first only")
            code = KIND_SIMULATE_QUALITIES
        kinds |= code << (3 * s)
    return count, kinds


def fused_triton(
    sequences: torch.Tensor,
    qualities: torch.Tensor | None,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    epoch: int,
    width: int,
    steps: list[int],
    params: torch.Tensor,
    encoding: str,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    pad_value: int,
    alphabet: str = "dna",
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Launch ``fused_kernel``: ragged reads -> ``(out, qualities or None, lengths int64)``.

    ``params`` is ``int64 [S, 2]`` (value, seed) of the steps, on the device;
    ``pad_value`` is the integer encoder's padding, or one-hot ``unknown="random"``'s seed
    (a runtime argument: new seeds do not recompile).
    """
    from deepbiop_gpu.ops._fused import output_width

    device = sequences.device
    starts = starts.contiguous()
    lengths = lengths.contiguous()
    index = index.contiguous()
    B = starts.shape[0]
    W = output_width(width, steps)
    nsteps, kinds = kind_codes(steps)
    ncl = encoding == "one_hot" and layout == "NCL"
    out_dtype = {"bytes": torch.uint8, "integer": torch.int64}.get(encoding, dtype)
    C = len(alphabet_columns(alphabet))
    shape = (B, C, W) if ncl else ((B, W, C) if encoding == "one_hot" else (B, W))
    out = torch.empty(shape, dtype=out_dtype, device=device)
    from deepbiop_gpu.ops._fused import phred_tables, unpack_simulate
    from deepbiop_gpu.ops._simulate_qualities import normal_table

    # SimulateQualities (a first step): its model, and the qualities it makes
    simulate, only_missing, sim = 0, False, (0, 0, 0, 0, 0)
    if steps and steps[0] == 3:
        model, b, sign, sd, only_missing = unpack_simulate(steps[3])
        simulate, sim = 1 + model, (steps[1], b, sign, sd, steps[2])
    quals_out = qualities is not None or simulate != 0
    quals = torch.empty((B, W), dtype=torch.uint8, device=device) if quals_out else None
    out_lens = torch.empty(B, dtype=torch.int64, device=device)
    if B == 0:
        return out, quals, out_lens
    if encoding == "one_hot":
        stride_ol, stride_oc = (out.stride(2), out.stride(1)) if ncl else (out.stride(1), out.stride(2))
    else:
        stride_ol, stride_oc = 1, 0
    wide = encoding == "one_hot" and C != 4
    cfg = tile_config(W, tile=WIDE_FUSED_TILE if wide else FUSED_TILE)
    # the encoder's alphabet: dna's launch keeps the defaults (its compiled variants unchanged)
    alphabet_args = {}
    if encoding != "bytes" and alphabet != "dna":
        from deepbiop_gpu.ops._one_hot import uniform_share

        share = uniform_share(dtype, C) if encoding == "one_hot" and unknown == "uniform" else 0.25
        alphabet_args = dict(ALPHABET=ALPHABET_IDS[alphabet], NCOLS=C, NCOLS_P2=4 if C == 4 else 32,
                             SHARE=share)
    n_col_blocks = max(1, cdiv(W, cfg.block_l))
    programs = cdiv(B, cfg.rows) * n_col_blocks
    if programs > MAX_GRID_X:
        raise ValueError(f"a batch of {B} x {W} needs {programs} programs, more than a grid allows")
    launch(
        fused_kernel, (programs,),
        sequences, sequences if qualities is None else qualities, starts, lengths, index, params,
        out, out if quals is None else quals, out_lens,
        B, width, W, n_col_blocks, out.stride(0), stride_oc, W, epoch, pad_value,
        NSTEPS=nsteps, KINDS=kinds, ENCODING=ENCODING_IDS[encoding], NCL=ncl,
        UNIFORM=unknown == "uniform", STRIDE_OL=stride_ol, HAS_QUALS=qualities is not None,
        ROWS=cfg.rows, BLOCK_L=cfg.block_l, RANDOM=encoding == "one_hot" and unknown == "random",
        **alphabet_args, num_warps=cfg.num_warps,
        qthr_ptr=phred_tables(steps, device), normal_ptr=normal_table(device), sim_a=sim[0],
        sim_b=sim[1], sim_sign=sim[2], sim_sd=sim[3], sim_seed=sim[4], SIMULATE=simulate,
        ONLY_MISSING=only_missing,
    )  # fmt: skip
    return out, quals, out_lens
