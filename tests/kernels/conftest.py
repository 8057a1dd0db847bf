"""The kernel lane: Triton kernels against the naive references.

Runs on the CPU under Triton's interpreter (``TRITON_INTERPRET=1 pytest
tests/kernels``: the variable must be set before triton is imported, hence a
process of its own) and on CUDA where a GPU is present.  Without either there
is nothing to run these kernels on, and the directory is not collected.
"""

from __future__ import annotations

import os

import pytest
import torch

from deepbiop_gpu.ops._dispatch import FORCE_TRITON_ENV, triton_available

INTERPRET = os.environ.get("TRITON_INTERPRET") == "1"
HAS_CUDA = torch.cuda.is_available()

if not triton_available() or not (INTERPRET or HAS_CUDA):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(
    params=[
        pytest.param("cpu", marks=pytest.mark.skipif(not INTERPRET, reason="needs TRITON_INTERPRET=1")),
        pytest.param(
            "cuda",
            marks=[pytest.mark.gpu, pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")],
        ),
    ]
)
def kdevice(request, monkeypatch) -> torch.device:
    """Device whose tensors the public ops send to the Triton kernels."""
    if request.param == "cpu":
        monkeypatch.setenv(FORCE_TRITON_ENV, "1")
    return torch.device(request.param)
