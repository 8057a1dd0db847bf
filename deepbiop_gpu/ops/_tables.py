"""Byte lookup tables used by the torch implementations, built per device and cached.

Built on first use (never as module-level tensors), so nothing here is
captured as a constant by fake-tensor tracing.
"""

from __future__ import annotations

import functools

import torch

__all__ = ["BASE_CODES", "PAD_CODE", "UNKNOWN_CODE", "code_table"]

BASE_CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}
UNKNOWN_CODE = 4
PAD_CODE = 5


@functools.cache
def _code_table_cpu() -> torch.Tensor:
    table = torch.full((256,), UNKNOWN_CODE, dtype=torch.uint8)
    for base, code in BASE_CODES.items():
        table[ord(base)] = code
        table[ord(base.lower())] = code
    return table


@functools.cache
def code_table(device: torch.device) -> torch.Tensor:
    """``uint8 [256]``: byte -> base code (A=0 C=1 G=2 T/U=3, else 4)."""
    return _code_table_cpu().to(device)
