"""``simulate_qualities``: seeded per-base Phred+33 qualities from a :class:`QualityModel`.

Gives FASTA reads (or any reads) qualities, e.g. for quality-aware
augmentation or models that take a quality channel.  Counter-based like
every random op: a read's qualities depend only on ``(model, seed, epoch,
index, its length)``, never on the batch, its order or the device.  The rule,
in integer arithmetic only so that the torch code and the Triton kernel agree
bit for bit, is documented in :mod:`deepbiop_gpu.quality_models`.
"""

from __future__ import annotations

import functools
import warnings
from statistics import NormalDist

import numpy as np
import torch

from ..quality_models import MAX_QUALITY, NORMAL, QualityModel
from ._checks import check_int, check_seed
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_enabled, numba_module, run_rows
from ._philox import philox4x32, read_counters

__all__ = [
    "STREAM_SIMULATE_QUALITIES",
    "normal_table",
    "simulate_qualities",
    "simulate_qualities_torch",
]

#: Philox stream of this op (ops use 1 mutate, 2 crop, 3 reverse complement;
#: 0x53 is the seeded subsample filter): ``0x51``, "Q".
STREAM_SIMULATE_QUALITIES = 0x51
TABLE_BITS = 16
_CHUNK_DRAWS = 1 << 16  # Philox calls per pass of the torch code


@functools.cache
def _normal_table_cpu() -> torch.Tensor:
    """``int32 [65536]``: ``round(Φ⁻¹((k + 0.5) / 65536) · 2**16)`` (standard normal quantiles)."""
    n = 1 << TABLE_BITS
    inv = NormalDist().inv_cdf
    values = [round(inv((k + 0.5) / n) * 65536.0) for k in range(n)]
    return torch.tensor(values, dtype=torch.int32)


def normal_table(device: torch.device) -> torch.Tensor:
    """The normal-quantile table of the op on ``device`` (cached per device)."""
    return _normal_table_on(str(device))


@functools.cache
def _normal_table_on(device: str) -> torch.Tensor:
    return _normal_table_cpu().to(device)


def simulate_qualities_torch(
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
    """Torch implementation (any device): the same words and integer rule as the kernel.

    On the CPU with numba installed (and ``DEEPBIOP_GPU_NUMBA`` not ``0``) a
    compiled loop runs instead, with the same bytes (tested).
    """
    (B,) = lengths.shape
    device = lengths.device
    out = torch.zeros((B, width), dtype=torch.uint8, device=device)
    if B == 0 or width == 0:
        return out
    D = -(-width // 4)  # draw d serves positions 4d .. 4d+3
    lens = lengths.to(torch.int64).clamp(min=0)
    c1, c2, c3 = read_counters(index, epoch, STREAM_SIMULATE_QUALITIES)
    draws = torch.arange(D, device=device)
    pos = torch.arange(width, device=device)
    z_table = table.to(torch.int64)
    step = max(1, _CHUNK_DRAWS // D)
    for r0 in range(0, B, step):
        n = min(step, B - r0)
        words = philox4x32(seed, draws, *(c[r0 : r0 + n, None] for c in (c1, c2, c3)))
        w = torch.stack(words, dim=-1).view(n, 4 * D)[:, :width]  # position 4d + k: word k
        rl = lens[r0 : r0 + n, None]
        if kind == NORMAL:
            z = z_table[w >> 16]
            mean = a + sign * ((b * pos) // (rl - 1).clamp(min=1))
            v = mean * 65536 + sd * z + 2**31
            q = (v.clamp(min=0) >> 32).clamp(max=MAX_QUALITY)
        else:
            q = a + ((w * b) >> 32)
        out[r0 : r0 + n] = torch.where(pos < rl, q + 33, 0).to(torch.uint8)
    return out


@functools.cache
def _numba_loop():
    """The CPU loop (numba; the same words and integer rule, one Philox call per 4 bases).

    None without numba (the torch code runs then).
    """
    numba = numba_module()
    if numba is None:
        return None
    from ._fused_cpu import read_counters, simulate_read  # the rule, shared with the fused loop

    @numba.njit(nogil=True)
    def loop(lens, index, table, normal, a, b, sign, sd, k0, k1, c2, stream, out, r0, r1):
        W = out.shape[1]
        for r in range(r0, r1):
            n = max(lens[r], 0)
            m = min(n, W)
            c1, c3 = read_counters(index[r], stream)
            row = out[r]
            simulate_read(row, m, n, k0, k1, c1, c2, c3, normal, table, a, b, sign, sd)
            for i in range(m, W):
                row[i] = 0

    try:  # compile now, on the argument types of the real calls
        _run_numba(loop, torch.tensor([5]), torch.tensor([0]), 1, 0, 1, 1, 0, 0, 0, 8)
    except Exception as e:  # a numba that cannot compile it: fall back to the torch code
        warnings.warn(f"numba failed on the quality loop, using torch: {e}", RuntimeWarning, 2)
        return None
    return loop


def _run_numba(loop, lengths, index, kind, a, b, sign, sd, seed, epoch, width) -> torch.Tensor:
    B = lengths.shape[0]
    out = torch.empty((B, width), dtype=torch.uint8)
    i64 = np.int64
    run_rows(
        loop, B,
        lengths.to(torch.int64).contiguous().numpy(), index.contiguous().numpy(),
        _normal_table_cpu().numpy(), kind == NORMAL, i64(a), i64(b), i64(sign), i64(sd),
        np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF),
        np.uint64(epoch & 0xFFFFFFFF), np.uint64(STREAM_SIMULATE_QUALITIES), out.numpy(),
    )  # fmt: skip
    return out


@torch.library.custom_op("deepbiop_gpu::simulate_qualities", mutates_args=())
def _simulate_qualities_op(
    lengths: torch.Tensor,
    index: torch.Tensor,
    kind: int,
    a: int,
    b: int,
    sign: int,
    sd: int,
    seed: int,
    epoch: int,
    width: int,
) -> torch.Tensor:
    if use_triton(lengths):
        from deepbiop_gpu.kernels.simulate_qualities import simulate_qualities_triton

        out = run_triton(
            simulate_qualities_triton, lengths, index, normal_table(lengths.device), kind, a, b,
            sign, sd, seed, epoch, width,
        )  # fmt: skip
        if out is not None:
            return out
    if lengths.device.type == "cpu" and numba_enabled() and _numba_loop() is not None:
        return _run_numba(_numba_loop(), lengths, index, kind, a, b, sign, sd, seed, epoch, width)
    table = normal_table(lengths.device)
    return simulate_qualities_torch(lengths, index, table, kind, a, b, sign, sd, seed, epoch, width)


@_simulate_qualities_op.register_fake
def _(
    lengths: torch.Tensor,
    index: torch.Tensor,
    kind: int,
    a: int,
    b: int,
    sign: int,
    sd: int,
    seed: int,
    epoch: int,
    width: int,
) -> torch.Tensor:
    return lengths.new_empty((lengths.shape[0], width), dtype=torch.uint8)


def fill_qualities(
    have: torch.Tensor | None, simulated: torch.Tensor, lengths: torch.Tensor, only_missing: bool
) -> torch.Tensor:
    """SimulateQualities' rule: ``simulated`` (``uint8 [B, L]``) for every read, or with
    ``only_missing`` for the reads of ``have`` whose quality bytes are all 0 (the other
    reads keep theirs); padding (at or past ``lengths``) 0.  Used by the transform and the
    fused op's torch path alike."""
    if have is None or not only_missing:
        return simulated
    inside = torch.arange(have.shape[1], device=have.device) < lengths.to(torch.int64)[:, None]
    missing = ~((have != 0) & inside).any(dim=1, keepdim=True)
    return torch.where(inside, torch.where(missing, simulated, have), 0)


def _check_lengths_index(lengths: torch.Tensor, index: torch.Tensor) -> None:
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"lengths must be a torch.Tensor, got {type(lengths).__name__}")
    if lengths.dtype not in (torch.int32, torch.int64) or lengths.dim() != 1:
        raise TypeError(f"lengths must be int32 or int64 of shape [B], got {lengths.dtype} "
                        f"{tuple(lengths.shape)}")  # fmt: skip
    if not isinstance(index, torch.Tensor):
        raise TypeError(f"index must be a torch.Tensor, got {type(index).__name__}")
    if index.dtype != torch.int64 or index.shape != lengths.shape:
        raise ValueError(f"index must be int64 of shape [B] = [{lengths.shape[0]}], got "
                         f"{index.dtype} {tuple(index.shape)}")  # fmt: skip
    if index.device != lengths.device:
        raise ValueError(f"index is on {index.device} but lengths is on {lengths.device}")
    if lengths.device.type == "cpu" and not torch.compiler.is_compiling() and lengths.numel():
        if int(lengths.min()) < 0:
            raise ValueError("lengths must be >= 0")
        if int(index.min()) < 0:
            raise ValueError("index must be >= 0 (sample indices)")


def simulate_qualities(
    lengths: torch.Tensor,
    model: QualityModel,
    seed: int,
    index: torch.Tensor,
    epoch: int = 0,
    width: int | None = None,
) -> torch.Tensor:
    """Seeded per-base qualities: ``uint8 [B, width]`` of Phred+33 bytes, padding 0.

    Position ``i < lengths[b]`` of row ``b`` holds ``33 + Q`` with ``Q`` drawn
    from ``model`` (an integer in ``[0, 93]``); positions at or past the read's
    length hold 0, as the readers pad qualities.  The draw of position ``i``
    is word ``i % 4`` of the Philox-4x32-10 call with key ``seed`` and counter
    ``(i // 4, index[b] & 0xFFFFFFFF, epoch & 0xFFFFFFFF,
    STREAM_SIMULATE_QUALITIES | (index[b] >> 32) << 8)``; how a word becomes
    ``Q`` is in :mod:`deepbiop_gpu.quality_models`.  The result depends only on
    ``(model, seed, epoch, index[b], lengths[b])``, so not on the batch size,
    order, composition or device (CPU and CUDA give the same bytes).

    Parameters
    ----------
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Read lengths (``>= 0``).  The degrading model runs its mean from the
        first base to base ``lengths[b] - 1``, even when ``width`` cuts the row.
    model : QualityModel
        E.g. ``QualityModel.high_quality()``.
    seed : int
        Philox key, ``0 <= seed < 2**63``.
    index : Tensor, ``int64 [B]``
        Sample index of each read, on the device of ``lengths``.
    epoch : int, default 0
    width : int, optional
        Columns of the output.  Default ``max(lengths)``, which reads the
        lengths on the host (a synchronisation on CUDA): GPU callers pass it.

    Returns
    -------
    Tensor, ``uint8 [B, width]`` on the device of ``lengths``.

    Examples
    --------
    >>> from deepbiop_gpu import QualityModel
    >>> q = simulate_qualities(torch.tensor([5, 2]), QualityModel.uniform(30, 30), seed=0,
    ...                        index=torch.arange(2))
    >>> bytes(q[0].tolist()), q[1].tolist()
    (b'?????', [63, 63, 0, 0, 0])
    >>> hq = simulate_qualities(torch.tensor([10000]), QualityModel.high_quality(), 1,
    ...                         torch.tensor([0]))
    >>> round((hq.double() - 33).mean().item())
    37
    """
    if not isinstance(model, QualityModel):
        raise TypeError(f"model must be a QualityModel (e.g. QualityModel.high_quality()), "
                        f"got {type(model).__name__}")  # fmt: skip
    _check_lengths_index(lengths, index)
    check_seed(seed)
    check_seed(epoch, "epoch")
    if width is None:
        width = int(lengths.max()) if lengths.numel() else 0
    check_int(width, "width", low=0)
    kind, a, b, sign, sd = model.params()
    return run_op(_simulate_qualities_op, lengths, index, kind, a, b, sign, sd, seed, epoch, width)
