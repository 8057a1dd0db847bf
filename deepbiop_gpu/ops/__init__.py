"""Device ops on padded byte tensors (Triton on CUDA, torch on CPU).

Every op takes ``seqs`` (``uint8 [B, L]`` raw ASCII, right-padded) and
``lengths`` (``int32/int64 [B]``), is registered as
``torch.ops.deepbiop_gpu.<name>`` with a fake implementation (so
``torch.compile(fullgraph=True)`` traces through it), and never mutates its
inputs.  CUDA tensors run the Triton kernel (the torch code where Triton cannot
launch: see :func:`triton_usable`); CPU tensors the torch code.
"""

from ._dispatch import triton_usable
from ._crop import crop, take_windows
from ._encode import encode
from ._fused import FusedStep, fused
from ._integer import integer
from ._kmer import kmer_counts, kmer_ids
from ._mutate import mutate
from ._one_hot import one_hot
from ._random_gate import bernoulli_gate
from ._reverse_complement import reverse_complement
from ._simulate_qualities import simulate_qualities

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
