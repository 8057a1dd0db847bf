"""Imported at interpreter start when ``benchmarks/gpu_shim`` is on ``PYTHONPATH``.

Installs the ``deepbiop_gpu.kernels`` alias (see ``deepbiop_gpu_alias.py``),
then runs the ``sitecustomize`` this one shadows, if the interpreter has one.
"""

from __future__ import annotations

import importlib.util
import os
import sys

_here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, _here)
try:
    import deepbiop_gpu_alias

    deepbiop_gpu_alias.install()
finally:
    sys.path.remove(_here)

for _entry in list(sys.path):
    if not _entry or os.path.abspath(_entry) == _here:
        continue
    _other = os.path.join(_entry, "sitecustomize.py")
    if os.path.isfile(_other):
        _spec = importlib.util.spec_from_file_location("_shadowed_sitecustomize", _other)
        if _spec is not None and _spec.loader is not None:
            try:
                _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
            except Exception:  # noqa: BLE001 - the shadowed hook is best effort
                pass
        break
