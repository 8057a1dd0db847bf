"""Parsing many files, or one large file, in parallel processes.

``Dataset(paths, num_workers=N)`` and ``Cache.build(..., num_workers=N)``
cut the input into *pieces*: every file is one piece, except plain and BGZF
FASTQ / FASTA files larger than ``piece_bytes``, which are cut into byte
ranges of about that size with the rule of :mod:`deepbiop_gpu.io.byte_range`
(each piece starts at a record boundary, the pieces together are the file).
``N`` worker processes parse the pieces; the results come back in input
order, at most ``2 N`` pieces ahead of the consumer, so a cache build holds a
bounded number of pieces in memory whatever the input size.  The reads are
exactly those of the serial build, in the same order.

Workers are forked where the platform allows it (Linux: no re-import, the
parser is ready at once) and spawned elsewhere.  Results travel as numpy
arrays, by value.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np
import torch

from .packed import PackedReads, StringColumn

__all__ = ["PIECE_BYTES", "iter_parsed", "plan_pieces"]

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


def _to_arrays(reads: PackedReads) -> tuple:
    q = None if reads.qualities is None else reads.qualities.numpy()
    return (reads.sequences.numpy(), reads.offsets.numpy(), q,
            np.asarray(reads.names.data), np.asarray(reads.names.offsets),
            np.asarray(reads.descriptions.data), np.asarray(reads.descriptions.offsets))  # fmt: skip


def _from_arrays(arrays: tuple) -> PackedReads:
    seq, off, q, nd, no, dd, do = arrays
    return PackedReads(torch.from_numpy(seq), torch.from_numpy(off), None if q is None else torch.from_numpy(q),
                       StringColumn(nd, no), StringColumn(dd, do), validate=False)  # fmt: skip


def parse_piece(path: str, k: int, m: int, quality_offset: int, read_kwargs: dict[str, Any]) -> PackedReads:
    """The reads of piece ``k`` of ``m`` of a file (the whole file when ``m == 1``)."""
    from .io import read
    from .io.byte_range import iter_shard_chunks
    from .io.chunks import resolve_format

    if m == 1:
        return read(path, quality_offset=quality_offset, **read_kwargs)
    det = resolve_format(path, read_kwargs.get("format"))
    extra = {key: v for key, v in read_kwargs.items() if key == "block_size"}
    parts = [c for c, _ in iter_shard_chunks(path, det, k, m, 1 << 20, quality_offset=quality_offset, **extra)]
    return PackedReads.concat(parts) if parts else PackedReads.empty(with_qualities=det.format == "fastq")


def _parse_in_worker(path: str, k: int, m: int, quality_offset: int, read_kwargs: dict[str, Any]) -> tuple:
    return _to_arrays(parse_piece(path, k, m, quality_offset, read_kwargs))


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods and sys.platform.startswith("linux") else "spawn")


def iter_parsed(
    paths: Sequence[str],
    num_workers: int,
    *,
    quality_offset: int = 33,
    piece_bytes: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    **read_kwargs: Any,
) -> Iterator[tuple[int, PackedReads]]:
    """``(file number, reads)`` of every piece, in input order, parsed by ``num_workers`` processes.

    ``num_workers=0`` parses in this process.  ``progress(reads_done,
    bytes_done)`` after each piece.
    """
    pieces = plan_pieces(paths, piece_bytes, read_kwargs)
    reads_done = bytes_done = 0

    def report(reads: PackedReads) -> None:
        nonlocal reads_done, bytes_done
        reads_done += len(reads)
        bytes_done += reads.nbytes
        if progress is not None:
            progress(reads_done, bytes_done)

    if num_workers == 0:
        for file_no, path, k, m in pieces:
            reads = parse_piece(path, k, m, quality_offset, read_kwargs)
            report(reads)
            yield file_no, reads
        return
    with ProcessPoolExecutor(max_workers=num_workers, mp_context=_context()) as pool:
        todo = iter(pieces)
        pending: deque[tuple[int, Future]] = deque()

        def submit() -> None:
            nxt = next(todo, None)
            if nxt is not None:
                file_no, path, k, m = nxt
                pending.append((file_no, pool.submit(_parse_in_worker, path, k, m, quality_offset, read_kwargs)))

        for _ in range(2 * num_workers):
            submit()
        try:
            while pending:
                file_no, future = pending.popleft()
                reads = _from_arrays(future.result())
                submit()
                report(reads)
                yield file_no, reads
        finally:
            for _, future in pending:
                future.cancel()
