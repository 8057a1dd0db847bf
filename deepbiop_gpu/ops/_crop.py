"""``crop``: one window of a fixed length per read (seeded random, or start/center/end).

CPU: numba loops (the start of each window and the copy in one pass) when
numba is installed, else torch code; both tested against the naive reference.
"""

from __future__ import annotations

import functools

import torch

from ._checks import check_batch, check_index, check_int, check_rows, check_seed
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_lengths, numba_ok, run_numba
from ._philox import STREAM_CROP, read_words

__all__ = ["MODES", "crop", "crop_torch", "take_windows", "take_windows_torch"]

MODES = ("random", "start", "center", "end")


def crop_starts_torch(
    lengths: torch.Tensor,
    index: torch.Tensor | None,
    width: int,
    length: int,
    mode: str,
    seed: int,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(starts int64 [B], new_lengths [B])`` of the windows; lengths clamped to ``[0, width]``."""
    lens = lengths.to(torch.int64).clamp(0, width)
    excess = (lens - length).clamp_(min=0)  # 0 for reads no longer than the window
    if mode == "start":
        starts = torch.zeros_like(lens)
    elif mode == "center":
        starts = excess // 2
    elif mode == "end":
        starts = excess
    else:  # random: multiply-shift maps a 32-bit word onto [0, excess] (64-bit product)
        assert index is not None  # checked by crop()
        word0 = read_words(seed, index, epoch, STREAM_CROP, 0)[0]
        starts = (word0 * (excess + 1)) >> 32
    return starts, lens.clamp(max=length).to(lengths.dtype)


def take_windows_torch(
    x: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, length: int
) -> torch.Tensor:
    """Torch implementation (any device) of :func:`take_windows`.

    Positions outside ``[0, L)`` of ``x`` read as 0, so unchecked (CUDA)
    values never read out of bounds.
    """
    B, L = x.shape
    cols = torch.arange(length, device=x.device)
    src = starts.to(torch.int64).unsqueeze(1) + cols  # [B, length]
    valid = (cols < lengths.unsqueeze(1)) & (src >= 0) & (src < L)
    if L == 0 or B == 0 or length == 0:
        return torch.zeros((B, length), dtype=x.dtype, device=x.device)
    out = torch.gather(x, 1, src.clamp_(0, L - 1))
    return out.masked_fill_(~valid, 0)


def crop_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor | None,
    length: int,
    mode: str,
    seed: int,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Torch implementation (any device) of :func:`crop`."""
    starts, new_lengths = crop_starts_torch(
        lengths, index, seqs.shape[1], length, mode, seed, epoch
    )
    return take_windows_torch(seqs, starts, new_lengths, length), new_lengths, starts


@functools.cache
def _numba_loops():
    import numba
    import numpy as np

    from ._fused_cpu import read_counters, window_start  # the rule, shared with the fused loop

    stream = np.uint64(STREAM_CROP)

    @numba.njit(nogil=True)
    def crop_loop(seqs, lens, index, length, mode, k0, k1, c2, out, out_lens, starts,
                  nv, v0, v1):  # pragma: no cover - compiled
        B = seqs.shape[0]
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            c1, c3 = read_counters(index[b], stream)
            s = window_start(n, length, mode, k0, k1, c1, c2, c3)
            m = min(n, length)
            for p in range(m):
                out[b, p] = seqs[b, s + p]
            for p in range(m, length):
                out[b, p] = 0
            starts[b] = s
            out_lens[b] = m

    @numba.njit(nogil=True)
    def windows_loop(x, starts, lens, out, nv, v0, v1):  # pragma: no cover - compiled
        B, L = x.shape
        length = out.shape[1]
        for b in range(B * v0 // nv, B * v1 // nv):
            s = starts[b]
            m = min(lens[b], length)
            for p in range(length):
                src = s + p
                out[b, p] = x[b, src] if p < m and 0 <= src < L else 0

    return crop_loop, windows_loop


def _crop_numba(seqs, lengths, index, length: int, mode: str, seed: int, epoch: int):
    """The numba CPU loop; None if numba cannot compile it (then torch runs)."""
    import numpy as np

    B, L = seqs.shape
    out = torch.empty((B, length), dtype=torch.uint8)
    new_lengths = torch.empty(B, dtype=lengths.dtype)
    starts = torch.empty(B, dtype=torch.int64)
    index_np = index.contiguous().numpy() if index is not None else np.zeros(B, np.int64)
    ok = run_numba(
        "crop", _numba_loops()[0], seqs,
        seqs.contiguous().numpy(), numba_lengths(lengths, L), index_np, length, MODES.index(mode),
        np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF),
        np.uint64(epoch & 0xFFFFFFFF), out.numpy(), new_lengths.numpy(), starts.numpy(),
    )  # fmt: skip
    return (out, new_lengths, starts) if ok else None


def _take_windows_numba(x, starts, lengths, length: int):
    """The numba CPU loop; None if numba cannot compile it (then torch runs)."""
    out = torch.empty((x.shape[0], length), dtype=x.dtype)
    ok = run_numba(
        "take_windows", _numba_loops()[1], x,
        x.contiguous().numpy(), starts.contiguous().numpy(),
        lengths.to(torch.int64).contiguous().numpy(), out.numpy(),
    )  # fmt: skip
    return out if ok else None


@torch.library.custom_op("deepbiop_gpu::crop", mutates_args=())
def _crop_op(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor | None,
    length: int,
    mode: str,
    seed: int,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    if use_triton(seqs):
        from deepbiop_gpu.kernels.crop import crop_triton

        result = run_triton(crop_triton, seqs, lengths, index, length, mode, seed, epoch)
        if result is not None:
            return result
    if seqs.device.type == "cpu" and numba_ok("crop") and seqs.shape[0]:
        result = _crop_numba(seqs, lengths, index, length, mode, seed, epoch)
        if result is not None:
            return result
    return crop_torch(seqs, lengths, index, length, mode, seed, epoch)


@_crop_op.register_fake
def _(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor | None,
    length: int,
    mode: str,
    seed: int,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    B = seqs.shape[0]
    return (
        seqs.new_empty((B, length)),
        lengths.new_empty((B,)),
        lengths.new_empty((B,), dtype=torch.int64),
    )


@torch.library.custom_op("deepbiop_gpu::take_windows", mutates_args=())
def _take_windows_op(
    x: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, length: int
) -> torch.Tensor:
    if use_triton(x):
        from deepbiop_gpu.kernels.crop import take_windows_triton

        out = run_triton(take_windows_triton, x, starts, lengths, length)
        if out is not None:
            return out
    if x.device.type == "cpu" and numba_ok("take_windows") and x.shape[0] and x.dtype != torch.bfloat16:
        out = _take_windows_numba(x, starts, lengths, length)
        if out is not None:
            return out
    return take_windows_torch(x, starts, lengths, length)


@_take_windows_op.register_fake
def _(x: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, length: int) -> torch.Tensor:
    return x.new_empty((x.shape[0], length))


def _check_length(length: object) -> int:
    return check_int(length, "length", low=0)


def crop(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    length: int,
    mode: str = "random",
    seed: int = 0,
    index: torch.Tensor | None = None,
    epoch: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cut one window of ``length`` bases out of each read (DeepBioP's Sampler).

    A read of length ``n > length`` keeps ``[start, start + length)``; a read
    no longer than ``length`` is kept whole (``start = 0``).  With
    ``excess = max(n - length, 0)``:

    * ``"start"``: ``start = 0``;
    * ``"center"``: ``start = excess // 2``;
    * ``"end"``: ``start = excess``;
    * ``"random"``: ``start = (w * (excess + 1)) >> 32`` (64-bit product),
      with ``w`` word 0 of Philox draw 0 of read ``index[b]`` on
      ``STREAM_CROP`` (counter layout in :mod:`deepbiop_gpu.ops._philox`):
      uniform over ``[0, excess]`` within ``(excess + 1) / 2**32``, and a
      function of ``(seed, epoch, index[b], n)`` only, never of the batch or
      the device.

    Crop the qualities (or any per-base tensor) with the same windows by
    passing the returned ``starts`` and ``new_lengths`` to :func:`take_windows`.

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, right-padded (padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    length : int
        Window length, ``>= 0`` (it may exceed ``L``: the output is padded).
    mode : {"random", "start", "center", "end"}, default "random"
    seed : int, default 0
        Philox key for ``"random"``, ``0 <= seed < 2**63``.
    index : Tensor, ``int64 [B]``, optional
        Sample index of each read; required by ``"random"``.
    epoch : int, default 0
        Training epoch for ``"random"``, ``>= 0``.

    Returns
    -------
    seqs : Tensor, ``uint8 [B, length]``
        The windows, left-aligned, padding written as 0.
    new_lengths : Tensor, ``[B]``, dtype of ``lengths``
        ``min(n, length)``.
    starts : Tensor, ``int64 [B]``
        Where each window starts in its read.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"AACCGGTT"), list(b"ACG\\0\\0\\0\\0\\0")], dtype=torch.uint8)
    >>> out, n, s = crop(seqs, torch.tensor([8, 3]), 4, mode="center")
    >>> [bytes(r) for r in out.tolist()], n.tolist(), s.tolist()
    ([b'CCGG', b'ACG\\x00'], [4, 3], [2, 0])
    >>> out, n, s = crop(seqs, torch.tensor([8, 3]), 4, seed=1, index=torch.tensor([10, 11]))
    >>> 0 <= int(s[0]) <= 4 and int(s[1]) == 0
    True
    """
    check_batch(seqs, lengths)
    length = _check_length(length)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
    check_seed(seed)
    check_seed(epoch, "epoch")
    if index is None:
        if mode == "random":
            raise ValueError(
                "crop(mode='random') needs index: the sample index of each read (int64 [B])"
            )
    else:
        check_index(index, seqs)
    return run_op(_crop_op, seqs, lengths, index, length, mode, seed, epoch)


def take_windows(
    x: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, length: int
) -> torch.Tensor:
    """Take the window ``[starts[b], starts[b] + lengths[b])`` of each row of ``x``.

    The companion of :func:`crop`: ``take_windows(quals, starts, new_lengths,
    length)`` crops qualities (or any per-base tensor) with exactly the
    windows that cropped the bases.

    Parameters
    ----------
    x : Tensor, ``[B, L]``, any real dtype
    starts : Tensor, ``int64 [B]``
        Start of each window, ``>= 0``.
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each window; ``starts + lengths <= L``.
    length : int
        Output width, ``>= 0``; positions at or past ``lengths[b]`` are 0.

    Returns
    -------
    Tensor, ``[B, length]``, dtype of ``x``.

    Examples
    --------
    >>> q = torch.tensor([list(b"ABCDEFGH"), list(b"IJK\\0\\0\\0\\0\\0")], dtype=torch.uint8)
    >>> out = take_windows(q, torch.tensor([2, 0]), torch.tensor([4, 3]), 4)
    >>> [bytes(r) for r in out.tolist()]
    [b'CDEF', b'IJK\\x00']
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    length = _check_length(length)
    if not isinstance(starts, torch.Tensor):
        raise TypeError(f"starts must be a torch.Tensor, got {type(starts).__name__}")
    if x.dim() != 2:
        raise ValueError(f"x must have shape [B, L], got {tuple(x.shape)}")
    B, L = x.shape
    if starts.dtype != torch.int64 or starts.shape != (B,):
        raise ValueError(
            f"starts must be int64 of shape [B] = [{B}], got {starts.dtype} {tuple(starts.shape)}"
        )
    if starts.device != x.device:
        raise ValueError(f"starts is on {starts.device} but x is on {x.device}")
    check_rows(x, lengths, name="x")
    if starts.device.type == "cpu" and not torch.compiler.is_compiling() and B:
        end = starts + lengths
        bad = (starts < 0) | (end > L)
        if bool(bad.any()):
            i = int(bad.nonzero()[0, 0])
            raise ValueError(
                f"window {i} = [{int(starts[i])}, {int(end[i])}) is outside [0, L] with L = {L}"
            )
    return run_op(_take_windows_op, x, starts, lengths, length)
