"""Pickling by reference: how reads and datasets travel to spawn / forkserver workers.

A forked DataLoader worker inherits its parent's memory; a *spawned* (or
forkserver) worker receives the dataset pickled.  Pickling the buffers by
value would copy every read into every worker, every epoch (and torch's own
tensor reduction would copy a memory-mapped cache into shared memory first).
So :class:`~deepbiop_gpu.PackedReads` pickles by reference:

* **Reads opened from a cache** (``Cache.load``, ``Dataset(..., cache_dir=)``)
  pickle as ``(cache directory, version token, row range)``, a few hundred
  bytes whatever their size, with every pickler (``pickle.dumps`` too).  The
  other side maps the same files again.  The token (creation time, record
  count and offsets checksum from ``meta.json``) makes sure it is the same
  version: if the cache was rebuilt in between, unpickling raises
  :class:`~deepbiop_gpu.cache.CacheError` instead of mixing two versions.
  (Forked workers keep the maps they inherited, so a running loader with
  fork workers reads the old version to the end of its epoch.)
* **Reads in memory** pickled while a process is being spawned (the
  DataLoader starting spawn / forkserver workers) are moved, once, into one
  POSIX shared-memory segment holding every buffer (sequences, offsets,
  qualities, names, descriptions); the reads in this process become views
  of it and pickle as the segment's *name* and layout.  Workers attach to
  the segment by name: nothing is copied, however many workers and epochs.
  The segment is unlinked when the reads in this process are garbage
  collected (or at exit).  An ordinary ``pickle.dumps`` still pickles by
  value, so a pickle written to a file stays self-contained.
"""

from __future__ import annotations

import json
import multiprocessing.context
import weakref
from multiprocessing import shared_memory
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = ["CacheRef", "LabelsRef", "SharedSegment", "reduce_packed"]

_ALIGN = 64


class CacheRef:
    """Where cached reads live: directory, version token and the row range ``[start, stop)``."""

    __slots__ = ("directory", "token", "start", "stop")

    def __init__(self, directory: str, token: str, start: int, stop: int) -> None:
        self.directory = str(directory)
        self.token = token
        self.start = int(start)
        self.stop = int(stop)

    def __reduce__(self):
        return (CacheRef, (self.directory, self.token, self.start, self.stop))


def cache_token(meta: dict[str, Any]) -> str:
    """The version of a cache: what changes whenever it is rebuilt."""
    offsets = (meta.get("arrays") or {}).get("offsets") or {}
    return json.dumps([meta.get("created"), meta.get("n_records"), offsets.get("crc32"),
                       offsets.get("length")])  # fmt: skip


def open_cache_ref(ref: CacheRef):
    """The reads a :class:`CacheRef` names, mapped again (raises ``CacheError`` if rebuilt)."""
    from .cache import CacheError, _open_reads, _read_meta

    directory = Path(ref.directory)
    meta, reason = _read_meta(directory)
    if meta is None:
        raise CacheError(f"cannot reopen pickled cached reads: {reason}")
    if cache_token(meta) != ref.token:
        raise CacheError(
            f"the cache at {directory} was rebuilt after these reads were pickled; "
            "Cache.load it again to read the new version"
        )
    reads = _open_reads(directory, meta)  # carries a full-range CacheRef
    if (ref.start, ref.stop) != (0, len(reads)):
        reads = reads[ref.start : ref.stop]
        reads._ref = ref
    return reads


class LabelsRef:
    """A cache's ``labels.bin``: pickles as its path and the cache's version token."""

    __slots__ = ("directory", "token", "file", "dtype", "length")

    def __init__(self, directory: str, token: str, file: str, dtype: str, length: int) -> None:
        self.directory, self.token, self.file, self.dtype, self.length = (
            str(directory), token, file, dtype, int(length))

    def __reduce__(self):
        return (LabelsRef, (self.directory, self.token, self.file, self.dtype, self.length))

    def open(self) -> torch.Tensor:
        from .cache import CacheError, _map, _read_meta

        meta, reason = _read_meta(Path(self.directory))
        if meta is None or cache_token(meta) != self.token:
            raise CacheError(f"the cache at {self.directory} was rebuilt or removed after its labels "
                             f"were pickled{': ' + reason if reason else ''}; Cache.load it again")
        return torch.from_numpy(_map(Path(self.directory) / self.file, self.dtype, self.length))


class SharedSegment:
    """One shared-memory segment holding named arrays; pickles as its name and layout."""

    def __init__(self, shm: shared_memory.SharedMemory, layout: dict[str, tuple[int, str, int]],
                 owner: bool) -> None:
        self.shm = shm
        self.layout = layout  # name -> (byte offset, dtype str, length)
        self.owner = owner
        if owner:
            weakref.finalize(self, _unlink, shm)

    @classmethod
    def create(cls, arrays: dict[str, np.ndarray]) -> SharedSegment:
        layout: dict[str, tuple[int, str, int]] = {}
        pos = 0
        for name, a in arrays.items():
            layout[name] = (pos, a.dtype.str, int(a.size))
            pos += -(-a.nbytes // _ALIGN) * _ALIGN
        shm = _Shm(create=True, size=max(pos, 1))
        seg = cls(shm, layout, owner=True)
        for name, a in arrays.items():
            seg.array(name)[...] = a.reshape(-1)
        return seg

    def array(self, name: str) -> np.ndarray:
        offset, dtype, length = self.layout[name]
        return np.frombuffer(self.shm.buf, dtype=np.dtype(dtype), count=length, offset=offset)

    def __reduce__(self):
        return (_attach, (self.shm.name, self.layout))


class _Shm(shared_memory.SharedMemory):
    """A segment that is never closed explicitly: its map goes when the last array on it does.

    (``SharedMemory.__del__`` closes the map, which fails while numpy arrays
    still view it.)
    """

    def __del__(self) -> None:
        pass


def _unlink(shm: shared_memory.SharedMemory) -> None:
    try:
        shm.unlink()
    except (FileNotFoundError, OSError):
        pass


def _attach(name: str, layout: dict[str, tuple[int, str, int]]) -> SharedSegment:
    try:
        shm = _Shm(name=name, track=False)  # type: ignore[call-arg]
    except TypeError:  # Python < 3.13: attaching registers with the (shared) resource tracker
        shm = _Shm(name=name)
    return SharedSegment(shm, layout, owner=False)


def _spawning() -> bool:
    """Are we pickling the arguments of a process being started (spawn / forkserver)?"""
    return multiprocessing.context.get_spawning_popen() is not None


def _columns(reads) -> dict[str, np.ndarray]:
    arrays = {"sequences": reads.sequences.numpy(), "offsets": reads.offsets.numpy()}
    if reads.qualities is not None:
        arrays["qualities"] = reads.qualities.numpy()
    for col in ("names", "descriptions"):
        column = getattr(reads, col)
        arrays[f"{col}.data"] = np.asarray(column.data)
        arrays[f"{col}.offsets"] = np.asarray(column.offsets)
    return arrays


def move_to_shared_memory(reads) -> SharedSegment:
    """Put every buffer of ``reads`` into one new segment; ``reads`` becomes views of it."""
    from .packed import StringColumn

    seg = SharedSegment.create(_columns(reads))
    reads.sequences = torch.from_numpy(seg.array("sequences"))
    reads.offsets = torch.from_numpy(seg.array("offsets"))
    if reads.qualities is not None:
        reads.qualities = torch.from_numpy(seg.array("qualities"))
    for col in ("names", "descriptions"):
        setattr(reads, col, StringColumn(seg.array(f"{col}.data"), seg.array(f"{col}.offsets")))
    reads._ref = seg
    return seg


def reads_from_segment(seg: SharedSegment):
    from .packed import PackedReads, StringColumn

    q = seg.array("qualities") if "qualities" in seg.layout else None
    reads = PackedReads(
        torch.from_numpy(seg.array("sequences")),
        torch.from_numpy(seg.array("offsets")),
        None if q is None else torch.from_numpy(q),
        StringColumn(seg.array("names.data"), seg.array("names.offsets")),
        StringColumn(seg.array("descriptions.data"), seg.array("descriptions.offsets")),
        validate=False,
    )
    reads._ref = seg
    return reads


def _by_value(sequences, offsets, qualities, names, descriptions):
    from .packed import PackedReads

    return PackedReads(sequences, offsets, qualities, names, descriptions, validate=False)


def reduce_packed(reads) -> tuple:
    """``PackedReads.__reduce__``: by cache reference, by shared-memory name, or by value.

    Examples
    --------
    >>> import pickle
    >>> from deepbiop_gpu import PackedReads
    >>> reads = PackedReads.from_records([("r1", b"ACGT", b"IIII")])
    >>> pickle.loads(pickle.dumps(reads)).equals(reads)  # an ordinary pickle: by value
    True
    >>> multiprocessing.context.set_spawning_popen(object())  # as while starting a worker
    >>> fn, (segment,) = reduce_packed(reads)
    >>> multiprocessing.context.set_spawning_popen(None)
    >>> fn.__name__, segment is reads._ref, fn(pickle.loads(pickle.dumps(segment))).equals(reads)
    ('reads_from_segment', True, True)
    """
    ref = getattr(reads, "_ref", None)
    if isinstance(ref, CacheRef):
        return (open_cache_ref, (ref,))
    on_cpu = reads.sequences.device.type == "cpu"
    if on_cpu and _spawning():
        seg = ref if isinstance(ref, SharedSegment) else move_to_shared_memory(reads)
        return (reads_from_segment, (seg,))
    return (_by_value, (reads.sequences, reads.offsets, reads.qualities, reads.names, reads.descriptions))
