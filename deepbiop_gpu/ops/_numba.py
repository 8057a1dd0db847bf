"""The numba CPU loops of the ops: availability, the switch, and threading.

With numba installed (the ``fast`` extra) the CPU implementations of the ops
run compiled loops, one pass per read; without it, or with
``DEEPBIOP_GPU_NUMBA=0``, they run torch code.  Both give the same bits and
both are tested against the naive references.

Loops are ``nogil`` and are threaded by :func:`run_rows` / :func:`run_numba`
over disjoint rows, so results never depend on the split.  They compile on
first use, for the argument types of that call; a loop numba cannot compile
makes its op fall back to torch with one warning.
"""

from __future__ import annotations

import functools
import os
import warnings

import torch

__all__ = [
    "NUMBA_ENV",
    "numba_enabled",
    "numba_lengths",
    "numba_module",
    "numba_ok",
    "numba_prefetch",
    "run_numba",
    "run_rows",
]

NUMBA_ENV = "DEEPBIOP_GPU_NUMBA"


@functools.cache
def numba_module():
    """The ``numba`` module, or None when it is not installed (or broken)."""
    try:
        import numba
    except Exception:  # not installed, or broken against this numpy
        return None
    return numba


def numba_enabled() -> bool:
    """True when the numba CPU loops are to be used (installed, not turned off)."""
    if os.environ.get(NUMBA_ENV, "") in ("0", "false", "False", "no"):
        return False
    return numba_module() is not None


_NUMBA_FAILED: set[str] = set()  # loops numba could not compile: torch is used for them


def numba_ok(name: str) -> bool:
    """Use the numba loop of op ``name`` (installed, not turned off, compiled fine so far)?"""
    return name not in _NUMBA_FAILED and numba_enabled()


_POOL: tuple[int, int, object] | None = None  # (pid, workers, ThreadPoolExecutor)
_MIN_ROWS_PER_THREAD = 256


def run_rows(loop, n_rows: int, *args) -> None:
    """Call a ``nogil`` numba ``loop(*args, r0, r1)`` over row ranges, one per thread.

    Uses ``torch.get_num_threads()`` threads (the CPU budget torch's own ops
    get), at least :data:`_MIN_ROWS_PER_THREAD` rows each.  The loops write
    disjoint rows, so the result does not depend on the split.  The pool is
    rebuilt after a ``fork`` (a child process has none of its parent's threads).
    """
    global _POOL
    workers = max(1, min(torch.get_num_threads(), n_rows // _MIN_ROWS_PER_THREAD))
    if workers == 1:
        loop(*args, 0, n_rows)
        return
    pid = os.getpid()
    if _POOL is None or _POOL[0] != pid or _POOL[1] < workers:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = (pid, workers, ThreadPoolExecutor(workers, thread_name_prefix="deepbiop_gpu"))
    pool = _POOL[2]
    bounds = [n_rows * i // workers for i in range(workers + 1)]
    submit = pool.submit  # type: ignore[attr-defined]
    # the last range runs in this thread, which would otherwise only wait
    futures = [submit(loop, *args, bounds[i], bounds[i + 1]) for i in range(workers - 1)]
    try:
        loop(*args, bounds[-2], bounds[-1])
    finally:
        for f in futures:
            f.result()


_SLICES_PER_WORKER = 256  # run_rows gives each thread at least this many "rows"
_MIN_BASES_PER_WORKER = 1 << 16


def run_numba(
    name: str, loop, seqs: torch.Tensor, *args, min_bases: int = _MIN_BASES_PER_WORKER
) -> bool:
    """Run a ``nogil`` numba ``loop(*args, nv, v0, v1)`` over the rows of ``seqs``, threaded.

    Threads are split by *work* (bases), not by rows, so a few long reads use
    every thread too: :func:`run_rows` splits ``nv`` virtual rows into equal
    ranges, and ``loop`` handles the real rows ``[B * v0 // nv, B * v1 // nv)``.
    Each thread gets at least ``min_bases`` of the ``B * L`` bases.  The loops
    write disjoint rows, so the result never depends on the split.

    If numba cannot compile the loop, this warns once, returns False and op
    ``name`` uses its torch code from then on.
    """
    B, L = seqs.shape
    workers = max(1, min(torch.get_num_threads(), B, B * L // max(1, min_bases)))
    nv = workers * _SLICES_PER_WORKER
    try:
        run_rows(loop, nv, *args, nv)
    except Exception as e:
        from numba.core.errors import NumbaError

        if not isinstance(e, NumbaError):
            raise
        warnings.warn(f"numba failed on the {name} loop, using torch: {e}", RuntimeWarning, 3)
        _NUMBA_FAILED.add(name)
        return False
    return True


def numba_lengths(lengths: torch.Tensor, width: int):
    """``int64`` numpy lengths clamped into ``[0, width]`` (the loops trust them)."""
    import numpy as np

    return np.clip(lengths.numpy().astype(np.int64), 0, width)


@functools.cache
def numba_prefetch():
    """``prefetch(array, i)``: a software prefetch of ``array[i]`` for numba loops (or a no-op).

    Loops that gather reads from random places of a large buffer (shuffled
    batches) wait on memory for most of their time; prefetching the next
    reads' bytes while working on this one hides that latency (about 3x on
    such gathers here).  Built on LLVM's ``llvm.prefetch`` intrinsic, which
    every LLVM numba ships lowers to the CPU's prefetch instruction (or to
    nothing where there is none); if numba cannot build the intrinsic, a no-op
    is returned and the loops are only slower.  Nothing is compiled here (a
    compile would cost the process numba's start-up, about a second, even
    when every loop comes from numba's cache).  None without numba.
    """
    numba = numba_module()
    if numba is None:
        return None
    try:
        return _prefetch_intrinsic(_PREFETCH_INTRINSIC)
    except Exception:  # noqa: BLE001 - a numba whose extension API differs
        pass

    @numba.njit(inline="always", nogil=True)
    def no_prefetch(array, i):  # pragma: no cover - compiled
        pass

    return no_prefetch


# The typed-pointer name: LLVM's auto-upgrade maps it onto "llvm.prefetch.p0" where
# pointers are opaque, so it works before and after that change.
_PREFETCH_INTRINSIC = "llvm.prefetch.p0i8"


def _prefetch_intrinsic(llvm_name: str):
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, array, i):
        if not isinstance(array, types.Array) or not isinstance(i, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            data = context.make_array(signature.args[0])(context, builder, args[0]).data
            offset = context.cast(builder, args[1], signature.args[1], types.intp)
            byte_ptr = ir.IntType(8).as_pointer()
            fnty = ir.FunctionType(ir.VoidType(), [byte_ptr] + [ir.IntType(32)] * 3)
            fn = cgutils.get_or_insert_function(builder.module, fnty, llvm_name)
            ptr = builder.bitcast(builder.gep(data, [offset]), byte_ptr)
            # read access, high locality, data cache
            i32 = ir.IntType(32)
            builder.call(fn, [ptr, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
            return context.get_dummy_value()

        return types.void(array, i), codegen

    return prefetch
