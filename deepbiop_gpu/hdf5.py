"""HDF5 export and import of datasets (h5py), ragged or as fixed-length arrays.

Two layouts, told apart by the root attribute ``layout``.

``layout="ragged"`` (the default; :func:`read_hdf5` reads it back)::

    sequences            uint8  [total]   every read's bases, back to back
    offsets              int64  [n + 1]   read i is sequences[offsets[i]:offsets[i+1]]
    qualities            uint8  [total]   Phred+33 bytes (absent for FASTA input)
    names/data           uint8  [...]     read ids, UTF-8, back to back
    names/offsets        int64  [n + 1]
    descriptions/data    uint8  [...]     the rest of each header line
    descriptions/offsets int64  [n + 1]
    labels               int64 / float32 [n]   (absent when unlabelled)

``layout="fixed"`` (``encoded="one_hot" | "integer"``, ``length=L``): the
arrays many genomics models read, with the crop / pad rule of
:mod:`deepbiop_gpu.numpy_export` (longer reads keep their first ``L`` bases,
or the middle ones with ``crop="center"``; shorter ones are right-padded)::

    X        uint8 / bool [N, L, 4] (one-hot) or int8 [N, L] (integer, padding -1)
    lengths  int32 [N]               bases each row holds, min(len, L)
    y        int64 / float32 [N]     the labels (absent when unlabelled)
    names/data, names/offsets        read ids, as above

Every dataset is chunked and compressed (``gzip``, ``lzf`` or none; integer
arrays also go through the shuffle filter).  Root attributes describe the
file: ``format`` ("deepbiop_gpu"), ``format_version``, ``library_version``,
``layout``, ``n_reads``, ``phred_offset`` (33: qualities are stored as
Phred+33 bytes whatever the source's offset was), ``has_qualities``, and JSON
strings ``classes``, ``label_dtype``, ``paths``, ``file_sizes`` and
``sources`` (a fingerprint of every source file: size, mtime, hash of its
ends, record count; see :func:`deepbiop_gpu.cache.fingerprint`).  Fixed
files add ``encoding``, ``length``, ``crop``.

Writes are atomic: a temporary file beside ``path``, renamed over it when
complete.

Reading is lazy: :func:`read_hdf5` loads the offsets and labels (16 bytes a
read) and fetches bases, qualities and names chunk by chunk when a sample or
batch asks for them (a small per-process chunk cache serves neighbouring
reads), so a file larger than memory trains with ``num_workers``: every
process opens its own h5py handle on first use (h5py handles must not cross
``fork``), and the dataset pickles without one.

Needs the optional dependency h5py (``pip install 'deepbiop-gpu[hdf5]'``).
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from ._version import __version__
from .data.dataset import Dataset, Subset, apply_transform_to_sample, collate_rows
from .data.sampler import index_array
from .numpy_export import CROPS, _dataset_parts, fixed_length_slices, fixed_spec, resolve_length
from .packed import PackedReads, StringColumn

__all__ = ["HDF5Dataset", "export_hdf5", "read_hdf5"]

PathLike = str | os.PathLike
FORMAT = "deepbiop_gpu"
FORMAT_VERSION = 1
COMPRESSIONS = ("gzip", "lzf", None)
#: Bytes per chunk of the flat byte arrays (the unit of compression and of lazy reads).
CHUNK_BYTES = 64 * 1024
#: Elements per chunk of the int64 offset and label arrays.
CHUNK_ROWS = 16 * 1024
#: Bytes written per call (bounds the memory of an export).
WRITE_BYTES = 64 * 1024 * 1024
#: Decompressed chunks kept per open file, per process.
CACHE_BYTES = 32 * 1024 * 1024


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
        raise ImportError(
            "HDF5 export/import needs h5py, which is not installed: "
            "pip install 'deepbiop-gpu[hdf5]' (or pip install h5py)"
        ) from exc
    return h5py


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _filters(compression: str | None, level: int | None, integers: bool) -> dict[str, Any]:
    if compression is None:
        return {}
    out: dict[str, Any] = {"compression": compression}
    if compression == "gzip" and level is not None:
        out["compression_opts"] = int(level)
    if integers:
        out["shuffle"] = True
    return out


def _flat(group, name: str, data: np.ndarray, chunk: int, filters: dict[str, Any]) -> None:
    """A 1-D chunked dataset filled from ``data`` (a memmap is fine) in bounded slices."""
    n = len(data)
    ds = group.create_dataset(
        name, shape=(n,), maxshape=(None,), dtype=data.dtype, chunks=(chunk,), **filters
    )
    step = max(chunk, (WRITE_BYTES // max(data.itemsize, 1)) // chunk * chunk)
    for a in range(0, n, step):
        ds[a : a + step] = data[a : a + step]


def _write_strings(h5, name: str, column: StringColumn, compression, level) -> None:
    group = h5.create_group(name)
    _flat(group, "data", column.data, CHUNK_BYTES, _filters(compression, level, False))
    _flat(group, "offsets", column.offsets, CHUNK_ROWS, _filters(compression, level, True))


def _sources(dataset: Any, n: int) -> tuple[list[str], list[int], list[dict[str, Any]]]:
    from .cache import fingerprint

    paths = [os.fspath(p) for p in getattr(dataset, "paths", [])]
    sizes = [int(x) for x in getattr(dataset, "file_sizes", [n])]
    if len(paths) != len(sizes):
        paths = [""] * len(sizes)
    sources = []
    for path, count in zip(paths, sizes, strict=True):
        entry: dict[str, Any] = {"path": os.path.abspath(path) if path else ""}
        if path and os.path.isfile(path):
            entry = fingerprint(path)
        entry["records"] = count
        sources.append(entry)
    return paths, sizes, sources


def _labels_np(labels: torch.Tensor | None, classes) -> np.ndarray | None:
    if labels is None:
        return None
    if classes is None and labels.dtype not in (torch.int64, torch.float32, torch.float64):
        labels = labels.to(torch.float32 if labels.is_floating_point() else torch.int64)
    return _np(labels)


def export_hdf5(
    dataset: Dataset | PackedReads,
    path: PathLike,
    *,
    compression: str | None = "gzip",
    compression_level: int | None = None,
    encoded: str | None = None,
    length: int | None = None,
    crop: str = "start",
    dtype: str | None = None,
) -> str:
    """Write a dataset to an HDF5 file: the ragged reads, or fixed-length encoded arrays.

    Parameters
    ----------
    dataset : Dataset or PackedReads
        Reads (``uint8`` buffers + ``int64`` offsets), and the labels and
        classes of a dataset.
    path : str or PathLike
        The ``.h5`` file to write (replaced atomically).
    compression : {"gzip", "lzf", None}
        Filter of every dataset (gzip: smallest; lzf: fastest; None: raw).
    compression_level : int, optional
        gzip level 0-9 (h5py's default, 4, when None).
    encoded : {"one_hot", "integer"}, optional
        Write the fixed-length layout ``X [N, L, 4]`` (``uint8``, or ``bool``
        with ``dtype="bool"``) or ``X [N, L]`` (``int8``, padding -1), plus
        ``lengths`` and ``y``, instead of the ragged reads.
    length : int, optional
        ``L`` of the fixed layout (default: the longest read).  Longer reads
        are cropped (``crop="start"``: their first ``L`` bases;
        ``"center"``: the middle ones), shorter ones right-padded.
    crop : {"start", "center"}
    dtype : str, optional
        Element type of ``X`` (see ``encoded``).

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ImportError
        h5py is not installed (the message says how to install it).

    Examples
    --------
    >>> from deepbiop_gpu import Dataset
    >>> ds = Dataset("tests/data/fastq/crlf_dos_3reads.fastq")
    >>> export_hdf5(ds, "/tmp/crlf.h5", compression="lzf")
    '/tmp/crlf.h5'
    >>> read_hdf5("/tmp/crlf.h5").reads.equals(ds.reads)
    True
    >>> export_hdf5(ds, "/tmp/crlf_x.h5", encoded="one_hot", length=16)
    '/tmp/crlf_x.h5'
    """
    h5py = _h5py()
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if length is not None and encoded is None:
        raise ValueError("length= applies to the fixed-length layout: pass encoded= too")
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    if encoded is not None:
        fixed_spec(encoded, dtype)  # validates before anything is written
    reads, labels, classes = _dataset_parts(dataset, "export_hdf5")
    n = len(reads)
    paths, sizes, sources = _sources(dataset, n)
    y = _labels_np(labels, classes)
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(path) or ".", f".tmp-{os.getpid()}-{os.path.basename(path)}")
    try:
        with h5py.File(tmp, "w") as h5:
            attrs = h5.attrs
            attrs["format"] = FORMAT
            attrs["format_version"] = FORMAT_VERSION
            attrs["library_version"] = __version__
            attrs["n_reads"] = n
            attrs["phred_offset"] = 33
            attrs["has_qualities"] = reads.qualities is not None
            attrs["classes"] = json.dumps(None if classes is None else list(classes))
            attrs["label_dtype"] = json.dumps(None if y is None else str(y.dtype))
            attrs["paths"] = json.dumps(paths)
            attrs["file_sizes"] = json.dumps(sizes)
            attrs["sources"] = json.dumps(sources)
            attrs["compression"] = json.dumps(compression)
            ints = _filters(compression, compression_level, True)
            if encoded is None:
                attrs["layout"] = "ragged"
                _write_ragged(h5, reads, compression, compression_level)
            else:
                attrs["layout"] = "fixed"
                L = resolve_length(reads, length)
                attrs["encoding"] = encoded
                attrs["length"] = L
                attrs["crop"] = crop
                _write_fixed(h5, reads, encoded, L, crop, dtype, compression, compression_level)
            if y is not None:
                _flat(h5, "labels" if encoded is None else "y", y, CHUNK_ROWS, ints)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _write_ragged(h5, reads: PackedReads, compression, level) -> None:
    raw = _filters(compression, level, False)
    ints = _filters(compression, level, True)
    _flat(h5, "sequences", _np(reads.sequences), CHUNK_BYTES, raw)
    _flat(h5, "offsets", _np(reads.offsets), CHUNK_ROWS, ints)
    if reads.qualities is not None:
        _flat(h5, "qualities", _np(reads.qualities), CHUNK_BYTES, raw)
    _write_strings(h5, "names", reads.names, compression, level)
    _write_strings(h5, "descriptions", reads.descriptions, compression, level)


def _write_fixed(h5, reads, encoded, L, crop, dtype, compression, level) -> None:
    out_dtype, channels = fixed_spec(encoded, dtype)
    n = len(reads)
    row_bytes = L * max(channels, 1) * out_dtype.itemsize
    rows = max(1, min(1024, (1 << 20) // row_bytes))  # chunks of about 1 MiB
    shape = (n, L, channels) if channels else (n, L)
    chunks = (rows, L, channels) if channels else (rows, L)
    x = h5.create_dataset(
        "X", shape=shape, maxshape=(None, *shape[1:]), dtype=out_dtype, chunks=chunks,
        **_filters(compression, level, False),
    )  # fmt: skip
    lengths = np.zeros(n, np.int32)
    for a, block, lens in fixed_length_slices(reads, encoded, L, crop=crop, dtype=dtype):
        x[a : a + len(block)] = block
        lengths[a : a + len(lens)] = lens
    _flat(h5, "lengths", lengths, CHUNK_ROWS, _filters(compression, level, True))
    _write_strings(h5, "names", reads.names, compression, level)


# ----------------------------------------------------------------- reading
class _ChunkReader:
    """Rows of a ragged 1-D byte dataset, fetched whole chunks at a time (LRU-cached)."""

    def __init__(self, ds, cache_bytes: int | None = None) -> None:
        self.ds = ds
        self.total = int(ds.shape[0])
        self.chunk = int(ds.chunks[0]) if ds.chunks else max(self.total, 1)
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        budget = CACHE_BYTES if cache_bytes is None else cache_bytes
        self.max_chunks = max(1, budget // self.chunk)
        self.lock = threading.Lock()  # the loader's collate threads share this reader

    def _chunks(self, ids: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [self.cache.get(int(i)) for i in ids]
        missing = [k for k, arr in enumerate(out) if arr is None]
        # one read per run of consecutive missing chunks
        k = 0
        while k < len(missing):
            j = k
            while j + 1 < len(missing) and ids[missing[j + 1]] == ids[missing[j]] + 1:
                j += 1
            first, last = int(ids[missing[k]]), int(ids[missing[j]])
            C = self.chunk
            block = self.ds[first * C : min((last + 1) * C, self.total)]
            for m in range(k, j + 1):
                cid = int(ids[missing[m]])
                piece = block[(cid - first) * C : (cid - first + 1) * C]
                out[missing[m]] = piece
                self.cache[cid] = piece
            k = j + 1
        for i in ids:
            self.cache.move_to_end(int(i))
        while len(self.cache) > self.max_chunks:
            self.cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def gather(self, starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The rows ``[starts[i], starts[i] + lengths[i])`` back to back, and their offsets."""
        offsets = np.zeros(len(starts) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        total = int(offsets[-1])
        if total == 0:
            return np.zeros(0, np.uint8), offsets
        C = self.chunk
        live = lengths > 0
        first = starts[live] // C
        last = (starts[live] + lengths[live] - 1) // C
        count = last - first + 1
        ids = np.repeat(first - np.concatenate([[0], np.cumsum(count)[:-1]]), count)
        ids = np.unique(ids + np.arange(int(count.sum())))
        with self.lock:
            pieces = self._chunks(ids)
        buf = np.concatenate(pieces)  # chunk ids[k] at k * C (only the last is short)
        where = np.zeros(len(starts), np.int64)
        where[live] = np.searchsorted(ids, first) * C + starts[live] % C
        shift = np.repeat(where - offsets[:-1], lengths)
        return buf[np.arange(total, dtype=np.int64) + shift], offsets


class HDF5Dataset(Dataset):
    """A :class:`~deepbiop_gpu.Dataset` over an HDF5 file of ragged reads, read lazily.

    What :func:`read_hdf5` returns.  ``len``, ``labels``, ``classes``,
    ``paths`` and ``file_sizes`` are in memory; ``ds[i]`` and batches read
    their bases, qualities and names from the file, chunk by chunk.  The
    DataLoader's batches are the same as those of the in-memory dataset
    (the same collate and transforms run on the gathered reads, keyed by
    the same sample indices).

    ``reads`` loads the whole file into memory (a :class:`PackedReads`), for
    code that needs every read at once (``summary``, the exports, ``Cache``).
    """

    def __init__(self, path: PathLike, *, transform: Callable | None = None) -> None:
        h5py = _h5py()
        path = os.fspath(path)
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        with h5py.File(path, "r") as h5:
            attrs = dict(h5.attrs)
            if attrs.get("format") != FORMAT:
                raise ValueError(f"{path}: not a deepbiop_gpu HDF5 file (no format attribute)")
            if int(attrs.get("format_version", -1)) > FORMAT_VERSION:
                raise ValueError(
                    f"{path}: format version {attrs.get('format_version')} is newer than this "
                    f"library reads ({FORMAT_VERSION}); upgrade deepbiop-gpu"
                )
            if attrs.get("layout") != "ragged":
                raise ValueError(
                    f"{path}: holds the fixed-length layout (X, lengths, y: "
                    f"encoding={attrs.get('encoding')!r}, length={attrs.get('length')}); "
                    "read_hdf5 reads the ragged layout: open this one with h5py"
                )
            for key in ("sequences", "offsets", "names/offsets"):
                if key not in h5:
                    raise ValueError(f"{path}: dataset {key!r} is missing")
            offsets = np.asarray(h5["offsets"][:], dtype=np.int64)
            name_offsets = np.asarray(h5["names/offsets"][:], dtype=np.int64)
            n = len(offsets) - 1
            if n < 0 or offsets[0] != 0 or offsets[-1] != h5["sequences"].shape[0]:
                raise ValueError(f"{path}: offsets do not match the sequences dataset")
            if n and bool((offsets[1:] < offsets[:-1]).any()):
                raise ValueError(f"{path}: offsets are not non-decreasing")
            has_q = "qualities" in h5
            if has_q and h5["qualities"].shape != h5["sequences"].shape:
                raise ValueError(f"{path}: qualities and sequences differ in length")
            labels = None
            if "labels" in h5:
                labels = torch.from_numpy(np.ascontiguousarray(h5["labels"][:]))
                if labels.shape != (n,):
                    raise ValueError(f"{path}: {labels.shape[0]} labels for {n} reads")
        classes = json.loads(attrs.get("classes", "null"))
        paths = json.loads(attrs.get("paths", "[]"))
        sizes = json.loads(attrs.get("file_sizes", "null"))
        if not sizes or sum(sizes) != n or len(paths) != len(sizes):
            paths, sizes = [path], [n]
        self.path = path
        self.attrs = attrs
        self.sources: list[dict[str, Any]] = json.loads(attrs.get("sources", "[]"))
        self._offsets = offsets
        self._name_offsets = name_offsets
        self._has_qualities = has_q
        self._reads: PackedReads | None = None
        self._handle: tuple[int, Any, dict[str, _ChunkReader]] | None = None
        self._inherited: Any = None
        self._description_offsets: np.ndarray | None = None
        self.paths = list(paths)
        self.file_sizes = [int(s) for s in sizes]
        self.transform = transform
        self.epoch = 0
        self.labels = labels
        self.classes = None if classes is None else list(classes)

    # -------------------------------------------------------- file handles
    def _readers(self) -> dict[str, _ChunkReader]:
        """This process's readers (opened on first use after a fork / unpickle)."""
        pid = os.getpid()
        if self._handle is None or self._handle[0] != pid:
            h5 = _h5py().File(self.path, "r")
            readers = {"sequences": _ChunkReader(h5["sequences"]),
                       "names": _ChunkReader(h5["names/data"])}  # fmt: skip
            if self._has_qualities:
                readers["qualities"] = _ChunkReader(h5["qualities"])
            if "descriptions" in h5:
                readers["descriptions"] = _ChunkReader(h5["descriptions/data"])
            # a handle inherited through fork stays referenced (closing it here could
            # disturb the parent's file); it is simply never used again
            self._inherited = self._handle
            self._handle = (pid, h5, readers)
        return self._handle[2]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_handle"] = None
        state["_inherited"] = None
        return state

    def close(self) -> None:
        """Close this process's file handle (it reopens on the next read)."""
        if self._handle is not None and self._handle[0] == os.getpid():
            self._handle[1].close()
        self._handle = None

    # ------------------------------------------------------------- access
    def read_rows(self, rows: np.ndarray, *, descriptions: bool = False) -> PackedReads:
        """The reads at ``rows`` (``int64``, any order) as a small in-memory :class:`PackedReads`.

        Descriptions are read only with ``descriptions=True`` (batches never need them).
        """
        rows = np.asarray(rows, dtype=np.int64)
        readers = self._readers()
        starts = self._offsets[rows]
        lengths = self._offsets[rows + 1] - starts
        seqs, offsets = readers["sequences"].gather(starts, lengths)
        quals = None
        if self._has_qualities:
            quals = torch.from_numpy(readers["qualities"].gather(starts, lengths)[0])
        nstarts = self._name_offsets[rows]
        nlens = self._name_offsets[rows + 1] - nstarts
        names = StringColumn(*readers["names"].gather(nstarts, nlens))
        descs = None
        if descriptions and "descriptions" in readers:
            d_offsets = self._desc_offsets()
            dstarts = d_offsets[rows]
            dlens = d_offsets[rows + 1] - dstarts
            descs = StringColumn(*readers["descriptions"].gather(dstarts, dlens))
        return PackedReads(torch.from_numpy(seqs), torch.from_numpy(offsets), quals, names, descs,
                           validate=False)  # fmt: skip

    def _desc_offsets(self) -> np.ndarray:
        if self._description_offsets is None:
            self._description_offsets = np.asarray(self._handle[1]["descriptions/offsets"][:])
        return self._description_offsets

    @property
    def reads(self) -> PackedReads:  # type: ignore[override]
        """Every read, loaded into memory once (descriptions included)."""
        if self._reads is None:
            with _h5py().File(self.path, "r") as h5:
                quals = torch.from_numpy(h5["qualities"][:]) if self._has_qualities else None
                self._reads = PackedReads(
                    torch.from_numpy(h5["sequences"][:]),
                    torch.from_numpy(self._offsets.copy()),
                    quals,
                    StringColumn(h5["names/data"][:], self._name_offsets),
                    StringColumn(h5["descriptions/data"][:], h5["descriptions/offsets"][:])
                    if "descriptions" in h5
                    else None,
                )
        return self._reads

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index must be an int, got {type(index).__name__}")
        i = int(index) + (n if int(index) < 0 else 0)
        if not 0 <= i < n:
            raise IndexError(f"index {int(index)} out of range for a dataset of {n} reads")
        one = self.read_rows(np.array([i]))
        sample: dict[str, Any] = {
            "sequence": one.sequences,
            "quality": one.qualities,
            "name": one.names[0],
            "index": i,
        }
        if self.labels is not None:
            sample["label"] = self.labels[i].item()
        if self.transform is not None:
            if _is_batch(self.transform):
                sample["epoch"] = self.epoch
                sample = apply_transform_to_sample(self.transform, sample)
            else:
                sample = self.transform(sample)
        return sample

    def __getitems__(self, indices: Sequence[int]) -> _HDF5Batch:  # type: ignore[override]
        idx = index_array(indices)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"batch index out of range for a dataset of {n} reads")
        idx = np.where(idx < 0, idx + n, idx)
        return _HDF5Batch(self, idx, getattr(indices, "epoch", self.epoch))

    def split(self, fraction: float, seed: int = 0) -> tuple[Subset, Subset]:
        """As :meth:`Dataset.split`; the two subsets read lazily from the file too."""
        a, b = super().split(fraction, seed)
        return _HDF5Subset(self, a.indices), _HDF5Subset(self, b.indices)

    def __repr__(self) -> str:
        lab = f", {len(self.classes)} classes" if self.classes else (
            ", labelled" if self.labels is not None else "")  # fmt: skip
        return f"HDF5Dataset({len(self)} reads from {os.path.basename(self.path)}{lab})"


def _is_batch(transform: Any) -> bool:
    from .transforms.base import BatchTransform

    return isinstance(transform, BatchTransform)


class _HDF5Batch(Sequence[dict]):
    """One batch of an :class:`HDF5Dataset`: gathered from the file once, then collated."""

    __slots__ = ("dataset", "indices", "epoch")

    def __init__(self, dataset: HDF5Dataset, indices: np.ndarray, epoch: int) -> None:
        self.dataset, self.indices, self.epoch = dataset, indices, epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return _HDF5Batch(self.dataset, self.indices[i], self.epoch)
        return self.dataset[int(self.indices[i])]

    def collate(self, max_len: int | None, multiple_of: int, then: Callable | None = None):
        ds = self.dataset
        reads = ds.read_rows(self.indices)
        index = torch.from_numpy(self.indices)
        labels = None if ds.labels is None else ds.labels[index]
        rows = np.arange(len(self.indices), dtype=np.int64)
        return collate_rows(reads, rows, index, labels, self.epoch, ds.transform,
                            max_len, multiple_of, then)  # fmt: skip


class _HDF5Subset(Subset):
    """A :class:`Subset` of an :class:`HDF5Dataset` whose batches read lazily from the file."""

    def __getitems__(self, indices: Sequence[int]) -> _HDF5Batch:  # type: ignore[override]
        parent = self.indices[index_array(indices)]
        return _HDF5Batch(self.dataset, parent, getattr(indices, "epoch", self.dataset.epoch))


def read_hdf5(path: PathLike, *, transform: Callable | None = None) -> HDF5Dataset:
    """Open an HDF5 file of ragged reads (as :func:`export_hdf5` writes) as a lazy Dataset.

    Parameters
    ----------
    path : str or PathLike
    transform : callable, optional
        As in :class:`~deepbiop_gpu.Dataset`.

    Returns
    -------
    HDF5Dataset
        A :class:`~deepbiop_gpu.Dataset`: ``len``, ``labels`` (``int64`` /
        ``float32 [n]`` or None), ``classes``, ``paths``, ``file_sizes`` in
        memory; bases, qualities and names read from the file on demand
        (each worker process opens its own handle).

    Raises
    ------
    ImportError
        h5py is not installed.
    ValueError
        Not a deepbiop_gpu file, a newer format version, the fixed-length
        layout, or inconsistent arrays (the message names the file).

    Examples
    --------
    >>> ds = read_hdf5("reads.h5")  # doctest: +SKIP
    >>> loader = DataLoader(ds, batch_size=256, num_workers=4)  # doctest: +SKIP
    """
    return HDF5Dataset(path, transform=transform)

