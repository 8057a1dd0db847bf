"""Batch transforms: ``nn.Module`` s that take a batch dict and return a new one.

A batch dict is what :class:`~deepbiop_gpu.DataLoader` delivers (see
:mod:`deepbiop_gpu.data.collate`): ``sequences`` ``uint8 [B, L]``,
``lengths`` ``int32 [B]``, optional ``qualities`` ``uint8 [B, L]``,
``index`` ``int64 [B]`` and ``epoch``.  Augmentations keep bytes; encoders
replace ``sequences`` with their tensor, so they come last in a
:class:`Compose`.  Transforms never modify the dict they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["BatchTransform", "Compose", "run_transforms", "transform_steps"]

Batch = dict[str, Any]


class BatchTransform(nn.Module):
    """Base class of the transforms: ``forward(batch) -> batch``."""

    #: whether the transform needs ``index`` (and ``epoch``) in the batch
    random: bool = False

    def forward(self, batch: Batch) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    # helpers for subclasses ------------------------------------------------
    def _byte_sequences(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        if not isinstance(batch, dict):
            raise TypeError(f"{type(self).__name__} expects a batch dict, got {type(batch).__name__}")
        for key in ("sequences", "lengths"):
            if key not in batch:
                raise KeyError(f"{type(self).__name__}: the batch has no {key!r} (keys: {sorted(batch)})")
        seqs, lengths = batch["sequences"], batch["lengths"]
        if not isinstance(seqs, torch.Tensor) or seqs.dtype != torch.uint8 or seqs.dim() != 2:
            got = f"{seqs.dtype} {tuple(seqs.shape)}" if isinstance(seqs, torch.Tensor) else type(seqs).__name__
            raise TypeError(
                f"{type(self).__name__} needs byte sequences uint8 [B, L], got {got}: put "
                "augmentations before encoders in Compose"
            )
        if lengths.device != seqs.device:
            raise ValueError(
                f"{type(self).__name__}: batch['lengths'] is on {lengths.device} but "
                f"batch['sequences'] is on {seqs.device}"
            )
        return seqs, lengths

    def _index_epoch(self, batch: Batch, seqs: torch.Tensor) -> tuple[torch.Tensor, int]:
        if "index" not in batch:
            raise KeyError(
                f"{type(self).__name__} is random and needs batch['index'] (the sample index of "
                "each read, which keys its random numbers); the datasets' collate provides it"
            )
        index = batch["index"]
        if not isinstance(index, torch.Tensor):
            raise TypeError(f"batch['index'] must be an int64 tensor, got {type(index).__name__}")
        if index.device != seqs.device:
            raise ValueError(
                f"{type(self).__name__}: batch['index'] is on {index.device} but "
                f"batch['sequences'] is on {seqs.device}"
            )
        epoch = batch.get("epoch", 0)
        return index, epoch


class Compose(BatchTransform):
    """Run transforms one after the other.

    On CPU batches with numba installed, the leading :class:`Sampler`,
    :class:`ReverseComplement` and :class:`Mutator` steps and an ending
    :class:`OneHotEncoder` or :class:`IntegerEncoder` run fused, as one
    compiled pass per read over several threads, with the same result bit
    for bit (see :mod:`deepbiop_gpu.transforms.fused`).

    Parameters
    ----------
    transforms : sequence of callables
        Batch transforms (or any ``batch -> batch`` callables).

    Examples
    --------
    >>> from deepbiop_gpu import Compose, ReverseComplement, Mutator, OneHotEncoder
    >>> pipeline = Compose([ReverseComplement(p=0.5), Mutator(0.01), OneHotEncoder()])
    >>> compiled = torch.compile(pipeline, fullgraph=True)  # doctest: +SKIP
    """

    def __init__(self, transforms: Sequence[Callable[[Batch], Batch]]) -> None:
        super().__init__()
        if isinstance(transforms, (nn.Module,)) or not isinstance(transforms, Sequence):
            raise TypeError("Compose takes a list of transforms")
        for i, t in enumerate(transforms):
            if not callable(t):
                raise TypeError(f"transforms[{i}] is not callable: {t!r}")
        self.transforms = nn.ModuleList([t for t in transforms if isinstance(t, nn.Module)])
        self._all = list(transforms)
        self.random = any(getattr(t, "random", False) for t in transforms)

    def forward(self, batch: Batch) -> Batch:
        return run_transforms(self._all, batch)

    def __len__(self) -> int:
        return len(self._all)

    def __getitem__(self, i: int) -> Callable[[Batch], Batch]:
        return self._all[i]

    def extra_repr(self) -> str:
        return "\n".join(repr(t) for t in self._all if not isinstance(t, nn.Module))


def transform_steps(transform: Callable[[Batch], Batch]) -> list[Callable[[Batch], Batch]]:
    """The steps a batch transform runs: a :class:`Compose` 's list, else ``[transform]``."""
    if type(transform) is Compose:  # a subclass may override forward
        return transform._all
    return [transform]


_FUSED = None  # deepbiop_gpu.transforms.fused, imported on first use (it imports this module)


def _import_fused():
    global _FUSED
    from . import fused

    _FUSED = fused
    return fused


def run_transforms(transforms: Sequence[Callable[[Batch], Batch]], batch: Batch) -> Batch:
    """Run ``transforms`` in order on ``batch``, fusing the leading steps on CPU batches.

    The leading run of fusable transforms goes through one compiled pass
    (:mod:`deepbiop_gpu.transforms.fused`) when the batch is on the CPU and
    numba is installed; the result is the same bit for bit.
    """
    if not torch.compiler.is_compiling():
        fused_module = _FUSED or _import_fused()
        plan = fused_module.fused_plan(transforms)
        fused = fused_module.run_fused(plan, batch) if plan is not None else None
        if fused is not None:
            batch, transforms = fused, transforms[plan.count :]  # type: ignore[union-attr]
    for t in transforms:
        batch = t(batch)
    return batch
