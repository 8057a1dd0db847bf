"""Hand batches from DataLoader workers to the main process through reusable shared memory.

A tensor that a worker process returns travels through a new shared-memory
segment: the worker creates it and copies the tensor in, its file descriptor
is passed over a socket, and the main process maps it, then unmaps it when
the batch is freed.  On small VMs that costs about a millisecond per segment,
more than making the batch.  Here each worker keeps a few *slots* in one
shared-memory segment that the main process maps once:

* the worker copies the batch's tensors into a free slot and returns a small
  :class:`SlotBatch` (where each tensor sits, plus the batch's other values);
* the main process copies the slot into one fresh buffer (the tensors are
  views of it, as with :func:`one_storage`), marks the slot free and goes on.

A worker has ``prefetch_factor + 2`` slots, more than the batches torch ever
leaves in flight for it, so a free slot is always there; if one is not (or
a batch is bigger than the slots and cannot get new ones), the batch travels
the ordinary way.  Slots are resized (a new segment, sent once) when a batch
outgrows them.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch

from ..packed import ColumnView, StringColumn

__all__ = ["SlotBatch", "SlotReceiver", "WorkerSlots", "one_storage"]

_ALIGN = 64
_GROWTH = 1.25  # a new ring is this much larger than the batch that needed it
_MIN_SLOT = 1 << 20
_GENERATIONS = itertools.count()


def _aligned(n: int) -> int:
    return -(-n // _ALIGN) * _ALIGN


class SlotBatch:
    """A batch whose tensors wait in a worker's shared-memory slot (see the module docstring).

    ``layout`` lists ``(path, dtype, shape, offset)`` of each tensor (a path is
    the keys leading to it, for nested dicts); ``rest`` is the batch without
    its tensors; ``ring`` carries the slots themselves the first time a ring
    is used, None afterwards.
    """

    __slots__ = ("key", "slot", "nbytes", "layout", "rest", "ring")

    def __init__(self, key, slot, nbytes, layout, rest, ring) -> None:
        self.key, self.slot, self.nbytes = key, slot, nbytes
        self.layout, self.rest, self.ring = layout, rest, ring


def _tensors(batch: dict, path: tuple = ()) -> Iterator[tuple[tuple, torch.Tensor]]:
    for k, v in batch.items():
        if isinstance(v, torch.Tensor) and v.device.type == "cpu":
            yield (*path, k), v
        elif isinstance(v, dict):
            yield from _tensors(v, (*path, k))


Layout = list[tuple[tuple, torch.dtype, tuple[int, ...], int]]  # (path, dtype, shape, offset)


def _layout(batch: dict) -> tuple[list[torch.Tensor], Layout, int]:
    """The CPU tensors of a (nested) batch dict, where each goes in one buffer
    (64-byte aligned), and the buffer's size."""
    tensors, layout, total = [], [], 0
    for path, t in _tensors(batch):
        tensors.append(t)
        layout.append((path, t.dtype, tuple(t.shape), total))
        total += _aligned(t.numel() * t.element_size())
    return tensors, layout, total


def _write(buffer: torch.Tensor, tensors: list[torch.Tensor], layout: Layout) -> None:
    """Copy ``tensors`` into the ``uint8`` ``buffer`` at their places."""
    for t, (_, dtype, shape, start) in zip(tensors, layout, strict=True):
        n = t.numel() * t.element_size()
        if n:
            buffer[start : start + n].view(dtype).view(shape).copy_(t)


def _place(batch: dict, buffer: torch.Tensor, layout: Layout) -> dict:
    """Put views of ``buffer`` into ``batch`` (which holds no tensors yet) at their paths."""
    for path, dtype, shape, start in layout:
        n = torch.Size(shape).numel() * dtype.itemsize
        holder = batch
        for key in path[:-1]:
            holder = holder[key]
        holder[path[-1]] = buffer[start : start + n].view(dtype).view(shape)
    return batch


def _copy_dicts(batch: dict) -> dict:
    return {k: _copy_dicts(v) if isinstance(v, dict) else v for k, v in batch.items()}


def one_storage(batch: Any) -> Any:
    """The batch's tensors as views of one freshly allocated buffer.

    The ordinary hand-off from a worker process sends each tensor storage
    through shared memory, at a fixed cost per storage (about a millisecond
    on small VMs, more than collating a batch takes); one storage per batch
    pays it once.  Costs one extra copy of the batch, in the worker.  The
    input batch is left as it is.
    """
    if not isinstance(batch, dict):
        return batch
    tensors, layout, total = _layout(batch)
    if len(tensors) < 2:
        return batch
    buffer = torch.empty(total, dtype=torch.uint8)
    _write(buffer, tensors, layout)
    return _place(_copy_dicts(batch), buffer, layout)


class _Names:
    """A batch's names in transit: their bytes and offsets, decoded only on use.

    A ``ColumnView`` pickles as a list of ``str``, which means decoding and
    pickling every name (about 0.2 ms for 256 names); this sends the bytes.
    """

    __slots__ = ("column",)

    def __init__(self, column: StringColumn) -> None:
        self.column = column

    def view(self) -> ColumnView:
        return ColumnView(self.column, np.arange(len(self.column), dtype=np.int64))


def _without_tensors(batch: dict) -> dict:
    """The batch minus its CPU tensors, names compacted for the trip."""
    out = {}
    for k, v in batch.items():
        if isinstance(v, torch.Tensor) and v.device.type == "cpu":
            continue
        if isinstance(v, dict):
            v = _without_tensors(v)
        elif isinstance(v, ColumnView):
            v = _Names(v.compact())
        out[k] = v
    return out


def _restore_names(batch: dict) -> dict:
    for k, v in batch.items():
        if isinstance(v, _Names):
            batch[k] = v.view()
        elif isinstance(v, dict):
            _restore_names(v)
    return batch


class WorkerSlots:
    """A worker process's slots: packs batches into them (used inside the worker only)."""

    def __init__(self, count: int) -> None:
        self.count = max(2, count)
        self.key: tuple[int, int] | None = None
        self.slots: torch.Tensor | None = None  # uint8 [count, slot bytes], shared
        self.busy: torch.Tensor | None = None  # int32 [count], shared: 1 while the main process reads
        self.sent = False  # the main process has the current ring

    def _new_ring(self, nbytes: int) -> None:
        size = max(_MIN_SLOT, _aligned(int(nbytes * _GROWTH)))
        self.key = (os.getpid(), next(_GENERATIONS))
        self.slots = torch.empty((self.count, size), dtype=torch.uint8).share_memory_()
        self.busy = torch.zeros(self.count, dtype=torch.int32).share_memory_()
        self.sent = False

    def pack(self, batch: Any) -> SlotBatch | None:
        """``batch`` as a :class:`SlotBatch`, or None when it must travel the ordinary way."""
        if not isinstance(batch, dict):
            return None
        tensors, layout, total = _layout(batch)
        if not tensors:
            return None
        fresh = self.key is None or self.key[0] != os.getpid()  # a forked copy: not ours
        if fresh or self.slots is None or total > self.slots.shape[1]:
            self._new_ring(total)
        assert self.busy is not None and self.slots is not None
        free = (self.busy == 0).nonzero()
        if not len(free):  # never expected: torch keeps fewer batches in flight
            return None
        k = int(free[0, 0])
        _write(self.slots[k], tensors, layout)
        self.busy[k] = 1
        ring = None if self.sent else (self.slots, self.busy)
        self.sent = True
        return SlotBatch(self.key, k, total, layout, _without_tensors(batch), ring)


class SlotReceiver:
    """The main process's side: turns :class:`SlotBatch` es back into batch dicts."""

    def __init__(self, pin: bool = False) -> None:
        self.pin = pin
        self.rings: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}

    def unpack(self, item: SlotBatch) -> dict:
        if item.ring is not None:
            self.rings[item.key] = item.ring
        slots, busy = self.rings[item.key]
        buffer = torch.empty(item.nbytes, dtype=torch.uint8, pin_memory=self.pin)
        # numpy's copy: a torch copy this size runs on the intra-op thread pool, whose
        # OpenMP threads then spin for a while, taking the CPU the workers need
        np.copyto(buffer.numpy(), slots[item.slot, : item.nbytes].numpy())
        busy[item.slot] = 0  # the worker may reuse the slot
        return _place(_restore_names(item.rest), buffer, item.layout)

    def receive(self, batches: Iterable[Any]) -> Iterator[Any]:
        for item in batches:
            yield self.unpack(item) if isinstance(item, SlotBatch) else item
