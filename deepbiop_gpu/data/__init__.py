"""Datasets, collate, sampling and the device-aware DataLoader."""

from .collate import Collate, default_collate
from .dataset import Dataset, PairedDataset, SampleBatch, Subset
from .iterable import IterableDataset, ReadsBatch
from .loader import DataLoader
from .prefetch import DevicePrefetcher
from .sampler import EpochBatchSampler

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
    "default_collate",
]
