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
from .data import TokenBatchSampler, Windows, pack_batch, to_nested
from .errors import DeepBiopError, FormatError, UnknownFormatError
from .hdf5 import HDF5Dataset, export_hdf5, read_hdf5
from .filters import FilterReport, ReadFilter, filter_file
from .io import *  # noqa: F403
from .io import __all__ as _io_all
from .numpy_export import export_numpy
from .ops._simulate_qualities import simulate_qualities
from .ops._dispatch import triton_usable
from .packed import PackedReads, Record, StringColumn, pad_ragged
from .parquet import export_parquet, read_parquet
from .quality_models import QualityModel
from .summary import Summary, summarize
from .ops._fused import FusedStep
from .transforms import (
    BatchTransform,
    Compose,
    IntegerEncoder,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
    SimulateQualities,
)
from .validation import Finding, validate
from .writers import Writer, write
from .data.shutdown import WorkerDiedError  # issue 13: a DataLoader worker died mid-epoch
from .data.worker_start import preload_forkserver  # issue 13: forkserver workers start at fork speed

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
    # the fused pipeline (one pass / one kernel launch per batch)
    "FusedStep",
    # variable-length and long reads
    "TokenBatchSampler",
    "Windows",
    "pack_batch",
    "to_nested",
    # cache, export, inspection
    "Cache",
    "CacheError",
    "CacheStatus",
    "CacheWarning",
    "export_parquet",
    "read_parquet",
    "HDF5Dataset",
    "export_hdf5",
    "read_hdf5",
    "export_numpy",
    # quality simulation
    "QualityModel",
    "simulate_qualities",
    "SimulateQualities",
    "Summary",
    "summarize",
    "Finding",
    "validate",
    # filter and write reads
    "ReadFilter",
    "FilterReport",
    "filter_file",
    "write",
    "Writer",
    # transforms
    "BatchTransform",
    "Compose",
    "IntegerEncoder",
    "KmerEncoder",
    "Mutator",
    "OneHotEncoder",
    "ReverseComplement",
    "Sampler",
    # devices
    "triton_usable",
    # scale (issue 13)
    "WorkerDiedError",
    "preload_forkserver",
]

# per-sample pipelines (issue 15): samples that declare their pad values, the processed-sample cache
from .data.collate import Sample  # noqa: E402
from .sample_cache import SampleCacheDataset  # noqa: E402

__all__ += ["Sample", "SampleCacheDataset"]
