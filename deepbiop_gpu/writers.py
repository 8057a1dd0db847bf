"""Write :class:`~deepbiop_gpu.PackedReads` to FASTQ / FASTA files: plain, gzip or BGZF.

* :func:`write` — one pack to one file;
* :class:`Writer` — a context manager that appends chunks (streaming).

The bytes of a chunk are assembled in one pass into one output buffer: a
compiled loop with numba, or, without it, vectorised numpy (every record's
fields go to their places through boolean masks built from the offsets; no
per-record Python).  The buffer is then compressed (ISA-L when ``isal`` is
installed, zlib otherwise) in a background thread, overlapping the work on
the next chunk, and written.

Writes are atomic: the data goes to a temporary file beside the target
(``.NAME.XXXX.tmp``), renamed onto the target (:func:`os.replace`) only when
the writer is closed without an error.  An exception, or a crash, never
leaves a partial file under the final name.
"""

from __future__ import annotations

import os
import queue
import struct
import tempfile
import threading
import zlib
from typing import IO, Any

import numpy as np

from .packed import PackedReads

try:  # pragma: no cover - exercised when isal is installed
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover
    _isal_zlib = None

__all__ = ["write", "Writer", "detect_output", "FORMAT_EXTENSIONS", "COMPRESSION_EXTENSIONS"]

FORMAT_EXTENSIONS = {
    ".fastq": "fastq",
    ".fq": "fastq",
    ".fasta": "fasta",
    ".fa": "fasta",
    ".fna": "fasta",
    ".fas": "fasta",
    ".ffn": "fasta",
    ".frn": "fasta",
    ".faa": "fasta",
}
COMPRESSION_EXTENSIONS = {".gz": "gzip", ".gzip": "gzip", ".bgz": "bgzf", ".bgzf": "bgzf"}
COMPRESSIONS = ("none", "gzip", "bgzf")

#: The BGZF end-of-file marker: an empty block (SAM/BAM specification, 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_BGZF_INPUT = 0xFF00  # uncompressed bytes per BGZF block, as htslib writes them
_BGZF_HEADER = struct.Struct("<4BI2BH2BHH")  # gzip header with the BC extra field


def detect_output(
    path: str | os.PathLike[str], format: str | None = None, compression: str | None = None
) -> tuple[str, str]:
    """``(format, compression)`` of an output path: explicit values, else the extension.

    ``reads.fq.gz`` -> ``("fastq", "gzip")``; ``reads.fa.bgz`` -> ``("fasta", "bgzf")``.

    Examples
    --------
    >>> detect_output("out.fastq.gz"), detect_output("x.fa"), detect_output("y.fq.bgz")
    (('fastq', 'gzip'), ('fasta', 'none'), ('fastq', 'bgzf'))
    >>> detect_output("out.fq.gz", compression="bgzf")
    ('fastq', 'bgzf')
    """
    name = os.path.basename(os.fspath(path)).lower()
    stem, ext = os.path.splitext(name)
    found_comp = COMPRESSION_EXTENSIONS.get(ext)
    if found_comp is not None:
        stem, ext = os.path.splitext(stem)
    if compression is None:
        compression = found_comp or "none"
    compression = compression.lower()
    if compression in ("gz", "zlib"):
        compression = "gzip"
    if compression not in COMPRESSIONS:
        raise ValueError(
            f"compression must be one of {', '.join(COMPRESSIONS)} or None, got {compression!r}"
        )
    if format is None:
        format = FORMAT_EXTENSIONS.get(ext)
        if format is None:
            raise ValueError(
                f"cannot tell the output format from the name {name!r}: use a .fastq / .fq / "
                ".fasta / .fa extension (optionally + .gz / .bgz) or pass format='fastq' or 'fasta'"
            )
    format = format.lower()
    if format not in ("fastq", "fasta"):
        raise ValueError(f"format must be 'fastq' or 'fasta', got {format!r}")
    return format, compression


# ----------------------------------------------------------------- assembly
def _region_mask(total: int, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``bool [total]``: True inside ``[starts[i], starts[i] + lengths[i])``.

    The regions must be disjoint and in order (one record's field after the
    previous one's): +1 at each start, -1 at each end, then a running sum.
    """
    edges = np.zeros(total + 1, dtype=np.int8)
    keep = lengths > 0
    a = starts[keep]
    edges[a] += 1  # starts are distinct, and so are the ends: no index repeats
    edges[a + lengths[keep]] -= 1
    return np.cumsum(edges[:-1], dtype=np.int8).view(np.bool_)


def _fill(out: np.ndarray, starts: np.ndarray, lengths: np.ndarray, data: np.ndarray) -> None:
    """Copy the ragged ``data`` (rows of ``lengths``, back to back) to ``out`` at ``starts``."""
    if len(data) == 0:
        return
    n = len(starts)
    m = int(lengths[0])
    stride = int(starts[1] - starts[0]) if n > 1 else m
    if n and stride >= m and np.all(lengths == m) and np.all(np.diff(starts) == stride):
        # rows of one length at a fixed stride (e.g. short reads): one strided 2-D copy
        view = np.lib.stride_tricks.as_strided(
            out[int(starts[0]) :], shape=(n, m), strides=(stride, 1)
        )
        view[...] = data.reshape(n, m)
        return
    out[_region_mask(len(out), starts, lengths)] = data


def _wrapped(lengths: np.ndarray, width: int | None) -> np.ndarray:
    """Newlines inside each wrapped sequence line block (``0`` without wrapping)."""
    if not width:
        return np.zeros_like(lengths)
    return np.maximum(lengths - 1, 0) // width


def _fill_wrapped(
    out: np.ndarray, starts: np.ndarray, lengths: np.ndarray, data: np.ndarray, width: int
) -> None:
    """Like :func:`_fill`, with a newline after every ``width`` bytes of a row."""
    breaks = _wrapped(lengths, width)
    spans = lengths + breaks
    mask = _region_mask(len(out), starts, spans)
    nb = int(breaks.sum())
    if nb:
        first = np.zeros(len(breaks) + 1, dtype=np.int64)
        np.cumsum(breaks, out=first[1:])
        row = np.repeat(np.arange(len(breaks)), breaks)
        k = np.arange(nb, dtype=np.int64) - first[row]
        pos = starts[row] + k * (width + 1) + width
        mask[pos] = False
        out[pos] = 10
    if len(data):
        out[mask] = data


def assemble(
    reads: PackedReads,
    format: str,
    *,
    line_width: int | None = None,
    quality_offset: int = 33,
    fill_quality: int | str | bytes | None = None,
    rows: np.ndarray | None = None,
) -> np.ndarray:
    """The FASTQ / FASTA text of ``reads`` (or of reads ``rows``) as one ``uint8`` array.

    Records are ``@name[ description]\\nSEQ\\n+\\nQUAL\\n`` (FASTQ) or
    ``>name[ description]\\nSEQ\\n`` (FASTA); with ``line_width`` the
    sequence (and FASTQ quality) lines are wrapped every ``line_width``
    characters.  One compiled pass with numba; vectorised numpy without.

    Examples
    --------
    >>> reads = PackedReads.from_records([("r1", b"ACGT", b"IIII", "x y"), ("r2", b"", b"")])
    >>> bytes(assemble(reads, "fastq"))
    b'@r1 x y\\nACGT\\n+\\nIIII\\n@r2\\n\\n+\\n\\n'
    >>> bytes(assemble(reads, "fasta", line_width=3, rows=np.array([0])))
    b'>r1 x y\\nACG\\nT\\n'
    """
    fastq = format == "fastq"
    width = line_width or 0
    qual_add, fill = _quality_plan(reads, fastq, quality_offset, fill_quality)
    offsets = reads.offsets.cpu().numpy()
    if rows is None:
        rows = np.arange(len(reads), dtype=np.int64)
    else:
        rows = np.asarray(rows)
        rows = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows.astype(np.int64, copy=False)
    n = len(rows)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    names, descs = reads.names, reads.descriptions
    lengths = (offsets[1:] - offsets[:-1])[rows]
    name_len = (names.offsets[1:] - names.offsets[:-1])[rows]
    desc_len = (descs.offsets[1:] - descs.offsets[:-1])[rows]
    header = 1 + name_len + (desc_len > 0) + desc_len + 1  # '@' name [' ' desc] '\n'
    body = lengths + _wrapped(lengths, width) + 1  # bases (+ line breaks) '\n'
    record = header + body + (2 + body if fastq else 0)  # '+\n' quals '\n'
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(record, out=starts[1:])
    out = np.empty(int(starts[-1]), dtype=np.uint8)
    seq = reads.sequences.cpu().numpy()
    qual = reads.qualities.cpu().numpy() if reads.qualities is not None else np.zeros(0, np.uint8)
    loops = _loops()
    if loops is not None:
        loops.assemble_records(
            out,
            starts,
            rows,
            seq,
            offsets,
            qual,
            reads.qualities is not None,
            fill,
            qual_add,
            names.data,
            names.offsets,
            descs.data,
            descs.offsets,
            fastq,
            width,
        )
        return out
    if not (n == len(reads) and np.array_equal(rows, np.arange(n))):
        reads = reads[rows]
        seq, offsets = reads.sequences.cpu().numpy(), reads.offsets.cpu().numpy()
        qual = reads.qualities.cpu().numpy() if reads.qualities is not None else qual
        names, descs = reads.names, reads.descriptions
    has_desc = desc_len > 0
    rec = starts[:-1]
    out[rec] = ord("@") if fastq else ord(">")
    _fill(out, rec + 1, name_len, names.data)
    if has_desc.any():
        sp = rec + 1 + name_len
        out[sp[has_desc]] = 32
        _fill(out, (sp + 1)[has_desc], desc_len[has_desc], descs.data)
    seq_start = rec + header
    out[seq_start - 1] = 10
    if width:
        _fill_wrapped(out, seq_start, lengths, seq, width)
    else:
        _fill(out, seq_start, lengths, seq)
    seq_end = seq_start + body - 1
    out[seq_end] = 10
    if fastq:
        out[seq_end + 1] = ord("+")
        out[seq_end + 2] = 10
        q_start = seq_end + 3
        if reads.qualities is None:
            qual = np.full(len(seq), fill, dtype=np.uint8)
        elif qual_add:
            qual = qual + np.uint8(qual_add)
        if width:
            _fill_wrapped(out, q_start, lengths, qual, width)
        else:
            _fill(out, q_start, lengths, qual)
        out[q_start + body - 1] = 10
    return out


def _loops():
    """The compiled loops (:mod:`deepbiop_gpu._fastx_loops`), or None without numba."""
    from .ops._numba import numba_enabled

    if not numba_enabled():
        return None
    from . import _fastx_loops

    return _fastx_loops


def _quality_plan(
    reads: PackedReads, fastq: bool, quality_offset: int, fill_quality: int | str | bytes | None
) -> tuple[int, int]:
    """``(added to each phred+33 byte, fill byte)`` for the output; rejects the unwritable."""
    if not fastq:
        return 0, 0
    if reads.qualities is None:
        if fill_quality is None:
            raise ValueError(
                "these reads have no qualities (FASTA input): write FASTA, or pass "
                "fill_quality= (a Phred score such as 30, or a character such as 'I') for FASTQ"
            )
        if isinstance(fill_quality, (str, bytes)):
            if len(fill_quality) != 1:
                raise ValueError(
                    f"fill_quality must be one character or a Phred score, got {fill_quality!r}"
                )
            q = ord(fill_quality) - 33
        else:
            q = int(fill_quality)
        if not 0 <= q <= 93:
            raise ValueError(f"fill_quality must be a Phred score in [0, 93], got {fill_quality!r}")
        return 0, q + quality_offset
    if quality_offset == 64 and reads.total_bases and int(reads.qualities.max()) > 126 - 31:
        raise ValueError(
            f"a quality above Phred {126 - 31 - 33} cannot be written with quality_offset=64 "
            f"(the character would pass '~')"
        )
    return (31 if quality_offset == 64 else 0), 0


# -------------------------------------------------------------- compression
def _gzip_compressor(level: int | None):
    """``(compressobj, level)``: ISA-L for levels 0-3 when installed, zlib otherwise."""
    if _isal_zlib is not None and (level is None or level <= 3):
        lvl = 1 if level is None else level
        return _isal_zlib.compressobj(lvl, _isal_zlib.DEFLATED, 31), lvl
    lvl = 6 if level is None else level
    if not 0 <= lvl <= 9:
        raise ValueError(f"compression level must be in 0-9, got {level}")
    return zlib.compressobj(lvl, zlib.DEFLATED, 31), lvl


def _raw_deflate(data: memoryview, level: int) -> bytes:
    if _isal_zlib is not None and level <= 3:
        c = _isal_zlib.compressobj(level, _isal_zlib.DEFLATED, -15)
    else:
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


def bgzf_blocks(data: bytes | memoryview | np.ndarray, level: int = 1) -> list[bytes]:
    """BGZF blocks (gzip members with the ``BC`` extra field) holding ``data``.

    Each block holds at most 65 280 input bytes, as htslib writes them; a
    block whose deflated form would not fit in 64 KiB is stored instead.
    The end-of-file marker is *not* included (see :data:`BGZF_EOF`).
    """
    view = memoryview(data).cast("B") if not isinstance(data, np.ndarray) else memoryview(data)
    blocks = []
    for a in range(0, len(view), _BGZF_INPUT):
        piece = view[a : a + _BGZF_INPUT]
        cdata = _raw_deflate(piece, level)
        if len(cdata) + 26 > 65536:  # pragma: no cover - incompressible input
            cdata = _raw_deflate(piece, 0)
        bsize = len(cdata) + 25  # total block size - 1
        header = _BGZF_HEADER.pack(31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, bsize)
        trailer = struct.pack("<II", zlib.crc32(piece) & 0xFFFFFFFF, len(piece))
        blocks.append(header + cdata + trailer)
    return blocks


class _Sink:
    """The compressed stream into an open binary file."""

    def __init__(self, fh: IO[bytes], compression: str, level: int | None) -> None:
        self.fh = fh
        self.compression = compression
        self._pending = bytearray()  # BGZF: bytes short of a full block
        if compression == "gzip":
            self._gz, self.level = _gzip_compressor(level)
        elif compression == "bgzf":
            self.level = 1 if level is None else level
            if not 0 <= self.level <= 9:
                raise ValueError(f"compression level must be in 0-9, got {level}")
        else:
            self.level = None

    def write(self, data: np.ndarray | bytes) -> None:
        if len(data) == 0:
            return
        view = memoryview(data)
        if self.compression == "gzip":
            self.fh.write(self._gz.compress(view))
        elif self.compression == "bgzf":
            if self._pending:
                self._pending += view
                view = memoryview(bytes(self._pending))
                self._pending = bytearray()
            full = len(view) - len(view) % _BGZF_INPUT
            for block in bgzf_blocks(view[:full], self.level):
                self.fh.write(block)
            self._pending += view[full:]
        else:
            self.fh.write(view)

    def finish(self) -> None:
        if self.compression == "gzip":
            self.fh.write(self._gz.flush())
        elif self.compression == "bgzf":
            for block in bgzf_blocks(bytes(self._pending), self.level):
                self.fh.write(block)
            self._pending = bytearray()
            self.fh.write(BGZF_EOF)


_STOP = object()


class _Background:
    """A sink whose writes (compression included) run in one background thread.

    Compression then overlaps the caller's parsing, filtering and assembly
    (ISA-L and zlib release the GIL).  At most two chunks wait in the queue;
    an error in the thread is raised by the next :meth:`write` or by
    :meth:`finish`.
    """

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="deepbiop_gpu-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is None:  # after an error, only drain
                try:
                    self.sink.write(item)
                except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: np.ndarray | bytes) -> None:
        self._raise()
        self._queue.put(data)  # a fresh array from assemble(): never reused by the caller

    def finish(self) -> None:
        self.stop()
        self._raise()
        self.sink.finish()

    def stop(self) -> None:
        """Let the thread write what is queued, and end it (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()


# ------------------------------------------------------------------- writer
class Writer:
    """Write reads to a FASTQ / FASTA file chunk by chunk; atomic on close.

    Parameters
    ----------
    path : str or PathLike
        The output file.  Its extension gives the format (``.fastq`` /
        ``.fq`` / ``.fasta`` / ``.fa`` / ``.fna``) and the compression
        (``.gz``: gzip, ``.bgz`` / ``.bgzf``: BGZF) unless they are given.
    format : {"fastq", "fasta"}, optional
    compression : {"none", "gzip", "bgzf"}, optional
        BGZF is gzip made of independent blocks (what ``bgzip`` writes):
        readable by every gzip reader, and by pysam / samtools / tabix.
    level : int, optional
        Compression level.  gzip: 0-3 use ISA-L (fast) when ``isal`` is
        installed, 4-9 zlib; default 1 with ISA-L, 6 with zlib.  BGZF: 0-9,
        default 1.
    line_width : int, optional
        Wrap sequence lines (and FASTQ quality lines) every ``line_width``
        characters; default: one line per sequence.
    quality_offset : {33, 64}
        Encoding of the written qualities.  Reads always hold phred+33
        (phred+64 input is converted when read), so they are written as
        phred+33 unless 64 is asked for.
    fill_quality : int or str, optional
        FASTQ from reads without qualities: the Phred score (``30``) or
        character (``"I"``) given to every base.  Without it, writing FASTQ
        from such reads raises ``ValueError``.
    fsync : bool
        Flush the file to disk before renaming it onto ``path``, so that it
        is complete even after a power failure (slower).  Without it, an
        exception or a killed process still never leaves a partial file.
    threads : {1, 0}
        ``1``: compress in a background thread, overlapping the caller's
        work (gzip / BGZF); ``0``: everything in the calling thread.

    The data goes to a temporary file beside ``path``, renamed onto it by
    :meth:`close` (or leaving the ``with`` block normally); :meth:`abort`
    (or an exception in the ``with`` block) deletes it, and ``path`` is
    left as it was.

    Examples
    --------
    >>> import tempfile, os
    >>> from deepbiop_gpu import read, iter_chunks
    >>> out = os.path.join(tempfile.mkdtemp(), "copy.fq.gz")
    >>> with Writer(out) as w:
    ...     for chunk in iter_chunks("tests/data/fastq/illumina_novaseq_800reads.fastq", 300):
    ...         w.write(chunk)
    >>> w.reads_written, read(out).equals(read("tests/data/fastq/illumina_novaseq_800reads.fastq"))
    (800, True)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        format: str | None = None,
        compression: str | None = None,
        *,
        level: int | None = None,
        line_width: int | None = None,
        quality_offset: int = 33,
        fill_quality: int | str | bytes | None = None,
        fsync: bool = False,
        threads: int = 1,
    ) -> None:
        self.path = os.fspath(path)
        self.fsync = fsync
        self.format, self.compression = detect_output(self.path, format, compression)
        if quality_offset not in (33, 64):
            raise ValueError(f"quality_offset must be 33 or 64, got {quality_offset}")
        if line_width is not None and line_width < 1:
            raise ValueError(f"line_width must be >= 1 or None, got {line_width}")
        self.line_width = line_width
        self.quality_offset = quality_offset
        self.fill_quality = fill_quality
        self.reads_written = 0
        self.bases_written = 0
        self.bytes_written = 0
        directory = os.path.dirname(os.path.abspath(self.path))
        fd, self._tmp = tempfile.mkstemp(
            prefix=f".{os.path.basename(self.path)}.", suffix=".tmp", dir=directory
        )
        self._fh: IO[bytes] | None = os.fdopen(fd, "wb", buffering=1 << 20)
        try:
            self._sink: _Sink | _Background = _Sink(self._fh, self.compression, level)
            if threads and self.compression != "none":
                self._sink = _Background(self._sink)
        except BaseException:
            self.abort()
            raise

    @property
    def closed(self) -> bool:
        return self._fh is None

    def write(self, reads: PackedReads, rows: np.ndarray | None = None) -> None:
        """Append ``reads`` (any number, including none), or only reads ``rows`` of them.

        ``rows``: an ``int64`` index array or a ``bool [n]`` mask; the reads are
        written straight from ``reads``' buffers, without gathering them first.
        """
        if self._fh is None:
            raise ValueError(f"{self.path}: the writer is closed")
        try:
            data = assemble(
                reads,
                self.format,
                line_width=self.line_width,
                quality_offset=self.quality_offset,
                fill_quality=self.fill_quality,
                rows=rows,
            )
            self._sink.write(data)
        except BaseException:
            self.abort()
            raise
        if rows is None:
            self.reads_written += len(reads)
            self.bases_written += reads.total_bases
        else:
            rows = np.asarray(rows)
            rows = np.flatnonzero(rows) if rows.dtype == np.bool_ else rows
            lengths = np.diff(reads.offsets.cpu().numpy())
            self.reads_written += len(rows)
            self.bases_written += int(lengths[rows].sum())
        self.bytes_written += len(data)

    def close(self) -> None:
        """Finish the file and move it onto ``path`` (no-op when already closed)."""
        if self._fh is None:
            return
        try:
            self._sink.finish()
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
            mode = 0o666 & ~_umask()
            os.chmod(self._tmp, mode)
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written: delete the temporary file, leave ``path`` alone."""
        sink = getattr(self, "_sink", None)
        if isinstance(sink, _Background):
            sink.stop()
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:  # pragma: no cover
                pass
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:  # an abandoned writer leaves no temporary file
        if getattr(self, "_fh", None) is not None:
            import warnings

            warnings.warn(
                f"Writer({self.path!r}) was never closed: its output was discarded "
                "(use it as a context manager, or call close())",
                ResourceWarning,
                stacklevel=2,
            )
            self.abort()

    def __repr__(self) -> str:
        state = "closed" if self._fh is None else "open"
        return (
            f"Writer({self.path!r}, {self.format}, {self.compression}, {state}, "
            f"{self.reads_written} reads)"
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write(
    reads: PackedReads,
    path: str | os.PathLike[str],
    format: str | None = None,
    compression: str | None = None,
    line_width: int | None = None,
    *,
    level: int | None = None,
    quality_offset: int = 33,
    fill_quality: int | str | bytes | None = None,
    fsync: bool = False,
) -> int:
    """Write ``reads`` to a FASTQ / FASTA file (plain, gzip or BGZF), atomically.

    See :class:`Writer` for the parameters.  Returns the number of reads
    written.

    Names, descriptions, bases (case kept) and qualities round trip exactly:
    ``read(path)`` gives back ``reads`` (FASTA: without qualities).

    Examples
    --------
    >>> import tempfile, os
    >>> from deepbiop_gpu import read
    >>> reads = read("tests/data/fastq/illumina13_phred64_20reads.fastq", quality_offset=64)
    >>> out = os.path.join(tempfile.mkdtemp(), "reads.fq.bgz")
    >>> write(reads, out)
    20
    >>> read(out).equals(reads)
    True
    """
    with Writer(
        path,
        format,
        compression,
        level=level,
        line_width=line_width,
        quality_offset=quality_offset,
        fill_quality=fill_quality,
        fsync=fsync,
    ) as w:
        w.write(reads)
    return w.reads_written
