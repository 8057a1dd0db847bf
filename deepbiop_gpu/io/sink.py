"""Growable columns that parsers append parsed records to.

A :class:`ReadSink` owns the packed arrays of the chunk being built: bases,
qualities, record ends, ids and descriptions, each an amortised-doubling
numpy buffer.  Parsers append whole blocks of records at a time (arrays in,
no Python object per record), and the chunk iterator cuts the sink into
:class:`~deepbiop_gpu.PackedReads` of exactly ``reads_per_chunk`` reads.

FASTA records may span many input blocks: their bases are appended as they
arrive (:meth:`ReadSink.add_bases`) and the record is closed once its end is
known (:meth:`ReadSink.close_records`).
"""

from __future__ import annotations

import numpy as np
import torch

from ..packed import PackedReads, StringColumn

__all__ = ["Growable", "ReadSink"]


class Growable:
    """A 1-D numpy array with amortised O(1) append.

    Capacity is allocated with ``np.empty`` (pages are committed by the OS
    only when written), so a generous ``capacity`` hint costs no memory until
    used.

    Examples
    --------
    >>> g = Growable(np.uint8, 2)
    >>> g.append(np.frombuffer(b"abc", dtype=np.uint8)); g.view().tobytes()
    b'abc'
    """

    __slots__ = ("array", "size")

    def __init__(self, dtype: np.dtype | type, capacity: int = 1024) -> None:
        self.array = np.empty(max(int(capacity), 16), dtype=dtype)
        self.size = 0

    def _reserve(self, extra: int) -> None:
        need = self.size + extra
        if need > len(self.array):
            new = np.empty(max(need, 2 * len(self.array)), dtype=self.array.dtype)
            new[: self.size] = self.array[: self.size]
            self.array = new

    def append(self, values: np.ndarray) -> None:
        k = len(values)
        if k:
            self._reserve(k)
            self.array[self.size : self.size + k] = values
            self.size += k

    def append_cumulative(self, lengths: np.ndarray, base: int) -> None:
        """Append ``base + cumsum(lengths)`` (end offsets) without a temporary."""
        k = len(lengths)
        if k:
            self._reserve(k)
            out = self.array[self.size : self.size + k]
            np.cumsum(lengths, out=out)
            out += base
            self.size += k

    def view(self) -> np.ndarray:
        return self.array[: self.size]

    def last(self, default: int = 0) -> int:
        return int(self.array[self.size - 1]) if self.size else default

    def truncate(self, size: int) -> None:
        self.size = size

    def cut(self, k: int, capacity: int) -> np.ndarray:
        """Return the first ``k`` items and keep the rest in a fresh buffer."""
        head = self.array[:k]
        rest = self.array[k : self.size]
        self.array = np.empty(max(capacity, len(rest), 16), dtype=self.array.dtype)
        self.array[: len(rest)] = rest
        self.size = len(rest)
        return head


class _StringBuilder:
    """Bytes + end offsets of a growing :class:`StringColumn`."""

    __slots__ = ("data", "ends")

    def __init__(self, capacity: int) -> None:
        self.data = Growable(np.uint8, capacity)
        self.ends = Growable(np.int64, max(1024, capacity >> 5))

    def add(self, data: np.ndarray, lengths: np.ndarray) -> None:
        base = self.data.size
        self.data.append(data)
        self.ends.append_cumulative(lengths, base)

    def cut(self, k: int) -> StringColumn:
        end = int(self.ends.array[k - 1]) if k else 0
        # size the next chunk's buffers like this one
        ends = self.ends.cut(k, max(1024, k + k // 8))
        data = self.data.cut(end, max(1024, end + end // 8))
        self.ends.view()[:] -= end
        offsets = np.zeros(k + 1, dtype=np.int64)
        offsets[1:] = ends
        return StringColumn(data, offsets)

    def column(self) -> StringColumn:
        offsets = np.zeros(self.ends.size + 1, dtype=np.int64)
        offsets[1:] = self.ends.view()
        return StringColumn(self.data.view(), offsets)


class ReadSink:
    """Packed columns of the records parsed so far.

    Parameters
    ----------
    with_qualities : bool
        FASTQ / BAM (``True``) or FASTA (``False``).
    base_capacity : int
        Expected number of bases; the first allocation of the base and quality
        columns (grows as needed).

    Examples
    --------
    >>> sink = ReadSink(with_qualities=True)
    >>> sink.add(np.frombuffer(b"ACGTAC", np.uint8), np.frombuffer(b"IIIIII", np.uint8),
    ...          np.array([4, 2]), np.frombuffer(b"r1r2", np.uint8), np.array([2, 2]),
    ...          np.zeros(0, np.uint8), np.array([0, 0]))
    >>> reads = sink.cut(1); len(reads), len(sink), reads[0].sequence
    (1, 1, b'ACGT')
    """

    def __init__(self, with_qualities: bool, base_capacity: int = 1 << 20) -> None:
        self.with_qualities = with_qualities
        self.capacity = max(int(base_capacity), 1024)
        self.bases = Growable(np.uint8, self.capacity)
        self.quals = Growable(np.uint8, self.capacity) if with_qualities else None
        # the other columns scale with the bases (pages are only committed when used)
        self.ends = Growable(np.int64, max(1 << 14, self.capacity >> 7))
        self.names = _StringBuilder(max(1 << 16, self.capacity >> 1))
        self.descriptions = _StringBuilder(max(1 << 16, self.capacity >> 1))

    def __len__(self) -> int:
        return self.ends.size

    @property
    def pending_bases(self) -> int:
        """Bases appended after the last closed record (an open FASTA record)."""
        return self.bases.size - self.ends.last()

    # ----------------------------------------------------------------- append
    def add(
        self,
        bases: np.ndarray,
        quals: np.ndarray | None,
        lengths: np.ndarray,
        names: np.ndarray,
        name_lengths: np.ndarray,
        descriptions: np.ndarray,
        description_lengths: np.ndarray,
    ) -> None:
        """Append complete records (``lengths.sum() == len(bases)``)."""
        base = self.bases.size
        self.bases.append(bases)
        if self.quals is not None:
            self.quals.append(quals)
        self.ends.append_cumulative(lengths, base)
        self.names.add(names, name_lengths)
        self.descriptions.add(descriptions, description_lengths)

    def add_records(self, records: list[tuple[bytes, bytes | None, bytes, bytes]]) -> None:
        """Append ``(bases, quals, name, description)`` tuples (slow paths)."""
        if not records:
            return
        bases, quals, names, descs = zip(*records, strict=True)
        as_arr = lambda parts: np.frombuffer(b"".join(parts), dtype=np.uint8)  # noqa: E731
        lens = lambda parts: np.fromiter(map(len, parts), np.int64, len(parts))  # noqa: E731
        self.add(
            as_arr(bases),
            as_arr(quals) if self.quals is not None else None,
            lens(bases),
            as_arr(names),
            lens(names),
            as_arr(descs),
            lens(descs),
        )

    def add_placeholders(self, n: int) -> None:
        """Append ``n`` empty records: they hold the place of records nobody will read
        (another shard's chunk), so that chunks are still cut every ``n`` records."""
        if n:
            zeros = np.zeros(n, dtype=np.int64)
            self.ends.append_cumulative(zeros, self.bases.size)
            empty = np.zeros(0, dtype=np.uint8)
            self.names.add(empty, zeros)
            self.descriptions.add(empty, zeros)

    def add_bases(self, bases: np.ndarray) -> None:
        """Append bases of records not closed yet (FASTA)."""
        self.bases.append(bases)

    def discard_pending(self) -> None:
        """Drop the bases of the open record (it was bad and is skipped)."""
        self.bases.truncate(self.ends.last())

    def close_records(
        self,
        lengths: np.ndarray,
        names: np.ndarray,
        name_lengths: np.ndarray,
        descriptions: np.ndarray,
        description_lengths: np.ndarray,
    ) -> None:
        """Close records whose bases were appended with :meth:`add_bases`."""
        self.ends.append_cumulative(lengths, self.ends.last())
        self.names.add(names, name_lengths)
        self.descriptions.add(descriptions, description_lengths)

    # ----------------------------------------------------------------- output
    def cut(self, k: int) -> PackedReads:
        """Remove the first ``k`` records and return them packed.

        Later records (and pending bases) stay in the sink, in new buffers,
        so the returned tensors are never written to again.
        """
        if not 0 <= k <= len(self):
            raise ValueError(f"cannot cut {k} of {len(self)} records")
        end = int(self.ends.array[k - 1]) if k else 0
        ends = self.ends.cut(k, max(1 << 14, k + k // 8))
        self.ends.view()[:] -= end
        # size the next chunk's buffers like this one
        cap = max(self.capacity, end + end // 8 + 1024)
        bases = self.bases.cut(end, cap)
        quals = self.quals.cut(end, cap) if self.quals is not None else None
        offsets = np.zeros(k + 1, dtype=np.int64)
        offsets[1:] = ends
        return PackedReads(
            torch.from_numpy(bases),
            torch.from_numpy(offsets),
            None if quals is None else torch.from_numpy(quals),
            self.names.cut(k),
            self.descriptions.cut(k),
            validate=False,
        )

    def packed(self) -> PackedReads:
        """Everything appended so far, packed (no copy; the sink must not be reused)."""
        if self.pending_bases:
            raise RuntimeError("a record is still open")
        n = len(self)
        offsets = np.zeros(n + 1, dtype=np.int64)
        offsets[1:] = self.ends.view()
        bases = self.bases.view()
        return PackedReads(
            torch.from_numpy(bases),
            torch.from_numpy(offsets),
            None if self.quals is None else torch.from_numpy(self.quals.view()),
            self.names.column(),
            self.descriptions.column(),
            validate=False,
        )
