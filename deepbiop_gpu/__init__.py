"""deepbiop_gpu: FASTQ / FASTA / BAM reads to model-ready PyTorch batches, on the GPU.

Reads are parsed on the CPU into :class:`PackedReads` (one flat ``uint8``
buffer plus ``int64`` offsets); encoding, k-mer hashing, reverse complement
and seeded mutation run as registered torch ops (Triton on CUDA, torch on the
CPU) inside the collate step.
"""

from ._version import __version__
from .errors import DeepBiopError, FormatError, UnknownFormatError
from .io import *  # noqa: F403
from .io import __all__ as _io_all
from .packed import PackedReads, Record, StringColumn, pad_ragged

__all__ = [
    "__version__",
    "DeepBiopError",
    "FormatError",
    "UnknownFormatError",
    "PackedReads",
    "Record",
    "StringColumn",
    "pad_ragged",
    *_io_all,
]
