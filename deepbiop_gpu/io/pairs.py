"""Paired-end reads: R1 and R2 files read in lockstep, pairs kept together.

Read ``i`` of R1 and read ``i`` of R2 are a pair.  Their names must match
once a trailing ``/1`` or ``/2`` is removed (CASAVA 1.8+ names, where the
mate number sits in the description, match as they are); otherwise a
:class:`~deepbiop_gpu.PairedReadsError` names both files, the pair number
and both names.  A file with fewer reads than the other is an error too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from ..errors import PairedReadsError
from ..packed import PackedReads, StringColumn
from .chunks import DEFAULT_READS_PER_CHUNK, open_chunks
from .compression import DEFAULT_BLOCK_SIZE
from .ragged import PAD, first_true, ranges_equal

__all__ = ["read_pairs", "iter_pair_chunks", "check_pair_names"]


def _mate_key_lengths(names: StringColumn) -> np.ndarray:
    """Length of each name without a trailing '/1' or '/2': ``int64 [n]``."""
    offs = names.offsets
    data = names.data
    lens = offs[1:] - offs[:-1]
    ends = offs[1:]
    strip = lens >= 2
    if strip.any():
        idx = np.flatnonzero(strip)
        last = data[ends[idx] - 1]
        slash = data[ends[idx] - 2]
        strip[idx] = (slash == ord("/")) & ((last == ord("1")) | (last == ord("2")))
    return lens - 2 * strip


def check_pair_names(
    first: PackedReads,
    second: PackedReads,
    paths: tuple[str | os.PathLike[str], str | os.PathLike[str]],
    start: int = 0,
) -> None:
    """Raise :class:`PairedReadsError` unless read ``i`` of both packs is one pair.

    Parameters
    ----------
    first, second : PackedReads
        R1 and R2 reads (same count).
    paths : (str, str)
        For the error message.
    start : int
        Number of pairs before these (for the 1-based pair number).

    Examples
    --------
    >>> a = PackedReads.from_records([("x/1", b"A", b"I"), ("y/1", b"C", b"I")])
    >>> b = PackedReads.from_records([("x/2", b"G", b"I"), ("z/2", b"T", b"I")])
    >>> check_pair_names(a, b, ("r1.fq", "r2.fq"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    deepbiop_gpu.errors.PairedReadsError: r1.fq + r2.fq: pair 2: read names differ: 'y/1' in ...
    """
    n = min(len(first), len(second))
    if n:
        a, b = first.names[:n], second.names[:n]
        la, lb = _mate_key_lengths(a), _mate_key_lengths(b)
        same = la == lb
        buf = np.concatenate([a.data, b.data, np.zeros(PAD, dtype=np.uint8)])
        same &= ranges_equal(buf, a.offsets[:-1], b.offsets[:-1] + len(a.data), np.minimum(la, lb))
        bad = first_true(~same)
        if bad >= 0:
            raise PairedReadsError(
                f"read names differ: {a[bad]!r} in {os.fspath(paths[0])}, {b[bad]!r} in "
                f"{os.fspath(paths[1])} (mates must have the same name, apart from a "
                "trailing /1 and /2)",
                paths=paths,
                record=start + bad + 1,
            )
    if len(first) != len(second):
        short, other = (1, 0) if len(second) < len(first) else (0, 1)
        raise PairedReadsError(
            f"{os.fspath(paths[short])} has fewer reads than {os.fspath(paths[other])} "
            f"({start + n} pairs matched before one file ended)",
            paths=paths,
            record=start + n + 1,
        )


def read_pairs(
    r1: str | os.PathLike[str],
    r2: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
) -> tuple[PackedReads, PackedReads]:
    """Read the R1 and R2 files of paired-end reads and check they pair up.

    Parameters
    ----------
    r1, r2 : str or PathLike
        The two files (any format :func:`~deepbiop_gpu.read` accepts).
    format, quality_offset, quality_format, on_error, block_size, threads
        As in :func:`~deepbiop_gpu.read`, for both files.  With
        ``on_error="skip"`` a record skipped in one file shifts the pairing,
        which the name check then reports: pairs are never silently
        mismatched.

    Returns
    -------
    (PackedReads, PackedReads)
        R1 and R2 reads; entry ``i`` of both is pair ``i``.

    Raises
    ------
    PairedReadsError
        Names differ (the first mismatching pair is named) or the counts differ.

    Examples
    --------
    >>> r1, r2 = read_pairs("tests/data/fastq/illumina_hiseq2500_pe_R1.fastq.gz",
    ...                     "tests/data/fastq/illumina_hiseq2500_pe_R2.fastq.gz")
    >>> len(r1) == len(r2) == 2500, r1.names[0] == r2.names[0]
    (True, True)
    """
    kw = dict(
        format=format,
        quality_offset=quality_offset,
        quality_format=quality_format,
        on_error=on_error,
        block_size=block_size,
        threads=threads,
    )
    first = next(iter(open_chunks(r1, None, **kw)))
    second = next(iter(open_chunks(r2, None, **kw)))
    check_pair_names(first, second, (r1, r2))
    return first, second


def iter_pair_chunks(
    r1: str | os.PathLike[str],
    r2: str | os.PathLike[str],
    reads_per_chunk: int = DEFAULT_READS_PER_CHUNK,
    *,
    format: str | None = None,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
) -> Iterator[tuple[PackedReads, PackedReads]]:
    """Stream paired files as ``(R1 chunk, R2 chunk)`` of ``reads_per_chunk`` pairs.

    Both files are read in lockstep in constant memory; chunk ``k`` of R1 and
    chunk ``k`` of R2 hold the same pairs (names checked as in
    :func:`read_pairs`).

    Parameters
    ----------
    r1, r2 : str or PathLike
    reads_per_chunk : int
        Pairs per chunk (the last chunk holds the rest).
    format, quality_offset, quality_format, on_error, block_size, threads
        As in :func:`~deepbiop_gpu.iter_chunks`.

    Yields
    ------
    (PackedReads, PackedReads)

    Examples
    --------
    >>> chunks = iter_pair_chunks("tests/data/fastq/illumina_hiseq2500_pe_R1.fastq.gz",
    ...                           "tests/data/fastq/illumina_hiseq2500_pe_R2.fastq.gz", 1000)
    >>> [(len(a), len(b)) for a, b in chunks]
    [(1000, 1000), (1000, 1000), (500, 500)]
    """
    kw = dict(
        format=format,
        quality_offset=quality_offset,
        quality_format=quality_format,
        on_error=on_error,
        block_size=block_size,
        threads=threads,
    )
    first = open_chunks(r1, reads_per_chunk, **kw)
    second = open_chunks(r2, reads_per_chunk, **kw)
    return _lockstep(first, second, (r1, r2))


def _lockstep(
    first: Iterator[PackedReads],
    second: Iterator[PackedReads],
    paths: tuple[str | os.PathLike[str], str | os.PathLike[str]],
) -> Iterator[tuple[PackedReads, PackedReads]]:
    done = 0
    empty = PackedReads.empty()
    while True:
        a = next(first, None)
        b = next(second, None)
        if a is None and b is None:
            return
        a = empty if a is None else a
        b = empty if b is None else b
        check_pair_names(a, b, paths, start=done)
        done += len(a)
        yield a, b
