"""Constant-memory streaming of a file as :class:`~deepbiop_gpu.PackedReads` chunks.

The pipeline for FASTQ / FASTA::

    file ─▶ open_blocks (decompress, background thread, ≤ block_size bytes)
         ─▶ parse buffer = carry-over + block (+ PAD slack)
         ─▶ FastqParser / FastaParser (vectorised) ─▶ ReadSink
         ─▶ cut every reads_per_chunk reads ─▶ PackedReads

Only whole records are parsed; the bytes of a record cut by a block
boundary are carried over to the next block, so chunk boundaries and block
boundaries can fall anywhere without changing the result.  Memory is the
block, one record of carry-over and the chunk being built.

SAM / BAM / CRAM go through :mod:`deepbiop_gpu.io.alignment` (pysam).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterator

import numpy as np

from ..errors import (
    CompressionError,
    FormatError,
    SkippedCommentsWarning,
    SkippedRecordsWarning,
    UnknownFormatError,
)
from ..packed import PackedReads
from .alignment import iter_alignment_chunks
from .compression import DEFAULT_BLOCK_SIZE, open_blocks
from .fasta import FastaParser
from .fastq import FastqParser, quality_encoding
from .ragged import PAD
from .sink import ReadSink
from .sniff import FORMATS, Detected, check_bgzf_eof, compression_of, detect

__all__ = ["iter_chunks", "open_chunks", "resolve_format", "DEFAULT_READS_PER_CHUNK"]

DEFAULT_READS_PER_CHUNK = 100_000


def resolve_format(path: str, format: str | None) -> Detected:
    """Detect the format from the bytes; check it against an explicit ``format``."""
    if format is not None:
        format = format.lower()
        if format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)} or None, got {format!r}")
    try:
        det = detect(path)
    except UnknownFormatError:
        if format is None or format in ("sam", "bam", "cram"):
            raise
        # an explicit text format: let its parser say precisely what is wrong
        with open(path, "rb") as fh:
            compression = compression_of(fh.read(8))
        return Detected(format, compression)
    if format is None or det.format == "empty":
        return Detected(format or det.format, det.compression)
    if det.format != format:
        raise FormatError(
            f"format={format!r} was requested but the file's content is "
            f"{det.format.upper()}; pass format=None to detect it",
            path=path,
        )
    return det


def _size_hint(path: str, det: Detected) -> int:
    size = os.path.getsize(path)
    return size if det.compression == "none" else 4 * size


def iter_fastx_chunks(
    path: str,
    det: Detected,
    reads_per_chunk: int | None,
    *,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
    force_slow: bool = False,
    wanted: Callable[[int], bool] | None = None,
    source=None,
) -> Iterator[PackedReads]:
    """FASTQ / FASTA chunks (see :func:`iter_chunks`); ``None``: one chunk with everything.

    ``wanted(c)``: whether the caller keeps chunk ``c``; FASTQ chunks it does
    not keep may come back as placeholders (the right number of empty
    records), skipping the decoding (see :class:`FastqParser`).  ``source``:
    the text to parse instead of the whole file (``readinto`` + context
    manager; e.g. one shard's bytes, :class:`~deepbiop_gpu.io.byte_range.ByteRangeReader`).
    """
    fastq = det.format != "fasta"
    if det.compression == "bgzf":
        check_bgzf_eof(path)
    if reads_per_chunk is None:
        hint = _size_hint(path, det)
        capacity = hint // 2 + 1024 if fastq else hint + 1024
    else:
        capacity = min(block_size, 1 << 22)
    sink = ReadSink(with_qualities=fastq, base_capacity=capacity)
    parser: FastqParser | FastaParser
    if fastq:
        parser = FastqParser(
            path, sink, quality_offset=quality_offset, quality_format=quality_format,
            on_error=on_error, force_slow=force_slow,
            wanted=wanted, reads_per_chunk=reads_per_chunk,
        )  # fmt: skip
    else:
        parser = FastaParser(path, sink, on_error=on_error)
    buf = np.empty(2 * min(block_size, 1 << 24) + PAD, dtype=np.uint8)
    n = 0
    retry_at = 0  # parse again once the buffer holds this much (no progress before)
    if source is None:
        source = open_blocks(path, det.compression, block_size=block_size, threads=threads)
    with source as blocks:
        try:
            while True:
                if n + block_size + PAD > len(buf):
                    grown = np.empty(max(2 * len(buf), n + block_size + PAD), dtype=np.uint8)
                    grown[:n] = buf[:n]
                    buf = grown
                k = blocks.readinto(memoryview(buf)[n : n + block_size])
                if not k:
                    break
                n += k
                if n < retry_at:
                    continue
                used = parser.parse(buf, n, final=False)
                if used:
                    buf[: n - used] = buf[used:n]
                    n -= used
                    retry_at = 0
                else:
                    retry_at = 2 * n
                if reads_per_chunk:
                    while len(sink) >= reads_per_chunk:
                        yield sink.cut(reads_per_chunk)
        except CompressionError as exc:
            # everything decompressed before the damage has been parsed: the
            # record being read when the data stopped is the next one
            raise CompressionError(
                f"{exc.message} (the data stops after {parser.records_done} complete records)",
                path=path,
                record=parser.records_done + 1,
            ) from None
    parser.parse(buf, n, final=True)
    if parser.skipped:
        warnings.warn(SkippedRecordsWarning(path, parser.skipped, parser.errors), stacklevel=3)
    if getattr(parser, "comment_lines", 0):
        warnings.warn(
            SkippedCommentsWarning(path, parser.comment_lines, parser.first_comment_line),
            stacklevel=3,
        )
    if reads_per_chunk:
        while len(sink) >= reads_per_chunk:
            yield sink.cut(reads_per_chunk)
        if len(sink):
            yield sink.cut(len(sink))
    else:
        yield sink.packed()


def open_chunks(
    path: str | os.PathLike[str],
    reads_per_chunk: int | None,
    *,
    format: str | None = None,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    reference: str | os.PathLike[str] | None = None,
    as_sequenced: bool = True,
    keep_secondary: bool = False,
    keep_supplementary: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
    allowed: tuple[str, ...] = FORMATS,
    wanted: Callable[[int], bool] | None = None,
) -> Iterator[PackedReads]:
    """Check the arguments, detect the format (eagerly) and return the chunk iterator.

    ``reads_per_chunk=None`` gives one chunk holding the whole file (yielded
    even when it is empty).  ``wanted(c)`` says which chunks the caller keeps:
    the others may come back as placeholders (see :func:`iter_fastx_chunks`).
    """
    path = os.fspath(path)
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    quality_encoding(quality_offset, quality_format)  # checks both
    if reads_per_chunk is not None and reads_per_chunk < 1:
        raise ValueError(f"reads_per_chunk must be >= 1, got {reads_per_chunk}")
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    det = resolve_format(path, format)
    if det.format not in allowed and det.format != "empty":
        other = "read_bam" if det.format in ("sam", "bam", "cram") else "read_fastx"
        raise FormatError(
            f"this is a {det.format.upper()} file; use deepbiop_gpu.read() or {other}() for it",
            path=path,
        )
    if det.format == "empty":
        if format is None:
            # no bytes at all: no reads, and nothing says whether they had qualities
            return iter([PackedReads.empty()] if reads_per_chunk is None else [])
        det = Detected(format, det.compression)
    if det.format in ("sam", "bam", "cram"):
        return iter_alignment_chunks(
            path,
            det,
            reads_per_chunk,
            reference=reference,
            as_sequenced=as_sequenced,
            keep_secondary=keep_secondary,
            keep_supplementary=keep_supplementary,
            threads=threads,
        )
    return iter_fastx_chunks(
        path,
        det,
        reads_per_chunk,
        quality_offset=quality_offset,
        quality_format=quality_format,
        on_error=on_error,
        block_size=block_size,
        threads=threads,
        wanted=wanted,
    )


def iter_chunks(
    path: str | os.PathLike[str],
    reads_per_chunk: int = DEFAULT_READS_PER_CHUNK,
    *,
    format: str | None = None,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    reference: str | os.PathLike[str] | None = None,
    as_sequenced: bool = True,
    keep_secondary: bool = False,
    keep_supplementary: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
) -> Iterator[PackedReads]:
    """Stream a file as chunks of ``reads_per_chunk`` reads, in constant memory.

    Every chunk holds exactly ``reads_per_chunk`` reads except the last
    (which holds the rest; an empty file yields no chunk).  Concatenating
    the chunks gives exactly what :func:`read` returns, whatever the chunk
    and block sizes.

    Parameters
    ----------
    path : str or PathLike
        FASTQ, FASTA (plain, gzip, multi-member gzip, BGZF, bzip2, xz, zstd), SAM,
        BAM or CRAM; the format and compression are read from the bytes.
    reads_per_chunk : int
        Reads per chunk.
    format : {"fastq", "fasta", "sam", "bam", "cram"}, optional
        Expected format; an error if the content is something else.
    quality_offset : {33, 64}
        FASTQ quality encoding; phred+64 (Illumina 1.3-1.7) is converted to
        phred+33.
    quality_format : {"phred33", "phred64", "solexa"}, optional
        Overrides ``quality_offset``; ``"solexa"`` converts Solexa scores
        (Illumina 1.0-1.2) to phred+33, as in :func:`~deepbiop_gpu.read`.
    on_error : {"raise", "skip"}
        ``"skip"`` drops malformed FASTQ / FASTA records and, once the file is
        read, issues one :class:`~deepbiop_gpu.SkippedRecordsWarning` with the
        count and the first errors.
    reference : str or PathLike, optional
        CRAM reference FASTA.
    as_sequenced : bool
        SAM/BAM/CRAM: reverse-strand reads back in sequencing orientation.
    keep_secondary, keep_supplementary : bool
        SAM/BAM/CRAM: keep secondary / supplementary alignments.
    block_size : int
        Decompressed bytes read at a time (memory bound; tiny values work,
        slowly).
    threads : int
        ``1``: decompress in a background thread overlapping parsing;
        ``0``: everything in the calling thread.

    Yields
    ------
    PackedReads
        ``sequences`` ``uint8 [total]``, ``offsets`` ``int64 [n + 1]``,
        ``qualities`` ``uint8 [total]`` (phred+33) or ``None``, ``names``,
        ``descriptions``.

    Raises
    ------
    FileNotFoundError, FormatError, UnknownFormatError
        As :func:`read`.

    Examples
    --------
    >>> path = "tests/data/fastq/illumina_novaseq_800reads.fastq"
    >>> [len(chunk) for chunk in iter_chunks(path, 300)]
    [300, 300, 200]
    """
    return open_chunks(
        path,
        reads_per_chunk,
        format=format,
        quality_offset=quality_offset,
        quality_format=quality_format,
        on_error=on_error,
        reference=reference,
        as_sequenced=as_sequenced,
        keep_secondary=keep_secondary,
        keep_supplementary=keep_supplementary,
        block_size=block_size,
        threads=threads,
    )
