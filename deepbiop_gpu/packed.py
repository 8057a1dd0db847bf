"""Ragged, tensor-native containers for reads.

:class:`PackedReads` holds ``n`` reads as one flat ``uint8`` buffer of bases
plus ``int64`` offsets (qualities alike), the layout every reader produces and
every collate step consumes.  Names are held the same way
(:class:`StringColumn`), never as ``n`` Python objects, so a dataset of
millions of reads forked into DataLoader workers is shared, not copied.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, overload

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["ColumnView", "PackedReads", "Record", "StringColumn", "pad_ragged", "pad_rows_numpy"]

IndexLike = int | slice | Sequence[int] | np.ndarray | torch.Tensor


def _as_row_index(index: Any, n: int) -> np.ndarray:
    """Normalise a slice / list / bool mask / integer array to int64 row numbers."""
    if isinstance(index, slice):
        return np.arange(n, dtype=np.int64)[index]
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu().numpy()
    arr = np.asarray(index)
    if arr.dtype == np.bool_:
        if arr.shape != (n,):
            raise IndexError(f"boolean index of shape {arr.shape} does not match {n} reads")
        return np.flatnonzero(arr).astype(np.int64)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 1:
        raise IndexError(f"cannot index reads with {type(index).__name__} of dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=True)
    arr[arr < 0] += n
    if arr.min() < 0 or arr.max() >= n:
        raise IndexError(f"read index out of range for {n} reads")
    return arr


def _gather_ragged(
    data: np.ndarray, offsets: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate ``data[offsets[r]:offsets[r+1]]`` for each ``r`` in ``rows``."""
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    new_offsets = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    if total == 0:
        return np.zeros(0, dtype=data.dtype), new_offsets
    # contiguous run of rows: one slice, no index array
    if len(rows) and np.all(np.diff(rows) == 1):
        return data[starts[0] : starts[0] + total].copy(), new_offsets
    shift = np.repeat(starts - new_offsets[:-1], lengths)
    return data[np.arange(total, dtype=np.int64) + shift], new_offsets


class StringColumn(Sequence[str]):
    """A read-only sequence of ``str`` stored as one UTF-8 buffer plus offsets.

    Behaves like a ``list`` of ``str`` (``len``, indexing, slicing, iteration,
    ``==`` with a list) while costing two numpy arrays instead of one Python
    object per entry.

    Examples
    --------
    >>> names = StringColumn.from_strings(["r1", "r2", "r3"])
    >>> names[1], names[1:].tolist(), names == ["r1", "r2", "r3"]
    ('r2', ['r2', 'r3'], True)
    """

    __slots__ = ("_data", "_offsets")

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        data = np.ascontiguousarray(data, dtype=np.uint8)
        offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(data):
            raise ValueError("offsets must be 1-D, start at 0 and end at len(data)")
        self._data = data
        self._offsets = offsets

    @classmethod
    def from_strings(cls, strings: Iterable[str | bytes]) -> StringColumn:
        """Build from an iterable of ``str`` (or UTF-8 ``bytes``)."""
        encoded = [s.encode() if isinstance(s, str) else bytes(s) for s in strings]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        data = np.frombuffer(b"".join(encoded), dtype=np.uint8)
        return cls(data, offsets)

    @classmethod
    def empty(cls, n: int) -> StringColumn:
        """``n`` empty strings."""
        return cls(np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.int64))

    @classmethod
    def concat(cls, columns: Sequence[StringColumn]) -> StringColumn:
        """Join several columns end to end."""
        if not columns:
            return cls.empty(0)
        data = np.concatenate([c._data for c in columns])
        parts = [np.zeros(1, dtype=np.int64)]
        base = 0
        for c in columns:
            parts.append(c._offsets[1:] + base)
            base += len(c._data)
        return cls(data, np.concatenate(parts))

    @property
    def data(self) -> np.ndarray:
        """The UTF-8 bytes of every entry back to back, ``uint8 [total]``."""
        return self._data

    @property
    def offsets(self) -> np.ndarray:
        """``int64 [n + 1]``: entry ``i`` is ``data[offsets[i]:offsets[i+1]]``."""
        return self._offsets

    def __len__(self) -> int:
        return len(self._offsets) - 1

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray | torch.Tensor) -> StringColumn: ...

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            n = len(self)
            i = int(index)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {index} out of range for {n} strings")
            return self._data[self._offsets[i] : self._offsets[i + 1]].tobytes().decode()
        rows = _as_row_index(index, len(self))
        data, offsets = _gather_ragged(self._data, self._offsets, rows)
        return StringColumn(data, offsets)

    def __iter__(self) -> Iterator[str]:
        blob = self._data.tobytes()
        offs = self._offsets.tolist()
        for i in range(len(offs) - 1):
            yield blob[offs[i] : offs[i + 1]].decode()

    def tolist(self) -> list[str]:
        """All entries as a Python list."""
        return list(self)

    def view(self, rows: np.ndarray) -> ColumnView:
        """The entries at ``rows``, decoded only when first read (see :class:`ColumnView`)."""
        return ColumnView(self, np.asarray(rows, dtype=np.int64))

    def select(self, rows: np.ndarray) -> StringColumn:
        """The entries at ``rows`` as a new column (bytes copied, nothing decoded).

        >>> StringColumn.from_strings(["a", "bb", "c"]).select(np.array([2, 1])).tolist()
        ['c', 'bb']
        """
        rows = np.asarray(rows, dtype=np.int64)
        starts = self._offsets[rows]
        lengths = self._offsets[rows + 1] - starts
        offsets = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        # source position of every output byte: its row's start, plus its place in the row
        shift = np.repeat(starts - offsets[:-1], lengths)
        data = self._data[shift + np.arange(offsets[-1], dtype=np.int64)]
        return StringColumn(data, offsets)

    def take(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        """The entries at ``rows`` as a list of ``str`` (no intermediate column).

        >>> StringColumn.from_strings(["a", "bb", "c"]).take([2, 0])
        ['c', 'a']
        """
        rows = np.asarray(rows, dtype=np.int64)
        view = memoryview(self._data)
        starts = self._offsets[rows].tolist()
        ends = self._offsets[rows + 1].tolist()
        return [str(view[a:b], "utf-8") for a, b in zip(starts, ends)]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringColumn):
            return np.array_equal(self._offsets, other._offsets) and np.array_equal(
                self._data, other._data
            )
        if isinstance(other, (list, tuple)):
            return self.tolist() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        head = self[: min(len(self), 3)].tolist()
        more = ", ..." if len(self) > 3 else ""
        return f"StringColumn({head!r:.200}{more}, n={len(self)})"

    @property
    def nbytes(self) -> int:
        return self._data.nbytes + self._offsets.nbytes


class ColumnView(Sequence[str]):
    """Some entries of a :class:`StringColumn`, decoded to ``str`` on first use.

    What a batch's ``names`` holds: a read-only sequence of ``str`` that costs
    nothing until it is read (most training loops never read it).  It
    compares equal to the list of its strings and pickles as that list.
    """

    __slots__ = ("_column", "_rows", "_items")

    def __init__(self, column: StringColumn | Iterable[str], rows: np.ndarray | None = None) -> None:
        if rows is None:  # from strings, as ``type(x)(items)`` rebuilds a sequence (Lightning does)
            self._items: list[str] | None = list(column)  # type: ignore[arg-type]
            self._column = None
            self._rows = np.zeros(len(self._items), dtype=np.int64)
            return
        self._column = column
        self._rows = rows
        self._items = None

    def tolist(self) -> list[str]:
        if self._items is None:
            self._items = self._column.take(self._rows)
        return list(self._items)

    def compact(self) -> StringColumn:
        """Its entries as a small :class:`StringColumn` of their own (undecoded bytes).

        Cheap to pickle: how batch names travel between processes, rebuilt on
        the other side as ``ColumnView(column, np.arange(len(column)))``.
        """
        if self._items is not None or self._column is None:
            return StringColumn.from_strings(self._list())
        return self._column.select(self._rows)

    def _list(self) -> list[str]:
        if self._items is None:
            self._items = self._column.take(self._rows)
        return self._items

    def __len__(self) -> int:
        return len(self._rows)

    def __getitem__(self, index):  # type: ignore[override]
        return self._list()[index]

    def __iter__(self) -> Iterator[str]:
        return iter(self._list())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (ColumnView, list, tuple)):
            return self._list() == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (list, (self._list(),))

    def __repr__(self) -> str:
        return repr(self._list())


@dataclasses.dataclass(frozen=True)
class Record:
    """One read: what ``reads[i]`` returns.

    ``sequence`` and ``quality`` are raw ASCII bytes (quality as phred+33, or
    ``None`` for FASTA); ``name`` is the id before the first whitespace of the
    header and ``description`` the rest of the header line.
    """

    name: str
    sequence: bytes
    quality: bytes | None = None
    description: str = ""

    def __len__(self) -> int:
        return len(self.sequence)


def pad_ragged(
    data: torch.Tensor,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    width: int,
    pad_value: int = 0,
) -> torch.Tensor:
    """Copy ragged rows of a flat buffer into a right-padded ``[n, width]`` tensor.

    Row ``i`` is ``data[starts[i] : starts[i] + min(lengths[i], width)]``; the
    rest of the row is ``pad_value``.  Rows need not be contiguous or ordered
    in ``data``, so a collate function can pad any subset of a dataset's
    buffer without an intermediate copy.

    Parameters
    ----------
    data : Tensor, shape ``[total]``
        Flat buffer (any dtype, usually ``uint8``).
    starts, lengths : Tensor, ``int64 [n]``
        Where each row begins in ``data`` and how long it is.
    width : int
        Output row length ``L``; longer rows are truncated.
    pad_value : int
        Fill value past each row's end.

    Returns
    -------
    Tensor, shape ``[n, width]``, dtype of ``data``.

    Examples
    --------
    >>> buf = torch.tensor(list(b"ACGTAC"), dtype=torch.uint8)
    >>> pad_ragged(buf, torch.tensor([0, 4]), torch.tensor([4, 2]), 4)
    tensor([[65, 67, 71, 84],
            [65, 67,  0,  0]], dtype=torch.uint8)
    """
    if data.device.type == "cpu" and data.dtype != torch.bfloat16:
        return torch.from_numpy(
            _pad_ragged_numpy(data.numpy(), starts.numpy(), lengths.numpy(), width, pad_value)
        )
    return _pad_ragged_torch(data, starts, lengths, width, pad_value)


def _pad_ragged_torch(
    data: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor, width: int, pad_value: int
) -> torch.Tensor:
    n = int(starts.numel())
    out = torch.full((n, width), pad_value, dtype=data.dtype, device=data.device)
    lengths = lengths.to(torch.int64).clamp(min=0, max=width)
    total = int(lengths.sum()) if n else 0
    if total == 0:
        return out
    # O(bases) index arithmetic: row and column of every copied byte
    rows = torch.repeat_interleave(torch.arange(n, device=data.device), lengths, output_size=total)
    first = torch.cumsum(lengths, 0) - lengths
    cols = torch.arange(total, device=data.device) - first[rows]
    out.view(-1)[rows * width + cols] = data[starts.to(torch.int64)[rows] + cols]
    return out


@functools.lru_cache(maxsize=8)
def _prefix_mask(width: int) -> np.ndarray:
    """``uint8 [width + 1, width]``: row ``k`` holds ``k`` ones, then zeros."""
    return np.tri(width + 1, width, -1, dtype=np.uint8)


def _pad_ragged_numpy(
    data: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int, pad_value: int
) -> np.ndarray:
    return pad_rows_numpy([data], starts, lengths, width, pad_value)[0]


def pad_rows_numpy(
    buffers: Sequence[np.ndarray],
    starts: np.ndarray,
    lengths: np.ndarray,
    width: int,
    pad_value: int = 0,
) -> list[np.ndarray]:
    """:func:`pad_ragged` for numpy buffers that share their rows (bases and qualities).

    The row plan (clamped lengths, which rows run off the end, the keep mask)
    is computed once for all buffers.
    """
    n = len(starts)
    if n == 0 or width == 0:
        return [np.full((n, width), pad_value, b.dtype) for b in buffers]
    lengths = np.clip(lengths.astype(np.int64, copy=False), 0, width)
    starts = starts.astype(np.int64, copy=False)
    if int(lengths.sum()) >= 256 * n:  # long rows: one memcpy per row
        outs = []
        for data in buffers:
            out = np.full((n, width), pad_value, data.dtype)
            for i, (a, m) in enumerate(zip(starts.tolist(), lengths.tolist())):
                out[i, :m] = data[a : a + m]
            outs.append(out)
        return outs
    # Short rows: copy whole `width`-byte windows of each buffer (one row gather
    # from a sliding-window view), then blank each row past its length.
    keep = None
    outs = []
    for data in buffers:
        if len(data) < width:
            data = np.concatenate([data, np.zeros(width - len(data), data.dtype)])
        last = len(data) - width
        out = sliding_window_view(data, width)[np.minimum(starts, last)]
        if keep is None:
            if width <= 2048:
                keep = _prefix_mask(width)[lengths]
            else:
                keep = (np.arange(width) < lengths[:, None]).view(np.uint8)
            off_end = np.flatnonzero(starts > last).tolist()  # windows that would run off the end
        if pad_value == 0:
            np.multiply(out, keep, out=out, casting="unsafe")
        else:
            out = np.where(keep.view(bool), out, np.asarray(pad_value, data.dtype))
        for i in off_end:
            a, m = int(starts[i]), int(lengths[i])
            out[i] = pad_value
            out[i, :m] = data[a : a + m]
        outs.append(out)
    return outs


def check_fits(nbytes: int, device: torch.device) -> None:
    """Raise a clear ``MemoryError`` if ``nbytes`` exceed ``device`` 's free memory (CUDA)."""
    if device.type != "cuda":
        return
    free, total = torch.cuda.mem_get_info(device)
    if nbytes > free:
        raise MemoryError(
            f"the reads need {nbytes:,} bytes on {device} but only {free:,} of {total:,} are "
            "free: keep them on the CPU (a CUDA DataLoader ships each batch ragged), take a "
            "Subset, or use a larger device"
        )


def _round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple if multiple > 1 else x


class PackedReads:
    """``n`` reads packed back to back in flat tensors.

    Attributes
    ----------
    sequences : Tensor, ``uint8 [total]``
        Every read's bases, raw ASCII (case kept), concatenated.
    offsets : Tensor, ``int64 [n + 1]``
        Read ``i`` is ``sequences[offsets[i]:offsets[i+1]]``.
    qualities : Tensor, ``uint8 [total]`` or None
        Phred+33 ASCII qualities aligned with ``sequences``; ``None`` for FASTA.
    names : StringColumn
        Read ids (the header up to the first whitespace).
    descriptions : StringColumn
        The rest of each header line (may be empty).

    Examples
    --------
    >>> reads = PackedReads.from_records([("r1", b"ACGT", b"IIII"), ("r2", b"GG", b"##")])
    >>> len(reads), reads.lengths.tolist(), reads[1].sequence
    (2, [4, 2], b'GG')
    >>> padded, lengths = reads.pad()
    >>> padded.shape, padded.dtype, lengths.dtype
    (torch.Size([2, 4]), torch.uint8, torch.int32)
    """

    __slots__ = ("sequences", "offsets", "qualities", "names", "descriptions", "_ref")

    def __init__(
        self,
        sequences: torch.Tensor,
        offsets: torch.Tensor,
        qualities: torch.Tensor | None = None,
        names: StringColumn | Sequence[str] | None = None,
        descriptions: StringColumn | Sequence[str] | None = None,
        *,
        validate: bool = True,
    ) -> None:
        n = int(offsets.numel()) - 1
        if validate:
            if sequences.dtype != torch.uint8 or sequences.dim() != 1:
                raise TypeError("sequences must be a 1-D uint8 tensor")
            if offsets.dtype != torch.int64 or offsets.dim() != 1 or n < 0:
                raise TypeError("offsets must be a 1-D int64 tensor of n + 1 entries")
            if int(offsets[0]) != 0 or int(offsets[-1]) != sequences.numel():
                raise ValueError("offsets must start at 0 and end at len(sequences)")
            if n and bool((offsets[1:] < offsets[:-1]).any()):
                raise ValueError("offsets must be non-decreasing")
            if qualities is not None and (
                qualities.dtype != torch.uint8 or qualities.shape != sequences.shape
            ):
                raise ValueError("qualities must be uint8 with the same shape as sequences")
        if names is None:
            names = StringColumn.empty(n)
        elif not isinstance(names, StringColumn):
            names = StringColumn.from_strings(names)
        if descriptions is None:
            descriptions = StringColumn.empty(n)
        elif not isinstance(descriptions, StringColumn):
            descriptions = StringColumn.from_strings(descriptions)
        if len(names) != n or len(descriptions) != n:
            raise ValueError(f"{len(names)} names / {len(descriptions)} descriptions for {n} reads")
        self.sequences = sequences
        self.offsets = offsets
        self.qualities = qualities
        self.names = names
        self.descriptions = descriptions

    def __reduce__(self):
        """Pickle by reference: a cache's reads as their path, token and rows; in-memory reads
        sent to a spawned process as one shared-memory segment's name (see :mod:`deepbiop_gpu._sharing`)."""
        from ._sharing import reduce_packed

        return reduce_packed(self)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_records(
        cls, records: Iterable[Record | tuple[str, bytes | str, bytes | str | None]]
    ) -> PackedReads:
        """Pack records given as :class:`Record` or ``(name, sequence, quality)`` tuples.

        Qualities must be given for all records or for none.
        """
        names: list[str] = []
        descs: list[str] = []
        seqs: list[bytes] = []
        quals: list[bytes | None] = []
        for rec in records:
            if isinstance(rec, Record):
                name, seq, qual, desc = rec.name, rec.sequence, rec.quality, rec.description
            else:
                name, seq, qual = rec[0], rec[1], rec[2] if len(rec) > 2 else None
                desc = rec[3] if len(rec) > 3 else ""
            seq = seq.encode() if isinstance(seq, str) else bytes(seq)
            if isinstance(qual, str):
                qual = qual.encode()
            if qual is not None and len(qual) != len(seq):
                raise ValueError(f"read {name!r}: quality length {len(qual)} != sequence length {len(seq)}")
            names.append(name)
            descs.append(desc)
            seqs.append(seq)
            quals.append(qual)
        has_q = [q is not None for q in quals]
        if any(has_q) and not all(has_q):
            raise ValueError("qualities must be given for every record or for none")
        offsets = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in seqs], out=offsets[1:])
        seq_t = torch.frombuffer(bytearray(b"".join(seqs)), dtype=torch.uint8) if offsets[-1] else torch.zeros(0, dtype=torch.uint8)
        qual_t = None
        if seqs and all(has_q):
            qual_t = torch.frombuffer(bytearray(b"".join(quals)), dtype=torch.uint8) if offsets[-1] else torch.zeros(0, dtype=torch.uint8)
        return cls(seq_t, torch.from_numpy(offsets), qual_t, names, descs)

    @classmethod
    def empty(cls, with_qualities: bool = False) -> PackedReads:
        """No reads."""
        z = torch.zeros(0, dtype=torch.uint8)
        return cls(z, torch.zeros(1, dtype=torch.int64), z.clone() if with_qualities else None)

    @classmethod
    def concat(cls, parts: Sequence[PackedReads], *, drop_partial_qualities: bool = False) -> PackedReads:
        """Join several packs end to end (e.g. the chunks of one file).

        Mixing packs with and without qualities (FASTQ and FASTA) raises,
        unless ``drop_partial_qualities`` is set: then the result has none.
        """
        if not parts:
            return cls.empty()
        has_q = {p.qualities is not None for p in parts if len(p)}
        if len(has_q) > 1 and not drop_partial_qualities:
            raise ValueError("cannot concatenate reads with and without qualities")
        if len(parts) == 1:
            return parts[0]
        want_q = has_q == {True} or (not has_q and parts[0].qualities is not None)
        seqs = torch.cat([p.sequences for p in parts])
        quals = (
            torch.cat([p.qualities if p.qualities is not None else p.sequences.new_zeros(0) for p in parts])
            if want_q
            else None
        )
        offs = [parts[0].offsets.new_zeros(1)]
        base = 0
        for p in parts:
            offs.append(p.offsets[1:] + base)
            base += p.sequences.numel()
        return cls(
            seqs,
            torch.cat(offs),
            quals,
            StringColumn.concat([p.names for p in parts]),
            StringColumn.concat([p.descriptions for p in parts]),
            validate=False,
        )

    # ---------------------------------------------------------------- access
    def __len__(self) -> int:
        return int(self.offsets.numel()) - 1

    @property
    def lengths(self) -> torch.Tensor:
        """``int64 [n]``: the length of each read."""
        return self.offsets[1:] - self.offsets[:-1]

    @property
    def total_bases(self) -> int:
        return int(self.sequences.numel())

    @property
    def nbytes(self) -> int:
        """Memory held by the packed arrays, in bytes."""
        q = self.qualities.numel() if self.qualities is not None else 0
        return (
            self.sequences.numel()
            + q
            + self.offsets.numel() * 8
            + self.names.nbytes
            + self.descriptions.nbytes
        )

    @overload
    def __getitem__(self, index: int) -> Record: ...
    @overload
    def __getitem__(self, index: slice | Sequence[int] | np.ndarray | torch.Tensor) -> PackedReads: ...

    def __getitem__(self, index):
        n = len(self)
        if isinstance(index, (int, np.integer)) or (
            isinstance(index, torch.Tensor) and index.dim() == 0 and not index.dtype.is_floating_point
        ):
            i = int(index)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"read index {int(index)} out of range for {n} reads")
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            seq = self.sequences[a:b].cpu().numpy().tobytes()
            qual = None if self.qualities is None else self.qualities[a:b].cpu().numpy().tobytes()
            return Record(self.names[i], seq, qual, self.descriptions[i])
        rows = _as_row_index(index, n)
        offs_np = self.offsets.cpu().numpy()
        seq_np, new_offsets = _gather_ragged(self.sequences.cpu().numpy(), offs_np, rows)
        qual_t = None
        if self.qualities is not None:
            qual_np, _ = _gather_ragged(self.qualities.cpu().numpy(), offs_np, rows)
            qual_t = torch.from_numpy(qual_np).to(self.sequences.device)
        return PackedReads(
            torch.from_numpy(seq_np).to(self.sequences.device),
            torch.from_numpy(new_offsets).to(self.offsets.device),
            qual_t,
            self.names[rows],
            self.descriptions[rows],
            validate=False,
        )

    def __iter__(self) -> Iterator[Record]:
        seqs = self.sequences.cpu().numpy().tobytes()
        quals = None if self.qualities is None else self.qualities.cpu().numpy().tobytes()
        offs = self.offsets.tolist()
        for i, (name, desc) in enumerate(zip(self.names, self.descriptions)):
            a, b = offs[i], offs[i + 1]
            yield Record(name, seqs[a:b], None if quals is None else quals[a:b], desc)

    def __repr__(self) -> str:
        q = "with" if self.qualities is not None else "without"
        return (
            f"PackedReads(n={len(self)}, bases={self.total_bases}, {q} qualities, "
            f"device={self.sequences.device})"
        )

    def equals(self, other: PackedReads) -> bool:
        """True when both hold the same reads (names, descriptions, bases, qualities)."""
        if len(self) != len(other) or (self.qualities is None) != (other.qualities is None):
            return False
        return (
            torch.equal(self.offsets.cpu(), other.offsets.cpu())
            and torch.equal(self.sequences.cpu(), other.sequences.cpu())
            and (self.qualities is None or torch.equal(self.qualities.cpu(), other.qualities.cpu()))
            and self.names == other.names
            and self.descriptions == other.descriptions
        )

    # --------------------------------------------------------------- padding
    def _width(self, max_len: int | None, multiple_of: int) -> int:
        if max_len is not None:
            if max_len < 0:
                raise ValueError(f"max_len must be >= 0, got {max_len}")
            return max_len
        longest = int(self.lengths.max()) if len(self) else 0
        return _round_up(longest, multiple_of)

    def pad(
        self, max_len: int | None = None, pad_value: int = 0, *, multiple_of: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-pad the sequences into a ``[n, L]`` byte matrix.

        Parameters
        ----------
        max_len : int, optional
            ``L``; longer reads are truncated.  Default: the longest read,
            rounded up to ``multiple_of``.
        pad_value : int
            Byte written past each read's end.

        Returns
        -------
        (Tensor ``uint8 [n, L]``, Tensor ``int32 [n]``)
            The padded bases and each read's (possibly truncated) length.
        """
        width = self._width(max_len, multiple_of)
        lengths = self.lengths
        padded = pad_ragged(self.sequences, self.offsets[:-1], lengths, width, pad_value)
        return padded, lengths.clamp(max=width).to(torch.int32)

    def pad_qualities(
        self, max_len: int | None = None, pad_value: int = 0, *, multiple_of: int = 1
    ) -> torch.Tensor:
        """Qualities padded exactly like :meth:`pad` pads sequences: ``uint8 [n, L]``."""
        if self.qualities is None:
            raise ValueError("these reads have no qualities (FASTA input)")
        width = self._width(max_len, multiple_of)
        return pad_ragged(self.qualities, self.offsets[:-1], self.lengths, width, pad_value)

    # ---------------------------------------------------------------- device
    def _map(self, fn) -> PackedReads:
        return PackedReads(
            fn(self.sequences),
            fn(self.offsets),
            None if self.qualities is None else fn(self.qualities),
            self.names,
            self.descriptions,
            validate=False,
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> PackedReads:
        """Move the tensors to ``device`` (names stay on the host).

        On CUDA this first checks that the columns fit in the device's free
        memory and raises a ``MemoryError`` giving the bytes needed and free
        otherwise (never an out-of-memory error halfway through the copy).
        """
        device = torch.device(device)
        if device.type == "cuda" and self.sequences.device != device:
            quals = 0 if self.qualities is None else self.qualities.numel()
            check_fits(self.sequences.numel() + quals + 8 * self.offsets.numel(), device)
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> PackedReads:
        """Page-locked copies, for asynchronous host-to-device copies."""
        return self._map(lambda t: t.pin_memory())

    def is_pinned(self) -> bool:
        return self.sequences.is_pinned()
