"""Device ops on padded byte tensors (Triton on CUDA, torch on CPU).

Every op takes ``seqs`` (``uint8 [B, L]`` raw ASCII, right-padded) and
``lengths`` (``int32/int64 [B]``), is registered as
``torch.ops.deepbiop_gpu.<name>`` with a fake implementation (so
``torch.compile(fullgraph=True)`` traces through it), and never mutates its
inputs.  CUDA tensors run the Triton kernel; CPU tensors the torch code.
"""

from .encode import encode

__all__ = ["encode"]
