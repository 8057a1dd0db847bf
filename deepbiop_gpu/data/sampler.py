"""Seeded, epoch-aware batch sampling with sharding across ``torch.distributed`` ranks.

The order of an epoch depends only on ``(seed, epoch)``; with ``world`` ranks,
rank ``r`` takes every ``world``-th index of that order starting at ``r``, so
the ranks together see every read exactly once per epoch (no padding with
repeated reads, unlike ``torch.utils.data.DistributedSampler``: ranks may get
one batch more or less; use ``drop_last=True`` when every rank must take the
same number of steps).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

__all__ = ["EpochBatchSampler", "IndexBatch", "distributed_rank_world", "index_array", "mix_seed"]

_M64 = (1 << 64) - 1


def mix_seed(*values: int) -> int:
    """Deterministic 63-bit mix of integers (splitmix64 steps); stable across runs and hosts."""
    h = 0x9E3779B97F4A7C15
    for v in values:
        h = (h ^ (int(v) & _M64)) & _M64
        h = (h + 0x9E3779B97F4A7C15) & _M64
        h = ((h ^ (h >> 30)) * 0xBF58476D1CE4E5B9) & _M64
        h = ((h ^ (h >> 27)) * 0x94D049BB133111EB) & _M64
        h ^= h >> 31
    return h >> 1


def distributed_rank_world() -> tuple[int, int]:
    """``(rank, world_size)`` of the initialised default process group, else ``(0, 1)``."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class IndexBatch(list):
    """The indices of one batch, tagged with the epoch they were drawn for.

    Travels through DataLoader workers to ``Dataset.__getitems__``, so the
    random transforms in workers know the epoch even with persistent workers.
    ``array`` holds the same indices as ``int64`` numpy (what the datasets use).
    """

    def __init__(self, indices, epoch: int, array: np.ndarray | None = None) -> None:
        super().__init__(indices)
        self.epoch = epoch
        self.array = array

    def __reduce__(self):
        return (_index_batch, (self.array if self.array is not None else list(self), self.epoch))


def index_array(indices) -> np.ndarray:
    """A batch's indices as ``int64`` numpy (an :class:`IndexBatch` brings them ready)."""
    ready = getattr(indices, "array", None)
    return np.asarray(indices if ready is None else ready, dtype=np.int64)


def _index_batch(indices, epoch: int) -> IndexBatch:
    if isinstance(indices, np.ndarray):
        return IndexBatch(indices.tolist(), epoch, indices)
    return IndexBatch(indices, epoch)


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of indices in an order fixed by ``(seed, epoch)``, sharded by rank.

    Parameters
    ----------
    n : int
        Dataset size.
    batch_size : int
    shuffle : bool
        Random order (seeded) or ``0..n-1``.
    seed : int
    drop_last : bool
        Drop this rank's last incomplete batch.
    rank, world : int, optional
        Shard to take; default: from ``torch.distributed`` if initialised.

    Examples
    --------
    >>> s = EpochBatchSampler(10, batch_size=4, shuffle=False, seed=0)
    >>> [list(b) for b in s]
    [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    """

    def __init__(
        self,
        n: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        drop_last: bool = False,
        rank: int | None = None,
        world: int | None = None,
    ) -> None:
        if rank is None or world is None:
            rank, world = distributed_rank_world()
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, world), got rank={rank}, world={world}")
        self.n = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.rank = rank
        self.world = world
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> torch.Tensor:
        """This rank's indices for the current epoch, ``int64 [~n / world]``."""
        if self.shuffle:
            gen = torch.Generator().manual_seed(mix_seed(self.seed, self.epoch))
            full = torch.randperm(self.n, generator=gen)
        else:
            full = torch.arange(self.n)
        return full[self.rank :: self.world]

    def __iter__(self) -> Iterator[IndexBatch]:
        order = self.order().numpy()
        epoch = self.epoch
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size].copy()  # no view of the whole order
            if self.drop_last and len(chunk) < self.batch_size:
                return
            yield IndexBatch(chunk.tolist(), epoch, chunk)

    def __len__(self) -> int:
        mine = len(range(self.rank, self.n, self.world))
        return mine // self.batch_size if self.drop_last else -(-mine // self.batch_size)
