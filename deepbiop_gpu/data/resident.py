"""Resident datasets: the packed reads live on the device; batches are only indices.

``Dataset(...).to("cuda")`` (or ``Cache.load(..., device="cuda")``) copies the
packed columns (bases, qualities, offsets, labels) to the GPU once.  A
:class:`~deepbiop_gpu.DataLoader` over such a dataset does no per-batch CPU
work beyond the batch's indices: each epoch's order (the same CPU
permutation as any other loader, so the same batches) crosses once as one
``int64`` copy; every batch is a slice of it, its reads' starts and lengths
are gathered from the resident offsets on the device, and the fused op
(one kernel launch) pads, transforms and encodes them.  The padded width
comes from a host copy of the read lengths kept by ``to``: nothing waits on
the device.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from ..packed import check_fits  # noqa: F401 (re-exported: Dataset.to uses it)
from .collate import batch_width
from .staging import DeviceBatch, fused_batch

__all__ = ["ResidentBatch", "ResidentBatches"]


class _Epoch:
    """One epoch's order on the host, and (once the first batch asks) on the device."""

    __slots__ = ("rows", "host_rows", "device_rows")

    def __init__(self, rows: torch.Tensor) -> None:
        self.rows = rows  # int64 [n]: the dataset rows of this epoch, in order (CPU)
        self.host_rows = rows.numpy()  # the same, for the names and the widths
        self.device_rows: torch.Tensor | None = None

    def on(self, device: torch.device) -> torch.Tensor:
        if self.device_rows is None:  # the one copy of the epoch (on the batches' stream)
            rows = self.rows.pin_memory() if device.type == "cuda" else self.rows
            self.device_rows = rows.to(device, non_blocking=True)
        return self.device_rows


class ResidentBatch(DeviceBatch):
    """Batch ``[start, stop)`` of an epoch's order over a resident dataset."""

    __slots__ = ("dataset", "epoch_order", "start", "stop", "width", "epoch")

    def __init__(self, dataset, epoch_order: _Epoch, start: int, stop: int, width: int, epoch: int):
        self.dataset = dataset
        self.epoch_order = epoch_order
        self.start, self.stop = start, stop
        self.width = width
        self.epoch = epoch

    def materialize(self, device: torch.device, transform: Callable | None, stream: Any = None) -> dict:
        ds = self.dataset
        reads = ds.reads
        index = self.epoch_order.on(reads.sequences.device)[self.start : self.stop]
        offsets = reads.offsets
        starts = offsets[index]
        lengths = offsets[index + 1] - starts
        labels = None if ds.labels is None else ds.labels[index]
        names = reads.names.view(self.epoch_order.host_rows[self.start : self.stop])
        return fused_batch(reads.sequences, reads.qualities, starts, lengths, self.width, index,
                           names, labels, self.epoch, transform)  # fmt: skip


class ResidentBatches:
    """The batches of a resident dataset (or a :class:`Subset` of one), in the sampler's order."""

    def __init__(self, dataset: Any, batch_sampler: Any, max_len: int | None, multiple_of: int) -> None:
        self.dataset = getattr(dataset, "dataset", dataset)  # a Subset's parent
        self.subset_rows = getattr(dataset, "indices", None) if self.dataset is not dataset else None
        self.batch_sampler = batch_sampler
        self.max_len = max_len
        self.multiple_of = multiple_of

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[ResidentBatch]:
        sampler = self.batch_sampler
        order = sampler.order()
        if self.subset_rows is not None:
            order = torch.from_numpy(self.subset_rows)[order]
        epoch = _Epoch(order.contiguous())
        host_lengths = self.dataset.host_lengths
        rows = epoch.host_rows
        size = sampler.batch_size
        for start in range(0, len(rows), size):
            stop = min(start + size, len(rows))
            if sampler.drop_last and stop - start < size:
                return
            width = batch_width(host_lengths[rows[start:stop]], self.max_len, self.multiple_of)
            yield ResidentBatch(self.dataset, epoch, start, stop, width, sampler.epoch)


def resident_bytes(reads: Any, labels: torch.Tensor | None) -> int:
    """Device bytes a resident copy of ``reads`` (and ``labels``) takes."""
    n = reads.sequences.numel() * (2 if reads.qualities is not None else 1) + 8 * reads.offsets.numel()
    return n + (0 if labels is None else labels.numel() * labels.element_size())


def host_lengths(offsets: torch.Tensor) -> np.ndarray:
    """``int64 [n]`` read lengths on the host (offsets on any device: one copy, at ``to`` time)."""
    off = offsets.cpu().numpy()
    return (off[1:] - off[:-1]).astype(np.int64)
