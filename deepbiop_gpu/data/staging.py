"""Ragged transfer: a batch crosses to the GPU as its reads' bytes, not as a padded matrix.

On a CUDA loader (``num_workers=0``, a dataset of this package) the CPU side
of a batch is only a gather: the batch's reads are copied back to back into a
page-locked staging buffer taken from a small ring that is reused batch
after batch (:class:`StagingRing`; a slot grows only when a batch is larger
than any before it).  One slot holds, in this order::

    offsets  int64 [B + 1]   where each read starts in the bases (offsets[0] = 0)
    index    int64 [B]       the sample index of each read (keys the random steps)
    bases    uint8 [T]       T = sum of the reads' lengths (clamped to the batch width)
    quals    uint8 [T]       when the reads have qualities

so the bytes over PCIe are ``T`` (``2 T`` with qualities) plus 16 per read,
whatever the spread of lengths: no padding crosses.  On the device, one
launch of the fused kernel (:mod:`deepbiop_gpu.ops._fused`) pads, runs the
transform's leading fusable steps and encodes, straight from those bytes;
the padded width comes from the host copy of the lengths, so nothing waits
on the device.  A slot is reused only once the copy out of it has completed
(a CUDA event recorded after the copy).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from ..ops._numba import numba_enabled
from .collate import batch_width

__all__ = ["DeviceBatch", "RaggedBatch", "StagingRing", "gather_ragged", "ragged_to_device"]


class DeviceBatch:
    """A batch whose padding and transform happen on the device, in
    :class:`~deepbiop_gpu.data.prefetch.DevicePrefetcher` (ragged or resident reads)."""

    __slots__ = ()

    def materialize(self, device: torch.device, transform: Callable | None, stream: Any = None) -> dict:
        raise NotImplementedError  # pragma: no cover


class _Slot:
    __slots__ = ("buffer", "event")

    def __init__(self) -> None:
        self.buffer: torch.Tensor | None = None
        self.event: Any = None  # a CUDA event recorded after the last copy out of the slot


class StagingRing:
    """``slots`` reusable (page-locked when ``pin``) byte buffers, handed out in turn.

    :meth:`take` returns the next slot's buffer, at least ``nbytes`` long:
    it waits (without a device synchronisation: by polling the slot's event)
    until the previous copy out of that slot has completed, and allocates a
    new buffer only when ``nbytes`` exceeds the slot's size (then 1.5x, so
    a growing batch size settles quickly).  Thread-safe.
    """

    def __init__(self, slots: int, pin: bool) -> None:
        if slots < 1:
            raise ValueError(f"a staging ring needs at least one slot, got {slots}")
        self.slots = [_Slot() for _ in range(slots)]
        self.pin = pin
        self.next = 0
        self.allocations = 0  # buffers allocated so far (a test and the benchmark read it)
        self._lock = threading.Lock()

    def take(self, nbytes: int) -> tuple[_Slot, torch.Tensor]:
        with self._lock:
            slot = self.slots[self.next]
            self.next = (self.next + 1) % len(self.slots)
            event = slot.event
            if event is not None:
                while not event.query():  # the copy issued ring-size batches ago: done by now
                    time.sleep(0.0001)
                slot.event = None
            if slot.buffer is None or slot.buffer.numel() < nbytes:
                size = max(nbytes, int(1.5 * (0 if slot.buffer is None else slot.buffer.numel())), 4096)
                slot.buffer = torch.empty(size, dtype=torch.uint8, pin_memory=self.pin)
                self.allocations += 1
            return slot, slot.buffer[:nbytes]


class RaggedBatch(DeviceBatch):
    """One batch gathered into a staging slot (see the module docstring for the layout)."""

    __slots__ = ("slot", "data", "size", "has_quals", "lengths", "width", "names", "labels", "epoch")

    def __init__(self, slot, data, size, has_quals, lengths, width, names, labels, epoch) -> None:
        self.slot = slot
        self.data = data  # uint8 [nbytes]: offsets, index, bases, qualities
        self.size = size  # B
        self.has_quals = has_quals
        self.lengths = lengths  # int64 numpy [B] (clamped to width): the host copy
        self.width = width  # the padded width, from the host lengths
        self.names = names
        self.labels = labels
        self.epoch = epoch

    @property
    def bases(self) -> int:
        """T: the bases shipped (the sum of the clamped lengths)."""
        return int(self.lengths.sum())

    @property
    def nbytes(self) -> int:
        """Bytes this batch copies host -> device."""
        return self.data.numel()

    def materialize(self, device: torch.device, transform: Callable | None, stream: Any = None) -> dict:
        return ragged_to_device(self, device, transform, stream)

    def views(self, data: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(offsets int64 [B+1], index int64 [B], bases uint8 [T], quals uint8 [T] or None)``
        of ``data`` (this batch's bytes, wherever they are)."""
        B, T = self.size, self.bases
        o = 8 * (2 * B + 1)
        offsets = data[: 8 * (B + 1)].view(torch.int64)
        index = data[8 * (B + 1) : o].view(torch.int64)
        quals = data[o + T : o + 2 * T] if self.has_quals else None
        return offsets, index, data[o : o + T], quals


def gather_ragged(
    reads: Any,
    rows: np.ndarray,
    index: torch.Tensor,
    labels: torch.Tensor | None,
    epoch: int,
    ring: StagingRing,
    max_len: int | None,
    multiple_of: int,
) -> RaggedBatch:
    """Gather ``reads[rows]`` (a :class:`~deepbiop_gpu.PackedReads`) into a slot of ``ring``."""
    offsets_all = reads.offsets.numpy()
    starts = offsets_all[rows]
    lengths = offsets_all[rows + 1] - starts
    width = batch_width(lengths, max_len, multiple_of)
    lens = np.minimum(lengths, width).astype(np.int64)
    B, T = len(rows), int(lens.sum())
    has_quals = reads.qualities is not None
    o = 8 * (2 * B + 1)
    slot, data = ring.take(o + T * (2 if has_quals else 1))
    out = data.numpy()
    head = out[:o].view(np.int64)
    head[0] = 0
    np.cumsum(lens, out=head[1 : B + 1])
    head[B + 1 :] = index.numpy()
    src = reads.sequences.numpy()
    qsrc = reads.qualities.numpy() if has_quals else src
    if numba_enabled() and B:
        from ..ops._fused_cpu import gather_rows

        gather_rows(src, qsrc, has_quals, starts.astype(np.int64), lens, out, o, T)
    elif B:  # numpy: one fancy-index gather per buffer
        take = np.repeat(starts.astype(np.int64) - head[:B], lens) + np.arange(T)
        out[o : o + T] = src[take]
        if has_quals:
            out[o + T : o + 2 * T] = qsrc[take]
    names = reads.names.view(rows)
    return RaggedBatch(slot, data, B, has_quals, lens, width, names, labels, epoch)


def ragged_to_device(
    rb: RaggedBatch, device: torch.device, transform: Callable | None, stream: Any = None
) -> dict[str, Any]:
    """Ship a :class:`RaggedBatch` (one copy) and build its batch dict on ``device``.

    The leading fusable steps of ``transform`` run in the same pass as the
    padding (the fused op: one kernel launch on CUDA); the rest run after
    it, step by step.  The dict is the one the padded path gives, bit for bit.
    """
    data = rb.data.to(device, non_blocking=True, copy=True)  # (the slot is reused)
    if stream is not None:  # the slot is free again once this copy has completed
        event = torch.cuda.Event()
        event.record(stream)
        rb.slot.event = event
    offsets, index, bases, quals = rb.views(data)
    starts = offsets[:-1]
    labels = None if rb.labels is None else rb.labels.to(device, non_blocking=True)
    return fused_batch(bases, quals, starts, offsets[1:] - starts, rb.width, index, rb.names,
                       labels, rb.epoch, transform)  # fmt: skip


def fused_batch(
    bases: torch.Tensor,
    quals: torch.Tensor | None,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    width: int,
    index: torch.Tensor,
    names: Any,
    labels: torch.Tensor | None,
    epoch: int,
    transform: Callable | None,
) -> dict[str, Any]:
    """The batch dict of ragged reads on their device: padding and the leading fusable steps
    of ``transform`` in one fused pass, the rest of ``transform`` after it."""
    from ..transforms.compose import run_transforms, transform_steps
    from ..transforms.fused import BYTES_PLAN, fused_plan, run_plan_ragged

    steps = transform_steps(transform) if transform is not None else []
    plan = fused_plan(steps) if steps else None
    rest = steps[plan.count :] if plan is not None else steps
    plan = plan or BYTES_PLAN
    out, out_quals, out_lens = run_plan_ragged(plan, bases, quals, starts, lengths, width, index,
                                               epoch)  # fmt: skip
    batch: dict[str, Any] = {"sequences": out, "lengths": out_lens.to(torch.int32)}
    if out_quals is not None:
        batch["qualities"] = out_quals
    batch["index"] = index
    batch["names"] = names
    if labels is not None:
        batch["labels"] = labels
    batch["epoch"] = epoch
    if rest:
        batch = run_transforms(rest, batch)
    return batch
