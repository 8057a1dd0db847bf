"""Parsing many files, or one large file, in parallel processes.

``Dataset(paths, num_workers=N)`` and ``Cache.build(..., num_workers=N)``
cut the input into *pieces*: every file is one piece, except plain and BGZF
FASTQ / FASTA files larger than ``piece_bytes``, which are cut into byte
ranges of about that size with the rule of :mod:`deepbiop_gpu.io.byte_range`
(each piece starts at a record boundary, the pieces together are the file).
``N`` worker processes parse the pieces.  The reads are exactly those of the
serial build, in the same order.

A cache build (:func:`build_arrays`) sends no reads between processes: each
worker appends its piece to the cache's array files itself, in input order
(piece ``i`` writes once pieces ``0..i-1`` have, streaming straight into the
files while it holds that turn), and combines the files' checksums from its
own (:mod:`deepbiop_gpu._checksum`).  Names and descriptions are compressed
by the workers, one raw-deflate run per piece, joined into one zlib stream.
A worker waiting for its turn keeps at most :data:`BUFFER_BYTES` of parsed
output in memory and spills the rest to the cache's temporary directory, so
memory stays bounded whatever the input; the parent only fsyncs at the end.

``Dataset(paths, num_workers=N)`` (:func:`read_parallel`) has the workers
write into a temporary directory the same way, and reads the arrays back once.

Workers are forked where the platform allows it (Linux: no re-import, the
parser is ready at once) and spawned elsewhere; each runs torch (and numba)
with one thread.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, wait
from typing import Any

import numpy as np
import torch

from ._checksum import adler32_combine, crc32_combine
from .packed import PackedReads, StringColumn

__all__ = ["BUFFER_BYTES", "PIECE_BYTES", "array_names", "build_arrays", "plan_pieces", "read_parallel"]

#: Plain / BGZF files larger than this are cut into pieces of about this size.
PIECE_BYTES = 64 << 20


def plan_pieces(paths: Sequence[str], piece_bytes: int | None = None,
                read_kwargs: dict[str, Any] | None = None) -> list[tuple[int, str, int, int]]:
    """``(file number, path, piece k, pieces m)`` for every piece, in input order.

    ``piece_bytes``: default :data:`PIECE_BYTES` (read when called).
    """
    piece_bytes = PIECE_BYTES if piece_bytes is None else piece_bytes
    from .io.byte_range import can_split
    from .io.chunks import resolve_format

    read_kwargs = read_kwargs or {}
    splittable = read_kwargs.get("on_error", "raise") == "raise"
    pieces = []
    for file_no, path in enumerate(paths):
        m = 1
        if splittable:
            det = resolve_format(path, read_kwargs.get("format"))
            if can_split(det):
                m = max(1, math.ceil(os.path.getsize(path) / piece_bytes))
        pieces += [(file_no, path, k, m) for k in range(m)]
    return pieces


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and sys.platform.startswith("linux") else "spawn")



# ------------------------------------------------------------ parallel cache build
# Workers write their pieces straight into the cache's array files, in input order: piece i
# writes when it holds the *turn* (shared counter == i), at the positions the pieces before
# it left in shared memory.  Until then it keeps what it parsed in memory (spilled to files
# in the cache's temporary directory beyond BUFFER_BYTES), with the checksums of those
# bytes: crc32 / adler32 are combined, not recomputed.  Read offsets depend on the bases
# written before the piece, so they are shifted (8 bytes a read) when the turn comes.
# Names and descriptions are compressed by the workers: each piece is a raw-deflate run
# ending with a sync flush, the parent writes the zlib header before the first and the
# final block and Adler-32 after the last (one valid zlib stream, as pigz writes them).

#: A worker keeps at most this many bytes of parsed output in memory while it waits for its turn.
BUFFER_BYTES = 64 << 20

# slots of the shared int64 state
_TURN, _FAILED, _N, _BASES, _HAS_Q, _DONE_BYTES, _STRING_BYTES = 0, 1, 2, 3, 4, 5, 6  # _STRING_BYTES: 2 slots
_FILE_SLOTS = 8
_NBYTES, _CRC, _LENGTH, _ADLER = range(4)  # per array file: 4 slots from _FILE_SLOTS + 4 * file index
_NO_FAILURE = 1 << 62
_COLUMNS = ("names", "descriptions")


def array_names(compress_strings: bool) -> list[str]:
    """The array files of a read cache, in the order of ``meta["arrays"]`` (qualities last)."""
    out = ["sequences", "offsets"]
    for col in _COLUMNS:
        out += [col, f"{col}_lengths" if compress_strings else f"{col}_offsets"]
    return [*out, "qualities"]


class _Aborted(Exception):
    """Another piece failed (or the build was interrupted): this one stops."""


_shared: tuple | None = None  # (condition, state) in a worker


def _reuse_freed_memory() -> None:
    """Let glibc keep freed chunk buffers for the next chunk instead of unmapping them.

    A fresh worker starts with glibc's 128 KiB mmap threshold: every parse
    buffer is mapped, unmapped when freed, and page-faulted in again for the
    next chunk (measured: 5x the page faults of the serial build and a third
    more CPU time).  Buffers up to 64 MiB now come from the heap, which keeps
    up to 128 MiB of free memory.  Nothing happens without glibc.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - no libc symbol (static or musl build)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 128 << 20)


def _init_worker(cond: Any, state: Any) -> None:
    global _shared
    _shared = (cond, state)
    _reuse_freed_memory()
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")  # spawned workers import numba later
    torch.set_num_threads(1)  # the workers share the cores: no thread pools on top of processes
    numba = sys.modules.get("numba")
    if numba is not None:
        try:
            numba.set_num_threads(1)
        except (ValueError, AttributeError):  # pragma: no cover - threading layer without pool
            pass


def _pwrite_all(fd: int, data: Any, pos: int) -> int:
    view = memoryview(data).cast("B")
    while len(view):
        n = os.pwrite(fd, view, pos)
        view = view[n:]
        pos += n
    return pos


def _copy_all(src: int, dst: int, count: int, dst_pos: int) -> int:
    """Copy ``count`` bytes from the start of ``src`` to ``dst`` at ``dst_pos`` (kernel-side on Linux)."""
    src_pos = 0
    copy = getattr(os, "copy_file_range", None)
    while count > 0:
        n = 0
        if copy is not None:
            try:
                n = copy(src, dst, count, src_pos, dst_pos)
            except OSError:
                copy = None
        if copy is None:
            n = _pwrite_all(dst, os.pread(src, min(count, 1 << 24), src_pos), dst_pos) - dst_pos
        if n <= 0:
            raise OSError(f"copying a spilled piece stopped short ({count} bytes left)")
        src_pos += n
        dst_pos += n
        count -= n
    return dst_pos


class _Pending:
    """One array's output of a piece that is not written yet: blocks in memory, or a spill file."""

    __slots__ = ("blocks", "size", "crc", "adler", "length", "raw", "spill", "spilled", "dtype", "checksums")

    def __init__(self, dtype: str, checksums: bool = True) -> None:
        self.dtype = np.dtype(dtype)
        self.checksums = checksums
        self.blocks: list[Any] = []
        self.size = self.crc = self.length = self.raw = self.spilled = 0
        self.adler = 1
        self.spill: int | None = None  # fd

    def add(self, data: Any, elements: int, checksum: bool = True) -> None:
        if len(data):
            self.blocks.append(data)
            self.size += memoryview(data).nbytes
            if checksum and self.checksums:
                self.crc = zlib.crc32(data, self.crc)
        self.length += elements


class _PieceWriter:
    """Parses nothing: encodes one piece's chunks and writes them when the piece has the turn."""

    def __init__(self, index: int, directory: str, compress: bool, drop_partial_qualities: bool = False,
                 checksums: bool = True) -> None:  # fmt: skip
        self.index = index
        self.checksums = checksums
        self.drop_partial_qualities = drop_partial_qualities
        self.directory = directory
        self.compress = compress
        self.names = array_names(compress)
        self.slot = {name: _FILE_SLOTS + 4 * i for i, name in enumerate(self.names)}
        kinds = {"sequences": "|u1", "qualities": "|u1", "offsets": "<i8"}
        for col in _COLUMNS:
            kinds[col] = "|u1"
            kinds[f"{col}_lengths"] = "<u4"
            kinds[f"{col}_offsets"] = "<i8"
        self.pending = {name: _Pending(kinds[name], checksums) for name in self.names}
        self.zs: dict[str, Any] = {}
        self.n = self.bases = self.done_bytes = 0
        self.strings = [0, 0]
        self.first_q: bool | None = None  # qualities of the first chunk (sets the cache's)
        self.data_q: bool | None = None  # qualities of the non-empty chunks
        self.holding = False
        self.buffered = 0

    # -- encoding (no turn needed)
    def add(self, reads: PackedReads) -> None:
        has_q = reads.qualities is not None
        if self.first_q is None:
            self.first_q = has_q
        if len(reads) == 0:
            return
        self.data_q = has_q
        p = self.pending
        offsets = reads.offsets.numpy()
        p["sequences"].add(reads.sequences.numpy(), len(reads.sequences))
        if has_q:
            p["qualities"].add(reads.qualities.numpy(), len(reads.qualities))
        p["offsets"].add(offsets[1:] + self.bases, len(reads), checksum=False)  # shifted at the turn
        for c, (col, column) in enumerate(zip(_COLUMNS, (reads.names, reads.descriptions), strict=True)):
            data, offs = np.asarray(column.data), np.asarray(column.offsets)
            if self.compress:
                lengths = np.diff(offs)
                if len(lengths) and int(lengths.max()) >= 1 << 32:  # pragma: no cover - a 4 GiB header
                    raise ValueError(f"a read {col[:-1]} longer than 4 GiB cannot be cached")
                self._deflate(col, data, len(data))
                self._deflate(f"{col}_lengths", lengths.astype("<u4"), len(lengths))
            else:
                p[col].add(data, len(data))
                p[f"{col}_offsets"].add(offs[1:] + self.strings[c], len(reads), checksum=False)
            self.strings[c] += int(offs[-1])
        self.bases += int(offsets[-1])
        self.n += len(reads)
        self.done_bytes += reads.nbytes
        self.buffered += reads.nbytes
        if not self.holding and self.buffered > BUFFER_BYTES:
            self._spill()

    def _deflate(self, name: str, values: np.ndarray, elements: int) -> None:
        raw = values.reshape(-1).view(np.uint8)
        pend = self.pending[name]
        if name not in self.zs:
            from .cache import _ZLIB_LEVEL

            self.zs[name] = zlib.compressobj(_ZLIB_LEVEL, zlib.DEFLATED, -15)
        pend.adler = zlib.adler32(raw, pend.adler)
        pend.raw += len(raw)
        pend.add(self.zs[name].compress(raw), elements)

    def _spill(self) -> None:
        for name, pend in self.pending.items():
            if not pend.blocks:
                continue
            if pend.spill is None:
                path = os.path.join(self.directory, f".piece{self.index}.{name}")
                pend.spill = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
                os.unlink(path)  # anonymous: gone with the descriptor
            for block in pend.blocks:
                pend.spilled = _pwrite_all(pend.spill, np.ascontiguousarray(block), pend.spilled)
            pend.blocks = []
        self.buffered = 0

    # -- writing (holding the turn)
    def finish_streams(self) -> None:
        for name, z in self.zs.items():
            self.pending[name].add(z.flush(zlib.Z_SYNC_FLUSH), 0)

    def write(self, state: Any) -> None:
        """Append everything pending to the cache files (the caller holds the turn)."""
        if self.first_q is not None and state[_HAS_Q] < 0:
            state[_HAS_Q] = int(self.first_q)
        if self.drop_partial_qualities and self.data_q is not None and bool(state[_HAS_Q]) != self.data_q:
            state[_HAS_Q] = 0  # some reads have none: the result has none (PackedReads.concat's rule)
            if self.pending["qualities"].spill is not None:
                os.close(self.pending["qualities"].spill)
            self.pending["qualities"] = _Pending("|u1", self.checksums)
        elif self.data_q is not None and bool(state[_HAS_Q]) != self.data_q:
            raise ValueError(
                "cannot cache reads with and without qualities together (FASTQ and FASTA "
                "sources mixed): cache them separately"
            )
        shifts = {"offsets": int(state[_BASES])}
        for c, col in enumerate(_COLUMNS):
            shifts[f"{col}_offsets"] = int(state[_STRING_BYTES + c])
        for name, pend in self.pending.items():
            if not pend.blocks and not pend.spilled and not pend.length:
                continue
            s = self.slot[name]
            fd = os.open(os.path.join(self.directory, _file_of(name, self.compress)), os.O_WRONLY)
            try:
                pos = int(state[s + _NBYTES])
                crc = int(state[s + _CRC])
                shift = shifts.get(name)
                if shift is None:  # bytes as they are: their checksum is known
                    if pend.spill is not None:
                        pos = _copy_all(pend.spill, fd, pend.spilled, pos)
                    for block in pend.blocks:
                        pos = _pwrite_all(fd, np.ascontiguousarray(block), pos)
                    crc = crc32_combine(crc, pend.crc, pend.size) if self.checksums else 0  # covers the spill too
                else:  # offsets: shifted by what the pieces before wrote
                    for block in self._offset_blocks(pend):
                        out = (block + shift).astype("<i8", copy=False)
                        pos = _pwrite_all(fd, out, pos)
                        crc = zlib.crc32(out, crc) if self.checksums else 0
            finally:
                os.close(fd)
            state[s + _NBYTES] = pos
            state[s + _CRC] = crc
            state[s + _LENGTH] += pend.length
            if pend.raw:
                state[s + _ADLER] = adler32_combine(int(state[s + _ADLER]), pend.adler, pend.raw)
            if pend.spill is not None:
                os.close(pend.spill)
            self.pending[name] = _Pending(pend.dtype.str, self.checksums)
        state[_DONE_BYTES] += self.done_bytes  # before the reads: the progress bar reads them in that order
        state[_N] += self.n
        state[_BASES] += self.bases
        state[_STRING_BYTES] += self.strings[0]
        state[_STRING_BYTES + 1] += self.strings[1]
        self.n = self.bases = self.done_bytes = self.buffered = 0
        self.strings = [0, 0]

    @staticmethod
    def _offset_blocks(pend: _Pending) -> Iterator[np.ndarray]:
        if pend.spill is not None:
            step = 1 << 24
            for at in range(0, pend.spilled, step):
                yield np.frombuffer(os.pread(pend.spill, min(step, pend.spilled - at), at), dtype="<i8")
        yield from pend.blocks


def _file_of(name: str, compress: bool) -> str:
    from .cache import _ARRAYS, _PACKED_STRINGS

    if compress and (name in _COLUMNS or name.endswith("_lengths")):
        return _PACKED_STRINGS[name][0]
    return _ARRAYS[name][0]


def _piece_chunks(path: str, k: int, m: int, quality_offset: int, reads_per_chunk: int,
                  read_kwargs: dict[str, Any]) -> Iterator[PackedReads]:  # fmt: skip
    """The reads of piece ``k`` of ``m`` of a file, chunk by chunk (the serial build's chunks when ``m == 1``)."""
    from .io import iter_chunks
    from .io.byte_range import iter_shard_chunks
    from .io.chunks import resolve_format

    if m == 1:
        yield from iter_chunks(path, reads_per_chunk, quality_offset=quality_offset, **read_kwargs)
        return
    det = resolve_format(path, read_kwargs.get("format"))
    extra = {key: v for key, v in read_kwargs.items() if key == "block_size"}
    for chunk, _ in iter_shard_chunks(path, det, k, m, reads_per_chunk, quality_offset=quality_offset, **extra):
        yield chunk


def _write_piece(index: int, path: str, k: int, m: int, directory: str, compress: bool, quality_offset: int,
                 reads_per_chunk: int, read_kwargs: dict[str, Any], drop_partial_qualities: bool,
                 checksums: bool) -> int:  # fmt: skip
    """Parse piece ``index`` and append it to the cache files when its turn comes; its read count."""
    assert _shared is not None, "worker not initialised"
    cond, state = _shared

    def my_turn(block: bool) -> bool:
        with cond:
            while True:
                if state[_FAILED] < index:
                    raise _Aborted
                if state[_TURN] == index:
                    return True
                if not block:
                    return False
                cond.wait(0.5)

    writer = _PieceWriter(index, directory, compress, drop_partial_qualities, checksums)
    count = 0
    try:
        for chunk in _piece_chunks(path, k, m, quality_offset, reads_per_chunk, read_kwargs):
            writer.add(chunk)
            count += len(chunk)
            if my_turn(False):  # the pieces before are written: stream straight into the files
                writer.holding = True
                writer.write(state)
        writer.finish_streams()
        my_turn(True)
        writer.holding = True
        writer.write(state)
    except _Aborted:
        raise
    except BaseException:
        with cond:
            state[_FAILED] = min(int(state[_FAILED]), index)
            cond.notify_all()
        raise
    finally:
        for pend in writer.pending.values():
            if pend.spill is not None:
                os.close(pend.spill)
                pend.spill = None
    with cond:
        state[_TURN] = index + 1
        cond.notify_all()
    return count


def build_arrays(
    paths: Sequence[str],
    directory: str,
    num_workers: int,
    *,
    quality_offset: int = 33,
    reads_per_chunk: int = 100_000,
    compress_strings: bool = True,
    progress: Callable[[int, int], None] | None = None,
    drop_partial_qualities: bool = False,
    checksums: bool = True,
    **read_kwargs: Any,
) -> tuple[dict[str, dict[str, Any]], dict[str, Any], list[int]]:
    """Write the array files of a read cache into ``directory`` with ``num_workers`` processes.

    Returns ``(arrays, totals, records)``: the ``meta["arrays"]`` entries
    (file, dtype, length, nbytes, crc32, codec), ``n_records`` /
    ``total_bases`` / ``has_qualities``, and the reads of each source file.
    The files are not fsync-ed (the caller does, once).  The reads and
    strings are those of the serial build; the compressed string files are
    other zlib streams of the same bytes.  FASTQ and FASTA mixed raise
    ``ValueError`` as in the serial build, or, with
    ``drop_partial_qualities``, give no qualities (``Dataset``'s rule).
    ``checksums=False`` skips the crc32s (their entries are then 0).
    """
    from .cache import _ZLIB_LEVEL

    pieces = plan_pieces(paths, None, read_kwargs)
    names = array_names(compress_strings)
    ctx = _context()
    cond = ctx.Condition()
    state = ctx.Array("q", _FILE_SLOTS + 4 * len(names), lock=False)
    state[_FAILED] = _NO_FAILURE
    state[_HAS_Q] = -1
    header = zlib.compress(b"", _ZLIB_LEVEL)[:2]  # the zlib stream header (CMF, FLG)
    zipped = {n for n in names if compress_strings and (n in _COLUMNS or n.endswith("_lengths"))}
    for i, name in enumerate(names):
        s = _FILE_SLOTS + 4 * i
        start = header if name in zipped else (np.zeros(1, "<i8").tobytes() if name.endswith("offsets") else b"")
        with open(os.path.join(directory, _file_of(name, compress_strings)), "wb") as fh:
            fh.write(start)
        state[s + _NBYTES] = len(start)
        state[s + _CRC] = zlib.crc32(start)
        state[s + _LENGTH] = 1 if name.endswith("offsets") else 0
        state[s + _ADLER] = 1
    records = [0] * len(paths)
    shown = (-1, -1)
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(cond, state)) as pool:  # fmt: skip
        futures = [
            pool.submit(_write_piece, i, path, k, m, directory, compress_strings, quality_offset,
                        reads_per_chunk, read_kwargs, drop_partial_qualities, checksums)  # fmt: skip
            for i, (_, path, k, m) in enumerate(pieces)
        ]
        try:
            for (file_no, *_), future in zip(pieces, futures, strict=True):
                while True:
                    finished = future.done() or bool(wait([future], timeout=0.1).done)
                    now = (int(state[_N]), int(state[_DONE_BYTES]))
                    if progress is not None and now != shown and (finished or now[0] > shown[0]):
                        shown = now
                        progress(*now)
                    if finished:
                        break
                records[file_no] += future.result()
        except BaseException:
            with cond:  # the pieces still waiting for their turn stop
                state[_FAILED] = -1
                cond.notify_all()
            for future in futures:
                future.cancel()
            raise
    if progress is not None and shown != (int(state[_N]), int(state[_DONE_BYTES])):
        progress(int(state[_N]), int(state[_DONE_BYTES]))
    has_q = int(state[_HAS_Q]) == 1
    arrays: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        s = _FILE_SLOTS + 4 * i
        fname = _file_of(name, compress_strings)
        if name == "qualities" and not has_q:
            os.unlink(os.path.join(directory, fname))
            continue
        nbytes, crc = int(state[s + _NBYTES]), int(state[s + _CRC])
        if name in zipped:  # end the deflate stream, then Adler-32 of the uncompressed bytes
            tail = zlib.compressobj(_ZLIB_LEVEL, zlib.DEFLATED, -15).flush() + int(state[s + _ADLER]).to_bytes(4, "big")
            fd = os.open(os.path.join(directory, fname), os.O_WRONLY)
            try:
                _pwrite_all(fd, tail, nbytes)
            finally:
                os.close(fd)
            nbytes, crc = nbytes + len(tail), zlib.crc32(tail, crc)
        from .cache import _ARRAYS, _PACKED_STRINGS

        dtype = (_PACKED_STRINGS if name in zipped else _ARRAYS)[name][1]
        arrays[name] = {"file": fname, "dtype": np.dtype(dtype).str, "length": int(state[s + _LENGTH]),
                        "nbytes": nbytes, "crc32": crc}  # fmt: skip
        if name in zipped:
            arrays[name]["codec"] = "zlib"
    totals = {"n_records": int(state[_N]), "total_bases": int(state[_BASES]), "has_qualities": has_q}
    return arrays, totals, records


def read_parallel(
    paths: Sequence[str],
    num_workers: int,
    *,
    quality_offset: int = 33,
    progress: Callable[[int, int], None] | None = None,
    **read_kwargs: Any,
) -> tuple[PackedReads, list[int]]:
    """The reads of ``paths`` back to back, and the reads of each file, parsed by ``num_workers`` processes.

    What ``Dataset(paths, num_workers=N)`` holds: every file as
    :func:`~deepbiop_gpu.read` returns it, concatenated, qualities dropped
    when some files have none.  The workers write the arrays into a
    temporary directory (:func:`build_arrays`, uncompressed strings), read
    back once into memory; the directory needs room for the parsed reads.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="deepbiop-read-") as tmp:
        arrays, totals, counts = build_arrays(paths, tmp, num_workers, quality_offset=quality_offset,
                                              compress_strings=False, progress=progress,
                                              drop_partial_qualities=True, checksums=False, **read_kwargs)  # fmt: skip
        if totals["n_records"] == 0:  # nothing to share: the serial reader decides the empty result's columns
            from .io import read

            parts = [read(p, quality_offset=quality_offset, **read_kwargs) for p in paths]
            return PackedReads.concat(parts, drop_partial_qualities=True), [0] * len(paths)

        def load(name: str) -> np.ndarray:
            info = arrays[name]
            return np.fromfile(os.path.join(tmp, info["file"]), dtype=info["dtype"], count=int(info["length"]))

        qualities = torch.from_numpy(load("qualities")) if totals["has_qualities"] else None
        reads = PackedReads(torch.from_numpy(load("sequences")), torch.from_numpy(load("offsets")), qualities,
                            StringColumn(load("names"), load("names_offsets")),
                            StringColumn(load("descriptions"), load("descriptions_offsets")), validate=False)  # fmt: skip
    return reads, counts
