"""Map-style datasets over FASTQ / FASTA / SAM / BAM files.

One pass reads every file into a :class:`~deepbiop_gpu.PackedReads` (flat
byte buffers + offsets): after that ``len()`` is exact and ``ds[i]`` is O(1)
(a slice of the buffer, no parsing).  The buffers are plain tensors, so
DataLoader workers share them through fork without copying.

Batches are fetched through ``__getitems__`` (one call per batch, as
``torch.utils.data.DataLoader`` does since torch 2.1), which returns a
:class:`SampleBatch`: a lazy sequence of sample dicts that the default collate
pads in one vectorised step, and that any other ``collate_fn`` can still read
sample by sample.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..packed import PackedReads, pad_rows_numpy
from ..transforms.base import BatchTransform, run_transforms, transform_steps
from ..transforms.fused import BYTES_PLAN, collate_fused, fused_plan
from .collate import batch_width
from .labels import LabelResolver, LabelSpec
from .sampler import index_array

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


def _is_batch_transform(transform: Any) -> bool:
    return isinstance(transform, BatchTransform)


def apply_transform_to_sample(transform: Callable, sample: dict[str, Any]) -> dict[str, Any]:
    """Run a batch transform on one sample (a batch of one) and unbatch the result."""
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
    result = dict(sample)
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

    def collate(self, max_len: int | None, multiple_of: int, then: Callable | None = None) -> dict[str, Any]:
        """The padded batch dict; ``then`` (a batch transform) runs on it, fused where it can."""
        ds = self.dataset
        index = torch.from_numpy(self.indices)
        labels = None if ds.labels is None else ds.labels[index]
        return collate_rows(ds.reads, self.indices, index, labels, self.epoch, ds.transform,
                            max_len, multiple_of, then)  # fmt: skip


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
    steps are one compiled pass from the buffers, with the same result.
    """
    transforms = [t for t in (transform,) if t is not None and _is_batch_transform(t)]
    if then is not None:
        transforms.append(then)
    offsets = reads.offsets.numpy()
    starts = offsets[rows]
    lengths = offsets[rows + 1] - starts
    width = batch_width(lengths, max_len, multiple_of)
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
    batch["names"] = reads.names.view(rows)
    if labels is not None:
        batch["labels"] = labels
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
    (``uint8 [len]`` or None), ``name`` (str), ``index`` (int) and ``label``
    (when labels are given).  Qualities are kept when every file has them; a
    mix of FASTQ and FASTA (or BAM without qualities) gives none.

    Examples
    --------
    >>> ds = Dataset(["E_coli.fastq.gz", "phage.fastq.gz"], labels=["E. coli", "phage"])  # doctest: +SKIP
    >>> len(ds), ds.classes, ds[0]["sequence"].dtype  # doctest: +SKIP
    (1200, ['E. coli', 'phage'], torch.uint8)
    """

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
            from ..parallel_build import iter_parsed

            by_file: list[list[PackedReads]] = [[] for _ in path_list]
            with Progress("reading", enabled=sys.stderr.isatty()) as bar:
                for file_no, part in iter_parsed(path_list, num_workers, quality_offset=quality_offset,
                                                 progress=bar.update, **read_kwargs):  # fmt: skip
                    by_file[file_no].append(part)
            parts = [PackedReads.concat(p) if len(p) > 1 else p[0] for p in by_file]
            file_sizes = [len(p) for p in parts]
            reads = PackedReads.concat(parts, drop_partial_qualities=True)
            del parts, by_file
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
        offs = self.reads.offsets
        a, b = int(offs[i]), int(offs[i + 1])
        sample: dict[str, Any] = {
            "sequence": self.reads.sequences[a:b],
            "quality": None if self.reads.qualities is None else self.reads.qualities[a:b],
            "name": self.reads.names[i],
            "index": i,
        }
        if self.labels is not None:
            sample["label"] = self.labels[i].item()
        if self.transform is not None:
            if _is_batch_transform(self.transform):
                sample["epoch"] = self.epoch
                sample = apply_transform_to_sample(self.transform, sample)
            else:
                sample = self.transform(sample)
        return sample

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:
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

    def __getitems__(self, indices: Sequence[int]) -> PairedSampleBatch:
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
    """

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

    def __getitems__(self, indices: Sequence[int]) -> SampleBatch:
        parent = self.indices[index_array(indices)]
        return SampleBatch(self.dataset, parent, getattr(indices, "epoch", self.dataset.epoch))

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    def __repr__(self) -> str:
        return f"Subset({len(self)} of {self.dataset!r})"
