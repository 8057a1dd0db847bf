"""Shared fixtures: the bundled data directory and the device lanes.

Lanes (see README):
* plain ``pytest``: CPU paths, torch.compile, opcheck;
* ``TRITON_INTERPRET=1 pytest tests/kernels``: the Triton kernels on the CPU;
* ``pytest -m gpu`` on a CUDA machine: the kernels on the GPU.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

DATA = Path(__file__).parent / "data"
# tests/ on sys.path: shared helpers (batches.py) and the naive references (naive/)
sys.path.insert(0, str(Path(__file__).parent))

HAS_CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data: real files copied from public repositories (see SOURCES.md)."""
    return DATA


@pytest.fixture(
    params=[
        "cpu",
        pytest.param("cuda", marks=[pytest.mark.gpu, needs_cuda]),
    ]
)
def device(request) -> torch.device:
    return torch.device(request.param)


def _numba_installed() -> bool:
    try:
        import numba  # noqa: F401
    except Exception:
        return False
    return True


@pytest.fixture(
    params=[
        "torch",
        pytest.param("numba", marks=pytest.mark.skipif(not _numba_installed(), reason="numba")),
    ]
)
def cpu_path(request, monkeypatch) -> str:
    """Run a test on both CPU implementations of the ops: the torch code and the numba loops."""
    from deepbiop_gpu.ops._numba import NUMBA_ENV

    monkeypatch.setenv(NUMBA_ENV, "0" if request.param == "torch" else "1")
    return request.param
