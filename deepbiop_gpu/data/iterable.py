"""Streaming dataset for files larger than memory.

Reads are parsed chunk by chunk (constant memory) and divided between
*shards*: one shard per (``torch.distributed`` rank, DataLoader worker)
pair, so every read is seen exactly once per epoch across all workers and
ranks, and the parsing work is divided between them, not repeated:

* at least as many files as shards: each shard reads whole files (file
  ``f`` goes to shard ``f % n``);
* otherwise plain and BGZF FASTQ / FASTA files are split by byte range:
  each shard seeks to its ~1/n of the bytes and resynchronises on the next
  record boundary (the rule and its proof: :mod:`deepbiop_gpu.io.byte_range`);
* plain gzip (and BAM / SAM / CRAM) cannot be entered mid-stream: every
  shard reads the whole stream and keeps every n-th chunk (a warning says
  so once for gzip; convert to BGZF or cache the file).

The division above is ``shard_by="bytes"``.  The default,
``shard_by="chunks"``, keeps the seeding contract whatever the number of
shards: every shard reads the whole input and keeps every ``n``-th chunk (in
FASTQ the other shards' chunks are only counted, not decoded), so each read's
``index``, which keys the random ops, is its global read number (its position
across all files).  With ``"bytes"`` a shard cannot know how many reads come
before its range: with several shards ``index`` is a unique id built from the
position of its shard's first record in the file (see
:func:`~deepbiop_gpu.io.byte_range.iter_shard_chunks`), so ids, and with them
the augmentations, depend on the number of shards (one shard: global read
numbers either way).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from ..packed import PackedReads
from .dataset import (
    PathLike,
    _is_batch_transform,
    apply_transform_to_sample,
    as_path_list,
    collate_rows,
)
from .labels import LabelResolver, LabelSpec
from .sampler import distributed_rank_world, mix_seed

__all__ = ["IterableDataset", "ReadsBatch"]

_WARNED_WHOLE_STREAM: set[str] = set()


def _warn_whole_stream(path: str) -> None:
    """Once per file and process: a gzip file cannot be split, every shard reads all of it."""
    if path in _WARNED_WHOLE_STREAM:
        return
    _WARNED_WHOLE_STREAM.add(path)
    warnings.warn(
        f"{path} is plain gzip, which cannot be entered mid-stream: every shard (worker x rank) "
        "decompresses all of it and keeps its share. Convert it to BGZF (`deepbiop-gpu convert "
        "--bgzf`, or `bgzip`) or cache it (Dataset(..., cache_dir=...)) so that each shard reads "
        "only its own bytes",
        UserWarning,
        stacklevel=4,
    )


def shard_of_this_process() -> tuple[int, int]:
    """``(shard, n_shards)`` for the current rank and DataLoader worker."""
    rank, world = distributed_rank_world()
    info = torch.utils.data.get_worker_info()
    worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * workers + worker, world * workers


class ReadsBatch(Sequence[dict]):
    """A batch of consecutive reads from a stream, with their global indices.

    Sequence of sample dicts for any ``collate_fn``; :meth:`collate` pads it
    in one step for the default one.
    """

    __slots__ = ("reads", "index", "labels", "epoch", "transform")

    def __init__(self, reads: PackedReads, index: torch.Tensor, labels: torch.Tensor | None,
                 epoch: int, transform: Callable | None) -> None:
        self.reads = reads
        self.index = index
        self.labels = labels
        self.epoch = epoch
        self.transform = transform

    def __len__(self) -> int:
        return len(self.reads)

    def __getitem__(self, i):  # type: ignore[override]
        rec_offs = self.reads.offsets
        a, b = int(rec_offs[i]), int(rec_offs[i + 1])
        q = self.reads.qualities
        sample: dict[str, Any] = {  # copies: a sample never carries the chunk's buffers
            "sequence": self.reads.sequences[a:b].clone(),
            "quality": None if q is None else q[a:b].clone(),
            "name": self.reads.names[i],
            "description": self.reads.descriptions[i],
            "index": int(self.index[i]),
        }
        if self.labels is not None:
            sample["label"] = self.labels[i].item()
        return sample

    def collate(self, max_len: int | None, multiple_of: int, then: Callable | None = None) -> dict[str, Any]:
        """The padded batch dict; ``then`` (a batch transform) runs on it, fused where it can."""
        rows = np.arange(len(self.reads), dtype=np.int64)
        return collate_rows(self.reads, rows, self.index, self.labels, self.epoch, self.transform,
                            max_len, multiple_of, then)  # fmt: skip


class IterableDataset(torch.utils.data.IterableDataset):
    """Streams reads from one or many files, sharded across workers and ranks.

    Parameters
    ----------
    paths : path or list of paths
        Any supported format and compression.
    labels : optional
        As for :class:`~deepbiop_gpu.Dataset` (per file, mapping, TSV/CSV, callable).
    transform : optional
        Batch transform run in the workers on each batch (or a callable on
        each sample dict when iterated sample by sample).
    quality_offset : int
        33 or 64.
    reads_per_chunk : int
        Reads per parsed chunk, the unit dealt to shards.
    shuffle_buffer : int
        With ``shuffle=True`` in the loader, reads are shuffled within
        windows of this many reads (seeded by seed, epoch and shard).

    Iterating it directly yields sample dicts like ``Dataset[i]``;
    :class:`~deepbiop_gpu.DataLoader` asks it for whole batches instead.

    shard_by : {"chunks", "bytes"}
        ``"chunks"`` (default): every shard reads the whole input and keeps
        every ``n``-th chunk; indices are global read numbers whatever the
        number of shards, so augmentations do not depend on ``num_workers``
        or the world size (the seeding contract).  ``"bytes"``: divide the
        files (several files) or their bytes (plain / BGZF FASTQ and FASTA)
        between the shards, so each reads ~1/n of the input (gzip and
        alignment files fall back to chunk dealing); indices are then
        position-based ids that depend on the number of shards.

    Sharding (see the module docstring): each worker and rank reads only its
    share of the bytes, except for plain gzip, which every shard has to
    decompress whole (in FASTQ the other shards' chunks are only counted,
    not decoded).  For files that fit on disk, ``Dataset(...,
    cache_dir=...)`` parses once and shares the result.

    Examples
    --------
    >>> stream = IterableDataset("huge.fastq.gz")  # doctest: +SKIP
    >>> loader = DataLoader(stream, batch_size=256, num_workers=2)  # doctest: +SKIP
    """

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        *,
        labels: LabelSpec | None = None,
        transform: Callable | None = None,
        quality_offset: int = 33,
        reads_per_chunk: int = 8192,
        shuffle_buffer: int = 16384,
        shard_by: str = "chunks",
        **read_kwargs: Any,
    ) -> None:
        for name, value in (("reads_per_chunk", reads_per_chunk), ("shuffle_buffer", shuffle_buffer)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.paths = as_path_list(paths)
        self.transform = transform
        self.quality_offset = quality_offset
        self.reads_per_chunk = reads_per_chunk
        self.shuffle_buffer = shuffle_buffer
        self.read_kwargs = read_kwargs
        self.labels_spec = labels
        self._resolver = LabelResolver(labels, len(self.paths)) if labels is not None else None
        self.epoch = 0
        self.seed = 0
        self.shuffle = False
        if shard_by not in ("chunks", "bytes"):
            raise ValueError(f"shard_by must be 'chunks' or 'bytes', got {shard_by!r}")
        self.shard_by = shard_by

    @property
    def classes(self) -> list[str] | None:
        return None if self._resolver is None else self._resolver.classes

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _my_chunks(self) -> Iterator[tuple[PackedReads, torch.Tensor, torch.Tensor | None]]:
        """``(reads, index, labels)`` for each chunk of this shard, in file order.

        One shard: every file, whole (``index`` = the global read number).
        Several shards (``shard_by="bytes"``): by file when there are at
        least as many files as shards, else plain / BGZF FASTQ and FASTA
        files by byte range and the others (gzip, BAM) whole-stream, chunks
        dealt round robin.  ``shard_by="chunks"``: always the latter.
        """
        shard, n_shards = shard_of_this_process()
        if n_shards == 1 or self.shard_by == "chunks":
            yield from self._dealt_chunks(shard, n_shards)
            return
        from ..io.byte_range import can_split, iter_shard_chunks, position_span
        from ..io.chunks import iter_chunks, resolve_format

        fmt = self.read_kwargs.get("format")
        kwargs = dict(quality_offset=self.quality_offset, **self.read_kwargs)
        detected = [resolve_format(p, fmt) for p in self.paths]
        spans = [position_span(p, det) for p, det in zip(self.paths, detected, strict=True)]
        bases = np.concatenate([[0], np.cumsum(spans)]).tolist()
        by_file = len(self.paths) >= n_shards
        for file_no, (path, det) in enumerate(zip(self.paths, detected, strict=True)):
            base = bases[file_no]
            if by_file:
                if file_no % n_shards != shard:
                    continue
                chunks = ((c, None) for c in iter_chunks(path, reads_per_chunk=self.reads_per_chunk, **kwargs))
            elif can_split(det) and self.read_kwargs.get("on_error", "raise") == "raise":
                chunks = iter_shard_chunks(path, det, shard, n_shards, self.reads_per_chunk,
                                           quality_offset=self.quality_offset,
                                           **{k: v for k, v in self.read_kwargs.items() if k == "block_size"})
            else:
                if det.compression == "gzip":
                    _warn_whole_stream(path)
                chunks = self._dealt_file(path, shard, n_shards, kwargs)
            done = 0
            for chunk, first in chunks:
                n = len(chunk)
                start = base + (done if first is None else first)
                done += n
                if n == 0:
                    continue
                index = torch.arange(start, start + n, dtype=torch.int64)
                labels = None if self._resolver is None else self._resolver.tensor(chunk, file_no)
                yield chunk, index, labels

    def _dealt_file(self, path: str, shard: int, n_shards: int,
                    kwargs: dict[str, Any]) -> Iterator[tuple[PackedReads, int | None]]:
        """One file read whole by every shard, which keeps every ``n_shards``-th chunk."""
        from ..io.chunks import open_chunks

        mine = lambda c: c % n_shards == shard  # noqa: E731
        done = 0
        for c, chunk in enumerate(open_chunks(path, self.reads_per_chunk, wanted=mine, **kwargs)):
            if mine(c):
                yield chunk, done
            done += len(chunk)

    def _dealt_chunks(self, shard: int, n_shards: int) -> Iterator[tuple[PackedReads, torch.Tensor, torch.Tensor | None]]:
        """Every shard reads every file and keeps every ``n_shards``-th chunk (global read numbers)."""
        from ..io.chunks import iter_chunks, open_chunks

        chunk_no = 0
        base = 0
        for file_no, path in enumerate(self.paths):
            kwargs = dict(quality_offset=self.quality_offset, **self.read_kwargs)
            if n_shards > 1:  # the other shards' chunks need not be decoded, only counted
                first = chunk_no
                mine = lambda c, first=first: (first + c) % n_shards == shard  # noqa: E731
                chunks = open_chunks(path, self.reads_per_chunk, wanted=mine, **kwargs)
            else:
                chunks = iter_chunks(path, reads_per_chunk=self.reads_per_chunk, **kwargs)
            for chunk in chunks:
                n = len(chunk)
                if chunk_no % n_shards == shard:
                    index = torch.arange(base, base + n, dtype=torch.int64)
                    labels = None if self._resolver is None else self._resolver.tensor(chunk, file_no)
                    yield chunk, index, labels
                chunk_no += 1
                base += n

    def _windows(self) -> Iterator[tuple[PackedReads, torch.Tensor, torch.Tensor | None]]:
        """Chunks regrouped into shuffle windows (shuffled) or passed through."""
        if not self.shuffle:
            yield from self._my_chunks()
            return
        shard, _ = shard_of_this_process()
        pending: list[tuple[PackedReads, torch.Tensor, torch.Tensor | None]] = []
        count = 0
        window = 0

        def flush():
            nonlocal window
            reads = PackedReads.concat([p[0] for p in pending])
            index = torch.cat([p[1] for p in pending])
            labels = None if pending[0][2] is None else torch.cat([p[2] for p in pending])
            gen = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch, shard, window))
            perm = torch.randperm(len(reads), generator=gen)
            window += 1
            return reads[perm], index[perm], None if labels is None else labels[perm]

        for item in self._my_chunks():
            pending.append(item)
            count += len(item[0])
            if count >= self.shuffle_buffer:
                yield flush()
                pending, count = [], 0
        if pending:
            yield flush()

    def batches(self, batch_size: int, drop_last: bool = False) -> Iterator[ReadsBatch]:
        """This shard's reads as :class:`ReadsBatch` es of ``batch_size``."""
        carry: PackedReads | None = None
        carry_index = carry_labels = None
        for reads, index, labels in self._windows():
            if carry is not None and len(carry):
                reads = PackedReads.concat([carry, reads])
                index = torch.cat([carry_index, index])
                labels = None if labels is None else torch.cat([carry_labels, labels])
            n = len(reads)
            full = n - n % batch_size
            for start in range(0, full, batch_size):
                rows = slice(start, start + batch_size)
                yield ReadsBatch(reads[rows], index[rows],
                                 None if labels is None else labels[rows], self.epoch, self.transform)
            carry = reads[full:]
            carry_index = index[full:]
            carry_labels = None if labels is None else labels[full:]
        if carry is not None and len(carry) and not drop_last:
            yield ReadsBatch(carry, carry_index, carry_labels, self.epoch, self.transform)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for reads, index, labels in self._windows():
            batch = ReadsBatch(reads, index, labels, self.epoch, None)
            for i in range(len(batch)):
                sample = batch[i]
                if self.transform is not None:
                    if _is_batch_transform(self.transform):
                        sample["epoch"] = self.epoch
                        sample = apply_transform_to_sample(self.transform, sample)
                    else:
                        sample = self.transform(sample)
                yield sample


class _BatchStream(torch.utils.data.IterableDataset):
    """What the DataLoader hands to torch: an IterableDataset's batches, not its samples."""

    def __init__(self, source: IterableDataset, batch_size: int, drop_last: bool) -> None:
        self.source = source
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[ReadsBatch]:
        return self.source.batches(self.batch_size, self.drop_last)
