"""Make ``import deepbiop_gpu`` and ``deepbiop_gpu.kernels`` work from a bare checkout.

The package is normally installed (``pip install -e .``), which maps the
top-level ``kernels/`` directory to ``deepbiop_gpu.kernels``
(``[tool.setuptools] package-dir`` in ``pyproject.toml``).  On a machine where
nothing may be installed (a bare CUDA machine), :func:`install` does the same
at import time:

* puts the repository root first on ``sys.path`` (so ``deepbiop_gpu`` is the
  checkout's), and
* adds a meta-path finder that answers ``deepbiop_gpu.kernels`` with the
  ``kernels/`` directory as a package (its submodules are then found through
  that package's ``__path__`` as usual).

Two switches, for rehearsing that machine on another one:
``DEEPBIOP_GPU_SHIM_STRICT=1`` drops an editable install's finder of the
package (so only the alias can provide ``deepbiop_gpu.kernels``), and
``DEEPBIOP_GPU_SHIM_BLOCK=pysam,isal`` makes those modules fail to import.

Used by ``benchmarks/gpu_check.py`` directly, and by ``sitecustomize.py``
beside this file for subprocesses (``PYTHONPATH=benchmarks/gpu_shim:...``).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KERNELS = ROOT / "kernels"
NAME = "deepbiop_gpu.kernels"


class KernelsAlias(importlib.abc.MetaPathFinder):
    """Finds ``deepbiop_gpu.kernels`` in ``<root>/kernels``."""

    def __init__(self, kernels: Path) -> None:
        self.kernels = kernels

    def find_spec(self, fullname, path, target=None):  # noqa: D401 - importlib protocol
        if fullname != NAME:
            return None
        return importlib.util.spec_from_file_location(
            fullname,
            self.kernels / "__init__.py",
            submodule_search_locations=[str(self.kernels)],
        )


STRICT_ENV = "DEEPBIOP_GPU_SHIM_STRICT"


def _editable_finder(obj) -> bool:
    """Is ``obj`` (a finder instance, class or path hook) setuptools' editable finder of us?"""
    module = getattr(obj, "__module__", None) or type(obj).__module__
    return "__editable___deepbiop_gpu" in str(module)


def install(root: Path = ROOT, strict: bool | None = None) -> None:
    """Idempotent: repository root on ``sys.path``, the kernels alias on ``sys.meta_path``.

    ``strict`` (default: environment variable ``DEEPBIOP_GPU_SHIM_STRICT=1``)
    also removes an editable install's finder of this package, so that a
    machine where the package *is* installed behaves like one where it is not
    (the dry run uses it to prove the alias works on its own).
    """
    if strict is None:
        strict = os.environ.get(STRICT_ENV, "") not in ("", "0")
    if strict:
        sys.meta_path[:] = [f for f in sys.meta_path if not _editable_finder(f)]
        sys.path_hooks[:] = [h for h in sys.path_hooks if not _editable_finder(h)]
        sys.path_importer_cache.clear()
        ours = [m for m in sys.modules if m == "deepbiop_gpu" or m.startswith("deepbiop_gpu.")]
        for name in ours:
            if not str(getattr(sys.modules[name], "__file__", "") or "").startswith(str(root)):
                del sys.modules[name]
    root_s = str(root)
    if root_s in sys.path:
        sys.path.remove(root_s)
    sys.path.insert(0, root_s)
    if not any(isinstance(f, KernelsAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, KernelsAlias(root / "kernels"))
    if os.environ.get(BLOCK_ENV):
        block(os.environ[BLOCK_ENV])


BLOCK_ENV = "DEEPBIOP_GPU_SHIM_BLOCK"


def block(names) -> None:
    """Make ``names`` (iterable or comma-separated str) look not installed from now on.

    Each top-level name is set to ``None`` in ``sys.modules``: ``import name``
    then raises ``ImportError`` and ``importlib.util.find_spec(name)`` returns
    None, exactly as for a module that is absent.
    """
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    names = {n for n in names if n}
    for m in [m for m in sys.modules if m.split(".")[0] in names]:
        del sys.modules[m]
    for n in names:
        sys.modules[n] = None  # type: ignore[assignment]


def check() -> dict[str, str]:
    """Import both and make sure they come from this checkout (raises otherwise)."""
    import deepbiop_gpu.kernels as kernels

    import deepbiop_gpu

    for mod, where in ((deepbiop_gpu, ROOT / "deepbiop_gpu"), (kernels, KERNELS)):
        got = Path(mod.__file__).resolve().parent
        if got != where.resolve():
            raise ImportError(f"{mod.__name__} imported from {got}, expected {where}")
    return {"deepbiop_gpu": deepbiop_gpu.__file__, NAME: kernels.__file__}
