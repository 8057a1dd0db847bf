"""Byte-range shards of plain and BGZF FASTQ / FASTA files.

Shard ``k`` of ``n`` owns the records that *start* in its part of the file,
so ``n`` shards together read every byte about once instead of ``n`` times.

Cut points
    Plain files are cut at ``c_k = size * k // n``.  BGZF files are cut at
    the first BGZF block that starts at or after ``compressed_size * k // n``
    (a block header - gzip magic, ``FLG.FEXTRA``, the ``BC`` subfield - whose
    ``BSIZE`` chain leads to two more such headers or to the end of the
    file); the stream below is then the decompressed bytes from that block on.

The resynchronisation rule, ``B(s)``
    From a cut ``s > 0`` (``B(0) = 0``), the shard's first record starts at
    the first *line start* ``p > s`` (``text[p - 1]`` is a newline) that
    passes the test for the format, or at the end of the file if none does:

    * FASTA: ``text[p]`` is ``>``.
    * FASTQ: the lines from ``p`` read as one complete record: a line
      starting with ``@``; sequence lines, none starting with ``@`` or
      ``+``; a line starting with ``+``; quality lines until the quality is
      at least as long as the sequence, and then exactly as long; and after
      it (blank lines aside) the end of the text or a line starting with
      ``@``.  ``\\r`` before a newline is ignored.

    Shard ``k`` parses the bytes ``[B(c_k), B(c_{k+1}))`` with the ordinary
    parser (``B(c_n)`` = the end of the file).  Both neighbours compute
    ``B(c_{k+1})`` from the same bytes, so they agree on it.

Why the rule is exact
    If every ``B(c_k)`` is a true record start, the shards parse disjoint,
    adjacent pieces that each begin at a record start, so together they give
    every record exactly once, in file order, as ``read()`` does.  FASTA is
    self-synchronising: every line starting with ``>`` is a header.  For
    FASTQ, assume (A) no sequence line starts with ``@`` (true of nucleotide
    and protein alphabets), and (B) within a record no quality line starting
    with ``@`` is followed by a quality line starting with ``+`` (true of
    every 4-line FASTQ, where the quality is one line).  A true record start
    passes the test (the file is well formed).  No other line start does:

    * a sequence line does not start with ``@`` (A);
    * the ``+`` line starts with ``+``;
    * a quality line starting with ``@`` would be a header; its "sequence"
      runs over the rest of the quality lines, none starting with ``+`` (B),
      to the next record's header, which starts with ``@`` - rejected - or to
      the end of the text without a ``+`` line - rejected;
    * a blank line does not start with ``@``.

    A quality line starting with ``@`` is the usual trap (``@`` is Q31), and
    it is why a bare "line starting with ``@``" rule is wrong.

Bad input
    When a shard's parse fails (a malformed record, a truncated file, or a
    file breaking (A) or (B) so that a cut landed inside a record), the
    caller re-reads the file from the start to raise exactly the error
    ``read()`` raises, with the file's record number (see
    :func:`read_error`).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator

from ..errors import CompressionError, DeepBiopError, FormatError
from .compression import _zlib
from .sniff import Detected, check_bgzf_eof

__all__ = ["ByteRangeReader", "can_split", "find_start", "read_error", "shard_range"]

_WINDOW = 1 << 20
_PLAIN_READ = 4 << 20
_BGZF_MAGIC = b"\x1f\x8b\x08\x04"


def can_split(det: Detected) -> bool:
    """Whether a file can be read by byte ranges: plain or BGZF FASTQ / FASTA."""
    return det.format in ("fastq", "fasta") and det.compression in ("none", "bgzf")


# ----------------------------------------------------------------- the rule
def _lines_from(text: bytes, p: int) -> Iterator[tuple[bytes | None, int]]:
    """``(line without \\r\\n, start)`` from ``p``; ``None`` when ``text`` ends before the newline."""
    n = len(text)
    while p < n:
        e = text.find(b"\n", p)
        if e < 0:
            yield None, p  # incomplete: more text needed (or the last line, if final)
            return
        line = text[p:e]
        yield (line[:-1] if line.endswith(b"\r") else line), p
        p = e + 1


def _fastq_record_at(text: bytes, p: int, final: bool) -> bool | None:
    """The FASTQ test of the rule at line start ``p``: True / False, None = need more text."""
    lines = _lines_from(text, p)

    def nxt() -> bytes | None:
        for line, _start in lines:
            if line is None:
                if not final:
                    raise _NeedMore
                return text[_start:].rstrip(b"\r")
            return line
        if not final:
            raise _NeedMore
        return None  # end of the text

    try:
        header = nxt()
        if header is None or not header.startswith(b"@"):
            return False
        seq_len = 0
        while True:
            line = nxt()
            if line is None:
                return False
            if line.startswith(b"+"):
                break
            if line.startswith(b"@"):
                return False
            seq_len += len(line)
        qual_len = 0
        while qual_len < seq_len:
            line = nxt()
            if line is None:
                return False
            qual_len += len(line)
        if qual_len != seq_len:
            return False
        while True:
            line = nxt()
            if line is None:
                return True
            if line:
                return line.startswith(b"@")
    except _NeedMore:
        return None


class _NeedMore(Exception):
    pass


def find_start(text: bytes, fasta: bool, final: bool) -> int | None:
    """``B`` on ``text`` (which begins at the cut): the offset of the shard's first record.

    ``len(text)`` when no record starts after the cut; ``None`` when more text
    is needed to decide (``final=False``).

    Examples
    --------
    A cut inside a record's sequence: its quality line starts with ``@`` but
    is no header (what follows it is a header, not a sequence), so the shard
    starts at the next record.

    >>> text = b"CGT\\n+\\n@III\\n@r2\\nGG\\n+\\n##\\n"
    >>> find_start(text, fasta=False, final=True), text[11:]
    (11, b'@r2\\nGG\\n+\\n##\\n')
    >>> find_start(b"CGT\\n>s2\\nAC\\n", fasta=True, final=True)
    4
    """
    p = text.find(b"\n") + 1
    while p > 0:
        if fasta:
            if p < len(text):
                if text[p] == 62:  # '>'
                    return p
            elif not final:
                return None
        else:
            verdict = _fastq_record_at(text, p, final)
            if verdict is None:
                return None
            if verdict:
                return p
        p = text.find(b"\n", p) + 1
    return None if not final else len(text)


# ----------------------------------------------------------------- BGZF
def _bgzf_header(data: bytes, i: int) -> int | None:
    """The block size (BSIZE + 1) of a BGZF header at ``data[i:]``, or None."""
    if data[i : i + 4] != _BGZF_MAGIC or len(data) < i + 18:
        return None
    xlen = struct.unpack_from("<H", data, i + 10)[0]
    if xlen < 6 or data[i + 12 : i + 16] != b"BC\x02\x00":
        return None
    return struct.unpack_from("<H", data, i + 16)[0] + 1


def _next_block(fh, size: int, s: int) -> int:
    """The first BGZF block starting at or after ``s`` (``size`` if none)."""
    while s < size:
        fh.seek(s)
        data = fh.read(_WINDOW + (1 << 18))
        i = data.find(_BGZF_MAGIC)
        while 0 <= i < _WINDOW:
            if _bgzf_chain_ok(fh, size, s + i):
                return s + i
            i = data.find(_BGZF_MAGIC, i + 1)
        s += _WINDOW
    return size


def _bgzf_chain_ok(fh, size: int, pos: int, depth: int = 3) -> bool:
    for _ in range(depth):
        if pos == size:
            return True
        fh.seek(pos)
        head = fh.read(18)
        bsize = _bgzf_header(head, 0)
        if bsize is None or pos + bsize > size:
            return False
        pos += bsize
    return True


def _bgzf_blocks(fh, size: int, pos: int, path: str) -> Iterator[tuple[int, bytes]]:
    """``(compressed offset, decompressed data)`` of each block from ``pos``."""
    while pos < size:
        fh.seek(pos)
        head = fh.read(18)
        bsize = _bgzf_header(head, 0)
        if bsize is None or pos + bsize > size:
            raise CompressionError(f"no valid BGZF block at byte {pos}", path=path)
        block = head + fh.read(bsize - 18)
        xlen = struct.unpack_from("<H", block, 10)[0]
        try:
            data = _zlib.decompress(block[12 + xlen : bsize - 8], wbits=-15)
        except Exception as exc:  # noqa: BLE001 - zlib / isal errors
            raise CompressionError(f"corrupt BGZF block at byte {pos} ({exc})", path=path) from None
        if len(data) != struct.unpack_from("<I", block, bsize - 4)[0]:
            raise CompressionError(f"corrupt BGZF block at byte {pos} (wrong size)", path=path)
        yield pos, data
        pos += bsize


# ----------------------------------------------------------------- ranges
def _anchor(fh, det: Detected, size: int, cut: int) -> int:
    """Where the text searched by ``B`` begins for a raw cut: the cut (plain) or the next block (BGZF)."""
    if cut <= 0:
        return 0
    return _next_block(fh, size, cut) if det.compression == "bgzf" else min(cut, size)


def _text_from(fh, det: Detected, size: int, anchor: int, path: str) -> Iterator[bytes]:
    if det.compression == "bgzf":
        for _pos, data in _bgzf_blocks(fh, size, anchor, path):
            yield data
        return
    pos = anchor
    while pos < size:
        fh.seek(pos)
        data = fh.read(min(_WINDOW, size - pos))  # the start is found within a window or two
        if not data:
            return
        pos += len(data)
        yield data


def _start_offset(fh, det: Detected, size: int, anchor: int, path: str) -> int:
    """``B`` measured from ``anchor`` in the (decompressed) text that begins there."""
    if anchor == 0:
        return 0
    fasta = det.format == "fasta"
    text = b""
    pieces = _text_from(fh, det, size, anchor, path)
    want = _WINDOW
    for piece in pieces:
        text += piece
        if len(text) < want:
            continue
        found = find_start(text, fasta, final=False)
        if found is not None:
            return found
        want = 2 * len(text)
    found = find_start(text, fasta, final=True)
    assert found is not None
    return found


def shard_range(path: str, det: Detected, shard: int, n_shards: int) -> tuple[tuple[int, int], tuple[int, int]]:  # noqa: E501
    """``((anchor, offset), (anchor, offset))``: where shard ``shard`` starts and stops.

    An anchor is a raw file offset (plain: the cut; BGZF: a block start), the
    offset counts decompressed bytes from it.  The stop of shard ``k`` is the
    start of shard ``k + 1``.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        raw = size  # plain: bytes of text; BGZF: compressed bytes
        points = []
        for k in (shard, shard + 1):
            if k >= n_shards:
                points.append((size, 0))
                continue
            anchor = _anchor(fh, det, size, raw * k // n_shards)
            points.append((anchor, _start_offset(fh, det, size, anchor, path) if anchor < size else 0))
    return points[0], points[1]


class ByteRangeReader:
    """The decompressed bytes of one shard, for the chunk parser (``readinto`` + context manager).

    Yields the text from the shard's start to its stop (see :func:`shard_range`).
    """

    def __init__(self, path: str, det: Detected, shard: int, n_shards: int) -> None:
        if det.compression == "bgzf":
            check_bgzf_eof(path)
        self.path = path
        self.det = det
        (self.start_anchor, self.start_offset), (self.stop_anchor, self.stop_offset) = shard_range(
            path, det, shard, n_shards
        )
        self.size = os.path.getsize(path)
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._pieces = self._generate()
        self._pending = memoryview(b"")
        self._pos: int | None = None  # plain text: the next byte to read

    @property
    def empty(self) -> bool:
        return (self.start_anchor, self.start_offset) >= (self.stop_anchor, self.stop_offset)

    def _generate(self) -> Iterator[bytes]:
        if self.empty:
            return
        skip = self.start_offset
        if self.det.compression == "none":
            pos = self.start_anchor + skip
            stop = self.stop_anchor + self.stop_offset
            while pos < stop:
                self._fh.seek(pos)
                data = self._fh.read(min(_PLAIN_READ, stop - pos))
                if not data:
                    return
                pos += len(data)
                yield data
            return
        # BGZF: the text from the start anchor's block on; ``total`` counts its bytes, and the
        # stop is known once the stop anchor's block is reached
        total = 0
        stop_total = None
        for pos, data in _bgzf_blocks(self._fh, self.size, self.start_anchor, self.path):
            if stop_total is None and pos >= self.stop_anchor:
                if pos != self.stop_anchor:  # pragma: no cover - a block chain never skips a block
                    raise CompressionError(f"BGZF block chain does not reach byte {self.stop_anchor}",
                                           path=self.path)
                stop_total = total + self.stop_offset
            lo = max(skip - total, 0)
            hi = len(data) if stop_total is None else min(len(data), stop_total - total)
            if lo < hi:
                yield data[lo:hi]
            total += len(data)
            if stop_total is not None and total >= stop_total:
                return

    def readinto(self, view: memoryview) -> int:
        if self.det.compression == "none":  # plain text: straight from the file into the parser's buffer
            return self._readinto_plain(view)
        filled = 0
        while filled < len(view):
            if not len(self._pending):
                piece = next(self._pieces, None)
                if piece is None:
                    break
                self._pending = memoryview(piece)
            k = min(len(view) - filled, len(self._pending))
            view[filled : filled + k] = self._pending[:k]
            self._pending = self._pending[k:]
            filled += k
        return filled

    def _readinto_plain(self, view: memoryview) -> int:
        if self.empty:
            return 0
        if self._pos is None:
            self._pos = self.start_anchor + self.start_offset
        n = min(len(view), self.stop_anchor + self.stop_offset - self._pos)
        if n <= 0:
            return 0
        self._fh.seek(self._pos)
        got = self._fh.readinto(view[:n]) or 0
        self._pos += got
        return got

    def close(self) -> None:
        self._pieces.close()
        self._fh.close()

    def __enter__(self) -> ByteRangeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_error(path: str, **read_kwargs) -> DeepBiopError | None:
    """The error ``read(path)`` raises (streamed, constant memory), or None if it reads cleanly."""
    from .chunks import iter_chunks

    try:
        for _ in iter_chunks(path, **read_kwargs):
            pass
    except (FormatError, CompressionError) as exc:
        return exc
    return None


def position_span(path: str, det: Detected) -> int:
    """Room a file takes in the id space of streamed reads (see :func:`iter_shard_chunks`).

    Plain files: their size (a record takes at least 2 bytes).  Compressed
    files: ``size << 16`` (BGZF virtual offsets; and a gzip member cannot
    inflate more than ~1032-fold, so its record count stays below that too).
    """
    size = os.path.getsize(path)
    return size if det.compression == "none" else size << 16


def iter_shard_chunks(
    path: str,
    det: Detected,
    shard: int,
    n_shards: int,
    reads_per_chunk: int,
    **kwargs,
) -> Iterator[tuple[object, int]]:
    """Shard ``shard`` of ``n_shards`` of a plain / BGZF FASTQ or FASTA file, in chunks.

    Yields ``(PackedReads, first_id)``; the ``j``-th read of the shard gets id
    ``first_id + j``, where ``first_id`` is the position of the shard's first
    record (plain: its byte offset; BGZF: its virtual offset, block offset
    ``<< 16`` plus the offset in the decompressed text).  Records take at
    least 2 bytes, so the ids of all shards are distinct and below
    :func:`position_span`.  ``kwargs``: ``quality_offset``, ``block_size``.

    A malformed or truncated file raises what :func:`~deepbiop_gpu.read`
    raises (the file is re-read from its start to find the record number).
    """
    from .chunks import iter_fastx_chunks

    reader = ByteRangeReader(path, det, shard, n_shards)
    if reader.empty:
        reader.close()
        return
    first = reader.start_anchor + reader.start_offset if det.compression == "none" else (
        (reader.start_anchor << 16) + reader.start_offset)
    done = 0
    try:
        for chunk in iter_fastx_chunks(path, det, reads_per_chunk, source=reader, on_error="raise",
                                       threads=0, **kwargs):  # fmt: skip
            yield chunk, first + done
            done += len(chunk)
    except (FormatError, CompressionError) as exc:
        error = read_error(path, format=det.format, quality_offset=kwargs.get("quality_offset", 33))
        if error is not None:
            raise error from None
        raise FormatError(
            f"byte-range shard {shard} of {n_shards} could not find a record boundary it can trust "
            f"({exc}); the file breaks the resynchronisation rule of deepbiop_gpu.io.byte_range "
            "(a sequence line starting with '@', or a wrapped quality with an '@' line followed by "
            "a '+' line): read it with IterableDataset(..., shard_by='chunks') or cache it",
            path=path,
        ) from None
