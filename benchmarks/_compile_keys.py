"""Count the kernel variants a CUDA run compiles, without a GPU.

Triton compiles a kernel once per *specialisation key*: the constexpr
values, each tensor's dtype and 16-byte alignment, and for every int
argument its type and whether it equals 1 or is a multiple of 16 (unless the
kernel lists it in ``do_not_specialize``), plus the launch options.  Each new
key costs a compile (0.1-2 s on the GPU machine) and, per new signature, a C
launcher build.  This module computes those keys with Triton's own function
(``native_specialize_impl``) at every launch through
``deepbiop_gpu.kernels._launch.launch``:

* as a pytest plugin, in the interpreter lane (the CUDA twins of the kernel
  tests launch the same shapes)::

      TRITON_INTERPRET=1 PYTHONPATH=benchmarks python -m pytest -q tests/kernels -p _compile_keys

* from ``gpu_check.py --count-keys``, which runs its parts' op cases on
  ``meta`` tensors (nothing runs, nothing is allocated) and prints the keys
  per part.
"""

from __future__ import annotations

import inspect
from collections import defaultdict
from contextlib import contextmanager
from typing import Any

import torch

LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas")


def _specialize():
    try:
        from triton._C.libtriton import native_specialize_impl
        from triton.backends.compiler import BaseBackend
    except ImportError:  # a Triton without the native function (< 3.3)
        return None
    return lambda v, spec, align: tuple(native_specialize_impl(BaseBackend, v, False, spec, align)[:2])


def _constexprs(fn) -> set[str]:
    return {
        name
        for name, p in inspect.signature(fn).parameters.items()
        if "constexpr" in str(p.annotation)
    }


def compile_key(kernel: Any, args: tuple, kwargs: dict) -> tuple | None:
    """The key the JIT would compile ``kernel[grid](*args, **kwargs)`` under (None if unknown)."""
    spec = _specialize()
    fn = getattr(kernel, "fn", None)
    if spec is None or fn is None:
        return None
    params = getattr(kernel, "params", None)
    if params is not None:  # a JITFunction
        constexprs = {p.name for p in params if p.is_constexpr}
        no_spec = {p.name for p in params if p.do_not_specialize}
    else:  # an InterpretedFunction keeps the jit decorator's arguments
        constexprs = _constexprs(fn)
        names = list(inspect.signature(fn).parameters)
        no_spec = {names[a] if isinstance(a, int) else a
                   for a in getattr(kernel, "kwargs", {}).get("do_not_specialize", ()) or ()}
    bound = inspect.signature(fn).bind(
        *args, **{k: v for k, v in kwargs.items() if k not in LAUNCH_OPTIONS}
    )
    key: list[Any] = [fn.__name__]
    for name, value in bound.arguments.items():
        if name in constexprs:
            key.append(("constexpr", value))
        elif isinstance(value, torch.Tensor):
            key.append((str(value.dtype), value.data_ptr() % 16 == 0))
        elif isinstance(value, bool) or value is None:
            key.append((type(value).__name__, value))
        elif isinstance(value, int):
            key.append(spec(value, name not in no_spec, True))
        else:
            key.append((type(value).__name__,))
    key.append(tuple((k, kwargs[k]) for k in LAUNCH_OPTIONS if k in kwargs))
    return tuple(key)


class KeyCounter:
    """Distinct compile keys per kernel name."""

    def __init__(self) -> None:
        self.keys: dict[str, set] = defaultdict(set)

    def add(self, kernel: Any, args: tuple, kwargs: dict) -> None:
        key = compile_key(kernel, args, kwargs)
        if key is not None:
            self.keys[key[0]].add(key)

    def total(self) -> int:
        return sum(len(v) for v in self.keys.values())

    def table(self) -> str:
        rows = sorted(((len(v), k) for k, v in self.keys.items()), reverse=True)
        return ", ".join(f"{k} {n}" for n, k in rows) + f"; total {self.total()}"


@contextmanager
def counting(counter: KeyCounter, run: bool = True):
    """Record every launch's key in ``counter``; ``run=False`` records without launching."""
    from deepbiop_gpu.kernels import _launch

    real = _launch.launch

    def launch(kernel, grid, *args, **kwargs):
        counter.add(kernel, args, kwargs)
        if run:
            real(kernel, grid, *args, **kwargs)

    # the kernel modules imported ``launch`` by name
    import importlib

    saved = {}
    for name in ("encode", "integer", "one_hot", "kmer", "mutate", "crop", "reverse_complement",
                 "_random", "fused"):  # fmt: skip
        try:
            module = importlib.import_module(f"deepbiop_gpu.kernels.{name}")
        except ImportError:
            continue
        if hasattr(module, "launch"):
            saved[module] = module.launch
            module.launch = launch
    _launch.launch = launch
    try:
        yield counter
    finally:
        _launch.launch = real
        for module, previous in saved.items():
            module.launch = previous


# --- pytest plugin ------------------------------------------------------------
_COUNTER = KeyCounter()
_CONTEXT = None


def pytest_configure(config):  # pragma: no cover - exercised through pytest -p
    global _CONTEXT
    _CONTEXT = counting(_COUNTER)
    _CONTEXT.__enter__()


def pytest_terminal_summary(terminalreporter):  # pragma: no cover
    terminalreporter.write_line(f"compile keys: {_COUNTER.table()}")
