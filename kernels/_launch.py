"""The one place Triton kernels are launched from.

Triton launches on the *current* CUDA device and stream, not on the device of
the tensors it is given.  :func:`launch` enters ``torch.cuda.device`` of the
first tensor argument for CUDA tensors (and nothing otherwise: CPU tensors
under ``TRITON_INTERPRET=1``, ``meta`` tensors in the grid tests), so an op on
a ``cuda:1`` tensor while ``cuda:0`` is current runs on device 1 and its
current stream.  Every ``kernel[grid](...)`` call in ``kernels/`` goes through
it (a static test checks that).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["launch", "on_device"]


def on_device(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """``torch.cuda.device(tensor.device)`` for CUDA tensors, a no-op context otherwise."""
    if tensor.device.type == "cuda":
        return torch.cuda.device(tensor.device)
    return contextlib.nullcontext()


def launch(kernel: Any, grid: Sequence[int], *args: Any, **kwargs: Any) -> None:
    """Run ``kernel[grid](*args, **kwargs)`` on the device of the first tensor in ``args``."""
    anchor = next((a for a in args if isinstance(a, torch.Tensor)), None)
    with on_device(anchor) if anchor is not None else contextlib.nullcontext():
        kernel[tuple(grid)](*args, **kwargs)
