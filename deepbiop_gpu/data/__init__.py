"""Datasets, collate, sampling and the device-aware DataLoader."""

from .buckets import TokenBatchSampler
from .collate import Collate, default_collate
from .dataset import Dataset, PairedDataset, SampleBatch, Subset
from .iterable import IterableDataset, ReadsBatch
from .loader import DataLoader
from .packed_layout import pack_batch, to_nested
from .prefetch import DevicePrefetcher
from .sampler import EpochBatchSampler
from .windows import Windows

__all__ = [
    "Collate",
    "DataLoader",
    "Dataset",
    "DevicePrefetcher",
    "EpochBatchSampler",
    "IterableDataset",
    "PairedDataset",
    "ReadsBatch",
    "SampleBatch",
    "Subset",
    "TokenBatchSampler",
    "Windows",
    "default_collate",
    "pack_batch",
    "to_nested",
]
