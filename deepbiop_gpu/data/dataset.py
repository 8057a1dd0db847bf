"""Map-style datasets over FASTQ / FASTA / SAM / BAM files.

One pass reads every file into a :class:`~deepbiop_gpu.PackedReads` (flat
byte buffers + offsets): after that ``len()`` is exact and ``ds[i]`` is O(1)
(a slice of the buffer, no parsing).  The buffers are plain tensors, so
DataLoader workers share them through fork without copying.

Batches are fetched through ``__getitems__`` (one call per batch, as
``torch.utils.data.DataLoader`` does since torch 2.1).  For the batches of
this package's sampler (:class:`~deepbiop_gpu.data.sampler.IndexBatch`, what
:class:`~deepbiop_gpu.DataLoader` draws) it returns a :class:`SampleBatch`:
a lazy sequence of sample dicts that the default collate pads in one
vectorised step.  For any other indices (torch's own ``BatchSampler``) it
returns a plain ``list`` of sample dicts, as torch's datasets do.

Samples own their bytes: ``ds[i]`` copies the read out of the dataset's
buffers (a pickled sample is the size of its read, not of the dataset), and
a :class:`SampleBatch` pickles as the list of its samples.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..packed import PackedReads, pad_rows_numpy
from ..transforms.base import BatchTransform
from ..transforms.compose import run_transforms, transform_steps
from ..transforms.fused import BYTES_PLAN, collate_fused, fused_plan
from .collate import Sample, batch_width, transform_pad_values
from .labels import LabelResolver, LabelSpec
from .sampler import IndexBatch, index_array

__all__ = ["Dataset", "PairedDataset", "SampleBatch", "Subset", "apply_transform_to_sample"]

PathLike = str | os.PathLike


def as_path_list(paths: PathLike | Sequence[PathLike], what: str = "paths") -> list[str]:
    """One path or a sequence of paths -> list of str (each must exist)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    elif not isinstance(paths, Sequence) or not paths:
        raise ValueError(f"{what} must be a path or a non-empty list of paths, got {paths!r}")
    out = [os.fspath(p) for p in paths]
    for p in out:
        if not Path(p).exists():
            raise FileNotFoundError(f"{what}: no such file: {p}")
    return out


def _fast_batch(indices: Any) -> bool:
    """Indices from this package's sampler (or numpy): ``__getitems__`` returns a lazy batch.

    torch's own ``BatchSampler`` yields lists of ints; those get a ``list`` of
    sample dicts, which any ``collate_fn`` (an identity one too) can keep.
    """
    return isinstance(indices, (IndexBatch, np.ndarray))


def _is_batch_transform(transform: Any) -> bool:
    return isinstance(transform, BatchTransform)


def apply_transform_to_sample(transform: Callable, sample: dict[str, Any]) -> Sample:
    """Run a batch transform on one sample (a batch of one) and unbatch the result.

    The result is a :class:`~deepbiop_gpu.data.collate.Sample` (a dict) that
    declares the pad values of its encoding (integer ids: the encoder's
    ``pad_value``), so :data:`~deepbiop_gpu.default_collate` pads it as the
    batch transform would have.  ``length`` is the read's length after the
    transform (``sequence`` may be longer or shorter: one-hot rows, k-mers).
    """
    seq = sample["sequence"]
    batch: dict[str, Any] = {
        "sequences": seq.reshape(1, -1),
        "lengths": torch.tensor([seq.numel()], dtype=torch.int32),
        "index": torch.tensor([sample["index"]], dtype=torch.int64),
        "epoch": sample.get("epoch", 0),
    }
    if sample.get("quality") is not None:
        batch["qualities"] = sample["quality"].reshape(1, -1)
    out = transform(batch)
    result = Sample(sample, pad_values=transform_pad_values(transform))
    length = int(out["lengths"][0])
    encoded = out["sequences"][0]
    # byte outputs (augmentations) are trimmed back to the read; encodings keep their shape
    result["sequence"] = encoded[:length] if encoded.dtype == torch.uint8 and encoded.dim() == 1 else encoded
    if "qualities" in out:
        result["quality"] = out["qualities"][0][:length]
    result["length"] = length
    return result


class SampleBatch(Sequence[dict]):
    """The samples of one batch, as ``Dataset.__getitems__`` returns them.

    Indexing gives the usual sample dicts (built on demand); :meth:`collate`
    pads the whole batch straight from the dataset's buffers.
    """

    __slots__ = ("dataset", "indices", "epoch")

    def __init__(self, dataset: Dataset, indices: np.ndarray, epoch: int) -> None:
        self.dataset = dataset
        self.indices = indices
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return SampleBatch(self.dataset, self.indices[i], self.epoch)
        return self.dataset[int(self.indices[i])]

    def __reduce__(self):
        # sent between processes (a worker of torch's DataLoader with a user collate_fn):
        # the samples themselves, never the dataset behind them
        return (list, (list(self),))

    def collate(self, max_len: int | None, multiple_of: int, then: Callable | None = None) -> dict[str, Any]:
        """The padded batch dict; ``then`` (a batch transform) runs on it, fused where it can."""
        ds = self.dataset
        index = torch.from_numpy(self.indices)
        labels = None if ds.labels is None else ds.labels[index]
        return collate_rows(ds.reads, self.indices, index, labels, self.epoch, ds.transform,
                            max_len, multiple_of, then)  # fmt: skip


def read_sample(reads: PackedReads, row: int, index: int, label: torch.Tensor | None = None) -> dict[str, Any]:
    """The sample dict of ``reads[row]``, its tensors copied out of the buffers (compact)."""
    offs = reads.offsets
    a, b = int(offs[row]), int(offs[row + 1])
    quals = reads.qualities
    sample: dict[str, Any] = {
        "sequence": reads.sequences[a:b].clone(),
        "quality": None if quals is None else quals[a:b].clone(),
        "name": reads.names[row],
        "description": reads.descriptions[row],
        "index": index,
    }
    if label is not None:
        sample["label"] = label.item()
    return sample


def _collate_per_sample(reads, rows, index, labels, epoch, transform, max_len, multiple_of, then):
    """A per-sample transform (any callable on a sample dict): transform each, then pad."""
    from .collate import Collate

    samples = [
        transform(read_sample(reads, int(r), int(i), None if labels is None else labels[k]))
        for k, (r, i) in enumerate(zip(rows.tolist(), index.tolist(), strict=True))
    ]
    batch = Collate(max_len, multiple_of)(samples)
    batch["epoch"] = epoch
    return then(batch) if then is not None else batch


def collate_rows(
    reads: PackedReads,
    rows: np.ndarray,
    index: torch.Tensor,
    labels: torch.Tensor | None,
    epoch: int,
    transform: Callable | None,
    max_len: int | None,
    multiple_of: int,
    then: Callable | None = None,
) -> dict[str, Any]:
    """The batch dict of ``reads[rows]`` (see :mod:`deepbiop_gpu.data.collate`).

    Pads straight from the packed buffers, bases and qualities together
    (a compiled, prefetching gather with numba; numpy without); a batch
    transform (the dataset's CPU transform), then ``then`` (the loader's), run
    on the result.  When the first of them starts with augmentations or an
    encoder that fuse (:mod:`deepbiop_gpu.transforms.fused`), padding and those
    steps are one compiled pass from the buffers, with the same result.  A
    per-sample ``transform`` (a callable on sample dicts, not a batch
    transform) runs on each read's sample, which are then padded by
    :class:`~deepbiop_gpu.data.collate.Collate`.
    """
    if transform is not None and not _is_batch_transform(transform):
        return _collate_per_sample(reads, rows, index, labels, epoch, transform, max_len, multiple_of, then)
    transforms = [t for t in (transform,) if t is not None]
    if then is not None:
        transforms.append(then)
    offsets = reads.offsets.numpy()
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    width = batch_width(lengths, max_len, multiple_of)
    batch, rest = gather_spans(reads, starts, lengths, width, index, epoch, transforms)
    batch["names"] = reads.names.view(rows)
    if labels is not None:
        batch["labels"] = labels
    return finish_batch(batch, epoch, rest)


def gather_spans(
    reads: PackedReads,
    starts: np.ndarray,
    lengths: np.ndarray,
    width: int,
    index: torch.Tensor,
    epoch: int,
    transforms: list,
) -> tuple[dict[str, Any], list]:
    """``(batch, rest)``: the byte spans ``[starts, starts + lengths)`` of ``reads`` padded to
    ``width`` (``sequences``, ``lengths``, ``qualities``, ``index``), with the leading fusable
    steps of ``transforms`` applied in the same pass; ``rest`` are the step lists still to run
    (:func:`finish_batch`).  Reads (``collate_rows``) and windows (``Windows``) share it.
    """
    batch: dict[str, Any] = {}
    fused = _collate_fused(reads, starts, lengths, width, index, epoch, transforms)
    if fused is not None:
        (batch["sequences"], quals, batch["lengths"]), rest = fused
        if quals is not None:
            batch["qualities"] = quals
    else:
        buffers = [reads.sequences.numpy()]
        if reads.qualities is not None:
            buffers.append(reads.qualities.numpy())
        padded = pad_rows_numpy(buffers, starts, lengths, width)
        batch["sequences"] = torch.from_numpy(padded[0])
        batch["lengths"] = torch.from_numpy(np.minimum(lengths, width).astype(np.int32))
        if reads.qualities is not None:
            batch["qualities"] = torch.from_numpy(padded[1])
        rest = [[t] for t in transforms]
    batch["index"] = index
    return batch, rest


def finish_batch(batch: dict[str, Any], epoch: int, rest: list) -> dict[str, Any]:
    """Tag ``batch`` with its ``epoch`` and run the step lists ``rest`` left by :func:`gather_spans`."""
    batch["epoch"] = epoch
    for steps in rest:
        if steps:
            batch = run_transforms(steps, batch)
    return batch


def _collate_fused(reads, starts, lengths, width, index, epoch, transforms):
    """``((sequences, qualities, lengths), rest)`` from one compiled pass, or None.

    The pass runs the first transform's leading fusable steps (or none: a
    plain gather); ``rest`` is the steps still to run: what that leaves, then
    the other transforms, each a list for :func:`run_transforms`.  None when
    numba is unavailable or the buffers are not on the CPU.
    """
    if reads.sequences.device.type != "cpu" or torch.compiler.is_compiling():
        return None
    plan, rest = BYTES_PLAN, [[t] for t in transforms]
    if transforms:
        steps = transform_steps(transforms[0])
        first = fused_plan(steps)
        if first is not None:
            plan, rest = first, [steps[first.count :], *rest[1:]]
    quals = None if reads.qualities is None else reads.qualities.numpy()
    done = collate_fused(plan, reads.sequences.numpy(), quals, starts, lengths, width,
                         np.ascontiguousarray(index.numpy()), epoch)  # fmt: skip
    return None if done is None else (done, rest)


class Dataset(torch.utils.data.Dataset):
    """Map-style dataset over one or many FASTQ / FASTA / SAM / BAM / CRAM files.

    Parameters
    ----------
    paths : path or list of paths
        Files of any supported format and compression (detected from the bytes).
    labels : optional
        One label per file, a ``{name: label}`` mapping, a TSV/CSV path of
        ``name,label`` rows, or a callable on each :class:`~deepbiop_gpu.Record`
        (see :mod:`deepbiop_gpu.data.labels`).  String labels become class
        indices into :attr:`classes`.
    transform : optional
        A batch transform (e.g. ``Compose([...])``) applied on the CPU, in
        DataLoader workers, to every batch (and to ``ds[i]`` as a batch of
        one); or any callable on a sample dict, applied in ``ds[i]``.
    quality_offset : int
        33 (default) or 64 for old Illumina 1.3-1.7 files.
    cache_dir : path, optional
        Keep the parsed reads in a memory-mapped cache there (built on first
        use, rebuilt when a source file changes): see :mod:`deepbiop_gpu.cache`.
    num_workers : int
        Parse in this many processes (files in parallel, large plain / BGZF
        files cut into byte ranges; :mod:`deepbiop_gpu.parallel_build`), with
        a progress bar on a terminal.  Same reads as ``num_workers=0``.
    **read_kwargs
        Passed to :func:`deepbiop_gpu.read` (e.g. ``on_error="skip"``).

    ``ds[i]`` returns a dict: ``sequence`` (``uint8 [len]``), ``quality``
    (``uint8 [len]`` or None), ``name`` (str), ``description`` (str, the rest
    of the header line), ``index`` (int) and ``label`` (when labels are
    given).  Its tensors are copies that own their bytes (a pickled sample
    is the size of its read).  Qualities are kept when every file has them; a
    mix of FASTQ and FASTA (or BAM without qualities) gives none.

    Examples
    --------
    >>> ds = Dataset(["E_coli.fastq.gz", "phage.fastq.gz"], labels=["E. coli", "phage"])  # doctest: +SKIP
    >>> len(ds), ds.classes, ds[0]["sequence"].dtype  # doctest: +SKIP
    (1200, ['E. coli', 'phage'], torch.uint8)
    """

    #: the device the reads live on after :meth:`to` (None: on the host, not resident)
    resident: torch.device | None = None
    #: ``int64 [n]`` read lengths on the host, kept by :meth:`to` (batch widths need no sync)
    host_lengths: np.ndarray | None = None

    def __init__(
        self,
        paths: PathLike | Sequence[PathLike],
        *,
        labels: LabelSpec | None = None,
        transform: Callable | None = None,
        quality_offset: int = 33,
        cache_dir: PathLike | None = None,
        num_workers: int = 0,
        **read_kwargs: Any,
    ) -> None:
        path_list = as_path_list(paths)
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative int, got {num_workers!r}")
        if cache_dir is not None:
            from ..cache import load_or_build

            reads, file_sizes = load_or_build(path_list, cache_dir, quality_offset=quality_offset,
                                              num_workers=num_workers, **read_kwargs)  # fmt: skip
        elif num_workers > 0:  # files, and byte ranges of large ones, parsed in worker processes
            import sys

            from .._progress import Progress
            from ..parallel_build import read_parallel

            with Progress("reading", enabled=sys.stderr.isatty()) as bar:
                reads, file_sizes = read_parallel(path_list, num_workers, quality_offset=quality_offset,
                                                  progress=bar.update, **read_kwargs)  # fmt: skip
        else:
            from ..io import read

            parts = [read(p, quality_offset=quality_offset, **read_kwargs) for p in path_list]
            file_sizes = [len(p) for p in parts]
            reads = PackedReads.concat(parts, drop_partial_qualities=True)
            del parts
        self._setup(reads, file_sizes, path_list, labels, transform)

    @classmethod
    def from_reads(
        cls,
        reads: PackedReads | Sequence[PackedReads],
        *,
        labels: LabelSpec | torch.Tensor | None = None,
        transform: Callable | None = None,
        paths: Sequence[str] | None = None,
        file_sizes: Sequence[int] | None = None,
        classes: Sequence[str] | None = None,
    ) -> Dataset:
        """A dataset over reads already in memory (or memory-mapped).

        ``reads`` is one :class:`PackedReads` or one per source file;
        ``file_sizes`` splits a single pack into files instead.  ``labels``
        takes every form the constructor takes, or a tensor with one label
        per read (then ``classes`` names its class indices, if any).
        """
        if isinstance(reads, PackedReads):
            file_sizes = [len(reads)] if file_sizes is None else list(file_sizes)
        else:
            parts = list(reads)
            file_sizes = [len(p) for p in parts]
            reads = PackedReads.concat(parts) if parts else PackedReads.empty()
        if sum(file_sizes) != len(reads):
            raise ValueError(f"file_sizes add up to {sum(file_sizes)}, not {len(reads)} reads")
        n_files = len(file_sizes)
        self = cls.__new__(cls)
        path_list = list(paths) if paths is not None else [""] * n_files
        if isinstance(labels, torch.Tensor):
            if labels.shape != (len(reads),):
                raise ValueError(f"a labels tensor needs one label per read: shape ({len(reads)},), got {tuple(labels.shape)}")
            self._setup(reads, file_sizes, path_list, None, transform)
            self.labels, self.classes = labels, list(classes) if classes is not None else None
        else:
            self._setup(reads, file_sizes, path_list, labels, transform)
        return self

    def _setup(
        self,
        reads: PackedReads,
        file_sizes: list[int],
        paths: list[str],
        labels: LabelSpec | None,
        transform: Callable | None,
    ) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.reads = reads
        self.paths = paths
        self.file_sizes = list(file_sizes)
        self.transform = transform
        self.epoch = 0
        self.classes: list[str] | None = None
        self.labels: torch.Tensor | None = None
        if labels is not None:
            resolver = LabelResolver(labels, len(file_sizes))
            bounds = np.concatenate([[0], np.cumsum(file_sizes)]).astype(int).tolist()
            files = [range(bounds[i], bounds[i + 1]) for i in range(len(file_sizes))]
            if resolver.kind is not None:  # known up front: label files one by one
                values = [resolver.tensor(reads, i, rows) for i, rows in enumerate(files)]
                self.labels = torch.cat(values) if values else torch.zeros(0, dtype=torch.int64)
            else:  # a callable: collect every label first so classes cover all files
                raw = [v for i, rows in enumerate(files) for v in resolver.raw(reads, i, rows)]
                self.labels = resolver.to_tensor(raw)
            self.classes = resolver.classes

    # ---------------------------------------------------------- inspection
    def summary(self, **kwargs: Any):
        """Counts, length distribution, composition, qualities, labels: a ``Summary``."""
        from ..summary import summarize

        return summarize(self, **kwargs)

    def validate(self, **kwargs: Any):
        """Findings a user should act on (duplicates, empty reads, many Ns, ...)."""
        from ..validation import validate

        return validate(self, **kwargs)

    def split(self, fraction: float, seed: int = 0) -> tuple[Subset, Subset]:
        """Seeded random split into two :class:`Subset` s of ``fraction`` and the rest.

        Samples keep their index in this dataset, so augmentations are the
        same as without the split.

        Examples
        --------
        >>> train, val = ds.split(0.8, seed=0)  # doctest: +SKIP
        """
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be a number in [0, 1], got {fraction!r}")
        from .sampler import mix_seed

        gen = torch.Generator().manual_seed(mix_seed(seed, 0x5EED))
        order = torch.randperm(len(self), generator=gen).numpy()
        cut = int(round(fraction * len(self)))
        return Subset(self, np.sort(order[:cut])), Subset(self, np.sort(order[cut:]))

    def filter(self, **criteria: Any) -> Subset:
        """The reads that pass ``criteria``: a view over this dataset's buffers.

        ``criteria`` are :class:`~deepbiop_gpu.ReadFilter`'s (``min_length``,
        ``min_quality``, ``max_n``, ``dedup``, ``subsample``, ...).  Returns a
        :class:`Subset` (an index array: no read is copied, labels are kept,
        ``view[i]`` is O(1)); its ``filter_report`` gives the counts.
        Samples keep their index in this dataset, and ``subsample`` is keyed
        on it.

        Examples
        --------
        >>> clean = ds.filter(min_length=100, min_quality=20, dedup="exact")  # doctest: +SKIP
        >>> print(clean.filter_report)  # doctest: +SKIP
        """
        from ..filters import ReadFilter

        filt = ReadFilter(**criteria)
        view = Subset(self, np.flatnonzero(filt.mask(self.reads)))
        view.filter_report = filt.report
        return view
    def windows(self, length: int, stride: int | None = None, min_length: int | None = None):
        """A view whose items are windows of ``length`` bases over these reads (no copy).

        Windows start every ``stride`` bases (default ``length``); a read's
        tail (or a read shorter than ``length``) is a window when it has at
        least ``min_length`` bases (default ``length``: full windows only).
        See :mod:`deepbiop_gpu.data.windows`.

        Examples
        --------
        >>> tiles = ds.windows(1000, stride=500)  # doctest: +SKIP
        >>> tiles[0]["name"]  # doctest: +SKIP
        'read_1/0-1000'
        """
        from .windows import Windows

        return Windows(self, length, stride, min_length)

    # ------------------------------------------------------------- access
    def __len__(self) -> int:
        return len(self.reads)

    def __getitem__(self, index: int) -> dict[str, Any]:
        n = len(self.reads)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"dataset index must be an int, got {type(index).__name__}")
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {int(index)} out of range for a dataset of {n} reads")
        sample = read_sample(self.reads, i, i, None if self.labels is None else self.labels[i])
        if self.transform is not None:
            if _is_batch_transform(self.transform):
                sample["epoch"] = self.epoch
                sample = apply_transform_to_sample(self.transform, sample)
            else:
                sample = self.transform(sample)
        return sample

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch | list[dict[str, Any]]:
        """The samples of a batch: a lazy :class:`SampleBatch` for this package's
        sampler (:class:`IndexBatch`, or a numpy index array), else a ``list`` of sample dicts."""
        if not _fast_batch(indices):
            return [self[i] for i in indices]
        idx = index_array(indices)
        n = len(self.reads)
        if idx.size:
            low, high = idx.min(), idx.max()
            if low < -n or high >= n:
                raise IndexError(f"batch index out of range for a dataset of {n} reads")
            if low < 0:
                idx = np.where(idx < 0, idx + n, idx)
        return SampleBatch(self, idx, getattr(indices, "epoch", self.epoch))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for i in range(len(self)):
            yield self[i]

    def set_epoch(self, epoch: int) -> None:
        """Epoch seen by the dataset's random transforms (the DataLoader sets it)."""
        self.epoch = int(epoch)

    def to(self, device: torch.device | str) -> Dataset:
        """This dataset with its packed columns resident on ``device`` (a new Dataset).

        Bases, qualities, offsets and labels are copied to ``device`` once; a
        :class:`~deepbiop_gpu.DataLoader` over the result builds each batch on
        the device from its indices only (one fused kernel launch: padding,
        augmentations, encoding), with the same batches as any other loader.
        Raises ``MemoryError`` with the bytes needed and free if the columns
        do not fit.  ``to("cpu")`` gives a CPU-resident dataset (the same
        path, run by the CPU fused loop).

        Examples
        --------
        >>> ds = Dataset("reads.fastq.gz").to("cuda")  # doctest: +SKIP
        >>> loader = DataLoader(ds, batch_size=4096, shuffle=True, device="cuda",
        ...                     transform=Compose([Mutator(0.01), OneHotEncoder()]))  # doctest: +SKIP
        """
        import copy

        from ..packed import check_fits
        from .resident import host_lengths

        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        reads, labels = self.reads, self.labels
        if reads.sequences.device != device:
            extra = 0 if labels is None else labels.numel() * labels.element_size()
            quals = 0 if reads.qualities is None else reads.qualities.numel()
            check_fits(reads.sequences.numel() + quals + 8 * reads.offsets.numel() + extra, device)
        lengths = self.host_lengths if self.host_lengths is not None else host_lengths(reads.offsets)
        moved = copy.copy(self)
        moved.reads = reads.to(device)
        moved.labels = None if labels is None else labels.to(device)
        moved.host_lengths = lengths
        moved.resident = device
        return moved

    def __repr__(self) -> str:
        files = ", ".join(Path(p).name for p in self.paths[:3]) + (", ..." if len(self.paths) > 3 else "")
        lab = f", {len(self.classes)} classes" if self.classes else (", labelled" if self.labels is not None else "")
        return f"{type(self).__name__}({len(self)} reads from [{files}]{lab})"

    # pickling by reference (spawn / forkserver workers): see deepbiop_gpu/_sharing.py
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        mapped = state.pop("_mapped_labels", None)  # (LabelsRef, the tensor Cache.load mapped)
        if mapped is not None and state.get("labels") is mapped[1]:
            state["labels"] = mapped[0]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        from .._sharing import LabelsRef

        labels = state.get("labels")
        if isinstance(labels, LabelsRef):
            state["labels"] = labels.open()
            state["_mapped_labels"] = (labels, state["labels"])
        self.__dict__.update(state)


class PairedDataset(torch.utils.data.Dataset):
    """Paired-end reads: R1 and R2 kept together (names checked to match pairwise).

    ``ds[i]`` returns ``{"r1": sample, "r2": sample, "index": i}`` (plus
    ``label``); the default collate gives ``{"r1": batch, "r2": batch,
    "index": ..., "labels": ...}`` where each side is a normal batch dict.

    Examples
    --------
    >>> ds = PairedDataset("reads_1.fq.gz", "reads_2.fq.gz")  # doctest: +SKIP
    >>> ds[0]["r1"]["name"] == ds[0]["r2"]["name"]  # doctest: +SKIP
    True
    """

    def __init__(
        self,
        r1: PathLike,
        r2: PathLike,
        *,
        labels: LabelSpec | None = None,
        transform: Callable | None = None,
        quality_offset: int = 33,
        **read_kwargs: Any,
    ) -> None:
        from ..io import read_pairs

        p1, p2 = as_path_list(r1, "r1")[0], as_path_list(r2, "r2")[0]
        reads1, reads2 = read_pairs(p1, p2, quality_offset=quality_offset, **read_kwargs)
        self.r1 = Dataset.from_reads(reads1, labels=labels, transform=transform, paths=[p1])
        self.r2 = Dataset.from_reads(reads2, transform=transform, paths=[p2])
        self.classes = self.r1.classes
        self.labels = self.r1.labels

    def __len__(self) -> int:
        return len(self.r1)

    def __getitem__(self, index: int) -> dict[str, Any]:
        a = self.r1[index]
        out = {"r1": a, "r2": self.r2[index], "index": a["index"]}
        if "label" in a:
            out["label"] = a["label"]
        return out

    def __getitems__(self, indices: Sequence[int]) -> PairedSampleBatch | list[dict[str, Any]]:
        if not _fast_batch(indices):
            return [self[i] for i in indices]
        return PairedSampleBatch(self.r1.__getitems__(indices), self.r2.__getitems__(indices))

    def set_epoch(self, epoch: int) -> None:
        self.r1.set_epoch(epoch)
        self.r2.set_epoch(epoch)

    def summary(self, **kwargs: Any):
        """Summary of both mates (see :meth:`Dataset.summary`)."""
        from ..summary import summarize

        return summarize(self, **kwargs)

    def validate(self, **kwargs: Any):
        """Findings for both mates, R1/R2 name mismatches included."""
        from ..validation import validate

        return validate(self, **kwargs)


class PairedSampleBatch(Sequence[dict]):
    """The two sides of a paired batch; collates each side with the same settings."""

    __slots__ = ("r1", "r2")

    def __init__(self, r1: SampleBatch, r2: SampleBatch) -> None:
        self.r1, self.r2 = r1, r2

    def __len__(self) -> int:
        return len(self.r1)

    def __getitem__(self, i):  # type: ignore[override]
        a, b = self.r1[i], self.r2[i]
        out = {"r1": a, "r2": b, "index": a["index"]}
        if "label" in a:
            out["label"] = a["label"]
        return out

    def __reduce__(self):
        return (list, (list(self),))  # the samples, never the datasets behind them

    def collate(self, max_len: int | None, multiple_of: int, then: Callable | None = None) -> dict[str, Any]:
        """Both sides collated (``then`` runs on each side, as on a paired batch)."""
        b1 = self.r1.collate(max_len, multiple_of, then)
        b2 = self.r2.collate(max_len, multiple_of, then)
        out: dict[str, Any] = {"r1": b1, "r2": b2, "index": b1["index"], "epoch": b1["epoch"]}
        if "labels" in b1:
            out["labels"] = b1["labels"]
        return out


class Subset(torch.utils.data.Dataset):
    """Some reads of a :class:`Dataset`, sharing its buffers.

    Samples keep their index in the parent dataset (it keys the random
    transforms); batches are fetched in one call as from the parent.
    ``filter_report`` holds the counts when the subset comes from
    :meth:`Dataset.filter` (None otherwise).
    """

    filter_report: Any = None

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray | torch.Tensor) -> None:
        if not isinstance(dataset, Dataset):
            raise TypeError(f"Subset takes a deepbiop_gpu Dataset, got {type(dataset).__name__}")
        idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices, dtype=np.int64)
        if idx.ndim != 1 or (idx.size and (idx.min() < 0 or idx.max() >= len(dataset))):
            raise IndexError(f"subset indices must be 1-D and within [0, {len(dataset)})")
        self.dataset = dataset
        self.indices = idx

    @property
    def classes(self) -> list[str] | None:
        return self.dataset.classes

    @property
    def labels(self) -> torch.Tensor | None:
        labels = self.dataset.labels
        return None if labels is None else labels[torch.from_numpy(self.indices)]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.dataset[int(self.indices[i])]

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch | list[dict[str, Any]]:
        if not _fast_batch(indices):
            return [self[i] for i in indices]
        parent = self.indices[index_array(indices)]
        return SampleBatch(self.dataset, parent, getattr(indices, "epoch", self.dataset.epoch))

    def windows(self, length: int, stride: int | None = None, min_length: int | None = None):
        """Windows over this subset's reads: see :meth:`Dataset.windows`."""
        from .windows import Windows

        return Windows(self, length, stride, min_length)

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"
