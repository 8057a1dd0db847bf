"""The Triton path's outputs have the fake implementations' strides (issue 17, finding 7).

The twin of tests/ops/test_fake_strides.py on the Triton kernels: opcheck on
column-major and sliced inputs, every op.
"""

import pytest
import torch
from opcases import LAYOUTS, layout_batch, op_cases


@pytest.mark.parametrize("layout", LAYOUTS)
def test_opcheck_any_layout(layout, kdevice):
    for name, op, args in op_cases(*layout_batch(layout, kdevice)):
        torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))
        out = op(*args)
        for t in out if isinstance(out, tuple) else (out,):
            assert t.is_contiguous(), name
