"""Decompressed bytes of a file, in blocks of bounded size.

:func:`open_blocks` yields the (decompressed) content of a plain, gzip,
multi-member gzip, BGZF, bzip2, xz or zstd file as ``bytes`` blocks of at
most ``block_size`` bytes, so memory stays constant whatever the file size.
gzip goes through ISA-L's ``isal_zlib.decompressobj`` (2-4x faster than
zlib) when isal is installed and :mod:`zlib` otherwise (:class:`GzipReader`);
every member of a multi-member file (BGZF is one) is read.  bzip2 and xz use
the standard library (:mod:`bz2`, :mod:`lzma`), zstd the optional
``zstandard`` package (``pip install "deepbiop-gpu[zstd]"``), all through
:class:`StreamReader`, which reads every stream (frame) of a multi-stream
file (``pbzip2``, ``pixz`` / ``xz -T``, ``zstd -T`` or ``cat``).

With ``threads >= 1`` the blocks are read and decompressed in a background
thread, a couple of blocks ahead of the caller, so decompression (which
releases the GIL) overlaps with parsing (numpy, which releases it too).

Truncated or corrupt compressed data raises :class:`CompressionError`; it
never ends the stream early.
"""

from __future__ import annotations

import bz2
import lzma
import os
import queue
import threading
import zlib
from collections.abc import Callable, Iterator

from ..errors import CompressionError

try:  # pragma: no cover - exercised when isal is installed
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover
    _zlib = zlib

__all__ = [
    "open_blocks",
    "BlockStream",
    "GzipReader",
    "StreamReader",
    "DEFAULT_BLOCK_SIZE",
    "HAS_ISAL",
    "MAGIC",
    "zstd_module",
]

#: Default size of a decompressed block (bytes).
DEFAULT_BLOCK_SIZE = 4 << 20

HAS_ISAL = _zlib is not zlib

_INPUT_CHUNK = 1 << 20
_FEED = 1 << 16


class GzipReader:
    """Streaming gzip decompression of every member of a file.

    Built on ``decompressobj`` (ISA-L's when installed), which releases the
    GIL while it inflates, so a reader thread really runs beside the parser.
    Data decompressed before a truncation point is returned before the
    error, so the parser can say which record the file ends in.

    Examples
    --------
    >>> import tempfile, pathlib, gzip
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.gz"
    >>> _ = p.write_bytes(gzip.compress(b"abc") + gzip.compress(b"def"))
    >>> r = GzipReader(str(p)); r.read(4), r.read(4), r.read(4)  # stops at member ends
    (b'abc', b'def', b'')
    """

    def __init__(self, path: str) -> None:
        self._raw = open(path, "rb", buffering=0)
        self._d = _zlib.decompressobj(31)
        self._chunk = b""  # compressed bytes read from the file ...
        self._pos = 0  # ... and how far they have been fed to the decompressor
        self._member_started = False
        self._members = 0  # members finished before the current one
        self._error: BaseException | None = None

    def _input(self) -> memoryview | None:
        """The next compressed bytes to feed (at most ``_FEED``), or None at end of file."""
        if self._pos >= len(self._chunk):
            self._chunk = self._raw.read(_INPUT_CHUNK)
            self._pos = 0
            if not self._chunk:
                return None
        # small slices: the decompressor copies the unused rest of its input at
        # every member end (BGZF: every 64 KB), so never hand it a whole chunk
        return memoryview(self._chunk)[self._pos : self._pos + _FEED]

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes (fewer at member ends); ``b""`` at the end."""
        while True:
            data = self._input()
            if data is None:
                if self._member_started and not self._d.eof:
                    # truncated: first hand out what the decompressor still holds
                    out = self._d.decompress(b"", size)
                    if out:
                        return out
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
                return b""
            if self._d.eof:
                # between members; zero padding after a member is tolerated (as gzip does)
                zeros = len(data) - len(bytes(data).lstrip(b"\0"))
                if zeros:
                    self._pos += zeros
                    continue
                self._d = _zlib.decompressobj(31)
                self._member_started = False
                self._members += 1
            first_bytes = not self._member_started
            self._member_started = True
            try:
                out = self._d.decompress(data, size)
            except _zlib.error as exc:
                if first_bytes and self._members and bytes(data[:2]) != b"\x1f\x8b":
                    raise OSError(f"Not a gzipped file ({bytes(data[:2])!r})") from None
                raise OSError(str(exc)) from None
            left = self._d.unused_data if self._d.eof else self._d.unconsumed_tail
            self._pos += len(data) - len(left)
            if out:
                return out

    def read_pieces(self, size: int) -> list[bytes]:
        """Decompressed pieces totalling ``size`` bytes (fewer only at the end).

        If the data turns out to be damaged after some pieces were produced,
        those pieces are returned and the error is raised by the next call.
        """
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        pieces: list[bytes] = []
        total = 0
        while total < size:
            try:
                piece = self.read(size - total)
            except (EOFError, OSError) as exc:
                if not pieces:
                    raise
                self._error = exc
                break
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
        return pieces

    def readinto(self, view: memoryview) -> int:
        filled = 0
        for piece in self.read_pieces(len(view)):
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        return filled

    def close(self) -> None:
        self._raw.close()


#: Magic bytes that start a stream (frame) of each compression.
MAGIC = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}


def zstd_module(path: str | None = None):
    """The ``zstandard`` module, or an ImportError that names the extra to install."""
    try:
        import zstandard
    except ImportError:
        where = f"{path}: " if path else ""
        raise ImportError(
            f"{where}reading zstd-compressed files needs the optional 'zstandard' package: "
            "pip install 'deepbiop-gpu[zstd]' (or pip install zstandard)"
        ) from None
    return zstandard


class _ZstdFrame:
    """A zstd frame decompressor with the ``bz2`` / ``lzma`` interface
    (``decompress(data, max_length)``, ``eof``, ``unused_data``, ``needs_input``)."""

    def __init__(self, zstandard) -> None:
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._out = b""
        self._error = zstandard.ZstdError

    @property
    def eof(self) -> bool:
        return self._d.eof and not self._out

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data

    @property
    def needs_input(self) -> bool:
        return not self._out

    def decompress(self, data: bytes | memoryview, max_length: int = -1) -> bytes:
        if data:
            try:
                self._out += self._d.decompress(bytes(data))
            except self._error as exc:
                raise OSError(str(exc)) from None
        if max_length < 0 or len(self._out) <= max_length:
            out, self._out = self._out, b""
        else:
            out, self._out = self._out[:max_length], self._out[max_length:]
        return out


def _decompressor_factory(compression: str, path: str) -> Callable[[], object]:
    if compression == "bzip2":
        return bz2.BZ2Decompressor
    if compression == "xz":
        return lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ)
    if compression == "zstd":
        zstandard = zstd_module(path)
        return lambda: _ZstdFrame(zstandard)
    raise ValueError(f"unknown compression {compression!r}")


class StreamReader:
    """Streaming bzip2 / xz / zstd decompression of every stream of a file.

    Same interface as :class:`GzipReader`: :meth:`read`,
    :meth:`read_pieces`, :meth:`readinto`, :meth:`close`.  Streams (zstd:
    frames) written one after the other are all read; zero bytes between
    them are tolerated (xz stream padding).  A file that ends inside a
    stream raises :class:`EOFError` once the data decompressed before the
    cut has been handed out; bytes after a stream that do not start
    another stream raise :class:`OSError` ("Not a ... file").

    Examples
    --------
    >>> import tempfile, pathlib, bz2
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.bz2"
    >>> _ = p.write_bytes(bz2.compress(b"abc") + bz2.compress(b"def"))
    >>> r = StreamReader(str(p), "bzip2"); r.read(4), r.read(4), r.read(4)
    (b'abc', b'def', b'')
    """

    def __init__(self, path: str, compression: str) -> None:
        self._new = _decompressor_factory(compression, path)
        self.compression = compression
        self._magic = MAGIC[compression]
        self._raw = open(path, "rb", buffering=0)
        self._d = self._new()
        # zstd output is not bounded by max_length inside one call: feed it less
        self._feed = _FEED // 4 if compression == "zstd" else _FEED
        self._chunk = b""
        self._pos = 0
        self._started = False  # bytes of the current stream were fed
        self._error: BaseException | None = None

    def _input(self) -> memoryview | None:
        if self._pos >= len(self._chunk):
            self._chunk = self._raw.read(_INPUT_CHUNK)
            self._pos = 0
            if not self._chunk:
                return None
        data = memoryview(self._chunk)[self._pos : self._pos + self._feed]
        self._pos += len(data)
        return data

    def _unread(self, data: bytes) -> None:
        """Put back bytes fed past the end of a stream (they start the next one)."""
        if data:
            self._chunk = data + bytes(memoryview(self._chunk)[self._pos :])
            self._pos = 0

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes; ``b""`` at the end of the file."""
        while True:
            d = self._d
            if d.eof:
                if self._started:  # the stream just ended: its leftover input starts the next
                    self._unread(d.unused_data)
                    self._started = False
            elif not d.needs_input:
                out = self._call(b"", size)
                if out:
                    return out
                continue
            data = self._input()
            if data is None:
                if self._started:
                    raise EOFError(
                        "Compressed file ended before the end-of-stream marker was reached"
                    )
                return b""
            if not self._started:
                # a new stream: zero padding before it is tolerated, anything else
                # must start with the magic bytes
                rest = bytes(data)
                zeros = len(rest) - len(rest.lstrip(b"\0"))
                if zeros and self._d.eof:
                    self._unread(rest[zeros:])
                    continue
                head = rest[: len(self._magic)]
                if head != self._magic[: len(head)]:
                    raise OSError(f"Not a {self.compression} file ({head[:4]!r})")
                if self._d.eof:
                    self._d = self._new()
                self._started = True
            out = self._call(data, size)
            if out:
                return out

    def _call(self, data: bytes | memoryview, size: int) -> bytes:
        try:
            return self._d.decompress(data, size)
        except lzma.LZMAError as exc:
            raise OSError(str(exc)) from None
        except EOFError as exc:  # bz2 / lzma: data after the end of the stream
            raise OSError(str(exc)) from None

    read_pieces = GzipReader.read_pieces
    readinto = GzipReader.readinto

    def close(self) -> None:
        self._raw.close()


def _open_raw(path: str, compression: str):
    if compression == "none":
        return open(path, "rb", buffering=0)
    if compression in ("gzip", "bgzf"):
        return GzipReader(path)
    if compression in ("bzip2", "xz", "zstd"):
        return StreamReader(path, compression)
    raise ValueError(f"unknown compression {compression!r}")


def _describe(exc: BaseException, compression: str = "gzip") -> str:
    name = "gzip" if compression in ("gzip", "bgzf") else compression
    what = "member" if name == "gzip" else ("frame" if name == "zstd" else "stream")
    if isinstance(exc, EOFError):
        return (
            f"{name} data ends unexpectedly: the file is truncated (or has garbage after "
            "the compressed data); re-download or re-compress it"
        )
    if "Not a " in str(exc):
        return (
            f"unexpected bytes after the end of the {name} {what} ({exc}): garbage after the "
            "compressed data, or a damaged file; re-download or re-compress it"
        )
    return f"{name} data is corrupt ({exc}); re-download or re-compress the file"


_DONE = object()


class BlockStream:
    """Decompressed content of a file, read in blocks of at most ``block_size`` bytes.

    Plain files are read straight into the caller's buffer
    (:meth:`readinto`).  Compressed files are decompressed in a background
    thread, up to two blocks ahead of the caller, when ``threads >= 1``.
    Iterating yields ``bytes`` blocks.  Use as a context manager (or call
    :meth:`close`) so the thread and the file are released when reading
    stops early.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.fastq"
    >>> _ = p.write_bytes(b"@r\\nAC\\n+\\nII\\n")
    >>> with open_blocks(p, block_size=4) as blocks:
    ...     b"".join(blocks)
    b'@r\\nAC\\n+\\nII\\n'
    """

    def __init__(self, path: str, compression: str, block_size: int, threads: int) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.path = path
        self.compression = compression
        self.block_size = block_size
        self._fh = _open_raw(path, compression)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._pending = memoryview(b"")
        self._eof = False
        self._error: CompressionError | None = None
        if threads >= 1 and compression != "none":
            self._queue: queue.Queue = queue.Queue(
                maxsize=32
            )  # decompressed pieces of up to ~256 KB
            self._thread = threading.Thread(
                target=self._produce, name="deepbiop-io-reader", daemon=True
            )
            self._thread.start()

    # ------------------------------------------------------------ reading
    def _read(self, size: int) -> bytes:
        try:
            return self._fh.read(size)
        except (EOFError, OSError, zlib.error) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise CompressionError(_describe(exc, self.compression), path=self.path) from None

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    pieces = self._fh.read_pieces(self.block_size)
                except (EOFError, OSError, zlib.error) as exc:
                    raise CompressionError(_describe(exc, self.compression), path=self.path) from None
                if not pieces:
                    self._put(_DONE)
                    return
                for piece in pieces:
                    if not self._put(piece):
                        return
        except BaseException as exc:  # handed to the consumer
            self._put(exc)

    def _next_block(self) -> memoryview:
        if self._eof:
            return memoryview(b"")
        item = self._queue.get()
        if item is _DONE:
            self._eof = True
            return memoryview(b"")
        if isinstance(item, BaseException):
            self._eof = True
            raise item
        return memoryview(item)

    def readinto(self, view: memoryview) -> int:
        """Fill ``view`` with up to ``len(view)`` bytes; 0 at the end of the data."""
        if self._thread is None:
            try:
                return self._fh.readinto(view) or 0
            except (EOFError, OSError, zlib.error) as exc:
                if isinstance(exc, FileNotFoundError):
                    raise
                raise CompressionError(_describe(exc, self.compression), path=self.path) from None
        if self._error is not None:
            raise self._error
        filled = 0
        while filled < len(view):
            if not len(self._pending):
                try:
                    self._pending = self._next_block()
                except CompressionError as exc:
                    if not filled:
                        raise
                    self._error = exc  # deliver the good bytes first
                    break
                if not len(self._pending):
                    break
            k = min(len(view) - filled, len(self._pending))
            view[filled : filled + k] = self._pending[:k]
            self._pending = self._pending[k:]
            filled += k
        return filled

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        if self._thread is None:
            block = self._read(self.block_size)
        else:
            block = bytes(self._pending) if len(self._pending) else bytes(self._next_block())
            self._pending = memoryview(b"")
        if not block:
            raise StopIteration
        return block

    def close(self) -> None:
        if self._thread is not None:
            self._stop.set()
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
            self._thread.join()
            self._thread = None
        self._fh.close()

    def __enter__(self) -> BlockStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_blocks(
    path: str | os.PathLike[str],
    compression: str = "none",
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
) -> BlockStream:
    """Open a file as a stream of decompressed ``bytes`` blocks.

    Parameters
    ----------
    path : str or PathLike
    compression : {"none", "gzip", "bgzf", "bzip2", "xz", "zstd"}
        As returned by :func:`~deepbiop_gpu.io.sniff.detect`.
    block_size : int
        Largest block yielded, in decompressed bytes (blocks may be shorter,
        e.g. at the end of a gzip member).
    threads : int
        ``0``: decompress in the calling thread; ``>= 1``: one background
        decompression thread (compressed files only).

    Returns
    -------
    BlockStream
        Iterator of ``bytes`` (and :meth:`BlockStream.readinto`); raises
        :class:`CompressionError` on truncated or corrupt compressed data.

    Examples
    --------
    >>> import tempfile, pathlib, gzip
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "r.gz"
    >>> _ = p.write_bytes(gzip.compress(b"abc") + gzip.compress(b"def"))
    >>> with open_blocks(p, "gzip", block_size=2, threads=0) as blocks:
    ...     list(blocks)
    [b'ab', b'c', b'de', b'f']
    """
    return BlockStream(os.fspath(path), compression, block_size, threads)
