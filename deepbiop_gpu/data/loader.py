"""``DataLoader``: torch's DataLoader with seeded epochs, rank sharding and device transforms.

Batches are collated on the CPU — by worker processes (``num_workers > 0``,
torch's machinery) or, for the map-style datasets of this package with
``num_workers=0``, in this process: the dataset is already indexed, so a
batch is one compiled gather from its buffers (numba), fetched straight from
the batch sampler (optionally by a pool of ``num_threads`` threads) without
the shared-memory hand-off worker processes pay.  In the main thread each
batch goes to ``device`` and ``transform`` runs there (on a side CUDA stream
that overlaps the model step).  On a CPU device the transform runs where the
batch is collated (threads or workers) instead, fused with the gather where
its steps allow (:mod:`deepbiop_gpu.transforms.fused`): the random ops depend
only on (seed, epoch, index), so the batches are the same either way.

Workers hand their batches back through a few reusable shared-memory slots
each (:mod:`deepbiop_gpu.data.worker_slots`), and the numba loops are
compiled in this process before they fork.  With the ``spawn`` and
``forkserver`` start methods the forkserver preloads this package and the
workers are kept across epochs (:mod:`deepbiop_gpu.data.worker_start`).
"""

from __future__ import annotations

import itertools
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch

from ..packed import PackedReads
from .collate import Collate, default_collate
from .buckets import TokenBatchSampler, TokenBatchStream, check_layout, check_max_tokens, dataset_lengths
from .dataset import Dataset, PairedDataset, Subset, collate_rows
from .iterable import IterableDataset, _BatchStream
from .prefetch import DevicePrefetcher, apply_transform
from .resident import ResidentBatches
from .packed_layout import packed_transform
from .sampler import EpochBatchSampler, IndexBatch
from .staging import StagingRing, gather_ragged
from .windows import Windows
from .shutdown import name_dead_workers
from .shutdown import register as register_for_exit
from .worker_slots import SlotReceiver, WorkerSlots, one_storage
from .worker_start import preload_forkserver, reuse_workers_by_default, start_method

__all__ = ["DataLoader"]


def _check_positive_int(value: Any, name: str, *, allow_zero: bool = False) -> int:
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        kind = "a non-negative" if allow_zero else "a positive"
        raise ValueError(f"{name} must be {kind} int, got {value!r}")
    return value


def _warm_up(dataset: Any, collate_fn: Callable, transform: Callable | None) -> None:
    """Make one small batch in this process, the way workers (or this process) will.

    Compiles the numba loops that the batches need (a second or two each,
    for the collate pass and the transform's steps) before the DataLoader
    forks its workers, which then inherit them instead of each compiling its
    own, every epoch.  Best effort: a dataset or transform that needs more
    than this is simply not warmed up (its real error surfaces later).
    """
    try:
        if isinstance(dataset, (Dataset, PairedDataset, Subset, Windows)) and len(dataset):
            samples = dataset.__getitems__(IndexBatch(list(range(min(2, len(dataset)))), 0))
            _collate_transform(collate_fn, samples, transform, 0)
            return
        # streams: two made-up reads through the same passes (the loops' argument types match)
        seqs = [b"ACGTNacgtnRYACGT", b"GATTACA"]
        reads = PackedReads.from_records([(f"r{i}", s, b"I" * len(s)) for i, s in enumerate(seqs)])
        rows, index = np.arange(2), torch.arange(2)
        collate_rows(reads, rows, index, None, 0, None, None, 8, transform)
        if transform is not None:  # and the transform on a padded batch
            transform(collate_rows(reads, rows, index, None, 0, None, None, 8))
    except Exception:  # noqa: BLE001 - an optimisation only
        pass


def _collate_transform(collate_fn: Callable, samples: Any, transform: Callable | None, epoch: int) -> Any:
    """``transform(collate_fn(samples))``, tagged with ``epoch``.

    For the batches of this package's datasets and the default
    :class:`Collate`, the transform's leading augmentations and encoder run
    fused with the padding, straight from the dataset's buffers (one compiled
    pass; the same result).
    """
    if transform is None:
        return collate_fn(samples)
    fast = getattr(samples, "collate", None)
    if fast is not None and type(collate_fn).__call__ is Collate.__call__:
        return apply_transform(None, fast(collate_fn.max_len, collate_fn.multiple_of, then=transform), epoch)
    return apply_transform(transform, collate_fn(samples), epoch)


def _can_pin() -> bool:
    """Is there a device whose pinned (page-locked) host memory torch can allocate?"""
    accelerator = getattr(torch, "accelerator", None)  # torch >= 2.6
    if accelerator is not None and hasattr(accelerator, "is_available"):
        return bool(accelerator.is_available())
    return torch.cuda.is_available()


def _pin(batch: Any) -> Any:
    """Page-locked copies of every tensor of a (nested) batch."""
    if isinstance(batch, torch.Tensor):
        return batch.pin_memory()
    if isinstance(batch, dict):
        return {k: _pin(v) for k, v in batch.items()}
    return batch


class _InProcessBatches:
    """Fetch, collate (and on a CPU device transform) batches in this process, in order.

    With ``threads > 0`` a pool makes batch ``i + 2 * threads`` while batch
    ``i`` is consumed; the order is the batch sampler's, whatever the threads'
    timing.  With ``threads == 0`` each batch is made when it is asked for.
    """

    def __init__(self, dataset: Any, batch_sampler: EpochBatchSampler, collate_fn: Callable,
                 transform: Callable | None, threads: int, pin: bool) -> None:
        self.dataset = dataset
        self.batch_sampler = batch_sampler
        self.collate_fn = collate_fn
        self.transform = transform
        self.threads = threads
        self.pin = pin
        self.ring: StagingRing | None = None  # set: ragged batches (see .staging)

    def _make(self, indices: IndexBatch) -> Any:
        if self.ring is not None:  # the CPU side of a ragged batch: one gather into the ring
            samples = self.dataset.__getitems__(indices)
            ds = samples.dataset
            index = torch.from_numpy(samples.indices)
            labels = None if ds.labels is None else ds.labels[index]
            return gather_ragged(ds.reads, samples.indices, index, labels, samples.epoch, self.ring,
                                 self.collate_fn.max_len, self.collate_fn.multiple_of)  # fmt: skip
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(indices) if getitems is not None else [self.dataset[i] for i in indices]
        batch = _collate_transform(self.collate_fn, samples, self.transform, indices.epoch)
        return _pin(batch) if self.pin else batch

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self) -> Iterator[Any]:
        if self.threads == 0:
            for indices in self.batch_sampler:
                yield self._make(indices)
            return
        pool = ThreadPoolExecutor(self.threads, thread_name_prefix="deepbiop_gpu-collate")
        batches = iter(self.batch_sampler)
        pending: deque[Future] = deque(
            pool.submit(self._make, indices) for indices in itertools.islice(batches, 2 * self.threads)
        )
        try:
            while pending:
                batch = pending.popleft().result()
                following = next(batches, None)
                if following is not None:
                    pending.append(pool.submit(self._make, following))
                yield batch
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)


def _resident_device(dataset: Any) -> torch.device | None:
    """The device a resident dataset (or a Subset of one) lives on, else None."""
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    return base.resident if isinstance(base, Dataset) else None


def _resident_settings(resident: torch.device, device: Any, num_workers: int, collate_fn: Callable,
                       torch_kwargs: dict) -> tuple[int, bool]:  # fmt: skip
    """``(num_workers, pin_memory)`` for a resident dataset (checks the loader fits it)."""
    target = torch.device(device) if device is not None else torch.device("cpu")
    if target.type != resident.type or (target.index is not None and target.index != resident.index):
        raise ValueError(
            f"the dataset is resident on {resident} but the DataLoader delivers to {target}: "
            f"pass device={str(resident)!r} (or use a dataset on the CPU)"
        )
    if type(collate_fn) is not Collate:
        raise TypeError("a resident dataset's batches are built on the device: use a Collate")
    if num_workers > 0:
        warnings.warn(
            f"num_workers={num_workers} ignored: a resident dataset's batches are built on "
            f"{resident} from their indices in this process, workers would have nothing to do",
            UserWarning,
            stacklevel=3,
        )
        for key in ("persistent_workers", "prefetch_factor", "worker_init_fn",
                    "multiprocessing_context"):  # fmt: skip
            torch_kwargs.pop(key, None)
    return 0, False


def _ragged_feed_ok(dataset: Any, collate_fn: Callable) -> bool:
    """Can batches of ``dataset`` cross as ragged reads?  (A plain map-style dataset of this
    package with the default collate and no CPU transform of its own.)"""
    base = dataset.dataset if isinstance(dataset, Subset) else dataset
    return (
        isinstance(base, Dataset)
        and base.transform is None
        and type(collate_fn) is Collate
    )


class _WorkerCollate:
    """Collate in a worker process: the transform too on a CPU device.

    In a worker, the batch's tensors go through the worker's reusable
    shared-memory slots (:mod:`deepbiop_gpu.data.worker_slots`), or, failing
    that, as one storage (:func:`~deepbiop_gpu.data.worker_slots.one_storage`).
    """

    def __init__(self, collate_fn: Callable, transform: Callable | None, slots: int = 0) -> None:
        self.collate_fn = collate_fn
        self.transform = transform
        self.slots = WorkerSlots(slots) if slots else None

    def __call__(self, samples: Any) -> Any:
        batch = _collate_transform(self.collate_fn, samples, self.transform, getattr(samples, "epoch", 0))
        if torch.utils.data.get_worker_info() is not None:
            packed = self.slots.pack(batch) if self.slots is not None else None
            batch = packed if packed is not None else one_storage(batch)
        return batch


class _EpochSynced(torch.utils.data.IterableDataset):
    """A stream of this package whose epoch reaches persistent workers.

    A persistent worker keeps the copy of the stream it got when the pool
    started, so the epoch :meth:`DataLoader.set_epoch` sets on the loader's
    copy would never reach it (every epoch would repeat the first's shuffle).
    The epoch sits in a shared-memory cell instead, written by the loader
    before each pass and read by each worker as its pass starts.
    """

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.epoch = torch.zeros(1, dtype=torch.int64).share_memory_()

    def __iter__(self) -> Iterator[Any]:
        self.stream.source.epoch = int(self.epoch[0])
        return iter(self.stream)


class DataLoader:
    """Batches of reads, shuffled by seed and epoch, transformed on the device.

    Parameters
    ----------
    dataset : Dataset, PairedDataset, IterableDataset or any torch dataset
    batch_size : int, optional
        Reads per batch (default 1); with ``max_tokens``, a cap on them (default: none).
    shuffle : bool
        Map-style: a permutation fixed by ``(seed, epoch)``.  Iterable:
        shuffling within windows of ``dataset.shuffle_buffer`` reads.
    num_workers : int
        Worker processes that collate batches on the CPU.
    transform : callable, optional
        Batch transform (``Compose([...])``) run on ``device``.
    device : str or torch.device, optional
        Where batches are delivered; default: the CPU.
    seed : int
        Seeds the shuffle order.  (The random transforms have their own seeds.)
    collate_fn : callable
        CPU collate (default: :data:`~deepbiop_gpu.default_collate`).
    drop_last : bool
    pin_memory : bool or "auto"
        "auto": pin when ``device`` is CUDA.
    prefetch : int
        Batches transformed ahead on the device (CUDA side stream).
    num_threads : int
        With ``num_workers=0`` and a map-style dataset of this package:
        threads that collate batches ahead (default 0: collate in the
        iterating thread).  Collating is partly Python, so threads contend for
        the GIL: they pay only when the transform's compiled loops dominate.
    max_tokens : int, optional
        Token-budget batches instead of fixed ones (like fairseq's
        ``max_tokens``): reads bucketed by length, each batch's padded size
        ``B x Lmax`` (or, with ``layout="packed"``, the sum of its lengths) at
        most ``max_tokens``; a longer read gets a batch of its own (with a
        warning).  See :mod:`deepbiop_gpu.data.buckets`.
    layout : "padded" or "packed"
        ``"packed"``: the batch's reads back to back with ``cu_seqlens``
        (FlashAttention's varlen convention) instead of padded ``[B, Lmax]``:
        see :mod:`deepbiop_gpu.data.packed_layout` and :func:`~deepbiop_gpu.to_nested`.
    **torch_kwargs
        Passed to ``torch.utils.data.DataLoader`` (``persistent_workers``,
        ``prefetch_factor``, ``timeout``, ``worker_init_fn``,
        ``multiprocessing_context``, ``sampler``, ``batch_sampler``, ...).
        With ``spawn`` or ``forkserver`` workers and a dataset of this
        package, ``persistent_workers`` defaults to True (the workers start
        once, not every epoch; same batches), and the forkserver preloads
        this package: see :mod:`deepbiop_gpu.data.worker_start`.

    ``len(loader)`` is exact for map-style datasets.  Each complete pass
    advances the epoch by one; :meth:`set_epoch` sets it explicitly.  With
    ``torch.distributed`` initialised, each rank gets its own shard (every
    read exactly once per epoch across ranks).

    Examples
    --------
    >>> from deepbiop_gpu import Dataset, DataLoader, Compose, Mutator, OneHotEncoder  # doctest: +SKIP
    >>> loader = DataLoader(Dataset("reads.fastq.gz"), batch_size=256, shuffle=True,
    ...                     num_workers=2, device="cuda",
    ...                     transform=Compose([Mutator(0.01), OneHotEncoder()]))  # doctest: +SKIP
    >>> batch = next(iter(loader)); batch["sequences"].shape  # doctest: +SKIP
    torch.Size([256, 152, 4])
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = None,
        shuffle: bool = False,
        num_workers: int = 0,
        *,
        transform: Callable | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
        collate_fn: Callable = default_collate,
        drop_last: bool = False,
        pin_memory: bool | str = "auto",
        prefetch: int = 2,
        num_threads: int = 0,
        max_tokens: int | None = None,
        layout: str = "padded",
        **torch_kwargs: Any,
    ) -> None:
        check_layout(layout)
        if max_tokens is not None:
            check_max_tokens(max_tokens)
            if drop_last:
                raise ValueError("drop_last does not apply with max_tokens: every read is used once per "
                                 "epoch and the ranks get the same number of steps")
            if "sampler" in torch_kwargs or "batch_sampler" in torch_kwargs:
                raise ValueError("max_tokens makes its own batch sampler: do not pass sampler / batch_sampler")
        if batch_size is not None or max_tokens is None:
            batch_size = 1 if batch_size is None else batch_size
            _check_positive_int(batch_size, "batch_size")
        _check_positive_int(num_workers, "num_workers", allow_zero=True)
        _check_positive_int(prefetch, "prefetch", allow_zero=True)
        _check_positive_int(num_threads, "num_threads", allow_zero=True)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        if transform is not None:  # a protein encoder after nucleotide steps, across both pipelines
            from ..transforms.compose import check_alphabets, transform_steps

            own = getattr(dataset, "transform", None)
            check_alphabets((transform_steps(own) if callable(own) else []) + transform_steps(transform))
        if not callable(collate_fn):
            raise TypeError(f"collate_fn must be callable, got {type(collate_fn).__name__}")
        if layout == "packed":  # the transform, then the valid positions gathered (same values)
            transform = packed_transform(transform)
        if pin_memory not in (True, False, "auto"):
            raise ValueError(f"pin_memory must be True, False or 'auto', got {pin_memory!r}")
        resident = _resident_device(dataset)
        if resident is not None:  # batches are built on the device from indices: no workers
            num_workers, pin_memory = _resident_settings(resident, device, num_workers, collate_fn,
                                                         torch_kwargs)  # fmt: skip
        self.dataset = dataset
        self.batch_size = batch_size
        self.max_tokens = max_tokens
        self.layout = layout
        self.shuffle = bool(shuffle)
        self.num_workers = num_workers
        self.transform = transform
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device={device!r} but CUDA is not available")
        self.seed = seed
        self.drop_last = drop_last
        self.prefetch = prefetch
        self.num_threads = num_threads
        self.epoch = 0
        if pin_memory == "auto":
            pin_memory = self.device.type == "cuda"
        if pin_memory and not _can_pin():
            warnings.warn(
                "pin_memory=True but there is no accelerator to pin memory for: batches are "
                "not pinned (as torch's DataLoader does)",
                UserWarning,
                stacklevel=2,
            )
            pin_memory = False
        self.pin_memory = bool(pin_memory)

        ours = isinstance(dataset, (Dataset, PairedDataset, Subset, Windows, IterableDataset))
        self.start_method: str | None = None  # how the workers start (None: no workers)
        if num_workers > 0:
            self.start_method = start_method(torch_kwargs.get("multiprocessing_context"))
            if self.start_method == "forkserver":
                preload_forkserver()
            # the epoch reaches persistent workers in our batch sampler's indices or a stream's cell
            epoch_travels = isinstance(dataset, IterableDataset) or (
                ours and "sampler" not in torch_kwargs and "batch_sampler" not in torch_kwargs
            )
            if reuse_workers_by_default(self.start_method, torch_kwargs, epoch_travels):
                torch_kwargs["persistent_workers"] = True
        self._warmed_up = False
        self._ours_with_workers = ours and num_workers > 0
        self.collate_fn = collate_fn
        self._in_process: _InProcessBatches | None = None
        self._resident: ResidentBatches | None = None
        # CPU delivery with workers: the transform runs in the workers (same results).
        self._transform_in_workers = (
            transform is not None and self.device.type == "cpu" and num_workers > 0 and ours
        )
        # batches come back through per-worker shared-memory slots: more than the
        # prefetch_factor batches torch leaves in flight per worker
        slots = (torch_kwargs.get("prefetch_factor") or 2) + 2 if num_workers > 0 else 0
        self._persistent = bool(torch_kwargs.get("persistent_workers", False))
        self._epoch_cell: torch.Tensor | None = None  # a persistent stream's epoch (_EpochSynced)
        self._receiver = SlotReceiver(pin=self.pin_memory)  # persistent workers keep their slots
        worker_collate = (
            _WorkerCollate(collate_fn, transform if self._transform_in_workers else None, slots)
            if ours and num_workers > 0
            else collate_fn
        )
        common = dict(num_workers=num_workers, pin_memory=self.pin_memory, **torch_kwargs)
        self.batch_sampler: EpochBatchSampler | TokenBatchSampler | None = None
        budget = None
        if max_tokens is not None:  # the collate's padded width decides B x Lmax
            budget = dict(max_tokens=max_tokens, batch_size=batch_size, layout=layout,
                          multiple_of=getattr(collate_fn, "multiple_of", 1),
                          max_len=getattr(collate_fn, "max_len", None))
            if isinstance(dataset, torch.utils.data.IterableDataset) and not isinstance(dataset, IterableDataset):
                raise ValueError("max_tokens needs read lengths: a deepbiop_gpu dataset, not "
                                 f"{type(dataset).__name__}")
        if isinstance(dataset, IterableDataset):
            dataset.shuffle = self.shuffle
            dataset.seed = seed
            stream = (_BatchStream(dataset, batch_size, drop_last) if budget is None
                      else TokenBatchStream(dataset, **budget))
            if self._persistent and num_workers > 0:
                stream = _EpochSynced(stream)
                self._epoch_cell = stream.epoch
            self._loader = torch.utils.data.DataLoader(
                stream, batch_size=None, collate_fn=worker_collate, **common
            )
        elif isinstance(dataset, torch.utils.data.IterableDataset):
            self._loader = torch.utils.data.DataLoader(
                dataset, batch_size=batch_size, drop_last=drop_last, collate_fn=worker_collate, **common
            )
        elif "sampler" in torch_kwargs or "batch_sampler" in torch_kwargs:
            if "batch_sampler" in torch_kwargs:
                self._loader = torch.utils.data.DataLoader(dataset, collate_fn=worker_collate, **common)
            else:
                self._loader = torch.utils.data.DataLoader(
                    dataset, batch_size=batch_size, drop_last=drop_last,
                    collate_fn=worker_collate, **common,
                )
        else:
            if budget is None:
                self.batch_sampler = EpochBatchSampler(
                    len(dataset), batch_size, self.shuffle, seed=seed, drop_last=drop_last
                )
            else:
                self.batch_sampler = TokenBatchSampler(dataset_lengths(dataset), shuffle=self.shuffle,
                                                       seed=seed, **budget)
            self._loader = torch.utils.data.DataLoader(
                dataset, batch_sampler=self.batch_sampler, collate_fn=worker_collate, **common
            )
            if resident is not None:
                self._resident = ResidentBatches(
                    dataset, self.batch_sampler, collate_fn.max_len, collate_fn.multiple_of
                )
            elif num_workers == 0 and ours:
                cpu_transform = transform if self.device.type == "cpu" else None
                self._in_process = _InProcessBatches(
                    dataset, self.batch_sampler, collate_fn, cpu_transform, num_threads,
                    self.pin_memory,
                )
                if self.device.type == "cuda" and _ragged_feed_ok(dataset, collate_fn):
                    self._use_ragged_feed(self.pin_memory)

    def _use_ragged_feed(self, pin: bool) -> None:
        """Deliver ragged batches: a gather into a reused (pinned) ring on the CPU, padding and
        the transform's fusable steps in one pass on the device (:mod:`.staging`)."""
        assert self._in_process is not None
        # every batch in flight holds a slot: the prefetch depth, the threads' lead, one spare
        slots = max(self.prefetch, 1) + 2 * self.num_threads + 2
        self._in_process.transform = None
        self._in_process.pin = False
        self._in_process.ring = StagingRing(slots, pin=pin)

    @property
    def feed(self) -> str:
        """How batches reach ``device``: "resident" (indices only), "ragged" (reads' bytes
        only), "padded" or "cpu"."""
        if self._resident is not None:
            return "resident"
        if self._in_process is not None and self._in_process.ring is not None:
            return "ragged"
        return "cpu" if self.device.type == "cpu" else "padded"

    # --------------------------------------------------------------- epochs
    def set_epoch(self, epoch: int) -> None:
        """Use ``epoch`` for the next pass: its shuffle order and its augmentations."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        self.epoch = epoch

    def _sync_epoch(self) -> None:
        if self.batch_sampler is not None:
            self.batch_sampler.set_epoch(self.epoch)
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(self.epoch)
        if self._epoch_cell is not None:
            self._epoch_cell.fill_(self.epoch)

    # ------------------------------------------------------------ iteration
    def __len__(self) -> int:
        return len(self._loader)

    def __iter__(self):
        # a generator, closed when dropped and at the latest at exit (data/shutdown.py)
        return register_for_exit(self._iterate())

    def _iterate(self):
        self._sync_epoch()
        epoch = self.epoch
        batches = self._loader
        transform = self.transform
        transform_elsewhere = self._transform_in_workers or (
            self._in_process is not None and self._in_process.transform is not None
        )
        if self._resident is not None:
            batches = self._resident
        elif self._in_process is not None:
            batches = self._in_process
        elif self.num_workers > 0:
            # a new pool of workers (unless persistent) brings new slots: a receiver per pass
            receiver = self._receiver if self._persistent else SlotReceiver(pin=self.pin_memory)
            batches = name_dead_workers(batches, receiver.receive)
            if self._persistent:  # the pool outlives the pass: close() or exit stops it
                register_for_exit(self)
        if not self._warmed_up and (transform_elsewhere or self._ours_with_workers):
            _warm_up(self.dataset, self.collate_fn, self.transform if transform_elsewhere else None)
            self._warmed_up = True
        if transform_elsewhere:
            transform = None
            # the workers / threads applied it; still tag batches from foreign collate_fns
            batches = (apply_transform(None, b, epoch) for b in batches)
        yield from DevicePrefetcher(batches, self.device, transform, self.prefetch, epoch)
        self.epoch = epoch + 1  # a complete pass moves to the next epoch

    def close(self) -> None:
        """Stop this loader's persistent worker processes now.

        They otherwise live until the loader is garbage collected, and at the
        latest until interpreter exit (:mod:`deepbiop_gpu.data.shutdown`).
        The loader stays usable: the next pass starts new workers.  A no-op
        without persistent workers.
        """
        iterator = getattr(self._loader, "_iterator", None)
        if iterator is None:
            return
        self._loader._iterator = None
        shutdown = getattr(iterator, "_shutdown_workers", None)
        if callable(shutdown):
            shutdown()
        self._receiver = SlotReceiver(pin=self.pin_memory)  # the new workers bring new slots

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
            + (f"max_tokens={self.max_tokens}, " if self.max_tokens is not None else "")
            + (f"layout={self.layout!r}, " if self.layout != "padded" else "")
            + f"num_workers={self.num_workers}, device={self.device}, epoch={self.epoch})"
        )

