"""Argument checks shared by the ops: clear errors naming the argument.

Checks of tensor *metadata* (dtype, rank, shape, device) always run.  Checks
of tensor *values* (lengths within ``[0, L]``) run only for CPU tensors in
eager mode: on CUDA they would force a host synchronisation per batch, so
there the kernels clamp every length into ``[0, L]`` instead.  Sample indices
are the exception: a negative one silently repeats random numbers, so on the
device they get an asynchronous assert (``torch._assert_async``, no host
synchronisation), and the collate checks them on the host before the copy.
"""

from __future__ import annotations

import torch

__all__ = ["check_batch", "check_int", "check_index", "check_seed"]

_LENGTH_DTYPES = (torch.int32, torch.int64)


def _values_checkable(t: torch.Tensor) -> bool:
    return t.device.type == "cpu" and not torch.compiler.is_compiling()


def check_batch(seqs: torch.Tensor, lengths: torch.Tensor, *, name: str = "seqs") -> None:
    """``seqs`` is ``uint8 [B, L]``, ``lengths`` is ``int32/int64 [B]`` on the same device."""
    if not isinstance(seqs, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(seqs).__name__}")
    if not isinstance(lengths, torch.Tensor):
        raise TypeError(f"lengths must be a torch.Tensor, got {type(lengths).__name__}")
    if seqs.dtype != torch.uint8:
        raise TypeError(f"{name} must be a uint8 tensor of ASCII bytes, got {seqs.dtype}")
    if seqs.dim() != 2:
        raise ValueError(f"{name} must have shape [B, L], got {tuple(seqs.shape)}")
    if lengths.dtype not in _LENGTH_DTYPES:
        raise TypeError(f"lengths must be int32 or int64, got {lengths.dtype}")
    if lengths.dim() != 1 or lengths.shape[0] != seqs.shape[0]:
        raise ValueError(
            f"lengths must have shape [B] = [{seqs.shape[0]}], got {tuple(lengths.shape)}"
        )
    if lengths.device != seqs.device:
        raise ValueError(f"lengths is on {lengths.device} but {name} is on {seqs.device}")
    if _values_checkable(lengths) and lengths.numel():
        values = lengths.numpy()  # numpy: a few µs, where torch ops cost tens
        width = seqs.shape[1]
        if values.min() < 0 or values.max() > width:
            i = int(((values < 0) | (values > width)).nonzero()[0][0])
            raise ValueError(f"lengths[{i}] = {int(values[i])} is outside [0, L] with L = {width}")


def check_int(value: object, name: str, *, low: int | None = None, high: int | None = None) -> int:
    """``value`` is a Python int (not bool) within ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_seed(seed: object, name: str = "seed") -> int:
    """Seeds are ints in ``[0, 2**63)`` (the range of a torch op's ``int``)."""
    return check_int(seed, name, low=0, high=2**63 - 1)


INDEX_MESSAGE = "index must be >= 0 (sample indices)"


def check_index(index: torch.Tensor, seqs: torch.Tensor) -> None:
    """``index``: the sample index of each read, ``int64 [B]`` on the device of ``seqs``."""
    if not isinstance(index, torch.Tensor):
        raise TypeError(f"index must be a torch.Tensor, got {type(index).__name__}")
    if index.dtype != torch.int64 or index.dim() != 1 or index.shape[0] != seqs.shape[0]:
        raise ValueError(
            f"index must be int64 of shape [B] = [{seqs.shape[0]}], got "
            f"{index.dtype} {tuple(index.shape)}"
        )
    if index.device != seqs.device:
        raise ValueError(f"index is on {index.device} but seqs is on {seqs.device}")
    if not index.numel():
        return
    if _values_checkable(index):
        if index.numpy().min() < 0:
            raise ValueError(INDEX_MESSAGE)
    elif index.device.type != "meta" and not torch.compiler.is_compiling():
        # on the device: an asynchronous assert, no host synchronisation (the
        # collate has already checked the indices on the host)
        torch._assert_async((index >= 0).all(), INDEX_MESSAGE)


# --- helpers added for reverse_complement / mutate / crop (issue 3) ----------


def check_rows(x: torch.Tensor, lengths: torch.Tensor, *, name: str) -> None:
    """Like :func:`check_batch` for a ``[B, L]`` tensor of any dtype (e.g. qualities)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape [B, L], got {tuple(x.shape)}")
    if x.is_complex():
        raise TypeError(f"{name} must be a real tensor, got {x.dtype}")
    # a zero-stride uint8 stand-in of the same shape and device: check_batch's
    # checks (and messages) without allocating B x L bytes
    stand_in = torch.empty(1, dtype=torch.uint8, device=x.device).as_strided(x.shape, (0, 0))
    check_batch(stand_in, lengths, name=name)


def check_mask(mask: torch.Tensor, seqs: torch.Tensor, name: str) -> None:
    """``mask`` is ``bool [B]`` on the device of ``seqs``."""
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool or mask.dim() != 1 or mask.shape[0] != seqs.shape[0]:
        raise ValueError(
            f"{name} must be bool of shape [B] = [{seqs.shape[0]}], got "
            f"{mask.dtype} {tuple(mask.shape)}"
        )
    if mask.device != seqs.device:
        raise ValueError(f"{name} is on {mask.device} but seqs is on {seqs.device}")
