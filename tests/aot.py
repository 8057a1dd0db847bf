"""Compile a Triton kernel for a CUDA target on a machine without a GPU.

The interpreter lane runs the kernels' Python, which accepts things the real
compiler rejects (e.g. a non-constexpr global); compiling ahead of time for
sm_90 (Triton's bundled LLVM and ptxas) catches those on CPU CI.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile

import pytest


def compile_for_cuda(fn, signature, constexprs, capability: int = 90, *, num_warps=None,
                     divisible=()):
    """The compiled kernel for sm_90 (or sm_``capability``); skips where this Triton's API or mode does not allow it.

    ``num_warps``: the launch's (Triton's default otherwise); ``divisible``:
    argument names to mark 16-divisible, as the JIT does for aligned pointers
    and strides that are multiples of 16.
    """
    triton = pytest.importorskip("triton")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("triton.jit gives interpreted functions under TRITON_INTERPRET=1")
    try:
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource

        attrs = {(fn.arg_names.index(a),): [["tt.divisibility", 16]] for a in divisible}
        src = ASTSource(fn=fn, signature=signature, constexprs=constexprs, attrs=attrs or None)
    except (ImportError, TypeError) as e:  # another Triton's internal API
        pytest.skip(f"ahead-of-time compile API differs in triton {triton.__version__}: {e}")
    options = {} if num_warps is None else {"num_warps": num_warps}
    return triton.compile(src, target=GPUTarget("cuda", capability, 32), options=options)


def cuobjdump() -> str:
    """The ``cuobjdump`` bundled in the Triton wheel; skips where it is absent."""
    triton = pytest.importorskip("triton")
    path = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.access(path, os.X_OK):
        pytest.skip(f"this triton wheel bundles no cuobjdump ({path})")
    return path


def resource_usage(compiled) -> list[tuple[int, int]]:
    """``[(registers, stack bytes)]`` per function of a compiled kernel (``cuobjdump -res-usage``)."""
    tool = cuobjdump()
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(compiled.asm["cubin"])
        f.flush()
        out = subprocess.run([tool, "-res-usage", f.name], capture_output=True, text=True,
                             timeout=60).stdout
    usage = [(int(r), int(s)) for r, s in re.findall(r"REG:(\d+) STACK:(\d+)", out)]
    assert usage, out
    return usage


def ptx_memory_ops(compiled, kind: str = "st.global") -> list[str]:
    """The PTX ``ld.global`` / ``st.global`` instructions (with their widths) of a kernel."""
    return re.findall(kind.replace(".", r"\.") + r"[.\w]*", compiled.asm["ptx"])
