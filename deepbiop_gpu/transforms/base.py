"""Batch transforms: ``nn.Module`` s that take a batch dict and return a new one.

A batch dict is what :class:`~deepbiop_gpu.DataLoader` delivers (see
:mod:`deepbiop_gpu.data.collate`): ``sequences`` ``uint8 [B, L]``,
``lengths`` ``int32 [B]``, optional ``qualities`` ``uint8 [B, L]``,
``index`` ``int64 [B]`` and ``epoch``.  Augmentations keep bytes; encoders
replace ``sequences`` with their tensor, so they come last in a
:class:`~deepbiop_gpu.Compose`.  Transforms never modify the dict they are given.

A transform that can run inside the fused pass (one pass per read on the
CPU, one kernel launch per batch on CUDA) describes its step with
:meth:`BatchTransform.fused_step`; :mod:`deepbiop_gpu.transforms.fused`
builds the plan from those descriptions.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from ..ops._fused import FusedStep

__all__ = ["Batch", "BatchTransform"]

Batch = dict[str, Any]


class BatchTransform(nn.Module):
    """Base class of the transforms: ``forward(batch) -> batch``."""

    #: whether the transform needs ``index`` (and ``epoch``) in the batch
    random: bool = False

    def forward(self, batch: Batch) -> Batch:  # pragma: no cover - abstract
        raise NotImplementedError

    def fused_step(self) -> FusedStep | None:
        """This transform as a step of the fused pass, or None when it cannot fuse.

        Fusable transforms (the augmentations Sampler, ReverseComplement,
        Mutator; the encoders OneHotEncoder, IntegerEncoder) return a
        :class:`~deepbiop_gpu.ops.FusedStep` built from their current
        settings.  A subclass that overrides ``forward`` (and not
        ``fused_step``) is never fused: its ``forward`` runs.
        """
        return None

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
