"""Device ops on padded byte tensors (Triton on CUDA, torch on CPU).

Every op takes ``seqs`` (``uint8 [B, L]`` raw ASCII, right-padded) and
``lengths`` (``int32/int64 [B]``), is registered as
``torch.ops.deepbiop_gpu.<name>`` with a fake implementation (so
``torch.compile(fullgraph=True)`` traces through it), and never mutates its
inputs.  CUDA tensors run the Triton kernel (the torch code where Triton cannot
launch: see :func:`triton_usable`); CPU tensors the torch code.
"""

from ._dispatch import triton_usable
from .crop import crop, take_windows
from .encode import encode
from .fused import FusedStep, fused
from .integer import integer
from .kmer import kmer_counts, kmer_ids
from .mutate import mutate
from .one_hot import one_hot
from .random_gate import bernoulli_gate
from .reverse_complement import reverse_complement
from .simulate_qualities import simulate_qualities

__all__ = [
    "bernoulli_gate",
    "crop",
    "encode",
    "fused",
    "FusedStep",
    "integer",
    "kmer_counts",
    "kmer_ids",
    "mutate",
    "one_hot",
    "reverse_complement",
    "simulate_qualities",
    "take_windows",
    "triton_usable",
]
