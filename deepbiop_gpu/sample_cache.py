"""On-disk cache of processed samples: one ragged memory-mapped column per key.

DeepBioP's ``save_cache(samples, path)`` / ``load_cache(path)`` keep
encoded samples for reuse; this is the same, memory-mapped.  A sample cache
is a directory::

    meta.json            format, version, sample count, sources' fingerprints,
                         declared pad values, and one entry per column
    <key>.bin            the column's values, raw little-endian bytes, back to back
    <key>.offsets        int64 [n + 1]: sample i's rows (arrays with a length
                         dimension) or bytes (strings) are [o[i], o[i+1])

Columns, from the first sample's fields (every sample must have the same):

* ``array``: a tensor or numpy array with a leading length dimension
  (``[L]``, ``[L, F]``, ...; any dtype, bfloat16 and bool included); the
  trailing shape and dtype are the same in every sample;
* ``scalar``: Python ``int`` / ``float`` / ``bool``, numpy scalars, 0-d tensors;
* ``string``: ``str`` (UTF-8);
* ``none``: ``None`` in every sample (FASTA reads' qualities).

:func:`save_samples` streams the samples (constant memory) into a temporary
directory beside the target, fsyncs it and renames it into place.
:func:`load_samples` maps the columns (``np.memmap`` copy-on-write) and
returns a :class:`SampleCacheDataset` whose items are views of the maps
(zero-copy), as tensors or numpy arrays like the samples saved.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._version import __version__
from .cache import (
    CacheError,
    CacheStatus,
    _ArrayFile,
    _atomic_directory,
    _check_sources,
    fingerprint,
)

__all__ = [
    "SAMPLE_FORMAT_NAME",
    "SAMPLE_FORMAT_VERSION",
    "SampleCacheDataset",
    "check_samples",
    "is_sample_cache",
    "load_samples",
    "save_samples",
]

PathLike = str | os.PathLike

SAMPLE_FORMAT_NAME = "deepbiop_gpu.samples"
SAMPLE_FORMAT_VERSION = 1
META = "meta.json"

_TORCH_DTYPES = {
    str(d).removeprefix("torch."): d
    for d in (
        torch.bool, torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64,
        torch.float16, torch.bfloat16, torch.float32, torch.float64,
        torch.complex64, torch.complex128,
    )
}  # fmt: skip
_PY_SCALARS = {"bool": (bool, "|b1"), "int": (int, "<i8"), "float": (float, "<f8")}


# ------------------------------------------------------------------ schema
def _array_kind(key: str, value: Any) -> dict[str, Any]:
    """The column entry of an array-like field (torch or numpy), without file names."""
    if isinstance(value, torch.Tensor):
        name = str(value.dtype).removeprefix("torch.")
        if name not in _TORCH_DTYPES:
            raise TypeError(f"Cache.save: {key!r} has dtype {value.dtype}, which cannot be stored")
        return {"kind": "array", "lib": "torch", "dtype": name, "trailing": list(value.shape[1:])}
    dt = np.asarray(value).dtype
    if dt.hasobject or dt.kind in "USV":
        raise TypeError(f"Cache.save: {key!r} is a numpy {dt} array, which cannot be stored")
    return {
        "kind": "array",
        "lib": "numpy",
        "dtype": dt.newbyteorder("<").str,
        "trailing": list(value.shape[1:]),
    }


def _column_kind(key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {"kind": "none"}
    if isinstance(value, str):
        return {"kind": "string"}
    if isinstance(value, bool | int | float) and not isinstance(value, np.generic):
        return {"kind": "scalar", "lib": "python", "dtype": type(value).__name__}
    if isinstance(value, np.generic):
        entry = _array_kind(key, np.asarray(value))
        return {"kind": "scalar", "lib": "numpy", "dtype": entry["dtype"]}
    if isinstance(value, torch.Tensor | np.ndarray):
        if value.ndim == 0:
            entry = _array_kind(key, value)
            return {"kind": "scalar", "lib": entry["lib"] + "-0d", "dtype": entry["dtype"]}
        return _array_kind(key, value)
    raise TypeError(
        f"Cache.save: {key!r} is a {type(value).__name__}; samples hold arrays / tensors with a "
        "leading length dimension, numbers, strings or None"
    )


def _raw_bytes(value: Any) -> np.ndarray:
    """The little-endian bytes of a tensor / array / numpy scalar (``uint8``, flat)."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        if t.dim() == 0:
            t = t.reshape(1)
        return t.view(torch.uint8).reshape(-1).numpy()
    arr = np.ascontiguousarray(value)
    arr = arr.astype(arr.dtype.newbyteorder("<"), copy=False)
    return arr.reshape(-1).view(np.uint8)


def _safe_name(key: str, taken: set[str]) -> str:
    """A file stem for ``key`` (any string) that is unique in the cache."""
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:64] or "key"
    name, n = stem, 1
    while name.lower() in taken:
        n += 1
        name = f"{stem}-{n}"
    taken.add(name.lower())
    return name


class _Column:
    """One key being written: its kind, values file and (ragged) offsets file."""

    def __init__(self, key: str, entry: dict[str, Any], directory: Path, stem: str) -> None:
        self.key = key
        self.entry = dict(entry)
        self.values = self.offsets = None
        self.end = 0
        kind = entry["kind"]
        if kind in ("array", "string", "scalar"):
            self.values = _ArrayFile(directory / f"{stem}.bin", "|u1")
        if kind in ("array", "string"):
            self.offsets = _ArrayFile(directory / f"{stem}.offsets", "<i8")
            self.offsets.write(np.zeros(1, np.int64))
        if kind == "array":
            self.row_bytes = int(np.prod(entry["trailing"], dtype=np.int64)) * _itemsize(entry)

    def append(self, value: Any, i: int) -> None:
        kind = self.entry["kind"]
        got = (
            _column_kind(self.key, value) if not (kind == "none" and value is None) else self.entry
        )
        if got != self.entry:
            raise TypeError(
                f"Cache.save: sample {i} field {self.key!r} is {_describe(got)}, but the first "
                f"sample's is {_describe(self.entry)} (every sample must match)"
            )
        if kind == "none":
            return
        if kind == "string":
            data = np.frombuffer(value.encode("utf-8"), np.uint8)
        elif kind == "scalar" and self.entry["lib"] == "python":
            data = np.asarray([value], dtype=_PY_SCALARS[self.entry["dtype"]][1]).view(np.uint8)
        else:
            data = _raw_bytes(value)
        self.values.write(data)
        if self.offsets is not None:
            self.end += len(value) if kind == "array" else len(data)
            self.offsets.write(np.asarray([self.end], np.int64))

    def finish(self) -> dict[str, Any]:
        entry = dict(self.entry)
        if self.values is not None:
            entry["values"] = self.values.finish()
        if self.offsets is not None:
            entry["offsets"] = self.offsets.finish()
        return entry

    def abort(self) -> None:
        for f in (self.values, self.offsets):
            if f is not None:
                f.abort()


def _describe(entry: dict[str, Any]) -> str:
    kind = entry["kind"]
    if kind == "array":
        return f"a {entry['lib']} {entry['dtype']} array [L, {', '.join(map(str, entry['trailing']))}]".replace(
            ", ]", "]"
        )
    if kind == "scalar":
        return f"a {entry['lib']} {entry['dtype']} scalar"
    return {"string": "a string", "none": "None"}[kind]


def _itemsize(entry: dict[str, Any]) -> int:
    if entry["lib"] in ("torch", "torch-0d"):
        return torch.empty(0, dtype=_TORCH_DTYPES[entry["dtype"]]).element_size()
    if entry["lib"] == "python":
        return np.dtype(_PY_SCALARS[entry["dtype"]][1]).itemsize
    return np.dtype(entry["dtype"]).itemsize


# ------------------------------------------------------------------ writing
def _is_replaceable(target: Path) -> bool:
    if not target.is_dir():
        return True
    return not any(target.iterdir()) or is_sample_cache(target)


def _atomic(target: Path):
    """A temporary directory beside ``target`` that replaces it on success (removed on failure)."""
    return _atomic_directory(target, _is_replaceable, "sample cache")


def save_samples(
    samples: Iterable[Mapping[str, Any]],
    directory: PathLike,
    sources: PathLike | Sequence[PathLike] | None = None,
) -> Path:
    """Stream sample dicts into a sample cache at ``directory``, atomically.

    Parameters
    ----------
    samples : iterable of dicts
        Every sample has the same keys; each field is an array / tensor with
        a leading length dimension (any dtype; the trailing shape fixed),
        a number, a string or None, of the same kind in every sample.
    directory : path
        Created, or replaced if it holds a sample cache (or nothing).
    sources : path or paths, optional
        Files the samples were made from: fingerprinted, so that
        :func:`check_samples` reports a changed source.

    Returns
    -------
    pathlib.Path
        The absolute cache directory.

    Examples
    --------
    >>> import torch, tempfile
    >>> samples = [{"sequence": torch.eye(4)[:n], "name": f"r{n}", "label": n} for n in (3, 1)]
    >>> path = save_samples(samples, tempfile.mkdtemp() + "/onehot.samples")
    >>> ds = load_samples(path)
    >>> len(ds), ds[0]["sequence"].shape, ds[1]["name"], ds[1]["label"]
    (2, torch.Size([3, 4]), 'r1', 1)
    """
    if isinstance(samples, Mapping):
        raise TypeError("Cache.save takes an iterable of sample dicts, not one dict")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    fingerprints = [fingerprint(p) for p in (sources or [])]
    target = Path(os.path.abspath(directory))
    with _atomic(target) as tmp:
        columns: dict[str, _Column] = {}
        pad_values: dict[str, Any] | None = None
        n = 0
        try:
            for i, sample in enumerate(samples):
                if not isinstance(sample, Mapping):
                    raise TypeError(
                        f"Cache.save: sample {i} is a {type(sample).__name__}, not a dict"
                    )
                if i == 0:
                    taken: set[str] = set()
                    for key, value in sample.items():
                        if not isinstance(key, str):
                            raise TypeError(f"Cache.save: sample keys must be strings, got {key!r}")
                        columns[key] = _Column(
                            key, _column_kind(key, value), tmp, _safe_name(key, taken)
                        )
                    pad_values = dict(getattr(sample, "pad_values", {}) or {})
                elif sample.keys() != columns.keys():
                    diff = sorted(set(sample.keys()) ^ set(columns))
                    raise TypeError(
                        f"Cache.save: sample {i} has different keys from the first ({diff})"
                    )
                for key, column in columns.items():
                    column.append(sample[key], i)
                n += 1
            meta = {
                "format": SAMPLE_FORMAT_NAME,
                "format_version": SAMPLE_FORMAT_VERSION,
                "library_version": __version__,
                "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "byteorder": "little",
                "n_samples": n,
                "sources": fingerprints,
                "pad_values": pad_values or {},
                "columns": {key: c.finish() for key, c in columns.items()},
            }
        except BaseException:
            for c in columns.values():
                c.abort()
            raise
        with open(tmp / META, "w") as fh:
            json.dump(meta, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
    return target


# ------------------------------------------------------------------ reading
def _read_meta(directory: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((directory / META).read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == SAMPLE_FORMAT_NAME else None


def is_sample_cache(directory: PathLike) -> bool:
    """Whether ``directory`` holds a processed-sample cache (its ``meta.json`` says so)."""
    return _read_meta(Path(directory)) is not None


def check_samples(directory: PathLike, sources: Iterable[PathLike] | None = None) -> CacheStatus:
    """Whether a sample cache can be used, and why not (files, sizes, source fingerprints).

    ``sources`` (same count and order as saved) are compared with the
    recorded fingerprints; without them, the recorded paths that still exist.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    directory = Path(os.path.abspath(directory))
    meta = _read_meta(directory)
    if meta is None:
        return CacheStatus(
            False, f"{directory} holds no deepbiop_gpu sample cache (no valid {META})"
        )
    if meta.get("format_version") != SAMPLE_FORMAT_VERSION:
        return CacheStatus(False, f"{directory}: sample cache format version {meta.get('format_version')!r}, "
                                  f"this library reads version {SAMPLE_FORMAT_VERSION}", meta)  # fmt: skip
    if sys.byteorder != "little":  # pragma: no cover - every platform torch supports
        return CacheStatus(False, "sample caches are little-endian; this machine is not", meta)
    for key, entry in meta["columns"].items():
        for part in ("values", "offsets"):
            info = entry.get(part)
            if info is None:
                continue
            path = directory / info["file"]
            try:
                size = path.stat().st_size
            except OSError:
                return CacheStatus(
                    False, f"{directory}: column {key!r} has no file {info['file']}", meta
                )
            if size != info["nbytes"]:
                return CacheStatus(False, f"{directory}: {info['file']} is {size} bytes, "
                                          f"{info['nbytes']} expected (truncated?)", meta)  # fmt: skip
    reason = _check_sources(meta, None if sources is None else list(sources))
    return CacheStatus(not reason, reason, meta)


def _map_bytes(path: Path, nbytes: int) -> np.ndarray:
    if nbytes == 0:
        return np.zeros(0, np.uint8)
    # copy-on-write map, seen as a plain ndarray (its views are arrays, not memmaps)
    return np.memmap(path, dtype=np.uint8, mode="c", shape=(nbytes,)).view(np.ndarray)


class _ColumnReader:
    """Sample ``i`` of one mapped column."""

    def __init__(self, directory: Path, entry: dict[str, Any]) -> None:
        self.entry = entry
        self.kind = entry["kind"]
        self.data = (
            _map_bytes(directory / entry["values"]["file"], entry["values"]["nbytes"])
            if "values" in entry
            else None
        )
        self.offsets = None
        if "offsets" in entry:
            raw = _map_bytes(directory / entry["offsets"]["file"], entry["offsets"]["nbytes"])
            self.offsets = raw.view(np.int64)
        if self.kind in ("array", "scalar"):
            self.itemsize = _itemsize(entry)
            self.trailing = tuple(entry.get("trailing", ()))
            self.row_bytes = int(np.prod(self.trailing, dtype=np.int64)) * self.itemsize
        if self.kind == "array" and entry["lib"] == "numpy":
            self.np_dtype = np.dtype(entry["dtype"])

    def __call__(self, i: int) -> Any:
        kind = self.kind
        if kind == "none":
            return None
        if kind == "string":
            a, b = int(self.offsets[i]), int(self.offsets[i + 1])
            return bytes(self.data[a:b]).decode("utf-8")
        entry = self.entry
        if kind == "scalar":
            raw = self.data[i * self.itemsize : (i + 1) * self.itemsize]
            lib = entry["lib"]
            if lib == "python":
                return _PY_SCALARS[entry["dtype"]][0](raw.view(_PY_SCALARS[entry["dtype"]][1])[0])
            if lib == "numpy":
                return raw.view(entry["dtype"])[0]
            if lib == "numpy-0d":
                return raw.view(entry["dtype"]).reshape(())
            return torch.from_numpy(raw).view(_TORCH_DTYPES[entry["dtype"]]).reshape(())
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        raw = self.data[a * self.row_bytes : b * self.row_bytes]
        if entry["lib"] == "numpy":
            return raw.view(self.np_dtype).reshape(b - a, *self.trailing)
        dtype = _TORCH_DTYPES[entry["dtype"]]
        if b == a:
            return torch.empty((0, *self.trailing), dtype=dtype)
        return torch.from_numpy(raw).view(dtype).view(b - a, *self.trailing)


class SampleCacheDataset(torch.utils.data.Dataset):
    """The samples of a sample cache, memory-mapped (what :func:`load_samples` returns).

    ``ds[i]`` is the ``i``-th saved sample dict: its arrays are views of the
    mapped files (copy-on-write: writing to them never reaches the files),
    returned as tensors or numpy arrays as they were saved; numbers, strings
    and None as saved.  Samples that declared pad values (a per-sample
    transform's) declare them again, so :data:`~deepbiop_gpu.default_collate`
    pads them alike.  Pickles by path (DataLoader workers re-open the maps).
    """

    def __init__(self, directory: PathLike, meta: dict[str, Any]) -> None:
        from .data.collate import Sample

        self.directory = Path(directory)
        self.meta = meta
        self.pad_values = dict(meta.get("pad_values") or {})
        self._sample = Sample if self.pad_values else dict
        self._columns = {
            key: _ColumnReader(self.directory, entry) for key, entry in meta["columns"].items()
        }
        self._n = int(meta["n_samples"])

    @property
    def keys(self) -> list[str]:
        """The sample keys, in their saved order."""
        return list(self._columns)

    @property
    def sources(self) -> list[str]:
        """Paths of the source files recorded at save time."""
        return [s.get("path", "") for s in self.meta.get("sources") or []]

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> dict[str, Any]:
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"sample cache index must be an int, got {type(index).__name__}")
        i = int(index) + (self._n if index < 0 else 0)
        if not 0 <= i < self._n:
            raise IndexError(
                f"index {int(index)} out of range for a sample cache of {self._n} samples"
            )
        values = {key: read(i) for key, read in self._columns.items()}
        if self._sample is dict:
            return values
        return self._sample(values, pad_values=self.pad_values)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(self._n):
            yield self[i]

    def __reduce__(self):
        return (load_samples, (str(self.directory),))

    def __repr__(self) -> str:
        return f"SampleCacheDataset({self._n} samples, keys {self.keys}, at {self.directory})"


def load_samples(
    directory: PathLike, sources: Iterable[PathLike] | None = None
) -> SampleCacheDataset:
    """Open a sample cache, zero-copy; raises :class:`~deepbiop_gpu.cache.CacheError` when invalid.

    Examples
    --------
    >>> ds = load_samples("encoded.samples")  # doctest: +SKIP
    >>> ds[0]["sequence"].dtype  # doctest: +SKIP
    torch.float32
    """
    status = check_samples(directory, sources)
    if not status.valid:
        raise CacheError(f"cannot load sample cache: {status.reason}")
    return SampleCacheDataset(Path(os.path.abspath(directory)), status.meta)
