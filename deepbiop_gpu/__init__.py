"""deepbiop_gpu: FASTQ / FASTA / BAM reads to model-ready PyTorch batches, on the GPU.

Reads are parsed on the CPU into :class:`PackedReads` (one flat ``uint8``
buffer plus ``int64`` offsets); encoding, k-mer hashing, reverse complement
and seeded mutation run as registered torch ops (Triton on CUDA, torch on the
CPU) on each batch, on the device.

Examples
--------
>>> from deepbiop_gpu import Dataset, DataLoader, Compose, Sampler, ReverseComplement
>>> from deepbiop_gpu import Mutator, OneHotEncoder
>>> from deepbiop_gpu.example_data import example_files
>>> files = example_files()
>>> ds = Dataset(list(files.values()), labels=list(files))
>>> loader = DataLoader(ds, batch_size=64, shuffle=True, transform=Compose(
...     [Sampler(96), ReverseComplement(p=0.5), Mutator(0.01), OneHotEncoder()]))
>>> batch = next(iter(loader))
>>> batch["sequences"].shape, batch["labels"].shape
(torch.Size([64, 96, 4]), torch.Size([64]))
"""

from . import ops
from ._version import __version__
from .cache import Cache, CacheError, CacheStatus, CacheWarning
from .data import (
    Collate,
    DataLoader,
    Dataset,
    DevicePrefetcher,
    IterableDataset,
    PairedDataset,
    Subset,
    default_collate,
)
from .errors import DeepBiopError, FormatError, UnknownFormatError
from .io import *  # noqa: F403
from .io import __all__ as _io_all
from .packed import PackedReads, Record, StringColumn, pad_ragged
from .parquet import export_parquet, read_parquet
from .summary import Summary, summarize
from .transforms import (
    BatchTransform,
    Compose,
    IntegerEncoder,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
)
from .validation import Finding, validate
from .data.shutdown import WorkerDiedError  # issue 13: a DataLoader worker died mid-epoch

__all__ = [
    "__version__",
    "ops",
    # errors
    "DeepBiopError",
    "FormatError",
    "UnknownFormatError",
    # packed reads
    "PackedReads",
    "Record",
    "StringColumn",
    "pad_ragged",
    # readers
    *_io_all,
    # datasets and loading
    "Collate",
    "DataLoader",
    "Dataset",
    "DevicePrefetcher",
    "IterableDataset",
    "PairedDataset",
    "Subset",
    "default_collate",
    # cache, export, inspection
    "Cache",
    "CacheError",
    "CacheStatus",
    "CacheWarning",
    "export_parquet",
    "read_parquet",
    "Summary",
    "summarize",
    "Finding",
    "validate",
    # transforms
    "BatchTransform",
    "Compose",
    "IntegerEncoder",
    "KmerEncoder",
    "Mutator",
    "OneHotEncoder",
    "ReverseComplement",
    "Sampler",
    # scale (issue 13)
    "WorkerDiedError",
]
