"""Which implementation runs an op: the Triton kernel or the torch code.

* CUDA tensors go to the Triton kernel when Triton can launch kernels here
  (:func:`triton_usable`: the ``triton`` package imports, and the C compiler,
  Python headers and ``libcuda`` that Triton needs at its first launch, to
  build its launcher, are found); otherwise, and from the first launch that
  fails for want of them, to the torch implementation, which runs on any
  device and gives the same bits.  Falling back warns once, saying why and
  how to fix it.
* CPU tensors go to the torch implementation, unless the environment variable
  ``DEEPBIOP_GPU_FORCE_TRITON=1`` is set: then they go to the Triton kernel,
  which only works under Triton's interpreter (``TRITON_INTERPRET=1``). This
  lets the public ops be checked kernel-against-CPU on a machine with no GPU.

The variable is read at every call, so tests can switch it per test.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sysconfig
import warnings
from collections.abc import Callable
from typing import Any

import torch

__all__ = [
    "FORCE_TRITON_ENV",
    "run_op",
    "run_triton",
    "triton_available",
    "triton_preflight",
    "triton_usable",
    "use_triton",
]

FORCE_TRITON_ENV = "DEEPBIOP_GPU_FORCE_TRITON"


@functools.cache
def triton_available() -> bool:
    """True when the ``triton`` package can be imported."""
    try:
        import triton  # noqa: F401
    except Exception:  # ImportError, or a broken install on an odd platform
        return False
    return True


def _c_compiler_problem() -> str | None:
    """Triton's own search (``runtime/build.py``): ``$CC``, else gcc, else clang."""
    cc = os.environ.get("CC")
    if cc:
        return None if shutil.which(cc) else f"CC={cc} is not an executable on PATH"
    if shutil.which("gcc") or shutil.which("clang"):
        return None
    return "no C compiler (gcc or clang on PATH, or $CC) was found"


def _python_headers_problem() -> str | None:
    """Triton compiles its launcher against ``Python.h`` from this include directory."""
    scheme = sysconfig.get_default_scheme()
    if scheme == "posix_local":  # as Triton does (Debian's system Python)
        scheme = "posix_prefix"
    include = sysconfig.get_paths(scheme=scheme).get("include") or ""
    if include and os.path.exists(os.path.join(include, "Python.h")):
        return None
    return f"the Python headers are missing (no Python.h in {include or 'the include path'})"


def _libcuda_problem() -> str | None:
    """Triton links its launcher against ``libcuda.so.1``, found as Triton finds it."""
    if os.environ.get("TRITON_LIBCUDA_PATH"):
        return None
    try:
        listing = subprocess.run(
            ["/sbin/ldconfig", "-p"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    if "libcuda.so.1" in listing:
        return None
    for folder in os.environ.get("LD_LIBRARY_PATH", "").split(os.pathsep):
        if folder and os.path.exists(os.path.join(folder, "libcuda.so.1")):
            return None
    return "libcuda.so.1 is neither in the linker cache (/sbin/ldconfig -p) nor on LD_LIBRARY_PATH"


def _custom_build() -> bool:
    """Has the user given Triton its own launcher build (``triton.knobs.build.impl``)?"""
    try:
        import triton

        return bool(triton.knobs.build.impl)
    except Exception:  # older Triton: no knobs
        return False


@functools.cache
def triton_preflight() -> str | None:
    """Why Triton cannot launch CUDA kernels here, or None when it can (checked once).

    At its first launch of each kernel signature Triton builds a small C
    launcher with the host's C compiler, against ``Python.h`` and
    ``libcuda``; without them every launch fails.  This checks the three the
    way Triton looks for them (without building anything).
    """
    if not triton_available():
        return "the triton package does not import"
    problems = [] if _custom_build() else [_c_compiler_problem(), _python_headers_problem()]
    problems.append(_libcuda_problem())
    problems = [p for p in problems if p]
    return "; ".join(problems) or None


def triton_usable() -> bool:
    """True when Triton can launch CUDA kernels here (see :func:`triton_preflight`)."""
    return triton_preflight() is None and _FALLBACK["reason"] is None


# why the CUDA ops run their torch code instead of Triton (None: they do not), and
# whether that was said
_FALLBACK: dict[str, Any] = {"reason": None, "warned": False}


def _fall_back(reason: str) -> None:
    """CUDA ops run torch from now on; warn once, saying why and how to fix it."""
    _FALLBACK["reason"] = reason
    if not _FALLBACK["warned"]:
        _FALLBACK["warned"] = True
        warnings.warn(
            f"deepbiop_gpu: Triton cannot launch its kernels here ({reason}), so the ops run "
            "their torch implementations on CUDA instead (the same results, slower). To use "
            "the Triton kernels, install a C compiler (e.g. `apt-get install gcc`) or point "
            "the CC environment variable at one, and the Python development headers "
            "(e.g. python3-dev).",
            RuntimeWarning,
            stacklevel=3,
        )


def _reset_fallback() -> None:
    """Forget the preflight and any fallback (tests)."""
    triton_preflight.cache_clear()
    _FALLBACK.update(reason=None, warned=False)


# what Triton raises when it cannot build or load its launcher (runtime/build.py,
# backends/nvidia/driver.py): messages that tell these from a kernel's own errors
_LAUNCH_FAILURES = (
    "failed to find c compiler",
    "python.h",
    "libcuda",
    "__triton_launcher",
    "cuda_utils",
)


def launch_failure(error: BaseException) -> str | None:
    """A short reason when ``error`` says Triton could not build or load its launcher."""
    if isinstance(error, subprocess.CalledProcessError):
        return f"building Triton's C launcher failed ({' '.join(map(str, error.cmd))[:200]})"
    text = str(error)
    if any(key in text.lower() for key in _LAUNCH_FAILURES):
        return text.strip().splitlines()[0][:300] if text.strip() else type(error).__name__
    return None


def run_triton(launcher: Callable[..., Any], *args: Any) -> Any:
    """``launcher(*args)``, or None when Triton cannot launch here (the op then runs torch).

    An error that says Triton could not build or load its launcher (no C
    compiler, no ``Python.h``, no ``libcuda``) makes CUDA ops fall back to
    their torch implementations for the rest of the process, with one
    warning; any other error propagates.
    """
    try:
        return launcher(*args)
    except Exception as error:
        reason = launch_failure(error)
        if reason is None:
            raise
        _fall_back(reason)
        return None


def use_triton(tensor: torch.Tensor) -> bool:
    """Should an op on ``tensor`` run its Triton kernel?"""
    if tensor.device.type == "cuda":
        if not triton_available() or _FALLBACK["reason"] is not None:
            return False
        problem = triton_preflight()
        if problem is not None:
            _fall_back(problem)
            return False
        return True
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
