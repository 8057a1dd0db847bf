"""Token-budget batching: batches of reads whose size in positions stays under a budget.

``DataLoader(..., max_tokens=N)`` (like fairseq's ``max_tokens``) replaces
the fixed ``batch_size`` by a budget on what a batch holds:

* ``layout="padded"``: ``B x Lmax <= N``, where ``Lmax`` is the batch's
  padded width (its longest read rounded up to the collate's
  ``multiple_of``, or its fixed ``max_len``);
* ``layout="packed"``: the reads' lengths add up to at most ``N``.

How a plan is made (:func:`plan_token_batches`)
-----------------------------------------------
1. Each read's cost is its padded width (padded) or its length (packed).
   Reads go into geometric length buckets, ``buckets_per_octave`` per
   doubling of the length (16: the longest read of a bucket is at most
   ``2**(1/16) = 1.044`` times its shortest), so padding stays small.  Reads
   whose cost alone exceeds ``N`` have buckets of their own.
2. Every bucket gets one capacity, ``min(batch_size, N // its largest cost)``
   (at least 1): its batches are consecutive runs of that many reads.  The
   number of batches depends only on the lengths, never on the epoch, so
   ``len()`` is exact.
3. With shuffling, the reads are permuted by ``(seed, epoch)`` before the
   (stable) bucket sort, so which reads share a batch changes every epoch
   (shuffle within buckets), and the batches are then permuted by ``(seed,
   epoch)`` too (shuffle across buckets).  Without shuffling, reads keep
   their order inside a bucket and the batches go from short reads to long.
4. Under ``torch.distributed`` every rank makes the same plan; when the
   number of batches is not a multiple of the world size, the batches with
   the most reads are halved until it is, and rank ``r`` takes batches
   ``r, r + world, ...``: disjoint reads, every read once per epoch, the same
   number of steps on every rank.

All of it is vectorised over the reads (numpy sorts and ``cumsum`` s); the
Python loops run over buckets and batches only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from .sampler import IndexBatch, distributed_rank_world, mix_seed

__all__ = ["LAYOUTS", "TokenBatchSampler", "dataset_lengths", "plan_token_batches"]

LAYOUTS = ("padded", "packed")


def check_max_tokens(max_tokens: Any) -> int:
    """``max_tokens`` as a positive int, or a ``ValueError`` naming it."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, (int, np.integer)) or max_tokens < 1:
        raise ValueError(f"max_tokens must be a positive int, got {max_tokens!r}")
    return int(max_tokens)


def check_layout(layout: Any) -> str:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    return layout


def dataset_lengths(dataset: Any) -> np.ndarray:
    """Length of every item of a dataset, ``int64 [len(dataset)]``, without reading a base.

    From the offsets of a :class:`~deepbiop_gpu.Dataset` (one ``np.diff``),
    its :class:`~deepbiop_gpu.Subset` s and windows views (anything with an
    ``item_lengths()`` method), and :class:`~deepbiop_gpu.PairedDataset`
    (the longer mate: both sides are padded alike).
    """
    item_lengths = getattr(dataset, "item_lengths", None)
    if callable(item_lengths):
        return np.asarray(item_lengths(), dtype=np.int64)
    reads = getattr(dataset, "reads", None)
    if reads is not None and hasattr(reads, "offsets"):
        return np.diff(reads.offsets.cpu().numpy()).astype(np.int64, copy=False)
    if hasattr(dataset, "r1") and hasattr(dataset, "r2"):
        return np.maximum(dataset_lengths(dataset.r1), dataset_lengths(dataset.r2))
    indices = getattr(dataset, "indices", None)
    parent = getattr(dataset, "dataset", None)
    if indices is not None and parent is not None:
        return dataset_lengths(parent)[np.asarray(indices, dtype=np.int64)]
    raise TypeError(
        f"max_tokens needs the length of every item: {type(dataset).__name__} is not a "
        "deepbiop_gpu dataset (Dataset, Subset, PairedDataset, windows view) and has no "
        "item_lengths() method"
    )


def _costs(lengths: np.ndarray, layout: str, multiple_of: int, max_len: int | None) -> np.ndarray:
    """Per-read cost: padded width (padded) or collated length (packed)."""
    eff = lengths if max_len is None else np.minimum(lengths, max_len)
    if layout == "packed":
        return eff
    if max_len is not None:
        return np.full(len(lengths), max_len, dtype=np.int64)
    if multiple_of > 1:
        return -(-eff // multiple_of) * multiple_of
    return eff


def _bucket_capacities(costs: np.ndarray, max_tokens: int, batch_size: int | None,
                       buckets_per_octave: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(bucket of each read, the buckets' ids, their capacities)``."""
    over = costs > max_tokens
    octave = np.floor(np.log2(np.maximum(costs, 1)) * buckets_per_octave).astype(np.int64)
    bucket = octave * 2 + over
    ids, inverse = np.unique(bucket, return_inverse=True)
    largest = np.zeros(len(ids), dtype=np.int64)
    np.maximum.at(largest, inverse.reshape(-1), costs)
    caps = np.maximum(max_tokens // np.maximum(largest, 1), 1)
    if batch_size is not None:
        caps = np.minimum(caps, batch_size)
    return inverse.reshape(-1), ids, caps


def _batch_starts(sizes: np.ndarray, ids: np.ndarray, caps: np.ndarray, buckets_per_octave: int) -> np.ndarray:
    """Where each batch starts in the bucket-sorted order (a loop over buckets, not reads).

    A bucket's reads are cut every ``cap`` reads; its last, incomplete run
    carries over into the next bucket (whose capacity, set by its larger
    reads, holds for the smaller carried ones too) when that bucket is at
    most ``buckets_per_octave // 8`` buckets further (a ratio of ``2**(1/8)``
    between their lengths), else it is a batch of its own.  Reads longer than
    the budget never share a batch.
    """
    span = max(buckets_per_octave // 8, 1)
    starts: list[np.ndarray] = []
    pos = 0
    carry: int | None = None  # where the carried run starts in the order
    carry_octave = 0
    for size, key, cap in zip(sizes.tolist(), ids.tolist(), caps.tolist()):
        octave, over = key // 2, key % 2
        if carry is not None and (over or octave - carry_octave > span):
            starts.append(np.array([carry]))
            carry = None
        run_start = pos if carry is None else carry
        run = pos + size - run_start
        full = run // cap
        starts.append(run_start + cap * np.arange(full, dtype=np.int64))
        if run - full * cap:
            if carry is None or full:
                carry_octave = octave
            carry = run_start + full * cap
        else:
            carry = None
        pos += size
    if carry is not None:
        starts.append(np.array([carry]))
    return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, dtype=np.int64)


def _split_largest(batches: list[np.ndarray], extra: int) -> list[np.ndarray]:
    """Halve the batches with the most reads, ``extra`` times (deterministic)."""
    for _ in range(extra):
        sizes = np.fromiter((len(b) for b in batches), dtype=np.int64, count=len(batches))
        i = int(np.argmax(sizes))  # the first of the largest
        if sizes[i] < 2:
            break
        b = batches[i]
        half = (len(b) + 1) // 2
        batches[i : i + 1] = [b[:half], b[half:]]
    return batches


def plan_token_batches(
    lengths: np.ndarray,
    max_tokens: int,
    *,
    batch_size: int | None = None,
    layout: str = "padded",
    multiple_of: int = 8,
    max_len: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    epoch: int = 0,
    world: int = 1,
    buckets_per_octave: int = 16,
) -> list[np.ndarray]:
    """Every batch of one epoch (all ranks), as arrays of positions into ``lengths``.

    Parameters
    ----------
    lengths : int64 [n]
        Length of each item.
    max_tokens : int
        Budget: ``B x Lmax`` (padded) or the sum of the lengths (packed).
    batch_size : int, optional
        Cap on the reads per batch.
    layout : "padded" or "packed"
    multiple_of, max_len :
        The collate's rounding of the padded width and its fixed width.
    shuffle, seed, epoch :
        Random composition and order of the batches, fixed by ``(seed, epoch)``.
    world : int
        Number of ranks: the batch count is made a multiple of it (when there
        are at least that many reads) by halving the largest batches.

    Returns
    -------
    list of int64 arrays: each batch's positions; together every position
    exactly once.

    Examples
    --------
    >>> import numpy as np
    >>> plan = plan_token_batches(np.array([100, 10, 12, 98, 11]), 200, multiple_of=1)
    >>> [b.tolist() for b in plan]
    [[1, 4], [2], [3, 0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n = len(lengths)
    if n == 0:
        return []
    costs = _costs(lengths, layout, multiple_of, max_len)
    bucket, ids, caps = _bucket_capacities(costs, max_tokens, batch_size, buckets_per_octave)
    if shuffle:
        gen = torch.Generator().manual_seed(mix_seed(seed, epoch, 0xB0C7))
        order = torch.randperm(n, generator=gen).numpy()
    else:
        order = np.arange(n, dtype=np.int64)
    order = order[np.argsort(bucket[order], kind="stable")]
    cuts = _batch_starts(np.bincount(bucket, minlength=len(ids)), ids, caps, buckets_per_octave)
    batches = np.split(order, cuts[1:])
    if shuffle:
        gen = torch.Generator().manual_seed(mix_seed(seed, epoch, 0xBA7C))
        batches = [batches[i] for i in torch.randperm(len(batches), generator=gen).tolist()]
    extra = (-len(batches)) % world
    if extra and len(batches) + extra <= n:
        batches = _split_largest(batches, extra)
    return batches


def count_token_batches(lengths: np.ndarray, max_tokens: int, *, batch_size: int | None = None,
                        layout: str = "padded", multiple_of: int = 8, max_len: int | None = None,
                        world: int = 1, buckets_per_octave: int = 16) -> int:
    """How many batches :func:`plan_token_batches` makes (all ranks), whatever the epoch."""
    n = len(lengths)
    if n == 0:
        return 0
    costs = _costs(np.asarray(lengths, dtype=np.int64), layout, multiple_of, max_len)
    bucket, ids, caps = _bucket_capacities(costs, max_tokens, batch_size, buckets_per_octave)
    k = len(_batch_starts(np.bincount(bucket, minlength=len(ids)), ids, caps, buckets_per_octave))
    extra = (-k) % world
    return k + extra if k + extra <= n else k


class TokenBatchSampler(torch.utils.data.Sampler):
    """Batches of indices under a token budget, seeded by ``(seed, epoch)``, sharded by rank.

    See the module docstring for how batches are made.  Yields
    :class:`~deepbiop_gpu.data.sampler.IndexBatch` es (tagged with the
    epoch), like :class:`~deepbiop_gpu.data.sampler.EpochBatchSampler`.

    Parameters
    ----------
    lengths : int64 [n]
        Length of each dataset item (:func:`dataset_lengths`).
    max_tokens : int
        ``B x Lmax`` (padded) or sum of lengths (packed) per batch, at most.
        A read that alone exceeds it gets a batch of its own (one warning).
    batch_size : int, optional
        Cap on the reads per batch.
    shuffle : bool
    seed : int
    layout : "padded" or "packed"
    multiple_of : int
        Padded width rounding of the collate (8 for the default collate).
    max_len : int, optional
        Fixed padded width of the collate (longer reads are truncated).
    rank, world : int, optional
        Default: from ``torch.distributed`` if initialised.

    Examples
    --------
    >>> import numpy as np
    >>> s = TokenBatchSampler(np.array([150] * 10 + [1000] * 3), max_tokens=2048)
    >>> [len(b) for b in s], len(s)
    ([10, 2, 1], 3)
    """

    def __init__(
        self,
        lengths: np.ndarray,
        max_tokens: int,
        batch_size: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
        *,
        layout: str = "padded",
        multiple_of: int = 8,
        max_len: int | None = None,
        rank: int | None = None,
        world: int | None = None,
        buckets_per_octave: int = 16,
    ) -> None:
        self.max_tokens = check_max_tokens(max_tokens)
        self.layout = check_layout(layout)
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive int or None, got {batch_size!r}")
        if rank is None or world is None:
            rank, world = distributed_rank_world()
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, world), got rank={rank}, world={world}")
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.multiple_of = multiple_of
        self.max_len = max_len
        self.rank, self.world = rank, world
        self.buckets_per_octave = buckets_per_octave
        self.epoch = 0
        costs = _costs(self.lengths, layout, multiple_of, max_len)
        over = costs > self.max_tokens
        if over.any():
            warnings.warn(
                f"{int(over.sum())} read(s) are longer than max_tokens={self.max_tokens} "
                f"(longest {int(costs.max())} positions): each gets a batch of its own",
                UserWarning,
                stacklevel=3,
            )
        self._total = count_token_batches(self.lengths, self.max_tokens, **self._options())
        if self._total % world:
            warnings.warn(
                f"{len(self.lengths)} reads cannot make a multiple of {world} batches: the ranks "
                "get different numbers of steps",
                UserWarning,
                stacklevel=3,
            )

    def _options(self) -> dict[str, Any]:
        return dict(batch_size=self.batch_size, layout=self.layout, multiple_of=self.multiple_of,
                    max_len=self.max_len, world=self.world, buckets_per_octave=self.buckets_per_octave)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def batches(self) -> list[np.ndarray]:
        """This rank's batches for the current epoch (arrays of indices)."""
        plan = plan_token_batches(self.lengths, self.max_tokens, shuffle=self.shuffle, seed=self.seed,
                                  epoch=self.epoch, **self._options())  # fmt: skip
        return plan[self.rank :: self.world]

    def __iter__(self) -> Iterator[IndexBatch]:
        epoch = self.epoch
        for chunk in self.batches():
            chunk = np.ascontiguousarray(chunk, dtype=np.int64)
            yield IndexBatch(chunk.tolist(), epoch, chunk)

    def __len__(self) -> int:
        return len(range(self.rank, self._total, self.world))

    def padding_ratio(self) -> float:
        """Positions per real base this epoch would ship (padded width, or 1 for packed)."""
        real = int(self.lengths.sum()) if self.max_len is None else int(np.minimum(self.lengths, self.max_len).sum())
        costs = _costs(self.lengths, self.layout, self.multiple_of, self.max_len)
        plan = plan_token_batches(self.lengths, self.max_tokens, shuffle=self.shuffle, seed=self.seed,
                                  epoch=self.epoch, **self._options())  # fmt: skip
        if self.layout == "packed":
            return 1.0 if real else math.nan
        shipped = sum(len(b) * int(costs[b].max()) for b in plan if len(b))
        return shipped / real if real else math.nan


# ------------------------------------------------------------------- streams
class TokenBatchStream(torch.utils.data.IterableDataset):
    """An :class:`~deepbiop_gpu.IterableDataset` 's reads in token-budget batches.

    Reads are gathered into windows of at least ``source.shuffle_buffer``
    reads (the shuffle windows, when shuffled; consecutive chunks otherwise)
    and each window is bucketed and cut like a map-style epoch
    (:func:`plan_token_batches`, seeded by ``(seed, epoch, shard, window)``).
    """

    def __init__(self, source: Any, max_tokens: int, batch_size: int | None, layout: str,
                 multiple_of: int, max_len: int | None) -> None:
        self.source = source
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.layout = layout
        self.multiple_of = multiple_of
        self.max_len = max_len

    def _groups(self):
        pending: list = []
        count = 0
        for item in self.source._windows():
            pending.append(item)
            count += len(item[0])
            if count >= self.source.shuffle_buffer:
                yield pending
                pending, count = [], 0
        if pending:
            yield pending

    def __iter__(self):
        from ..packed import PackedReads
        from .iterable import ReadsBatch, shard_of_this_process

        source = self.source
        shard, _ = shard_of_this_process()
        warned = False
        for window, group in enumerate(self._groups()):
            reads = PackedReads.concat([g[0] for g in group]) if len(group) > 1 else group[0][0]
            index = torch.cat([g[1] for g in group])
            labels = None if group[0][2] is None else torch.cat([g[2] for g in group])
            lengths = np.diff(reads.offsets.numpy())
            if not warned and (_costs(lengths, self.layout, self.multiple_of, self.max_len) > self.max_tokens).any():
                warnings.warn(f"reads longer than max_tokens={self.max_tokens}: each gets a batch of its own",
                              UserWarning, stacklevel=2)
                warned = True
            plan = plan_token_batches(
                lengths, self.max_tokens, batch_size=self.batch_size, layout=self.layout,
                multiple_of=self.multiple_of, max_len=self.max_len, shuffle=source.shuffle,
                seed=mix_seed(source.seed, shard, window), epoch=source.epoch,
            )
            for rows in plan:
                yield ReadsBatch(reads[rows], index[rows], None if labels is None else labels[rows],
                                 source.epoch, source.transform)
