"""Windows over long reads: a view whose items are windows ``(read, start)`` of a dataset.

``Dataset.windows(length, stride=None, min_length=None)`` tiles every read:

* windows start at ``0, stride, 2 * stride, ...`` (``stride`` defaults to
  ``length``: adjacent, non-overlapping windows); window ``k`` of a read of
  ``n`` bases covers ``[k * stride, min(k * stride + length, n))``;
* the tiling of a read stops at the first window that reaches its end, so
  a window is shorter than ``length`` only when it is the read's *tail*
  (or the whole read, for a read shorter than ``length``);
* such a short window is kept when it has at least ``min_length`` bases.
  ``min_length`` defaults to ``length``: only full windows, every item the
  same length, and reads shorter than ``length`` give no window at all (the
  bases after a read's last full window are then not seen).  Pass
  ``min_length=1`` to keep every tail and every short read whole.

Nothing is copied: the view keeps one ``int64`` per read (its first
window's number, a cumulative count) and finds window ``i``'s read with
``np.searchsorted``, so it works over memory-mapped caches of any size.
Items keep their read's label; names get a ``/start-end`` suffix (0-based,
end exclusive, as in BED).  The random transforms are keyed on the window's
own index in the view, so the windows of one read get independent draws.
Batches carry two more keys: ``read_index`` (the read's index in the
underlying :class:`~deepbiop_gpu.Dataset`) and ``window_start``, both
``int64 [B]``, to put per-window predictions back together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..packed import PackedReads
from .collate import batch_width
from .sampler import index_array

__all__ = ["Windows", "WindowBatch", "window_counts"]


def _check_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def window_counts(read_lengths: np.ndarray, length: int, stride: int, min_length: int) -> np.ndarray:
    """Windows of each read (see the module docstring), vectorised: ``int64 [n]``.

    Examples
    --------
    >>> window_counts(np.array([0, 5, 10, 25]), length=10, stride=10, min_length=10).tolist()
    [0, 0, 1, 2]
    >>> window_counts(np.array([0, 5, 10, 25]), length=10, stride=10, min_length=5).tolist()
    [0, 1, 1, 3]
    """
    n = np.asarray(read_lengths, dtype=np.int64)
    full = np.where(n >= length, (n - length) // stride + 1, 0)
    tail_start = full * stride
    # the window after the last full one reaches the end: kept when long enough
    tail = (tail_start < n) & (n - tail_start >= min_length) & ((full == 0) | (tail_start - stride + length < n))
    return full + tail


class WindowBatch(Sequence[dict]):
    """The windows of one batch, as :meth:`Windows.__getitems__` returns them.

    Indexing gives sample dicts; :meth:`collate` pads the batch straight
    from the dataset's buffers (fused with the transform's leading steps).
    """

    __slots__ = ("view", "indices", "epoch")

    def __init__(self, view: Windows, indices: np.ndarray, epoch: int) -> None:
        self.view = view
        self.indices = indices
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return WindowBatch(self.view, self.indices[i], self.epoch)
        return self.view[int(self.indices[i])]

    def collate(self, max_len: int | None, multiple_of: int, then: Callable | None = None) -> dict[str, Any]:
        """The padded batch dict; ``then`` (a batch transform) runs on it, fused where it can."""
        return self.view._collate(self.indices, self.epoch, max_len, multiple_of, then)


class Windows(torch.utils.data.Dataset):
    """Windows of ``length`` bases over the reads of a dataset (see the module docstring).

    Parameters
    ----------
    dataset : Dataset or Subset
    length : int
        Window length (bases), >= 1.
    stride : int, optional
        Step between window starts, >= 1 (default: ``length``).
    min_length : int, optional
        Shortest tail (or short read) kept as a window, in ``[1, length]``
        (default: ``length``, full windows only).

    ``ds[i]`` is a sample dict like ``Dataset[i]``: ``sequence`` and
    ``quality`` (views of the buffers), ``name`` (``"read/start-end"``),
    ``index`` (``i``), ``read_index``, ``window_start`` and ``label``.

    Examples
    --------
    >>> from deepbiop_gpu import Dataset, PackedReads
    >>> ds = Dataset.from_reads(PackedReads.from_records([("a", b"ACGTACGTAC", None), ("b", b"GGG", None)]))
    >>> w = ds.windows(4, stride=3, min_length=2)
    >>> len(w), [w[i]["name"] for i in range(len(w))]
    (4, ['a/0-4', 'a/3-7', 'a/6-10', 'b/0-3'])
    """

    def __init__(self, dataset: Any, length: int, stride: int | None = None, min_length: int | None = None) -> None:
        from .dataset import Dataset, Subset

        self.length = _check_int(length, "length")
        self.stride = self.length if stride is None else _check_int(stride, "stride")
        self.min_length = self.length if min_length is None else _check_int(min_length, "min_length")
        if self.min_length > self.length:
            raise ValueError(f"min_length must be at most length={self.length}, got {min_length!r}")
        if isinstance(dataset, Subset):
            base, rows = dataset.dataset, np.asarray(dataset.indices, dtype=np.int64)
        elif isinstance(dataset, Dataset):
            base, rows = dataset, None
        else:
            raise TypeError(f"windows() takes a deepbiop_gpu Dataset or Subset, got {type(dataset).__name__}")
        self.source = dataset
        self.base = base
        self.rows = rows  # the reads' rows in base (None: all, in order)
        offsets = base.reads.offsets.cpu().numpy()
        lengths = np.diff(offsets)
        self._read_lengths = lengths if rows is None else lengths[rows]
        counts = window_counts(self._read_lengths, self.length, self.stride, self.min_length)
        self._first = np.zeros(len(counts) + 1, dtype=np.int64)  # cumulative window counts
        np.cumsum(counts, out=self._first[1:])

    # ------------------------------------------------------------- locating
    def _locate(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(row in base, start in the read, window length)`` of windows ``idx`` (vectorised)."""
        read = np.searchsorted(self._first, idx, side="right") - 1
        start = (idx - self._first[read]) * self.stride
        wlen = np.minimum(self.length, self._read_lengths[read] - start)
        row = read if self.rows is None else self.rows[read]
        return row, start, wlen

    def _check_indices(self, idx: np.ndarray) -> np.ndarray:
        n = len(self)
        if idx.size:
            low, high = idx.min(), idx.max()
            if low < -n or high >= n:
                raise IndexError(f"window index out of range for {n} windows")
            if low < 0:
                idx = np.where(idx < 0, idx + n, idx)
        return idx

    def item_lengths(self) -> np.ndarray:
        """Length of every window, ``int64 [len(self)]`` (vectorised; for ``max_tokens``)."""
        counts = np.diff(self._first)
        read = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        start = (np.arange(len(self), dtype=np.int64) - self._first[read]) * self.stride
        return np.minimum(self.length, self._read_lengths[read] - start)

    # ------------------------------------------------------------------ API
    @property
    def classes(self) -> list[str] | None:
        return self.base.classes

    @property
    def labels(self) -> torch.Tensor | None:
        """Each window's label (its read's), ``[len(self)]``, or None."""
        if self.base.labels is None:
            return None
        row, _, _ = self._locate(np.arange(len(self), dtype=np.int64))
        return self.base.labels[torch.from_numpy(row)]

    @property
    def epoch(self) -> int:
        return self.base.epoch

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)

    def __len__(self) -> int:
        return int(self._first[-1])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"window index must be an int, got {type(index).__name__}")
        i = int(self._check_indices(np.array([int(index)], dtype=np.int64))[0])
        row, start, wlen = (int(v[0]) for v in self._locate(np.array([i], dtype=np.int64)))
        reads = self.base.reads
        a = int(reads.offsets[row]) + start
        sample: dict[str, Any] = {
            "sequence": reads.sequences[a : a + wlen],
            "quality": None if reads.qualities is None else reads.qualities[a : a + wlen],
            "name": f"{reads.names[row]}/{start}-{start + wlen}",
            "index": i,
            "read_index": row,
            "window_start": start,
        }
        if self.base.labels is not None:
            sample["label"] = self.base.labels[row].item()
        transform = self.base.transform
        if transform is not None:
            from .dataset import _is_batch_transform, apply_transform_to_sample

            if _is_batch_transform(transform):
                sample["epoch"] = self.epoch
                sample = apply_transform_to_sample(transform, sample)
            else:
                sample = transform(sample)
        return sample

    def __getitems__(self, indices: Sequence[int]) -> WindowBatch:
        idx = self._check_indices(index_array(indices))
        return WindowBatch(self, idx, getattr(indices, "epoch", self.epoch))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def _collate(self, idx: np.ndarray, epoch: int, max_len: int | None, multiple_of: int,
                 then: Callable | None) -> dict[str, Any]:
        """The batch dict of windows ``idx`` (as ``collate_rows`` makes for reads)."""
        from .dataset import _is_batch_transform, finish_batch, gather_spans

        reads = self.base.reads
        row, start, wlen = self._locate(idx)
        starts = reads.offsets.numpy()[row] + start
        width = batch_width(wlen, max_len, multiple_of)
        index = torch.from_numpy(np.ascontiguousarray(idx, dtype=np.int64))
        transforms = [t for t in (self.base.transform,) if t is not None and _is_batch_transform(t)]
        if then is not None:
            transforms.append(then)
        batch, rest = gather_spans(reads, starts, wlen, width, index, epoch, transforms)
        names = reads.names.take(row)
        batch["names"] = [f"{n}/{s}-{s + m}" for n, s, m in zip(names, start.tolist(), wlen.tolist())]
        if self.base.labels is not None:
            batch["labels"] = self.base.labels[torch.from_numpy(row)]
        batch["read_index"] = torch.from_numpy(np.ascontiguousarray(row, dtype=np.int64))
        batch["window_start"] = torch.from_numpy(np.ascontiguousarray(start, dtype=np.int64))
        return finish_batch(batch, epoch, rest)

    # ----------------------------------------------------------- inspection
    def packed(self) -> PackedReads:
        """The windows as a new :class:`~deepbiop_gpu.PackedReads` (copies the bases).

        Names carry the ``/start-end`` suffix.
        """
        reads = self.base.reads
        row, start, wlen = self._locate(np.arange(len(self), dtype=np.int64))
        starts = reads.offsets.numpy()[row] + start
        offsets = np.zeros(len(row) + 1, dtype=np.int64)
        np.cumsum(wlen, out=offsets[1:])
        take = np.arange(int(offsets[-1]), dtype=np.int64) + np.repeat(starts - offsets[:-1], wlen)
        seqs = torch.from_numpy(reads.sequences.numpy()[take])
        quals = None if reads.qualities is None else torch.from_numpy(reads.qualities.numpy()[take])
        names = [f"{n}/{s}-{s + m}" for n, s, m in zip(reads.names.take(row), start.tolist(), wlen.tolist())]
        return PackedReads(seqs, torch.from_numpy(offsets), quals, names, validate=False)

    def summary(self, **kwargs: Any):
        """Summary of the windows (each window counts as one record; overlapping bases count again)."""
        from .dataset import Dataset

        labels = self.labels
        view = Dataset.from_reads(self.packed(), labels=labels, classes=self.classes) if labels is not None \
            else Dataset.from_reads(self.packed())
        return view.summary(**kwargs)

    def __repr__(self) -> str:
        return (f"Windows({len(self)} windows of length={self.length}, stride={self.stride}, "
                f"min_length={self.min_length} over {self.source!r})")
