"""On-disk cache of a dataset: flat memory-mapped arrays plus ``meta.json``.

A cache is a directory::

    meta.json                  format version, library version, creation time,
                               record count, array sizes and checksums, and a
                               fingerprint of every source file
    sequences.bin              uint8  [total]      bases, raw ASCII
    qualities.bin              uint8  [total]      phred+33 (absent for FASTA)
    offsets.bin                int64  [n + 1]      read i = sequences[o[i]:o[i+1]]
    names.zz                   zlib(uint8 [..])    UTF-8 read ids back to back
    names_lengths.zz           zlib(uint32 [n])    length of each id
    descriptions.zz            zlib(uint8 [..])    rest of each header line
    descriptions_lengths.zz    zlib(uint32 [n])
    labels.bin                 int64 / float32 [n] (only when saved with labels)

The reads (sequences, qualities, offsets) and labels are little-endian raw
binary, so :func:`Cache.load` maps the files (``np.memmap`` in copy-on-write
mode, then ``torch.from_numpy``): opening a cache costs a few milliseconds
and no RAM for the reads, DataLoader workers forked from the process share
the pages, and nothing written to the tensors can ever reach the files.

Read names and descriptions are no model input, but for short reads they are
as large as a quarter of the bases (Illumina ids of 30-40 characters for 150
bases) while compressing 5-20x, so they are stored zlib-compressed and
decompressed on first use, in each process that uses them (the loader's
collate does, for ``batch["names"]``).  ``compress_strings=False`` stores them
raw and memory-mapped instead (``names.bin`` + ``names_offsets.bin``, ...),
for zero RAM in every worker at the price of a larger cache.

Writes are atomic: the arrays go into a temporary directory beside the
target, are fsync-ed, and the directory is renamed into place.  A crash or a
``KeyboardInterrupt`` during a save leaves the previous cache (or none),
never a half-written one.  A cache whose sources changed (size, mtime, or a
hash of their first and last MiB), whose format version is unknown or whose
arrays disagree with ``meta.json`` (missing or truncated file, wrong size,
checksum of the offsets) is reported invalid with the reason
(:meth:`Cache.check`) and is never read silently.

:func:`load_or_build` is what ``Dataset(..., cache_dir=...)`` calls: it keeps
one cache per (source files, read options) under ``cache_dir`` and builds it
by streaming :func:`~deepbiop_gpu.io.iter_chunks`, so a file larger than
memory is cached in constant memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import uuid
import warnings
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._version import __version__
from .errors import DeepBiopError
from .packed import PackedReads, StringColumn

if TYPE_CHECKING:  # pragma: no cover
    from .data.dataset import Dataset
    from .sample_cache import SampleCacheDataset

__all__ = [
    "Cache",
    "CacheError",
    "CacheStatus",
    "CacheWarning",
    "FORMAT_VERSION",
    "fingerprint",
    "load_or_build",
]

PathLike = str | os.PathLike

#: Version of the on-disk layout this library writes and reads.
FORMAT_VERSION = 1
FORMAT_NAME = "deepbiop_gpu.cache"
META = "meta.json"
#: Bytes hashed at each end of a source file for its fingerprint.
SAMPLE_BYTES = 1 << 20
#: Reads per chunk when a cache is built by streaming a file.
BUILD_READS_PER_CHUNK = 100_000
_WRITE_BLOCK = 1 << 24

# name -> (file, dtype); the order is the order of meta["arrays"]
_ARRAYS: dict[str, tuple[str, str]] = {
    "sequences": ("sequences.bin", "|u1"),
    "qualities": ("qualities.bin", "|u1"),
    "offsets": ("offsets.bin", "<i8"),
    "names": ("names.bin", "|u1"),
    "names_offsets": ("names_offsets.bin", "<i8"),
    "descriptions": ("descriptions.bin", "|u1"),
    "descriptions_offsets": ("descriptions_offsets.bin", "<i8"),
}
# string columns stored compressed: name -> (file, dtype)
_PACKED_STRINGS: dict[str, tuple[str, str]] = {
    "names": ("names.zz", "|u1"),
    "names_lengths": ("names_lengths.zz", "<u4"),
    "descriptions": ("descriptions.zz", "|u1"),
    "descriptions_lengths": ("descriptions_lengths.zz", "<u4"),
}
_STRING_COLUMNS = ("names", "descriptions")
_ZLIB_LEVEL = 1  # names: ~15x smaller at level 1 (5-15% larger than at 6), compressed twice as fast
_LABEL_DTYPES = {"int64": "<i8", "float32": "<f4", "float64": "<f8", "int32": "<i4", "bool": "|b1"}
# arrays whose checksum is verified on every load (cheap: 8 bytes per read)
_ALWAYS_VERIFIED = ("offsets",)


class CacheError(DeepBiopError, ValueError):
    """A cache directory is missing, stale or corrupt (the message says which and why)."""


class CacheWarning(UserWarning):
    """A cache was found invalid and is being rebuilt (the message gives the reason)."""


@dataclasses.dataclass(frozen=True)
class CacheStatus:
    """Result of :meth:`Cache.check`: truthy when the cache can be used.

    Attributes
    ----------
    valid : bool
    reason : str
        Why the cache is invalid ("" when valid).
    meta : dict or None
        The parsed ``meta.json`` when it could be read.
    """

    valid: bool
    reason: str = ""
    meta: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        return self.valid


# ----------------------------------------------------------------- helpers
def fingerprint(path: PathLike, sample_bytes: int = SAMPLE_BYTES) -> dict[str, Any]:
    """Identify a source file cheaply: size, mtime and a hash of its first and last MiB.

    Parameters
    ----------
    path : str or PathLike
    sample_bytes : int
        Bytes hashed at each end of the file.

    Returns
    -------
    dict
        ``{"path": str (absolute), "size": int, "mtime_ns": int, "sample_hash": str}``
        (blake2b-128 of the size, the head and the tail).

    Examples
    --------
    >>> fp = fingerprint("tests/data/fastq/crlf_dos_3reads.fastq")
    >>> sorted(fp), fp["size"]
    (['mtime_ns', 'path', 'sample_hash', 'size'], 287)
    """
    path = os.fspath(path)
    st = os.stat(path)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(st.st_size).encode())
    with open(path, "rb") as fh:
        h.update(fh.read(sample_bytes))
        if st.st_size > sample_bytes:
            fh.seek(max(st.st_size - sample_bytes, sample_bytes))
            h.update(fh.read(sample_bytes))
    return {
        "path": os.path.abspath(path),
        "size": int(st.st_size),
        "mtime_ns": int(st.st_mtime_ns),
        "sample_hash": h.hexdigest(),
    }


def _compare_fingerprint(recorded: dict[str, Any], path: str, what: str) -> str:
    """'' when ``path`` still matches its recorded fingerprint, else the reason."""
    try:
        now = fingerprint(path)
    except OSError as exc:
        return f"{what} {path} cannot be read ({exc.strerror or exc})"
    if now["size"] != recorded.get("size"):
        return (
            f"{what} {path} changed: size {now['size']} bytes, cached from {recorded.get('size')}"
        )
    if now["sample_hash"] != recorded.get("sample_hash"):
        return f"{what} {path} changed: its content differs from when it was cached"
    if now["mtime_ns"] != recorded.get("mtime_ns"):
        return f"{what} {path} changed: modified (mtime) since it was cached"
    return ""


def _read_options(quality_offset: int, read_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The options that change what the reader returns, JSON-safe (the cache key)."""
    opts: dict[str, Any] = {"quality_offset": quality_offset}
    for key in sorted(read_kwargs):
        value = read_kwargs[key]
        if key in ("threads", "block_size"):  # do not change the reads
            continue
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        try:
            json.dumps(value)
        except TypeError:
            value = repr(value)
        opts[key] = value
    return opts


def _cache_key(paths: Sequence[str], options: dict[str, Any]) -> str:
    blob = json.dumps(
        {
            "paths": [os.path.realpath(p) for p in paths],
            "options": options,
            "format": FORMAT_VERSION,
        },
        sort_keys=True,
    )
    return hashlib.blake2b(blob.encode(), digest_size=8).hexdigest()


def _fsync_dir(path: Path) -> None:
    if sys.platform.startswith("win"):  # pragma: no cover - directories cannot be fsync-ed
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_cache_dir(path: Path) -> bool:
    meta = path / META
    if not meta.is_file():
        return False
    try:
        return json.loads(meta.read_text()).get("format") == FORMAT_NAME
    except (OSError, ValueError, AttributeError):
        return False


_CACHE_FILES = {f for f, _ in [*_ARRAYS.values(), *_PACKED_STRINGS.values()]} | {META, "labels.bin"}


def _replaceable(path: Path) -> bool:
    """True for an empty directory or one holding only cache files (even a corrupt cache)."""
    return _is_cache_dir(path) or all(
        p.name in _CACHE_FILES and p.is_file() for p in path.iterdir()
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _remove_stale_temporaries(target: Path) -> None:
    """Delete temporary directories of saves of ``target`` whose process is gone."""
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if pid != os.getpid() and not _pid_alive(pid):
            shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (a file beside the cache), where supported."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock, atomic rename still protects
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


# ------------------------------------------------------------------ writer
class _ArrayFile:
    """One array being written: appends, counts elements, keeps a running crc32 of the file.

    With ``compress=True`` the bytes go through one zlib stream (``codec: zlib``).
    """

    __slots__ = ("path", "dtype", "fh", "length", "crc", "zlib", "nbytes")

    def __init__(self, path: Path, dtype: str, compress: bool = False) -> None:
        self.path = path
        self.dtype = np.dtype(dtype)
        self.fh = open(path, "wb")  # noqa: SIM115 - closed in finish()/abort()
        self.length = 0
        self.crc = 0
        self.nbytes = 0
        self.zlib = zlib.compressobj(_ZLIB_LEVEL) if compress else None

    def _emit(self, data: bytes | np.ndarray) -> None:
        if len(data):
            self.fh.write(memoryview(data))
            self.crc = zlib.crc32(data, self.crc)
            self.nbytes += len(data)

    def write(self, values: np.ndarray) -> None:
        arr = np.ascontiguousarray(values, dtype=self.dtype)
        flat = arr.reshape(-1).view(np.uint8)
        for i in range(0, len(flat), _WRITE_BLOCK):
            block = flat[i : i + _WRITE_BLOCK]
            self._emit(block if self.zlib is None else self.zlib.compress(block))
        self.length += arr.size

    def finish(self) -> dict[str, Any]:
        if self.zlib is not None:
            self._emit(self.zlib.flush())
        self.fh.flush()
        os.fsync(self.fh.fileno())
        self.fh.close()
        info = {
            "file": self.path.name,
            "dtype": self.dtype.str,
            "length": self.length,
            "nbytes": self.nbytes,
            "crc32": self.crc,
        }
        if self.zlib is not None:
            info["codec"] = "zlib"
        return info

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.fh.close()


def _as_numpy(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


class _CacheWriter:
    """Streams :class:`PackedReads` chunks into the arrays of a (temporary) cache directory."""

    def __init__(
        self, directory: Path, with_qualities: bool | None = None, compress_strings: bool = True
    ) -> None:
        self.directory = directory
        self.with_qualities = with_qualities
        self.compress_strings = compress_strings
        self.files: dict[str, _ArrayFile] = {}
        for name in ("sequences", "offsets"):
            fname, dtype = _ARRAYS[name]
            self.files[name] = _ArrayFile(directory / fname, dtype)
        for col in _STRING_COLUMNS:
            if compress_strings:
                for name in (col, f"{col}_lengths"):
                    fname, dtype = _PACKED_STRINGS[name]
                    self.files[name] = _ArrayFile(directory / fname, dtype, compress=True)
            else:
                for name in (col, f"{col}_offsets"):
                    fname, dtype = _ARRAYS[name]
                    self.files[name] = _ArrayFile(directory / fname, dtype)
                self.files[f"{col}_offsets"].write(np.zeros(1, dtype=np.int64))
        self.files["offsets"].write(np.zeros(1, dtype=np.int64))
        self.n = 0
        self.bases = 0
        self.string_bytes = {col: 0 for col in _STRING_COLUMNS}
        self.labels: _ArrayFile | None = None
        if with_qualities is not None:
            self._set_qualities(with_qualities)

    def _set_qualities(self, has: bool) -> None:
        if self.with_qualities is None:
            self.with_qualities = has
        if self.with_qualities and "qualities" not in self.files:
            fname, dtype = _ARRAYS["qualities"]
            self.files["qualities"] = _ArrayFile(self.directory / fname, dtype)

    def append(self, reads: PackedReads) -> None:
        """Add the reads of one chunk (any size, possibly empty)."""
        if len(reads) == 0 and self.with_qualities is not None:
            return
        has_q = reads.qualities is not None
        if len(reads) or self.with_qualities is None:
            if self.with_qualities is not None and self.with_qualities != has_q and len(reads):
                raise ValueError(
                    "cannot cache reads with and without qualities together (FASTQ and FASTA "
                    "sources mixed): cache them separately"
                )
            self._set_qualities(has_q)
        if len(reads) == 0:
            return
        offsets = _as_numpy(reads.offsets)
        self.files["sequences"].write(_as_numpy(reads.sequences))
        if self.with_qualities:
            self.files["qualities"].write(_as_numpy(reads.qualities))
        self.files["offsets"].write(offsets[1:] + self.bases)
        for key, col in (("names", reads.names), ("descriptions", reads.descriptions)):
            self.files[key].write(col.data)
            if self.compress_strings:
                lengths = np.diff(col.offsets)
                too_long = len(lengths) and int(lengths.max()) >= 1 << 32  # stored as uint32
                if too_long:  # pragma: no cover - a 4 GiB header line
                    raise ValueError(f"a read {key[:-1]} longer than 4 GiB cannot be cached")
                self.files[f"{key}_lengths"].write(lengths)
            else:
                self.files[f"{key}_offsets"].write(col.offsets[1:] + self.string_bytes[key])
            self.string_bytes[key] += int(col.offsets[-1])
        self.bases += int(offsets[-1])
        self.n += len(reads)

    def write_labels(self, labels: torch.Tensor | np.ndarray) -> str:
        values = _as_numpy(labels)
        kind = str(values.dtype)
        if kind not in _LABEL_DTYPES:
            raise TypeError(f"labels of dtype {kind} cannot be cached (use int64 or float32)")
        if values.shape != (self.n,):
            raise ValueError(f"labels must have shape ({self.n},), got {values.shape}")
        self.labels = _ArrayFile(self.directory / "labels.bin", _LABEL_DTYPES[kind])
        self.labels.write(values)
        return kind

    def finish(self, meta: dict[str, Any]) -> None:
        """Close every array, then write ``meta.json`` (and fsync everything)."""
        if self.with_qualities is None:
            self.with_qualities = False
        arrays = {name: f.finish() for name, f in self.files.items()}
        if self.labels is not None:
            arrays["labels"] = self.labels.finish()
        meta = {
            **meta,
            "n_records": self.n,
            "total_bases": self.bases,
            "has_qualities": bool(self.with_qualities),
            "arrays": arrays,
        }
        _write_meta(self.directory, meta)

    def abort(self) -> None:
        for f in self.files.values():
            f.abort()
        if self.labels is not None:
            self.labels.abort()


def _write_meta(directory: Path, meta: dict[str, Any]) -> None:
    """Write ``meta.json`` last, fsync it and the directory."""
    with open(directory / META, "w") as fh:
        json.dump(meta, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    _fsync_dir(directory)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _base_meta(
    sources: list[dict[str, Any]], read_options: dict[str, Any] | None
) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "read_options": read_options,
        "sources": sources,
    }


@contextlib.contextmanager
def _atomic_directory(
    target: Path, replaceable: Callable[[Path], bool] | None = None, kind: str = "cache"
) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces ``target`` atomically.

    On any exception (``KeyboardInterrupt`` included) the temporary directory
    is removed and ``target`` is left as it was.  An existing non-empty
    ``target`` is replaced only when ``replaceable(target)`` (default: it is
    a read cache); ``kind`` names what it should have been in the error.
    """
    target = Path(os.path.abspath(target))
    if target.exists() and not target.is_dir():
        raise FileExistsError(f"{target} exists and is not a directory")
    if target.is_dir() and not (replaceable or _replaceable)(target):
        raise FileExistsError(
            f"{target} is a non-empty directory that is not a deepbiop_gpu {kind}; "
            "refusing to replace it (choose another directory)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        _fsync_dir(tmp)
        if target.exists():
            old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
            os.rename(target, old)
            try:
                os.rename(tmp, target)
            except BaseException:
                os.rename(old, target)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------ reader
def _map(path: Path, dtype: str, length: int) -> np.ndarray:
    """Memory-map an array copy-on-write (writes stay private, never reach the file)."""
    if length == 0:
        return np.zeros(0, dtype=np.dtype(dtype))
    return np.memmap(path, dtype=np.dtype(dtype), mode="c", shape=(length,))


def _read_meta(directory: Path) -> tuple[dict[str, Any] | None, str]:
    if not directory.is_dir():
        return None, f"no cache at {directory} (not a directory)"
    path = directory / META
    if not path.is_file():
        return None, f"{directory} has no {META}: not a cache, or its save did not complete"
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be parsed ({exc})"
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        return None, f"{path} is not the metadata of a deepbiop_gpu cache"
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        newer = isinstance(version, int) and version > FORMAT_VERSION
        hint = "written by a newer deepbiop_gpu; upgrade, or" if newer else "unknown version;"
        return None, (
            f"{directory}: cache format version {version!r} ({hint} rebuild the cache); "
            f"this library reads version {FORMAT_VERSION}"
        )
    return meta, ""


def _string_layout(arrays: dict[str, Any]) -> str:
    """ "zlib" when the string columns are stored compressed, "raw" when memory-mapped."""
    return "zlib" if arrays.get("names", {}).get("codec") == "zlib" else "raw"


def _check_arrays(directory: Path, meta: dict[str, Any], full: bool) -> str:
    """'' when the array files match ``meta``, else the reason."""
    try:
        n = int(meta["n_records"])
        arrays = meta["arrays"]
        packed = _string_layout(arrays) == "zlib"
        strings = (
            ["names_lengths", "descriptions_lengths"]
            if packed
            else ["names_offsets", "descriptions_offsets"]
        )
        required = ["sequences", "offsets", "names", "descriptions", *strings]
        if meta.get("has_qualities"):
            required.append("qualities")
        for name in required:
            if name not in arrays:
                return f"{META} lists no {name!r} array"
        for info in arrays.values():
            path = directory / info["file"]
            if os.path.basename(info["file"]) != info["file"]:
                return f"{META}: bad file name {info['file']!r}"
            if not path.is_file():
                return f"{info['file']} is missing"
            if info.get("codec") not in (None, "zlib"):
                return f"{info['file']}: unknown codec {info['codec']!r}"
            expected = int(info["nbytes"])
            if (
                info.get("codec") is None
                and expected != int(info["length"]) * np.dtype(info["dtype"]).itemsize
            ):
                return f"{META}: {info['file']} has {info['length']} elements but {expected} bytes"
            size = path.stat().st_size
            if size != expected:
                state = "truncated" if size < expected else "too large"
                return f"{info['file']} is {state}: {size} bytes, {META} says {expected}"
        counts = {"offsets": n + 1, **{k: (n if packed else n + 1) for k in strings}}
        if "labels" in arrays:
            counts["labels"] = n
        for name, want in counts.items():
            if int(arrays[name]["length"]) != want:
                return (
                    f"{arrays[name]['file']} holds {arrays[name]['length']} entries for {n} records"
                )
        if (
            meta.get("has_qualities")
            and arrays["qualities"]["length"] != arrays["sequences"]["length"]
        ):
            return "qualities.bin and sequences.bin differ in length"
        # checksums: the offsets and the (small) compressed columns always, everything if full
        names = [
            k for k, info in arrays.items() if full or k in _ALWAYS_VERIFIED or info.get("codec")
        ]
        for name in names:
            info = arrays[name]
            if int(info["nbytes"]) == 0:
                crc = 0
            else:
                mm = np.memmap(directory / info["file"], dtype=np.uint8, mode="r")
                crc = zlib.crc32(mm)
                del mm
            if crc != int(info["crc32"]):
                return f"{info['file']} is corrupt: its checksum does not match {META}"
        spans = [("sequences", "offsets")]
        if not packed:
            spans += [("names", "names_offsets"), ("descriptions", "descriptions_offsets")]
        for data, offs in spans:
            o = _map(
                directory / arrays[offs]["file"], arrays[offs]["dtype"], int(arrays[offs]["length"])
            )
            if o[0] != 0 or o[-1] != int(arrays[data]["length"]):
                return f"{arrays[offs]['file']} does not span {arrays[data]['file']}"
    except (KeyError, TypeError, ValueError) as exc:
        return f"{META} is incomplete or inconsistent ({type(exc).__name__}: {exc})"
    return ""


def _check_sources(meta: dict[str, Any], sources: Sequence[PathLike] | None) -> str:
    recorded = meta.get("sources") or []
    if sources is None:
        # sources not given: check those recorded that still exist at their path
        for i, rec in enumerate(recorded, 1):
            path = rec.get("path")
            if path and "size" in rec and os.path.exists(path):
                reason = _compare_fingerprint(rec, path, f"source {i}")
                if reason:
                    return reason
        return ""
    sources = [os.fspath(s) for s in sources]
    if len(sources) != len(recorded):
        return f"cache was built from {len(recorded)} source file(s), {len(sources)} given"
    for i, (path, rec) in enumerate(zip(sources, recorded, strict=False), 1):
        if "size" not in rec:
            return f"source {i} ({path}) has no fingerprint in the cache (saved from memory)"
        reason = _compare_fingerprint(rec, path, f"source {i}")
        if reason:
            return reason
    return ""


def _check(
    directory: PathLike,
    sources: Sequence[PathLike] | None = None,
    read_options: dict[str, Any] | None = None,
    full: bool = False,
) -> CacheStatus:
    directory = Path(directory)
    meta, reason = _read_meta(directory)
    if meta is None:
        return CacheStatus(False, reason)
    reason = _check_arrays(directory, meta, full)
    if not reason:
        reason = _check_sources(meta, sources)
    if not reason and read_options is not None and meta.get("read_options") != read_options:
        reason = f"read options changed: cached with {meta.get('read_options')}, now {read_options}"
    return CacheStatus(not reason, reason, meta)


def _inflate(path: Path, info: dict[str, Any], fd: int | None = None) -> np.ndarray:
    """Decompress one zlib array file and check it holds ``info["length"]`` elements.

    ``fd``: an open descriptor of the file to read instead of ``path`` (with
    ``pread``: no shared file offset), so that reads opened before the cache
    was rebuilt keep reading the version they opened.
    """
    dtype = np.dtype(info["dtype"])
    want = int(info["length"]) * dtype.itemsize
    out = np.empty(want, dtype=np.uint8)
    d = zlib.decompressobj()
    pos = 0
    try:
        with contextlib.nullcontext(None) if fd is not None else open(path, "rb") as fh:
            at = 0
            while True:
                if fh is None:
                    block = os.pread(fd, _WRITE_BLOCK, at)
                    at += len(block)
                else:
                    block = fh.read(_WRITE_BLOCK)
                if not block:
                    break
                piece = d.decompress(block)
                if pos + len(piece) > want:
                    raise CacheError(f"{path} holds more data than its {META} says")
                out[pos : pos + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
                pos += len(piece)
            piece = d.flush()
            out[pos : pos + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
            pos += len(piece)
    except zlib.error as exc:
        raise CacheError(f"{path} is corrupt ({exc}); rebuild the cache") from None
    except OSError as exc:
        raise CacheError(f"{path} cannot be read ({exc}); rebuild the cache") from None
    if pos != want:
        raise CacheError(f"{path} is truncated: {pos} of {want} bytes; rebuild the cache")
    return out.view(dtype)


class _LazyStrings(StringColumn):
    """A :class:`StringColumn` read from compressed cache files on first use.

    ``len()`` and ``nbytes`` are known without decompressing; anything that
    needs the strings (indexing, iteration, ``.data``) decompresses them once,
    in the process that asks.  Pickles as the file references (cheap to send
    to spawned workers).
    """

    __slots__ = ("_source", "_fds", "__weakref__")

    def __init__(
        self, directory: Path, data: dict[str, Any], lengths: dict[str, Any], n: int
    ) -> None:
        # no StringColumn.__init__: the slots _data / _offsets stay unset until needed
        self._source = (directory, data, lengths, n)
        # the files are opened now: a cache rebuilt (renamed over) later does not change what
        # these strings decompress to, here or in forked DataLoader workers
        self._fds: tuple[int, int] | None = None
        try:
            self._fds = (os.open(directory / data["file"], os.O_RDONLY),
                         os.open(directory / lengths["file"], os.O_RDONLY))  # fmt: skip
            weakref.finalize(self, _close_fds, self._fds)
        except OSError:  # reported when (if ever) the strings are needed
            self._fds = None

    def _materialize(self) -> None:
        directory, data_info, len_info, n = self._source
        fds = self._fds or (None, None)
        data = _inflate(directory / data_info["file"], data_info, fds[0])
        lengths = _inflate(directory / len_info["file"], len_info, fds[1])
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        if offsets[-1] != len(data):
            raise CacheError(f"{directory / len_info['file']} does not match {data_info['file']}")
        StringColumn.__init__(self, data, offsets)

    def __getattr__(self, name: str) -> Any:
        if name == "_fds":  # unpickled without __init__
            return None
        if name in ("_data", "_offsets"):
            self._materialize()
            return object.__getattribute__(self, name)
        raise AttributeError(name)

    def __len__(self) -> int:
        return int(self._source[3])

    @property
    def nbytes(self) -> int:
        """Bytes the column takes once decompressed (data + int64 offsets)."""
        _, data_info, _, n = self._source
        return int(data_info["length"]) + 8 * (n + 1)

    def __reduce__(self):
        return (_LazyStrings, self._source)


def _close_fds(fds: tuple[int, ...]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


def _open_reads(directory: Path, meta: dict[str, Any]) -> PackedReads:
    arrays = meta["arrays"]
    n = int(meta["n_records"])

    def mapped(name: str) -> np.ndarray:
        info = arrays[name]
        return _map(directory / info["file"], info["dtype"], int(info["length"]))

    def strings(col: str) -> StringColumn:
        if _string_layout(arrays) == "zlib":
            return _LazyStrings(directory, arrays[col], arrays[f"{col}_lengths"], n)
        return StringColumn(mapped(col), mapped(f"{col}_offsets"))

    qualities = torch.from_numpy(mapped("qualities")) if meta.get("has_qualities") else None
    reads = PackedReads(
        torch.from_numpy(mapped("sequences")),
        torch.from_numpy(mapped("offsets")),
        qualities,
        strings("names"),
        strings("descriptions"),
        validate=False,
    )
    from ._sharing import CacheRef, cache_token

    reads._ref = CacheRef(str(directory), cache_token(meta), 0, n)  # pickles as this reference
    return reads


def _file_sizes(meta: dict[str, Any]) -> list[int]:
    sizes = [int(s.get("records", 0)) for s in meta.get("sources") or []]
    if sum(sizes) != int(meta["n_records"]):
        sizes = [int(meta["n_records"])]
    return sizes


# ------------------------------------------------------------------- build
def _build(
    sources: Sequence[PathLike],
    directory: PathLike,
    *,
    quality_offset: int = 33,
    reads_per_chunk: int = BUILD_READS_PER_CHUNK,
    progress: Callable[[int, int], None] | bool | None = None,
    compress_strings: bool = True,
    num_workers: int = 0,
    **read_kwargs: Any,
) -> Path:
    from .io import iter_chunks

    if progress is True or progress is False:
        from ._progress import Progress

        with Progress("caching", enabled=progress) as bar:
            return _build(sources, directory, quality_offset=quality_offset, reads_per_chunk=reads_per_chunk,
                          progress=bar.update, compress_strings=compress_strings, num_workers=num_workers,
                          **read_kwargs)  # fmt: skip
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
    paths = [os.fspath(p) for p in sources]
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"no such file: {p}")
    options = _read_options(quality_offset, read_kwargs)
    target = Path(os.path.abspath(directory))
    with _atomic_directory(target) as tmp:
        if num_workers > 0:  # workers parse the pieces and write them into the files themselves
            from .parallel_build import build_arrays

            records = [fingerprint(p) for p in paths]  # before reading, as below
            arrays, totals, counts = build_arrays(paths, str(tmp), num_workers, quality_offset=quality_offset,
                                                  reads_per_chunk=reads_per_chunk, compress_strings=compress_strings,
                                                  progress=progress, **read_kwargs)  # fmt: skip
            for fp, count in zip(records, counts, strict=True):
                fp["records"] = count
            for info in arrays.values():
                _fsync_file(tmp / info["file"])
            _write_meta(tmp, {**_base_meta(records, options), **totals, "arrays": arrays})
            return target
        writer = _CacheWriter(tmp, compress_strings=compress_strings)
        try:
            records: list[dict[str, Any]] = []
            done_bytes = 0
            for p in paths:
                fp = fingerprint(p)  # before reading: a change while we read invalidates
                before = writer.n
                for chunk in iter_chunks(
                    p, reads_per_chunk, quality_offset=quality_offset, **read_kwargs
                ):
                    writer.append(chunk)
                    if progress is not None:
                        done_bytes += chunk.nbytes
                        progress(writer.n, done_bytes)
                fp["records"] = writer.n - before
                records.append(fp)
            writer.finish(_base_meta(records, options))
        except BaseException:
            writer.abort()
            raise
    return target


def load_or_build(
    paths: Sequence[PathLike],
    cache_dir: PathLike,
    *,
    quality_offset: int = 33,
    progress: Callable[[int, int], None] | None = None,
    num_workers: int = 0,
    **read_kwargs: Any,
) -> tuple[PackedReads, list[int]]:
    """Reads of ``paths`` from a cache under ``cache_dir``, building it on first use.

    This is what ``Dataset(paths, cache_dir=...)`` calls.  The cache lives in
    ``cache_dir/reads-<key>``, where the key hashes the absolute source paths
    and the read options (``quality_offset``, ``on_error``, ...), so changing
    an option builds another cache instead of returning reads read
    differently.  If ``cache_dir`` itself is a cache (e.g. made by
    ``deepbiop-gpu cache``), it is used directly.  A cache that is invalid
    (sources changed, files truncated, unknown version, other options) is
    rebuilt with a :class:`CacheWarning` giving the reason.  Building streams
    each file in chunks (constant memory); concurrent callers (DDP ranks)
    serialise on a lock file and the later ones reuse the first one's cache.

    Parameters
    ----------
    paths : sequence of str or PathLike
        Source files, in order.
    cache_dir : str or PathLike
        Directory holding the caches (created if needed).
    quality_offset : int
        As in :func:`deepbiop_gpu.read`; part of the cache key.
    progress : callable, optional
        ``progress(reads_done, bytes_done)`` after each chunk while building.
    **read_kwargs
        Passed to :func:`deepbiop_gpu.io.iter_chunks`; part of the cache key.

    Returns
    -------
    (PackedReads, list of int)
        Memory-mapped reads of every file back to back, and the number of
        reads of each file.

    Examples
    --------
    >>> reads, sizes = load_or_build(["reads.fastq.gz"], "/tmp/deepbiop-cache")  # doctest: +SKIP
    >>> reads.sequences.dtype, sizes  # doctest: +SKIP
    (torch.uint8, [1000000])
    """
    paths = [os.fspath(p) for p in paths]
    options = _read_options(quality_offset, read_kwargs)
    root = Path(os.path.abspath(cache_dir))
    target = root if _is_cache_dir(root) else root / f"reads-{_cache_key(paths, options)}"
    with _lock(target.parent / f".{target.name}.lock"):
        status = _check(target, paths, options)
        if status.valid:
            assert status.meta is not None
            return _open_reads(target, status.meta), _file_sizes(status.meta)
        if target.exists():
            warnings.warn(
                CacheWarning(f"cache {target} is invalid ({status.reason}); rebuilding it"),
                stacklevel=3,
            )
        _build(paths, target, quality_offset=quality_offset, progress=progress, num_workers=num_workers,
               **read_kwargs)  # fmt: skip
        status = _check(target, paths, options)
        if not status.valid:  # pragma: no cover - e.g. a source modified while it was read
            raise CacheError(f"cache {target} is invalid right after building it: {status.reason}")
        assert status.meta is not None
        return _open_reads(target, status.meta), _file_sizes(status.meta)


# -------------------------------------------------------------- public API
class Cache:
    """Save datasets to disk and open them again, memory-mapped.

    All methods are static; the class is a namespace.

    Examples
    --------
    >>> from deepbiop_gpu import Dataset
    >>> from deepbiop_gpu.cache import Cache
    >>> ds = Dataset("tests/data/fastq/illumina_novaseq_800reads.fastq")
    >>> Cache.save(ds, "/tmp/novaseq.cache")  # doctest: +ELLIPSIS
    PosixPath('/tmp/novaseq.cache')
    >>> again = Cache.load("/tmp/novaseq.cache")
    >>> len(again), again.reads.equals(ds.reads)
    (800, True)
    >>> Cache.is_valid("/tmp/novaseq.cache", ["tests/data/fastq/illumina_novaseq_800reads.fastq"])
    True
    """

    FORMAT_VERSION = FORMAT_VERSION

    @staticmethod
    def save(
        dataset: Dataset | PackedReads | Iterable[dict[str, Any]],
        directory: PathLike,
        sources: PathLike | Sequence[PathLike] | None = None,
        *,
        compress_strings: bool = True,
    ) -> Path:
        """Write ``dataset`` (reads, labels, classes, source fingerprints) to ``directory``.

        Any other iterable of sample dicts (processed samples: one-hot,
        integer or k-mer encodings, labels, names, ...) is saved as a
        *sample cache* instead, one ragged memory-mapped column per key,
        with the fingerprints of ``sources``
        (:func:`deepbiop_gpu.sample_cache.save_samples`); :meth:`load` then
        returns those samples.  (To cache a dataset's transformed samples,
        pass ``iter(dataset)``.)

        The write is atomic: into a temporary directory beside ``directory``,
        fsync-ed, then renamed over it.  An existing cache there is replaced
        (open memory maps of it stay valid); an existing non-empty directory
        that is not a cache is never touched (``FileExistsError``).

        Parameters
        ----------
        dataset : Dataset or PackedReads
            Its ``reads`` (``uint8`` buffers, ``int64`` offsets), ``labels``
            (``int64`` / ``float32 [n]``), ``classes``, ``paths`` and
            ``file_sizes`` are stored.  Source files that exist are
            fingerprinted so :meth:`check` notices when they change.
        directory : str or PathLike
        compress_strings : bool
            Store names and descriptions zlib-compressed (decompressed on
            first use); ``False``: raw and memory-mapped like the reads.

        Returns
        -------
        pathlib.Path
            The absolute cache directory.

        Examples
        --------
        >>> Cache.save(Dataset("reads.fastq.gz", labels=["x"]), "reads.cache")  # doctest: +SKIP
        PosixPath('/home/me/reads.cache')
        """
        from .data.dataset import Dataset as _Dataset

        if isinstance(dataset, PackedReads):
            dataset = _Dataset.from_reads(dataset)
        if not isinstance(dataset, _Dataset) and not hasattr(dataset, "r1") and isinstance(dataset, Iterable):
            from .sample_cache import save_samples

            return save_samples(dataset, directory, sources)
        if sources is not None:
            raise TypeError("Cache.save: sources apply to sample caches; a Dataset records its own paths")
        if not isinstance(dataset, _Dataset):
            raise TypeError(
                f"Cache.save takes a Dataset or PackedReads, got {type(dataset).__name__}"
                + (
                    " (save r1 and r2 of a PairedDataset separately)"
                    if hasattr(dataset, "r1")
                    else ""
                )
            )
        reads = dataset.reads
        sources: list[dict[str, Any]] = []
        for path, count in zip(dataset.paths, dataset.file_sizes, strict=False):
            entry: dict[str, Any] = {"path": os.path.abspath(path) if path else ""}
            if path and os.path.isfile(path):
                entry = fingerprint(path)
            entry["records"] = int(count)
            sources.append(entry)
        target = Path(os.path.abspath(directory))
        with _atomic_directory(target) as tmp:
            writer = _CacheWriter(
                tmp, with_qualities=reads.qualities is not None, compress_strings=compress_strings
            )
            try:
                writer.append(reads)
                meta = _base_meta(sources, None)
                if dataset.labels is not None:
                    kind = writer.write_labels(dataset.labels)
                    meta["labels"] = {"dtype": kind, "classes": dataset.classes}
                writer.finish(meta)
            except BaseException:
                writer.abort()
                raise
        return target

    @staticmethod
    def build(
        sources: PathLike | Sequence[PathLike],
        directory: PathLike,
        *,
        quality_offset: int = 33,
        reads_per_chunk: int = BUILD_READS_PER_CHUNK,
        progress: Callable[[int, int], None] | bool | None = None,
        compress_strings: bool = True,
        num_workers: int = 0,
        **read_kwargs: Any,
    ) -> Path:
        """Cache the reads of files by streaming them (constant memory), atomically.

        Parameters
        ----------
        sources : path or sequence of paths
            Files :func:`deepbiop_gpu.read` accepts.
        directory : str or PathLike
            The cache directory to create or replace.
        quality_offset, **read_kwargs
            As in :func:`deepbiop_gpu.io.iter_chunks`; recorded in ``meta.json``.
        reads_per_chunk : int
            Reads held in memory at a time.
        progress : callable, optional
            ``progress(reads_done, bytes_done)`` after each chunk (``bytes_done``
            counts bases, qualities, names and offsets parsed).
        compress_strings : bool
            As in :meth:`save`.
        num_workers : int
            Parse in this many processes: files in parallel, and plain / BGZF
            FASTQ and FASTA files larger than 64 MiB cut into byte ranges;
            the workers write their pieces into the cache files themselves
            (:mod:`deepbiop_gpu.parallel_build`).  The cache holds the same
            reads, names, arrays and metadata as the serial build's (the
            zlib-compressed names are another stream of the same bytes).
            ``progress=True`` shows a progress bar.

        Returns
        -------
        pathlib.Path

        Examples
        --------
        >>> Cache.build(["big.fastq.gz"], "big.cache")  # doctest: +SKIP
        PosixPath('/data/big.cache')
        >>> Cache.build(["a.fastq", "b.fastq"], "ab.cache", num_workers=4, progress=True)  # doctest: +SKIP
        PosixPath('/data/ab.cache')
        """
        if isinstance(sources, (str, os.PathLike)):
            sources = [sources]
        return _build(
            list(sources),
            directory,
            quality_offset=quality_offset,
            reads_per_chunk=reads_per_chunk,
            progress=progress,
            compress_strings=compress_strings,
            num_workers=num_workers,
            **read_kwargs,
        )

    @staticmethod
    def check(
        directory: PathLike, sources: Iterable[PathLike] | None = None, *, full: bool = False
    ) -> CacheStatus:
        """Whether a cache can be used, and why not.

        Checks the format version, that every array file exists with the size
        ``meta.json`` gives, the checksum of ``offsets.bin`` (``full=True``:
        of every array) and the source fingerprints: against ``sources`` when
        given (same count and order), otherwise against the recorded source
        paths that still exist.

        Returns
        -------
        CacheStatus
            ``.valid``, ``.reason`` (empty when valid) and ``.meta``.

        Examples
        --------
        >>> Cache.check("missing.cache").reason  # doctest: +ELLIPSIS
        'no cache at .../missing.cache (not a directory)'
        """
        from .sample_cache import check_samples, is_sample_cache

        if isinstance(sources, (str, os.PathLike)):  # one source file, not its characters
            sources = [sources]
        if is_sample_cache(directory):
            return check_samples(directory, sources)
        return _check(
            Path(os.path.abspath(directory)), None if sources is None else list(sources), full=full
        )

    @staticmethod
    def is_valid(
        directory: PathLike, sources: Iterable[PathLike] | None = None, *, full: bool = False
    ) -> bool:
        """``Cache.check(directory, sources).valid``.

        Examples
        --------
        >>> Cache.is_valid("reads.cache", ["reads.fastq.gz"])  # doctest: +SKIP
        True
        """
        return Cache.check(directory, sources, full=full).valid

    @staticmethod
    def info(directory: PathLike) -> dict[str, Any]:
        """The parsed ``meta.json`` of a cache (raises :class:`CacheError` if unreadable).

        Examples
        --------
        >>> Cache.info("reads.cache")["n_records"]  # doctest: +SKIP
        1000000
        """
        from .sample_cache import _read_meta as _read_sample_meta

        meta, reason = _read_meta(Path(directory))
        if meta is None:
            meta = _read_sample_meta(Path(directory))
        if meta is None:
            raise CacheError(reason)
        return meta

    @staticmethod
    def load(
        directory: PathLike,
        sources: Iterable[PathLike] | None = None,
        *,
        transform: Callable | None = None,
        full_check: bool = False,
        device: torch.device | str | None = None,
    ) -> Dataset | SampleCacheDataset:
        """Open a cache as a :class:`~deepbiop_gpu.Dataset`, zero-copy.

        A sample cache (processed samples, from :meth:`save` of an iterable
        of sample dicts) opens as a
        :class:`~deepbiop_gpu.sample_cache.SampleCacheDataset` of those dicts
        instead (``transform`` and ``full_check`` do not apply to it).

        The arrays are memory-mapped copy-on-write and wrapped with
        ``torch.from_numpy``: no read is loaded until it is used, forked
        DataLoader workers share the pages, and writes to the tensors stay in
        the process.  The cache is checked first (:meth:`check`); an invalid
        one raises instead of being read.

        Parameters
        ----------
        directory : str or PathLike
        sources : iterable of paths, optional
            Source files the cache must match (default: the recorded ones
            that still exist).
        transform : callable, optional
            As in :class:`~deepbiop_gpu.Dataset`.
        full_check : bool
            Verify the checksum of every array (reads every byte once).
        device : str or torch.device, optional
            Make the dataset resident there (:meth:`Dataset.to
            <deepbiop_gpu.Dataset.to>`): the columns are copied to the device
            once, straight from the memory map.

        Returns
        -------
        Dataset
            ``reads`` (memory-mapped), ``labels`` / ``classes`` if saved,
            ``paths`` and ``file_sizes`` of the sources.

        Raises
        ------
        CacheError
            The cache is missing, stale or corrupt; the message says why.

        Examples
        --------
        >>> ds = Cache.load("reads.cache")  # doctest: +SKIP
        >>> ds.reads.sequences.dtype, len(ds)  # doctest: +SKIP
        (torch.uint8, 1000000)
        """
        from .data.dataset import Dataset as _Dataset
        from .sample_cache import is_sample_cache, load_samples

        if isinstance(sources, (str, os.PathLike)):  # one source file, not its characters
            sources = [sources]
        if is_sample_cache(directory):
            if device is not None:
                raise ValueError(
                    f"{directory} is a processed-sample cache: it opens on the CPU "
                    "(device= applies to read caches, whose packed columns can be resident)"
                )
            return load_samples(directory, sources)
        directory = Path(os.path.abspath(directory))
        status = _check(directory, None if sources is None else list(sources), full=full_check)
        if not status.valid:
            raise CacheError(f"cannot load cache: {status.reason}")
        meta = status.meta
        assert meta is not None
        reads = _open_reads(directory, meta)
        labels = None
        classes = None
        if "labels" in meta["arrays"]:
            info = meta["arrays"]["labels"]
            labels = torch.from_numpy(
                _map(directory / info["file"], info["dtype"], int(info["length"]))
            )
            classes = (meta.get("labels") or {}).get("classes")
        paths = [s.get("path", "") for s in meta.get("sources") or []]
        sizes = _file_sizes(meta)
        if len(paths) != len(sizes):
            paths = [""] * len(sizes)
        dataset = _Dataset.from_reads(
            reads,
            labels=labels,
            classes=classes,
            paths=paths,
            file_sizes=sizes,
            transform=transform,
        )
        if labels is not None:  # pickled by reference, like the reads (deepbiop_gpu/_sharing.py)
            from ._sharing import LabelsRef, cache_token

            info = meta["arrays"]["labels"]
            ref = LabelsRef(str(directory), cache_token(meta), info["file"], info["dtype"], int(info["length"]))
            dataset._mapped_labels = (ref, labels)
        return dataset if device is None else dataset.to(device)
