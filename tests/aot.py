"""Compile a Triton kernel for a CUDA target on a machine without a GPU.

The interpreter lane runs the kernels' Python, which accepts things the real
compiler rejects (e.g. a non-constexpr global); compiling ahead of time for
sm_90 (Triton's bundled LLVM and ptxas) catches those on CPU CI.
"""

from __future__ import annotations

import os

import pytest


def compile_for_cuda(fn, signature, constexprs, capability: int = 90):
    """The compiled kernel for sm_90 (or sm_``capability``); skips where this Triton's API or
    mode does not allow it."""
    triton = pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("triton.jit gives interpreted functions under TRITON_INTERPRET=1")
    try:
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource

        src = ASTSource(fn=fn, signature=signature, constexprs=constexprs)
    except (ImportError, TypeError) as e:  # another Triton's internal API
        pytest.skip(f"ahead-of-time compile API differs in triton {triton.__version__}: {e}")
    return triton.compile(src, target=GPUTarget("cuda", capability, 32))
