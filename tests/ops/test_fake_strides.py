"""Fake implementations give the real ones' strides, whatever the input layout (issue 17, finding 7).

``torch.library.opcheck`` compares the fake implementation (what
``torch.compile`` plans with) against the real one; a stride mismatch makes a
compiled graph fail.  Column-major and sliced inputs, every op, the CPU path
(the Triton path: tests/kernels/test_fake_strides_kernel.py).
"""

import pytest
import torch
from opcases import LAYOUTS, layout_batch, op_cases

import deepbiop_gpu.ops  # noqa: F401  (registers the ops)

NAMES = [name for name, _, _ in op_cases(*layout_batch("contiguous"))]


@pytest.mark.parametrize("layout", [x for x in LAYOUTS if x != "contiguous"])  # contiguous: each op's own opcheck
@pytest.mark.parametrize("name", NAMES)
def test_opcheck_any_layout(name, layout, cpu_path):
    cases = {n: (op, args) for n, op, args in op_cases(*layout_batch(layout))}
    op, args = cases[name]
    torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))
    # the real output is contiguous, like the fake's (one layout for compiled graphs)
    out = op(*args)
    for t in out if isinstance(out, tuple) else (out,):
        assert t.is_contiguous(), name
