"""Which implementation runs an op: the Triton kernel or the torch code.

* CUDA tensors go to the Triton kernel when the ``triton`` package imports
  (otherwise to the torch implementation, which runs on any device).
* CPU tensors go to the torch implementation, unless the environment variable
  ``DEEPBIOP_GPU_FORCE_TRITON=1`` is set: then they go to the Triton kernel,
  which only works under Triton's interpreter (``TRITON_INTERPRET=1``). This
  lets the public ops be checked kernel-against-CPU on a machine with no GPU.

The variable is read at every call, so tests can switch it per test.
"""

from __future__ import annotations

import functools
import os

import torch

__all__ = ["FORCE_TRITON_ENV", "run_op", "triton_available", "use_triton"]

FORCE_TRITON_ENV = "DEEPBIOP_GPU_FORCE_TRITON"


@functools.cache
def triton_available() -> bool:
    """True when the ``triton`` package can be imported."""
    try:
        import triton  # noqa: F401
    except Exception:  # ImportError, or a broken install on an odd platform
        return False
    return True


def use_triton(tensor: torch.Tensor) -> bool:
    """Should an op on ``tensor`` run its Triton kernel?"""
    if tensor.device.type == "cuda":
        return triton_available()
    if os.environ.get(FORCE_TRITON_ENV, "") not in ("", "0"):
        if not triton_available():
            raise RuntimeError(f"{FORCE_TRITON_ENV}=1 but the triton package is not installed")
        if tensor.device.type == "cpu" and os.environ.get("TRITON_INTERPRET", "") != "1":
            raise RuntimeError(
                f"{FORCE_TRITON_ENV}=1 sends CPU tensors to the Triton kernels, which only run "
                "on the CPU under Triton's interpreter: set TRITON_INTERPRET=1 as well "
                "(before triton is imported)"
            )
        return True
    return False


def run_op(op, *args):
    """Call a registered custom op: directly in eager mode, through the dispatcher when compiling.

    ``torch.compile`` must see the registered op (its fake implementation
    gives the graph its shapes), so while compiling this returns ``op(*args)``.
    In eager mode the op's Python body runs directly: the same code the
    dispatcher would run, minus its overhead (tens of microseconds a call,
    and about a second for the first call in a process, which imports
    ``torch._dynamo``).  Both routes are tested.
    """
    if torch.compiler.is_compiling():
        return op(*args)
    body = getattr(op, "_init_fn", None)  # CustomOpDef keeps the decorated function
    return body(*args) if body is not None else op(*args)
