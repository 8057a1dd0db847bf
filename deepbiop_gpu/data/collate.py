"""Collate on the CPU: samples -> one padded batch dict (worker-safe, never touches CUDA).

The batch dict
--------------
==============  ==============================  =====================================
key             value                           notes
==============  ==============================  =====================================
``sequences``   ``uint8 [B, Lmax]``             raw ASCII, right-padded with 0
``lengths``     ``int32 [B]``                   bases of each read inside ``Lmax``
``qualities``   ``uint8 [B, Lmax]``             phred+33 ASCII; absent for FASTA
``index``       ``int64 [B]``                   sample index: keys the random ops
                                                (absent when the samples have none)
``names``       ``list[str]``
``labels``      ``int64/float32 [B]`` or list   when the dataset has labels
``epoch``       ``int``                         when known (seeds the random ops)
==============  ==============================  =====================================

``Lmax`` is the longest read of the batch rounded up to a multiple of 8 (so
``torch.compile`` sees few distinct shapes), or a fixed ``max_len`` with
longer reads truncated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..packed import pad_ragged

__all__ = ["Collate", "default_collate", "batch_width", "sample_indices"]


def batch_width(lengths: torch.Tensor | np.ndarray, max_len: int | None, multiple_of: int) -> int:
    """``Lmax`` for a batch: ``max_len`` if given, else the longest read rounded up."""
    if max_len is not None:
        return max_len
    longest = int(lengths.max()) if len(lengths) else 0
    return -(-longest // multiple_of) * multiple_of if multiple_of > 1 else longest


def _stack_labels(labels: list[Any]) -> torch.Tensor | list[Any]:
    if all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in labels):
        return torch.stack(labels)
    if all(isinstance(v, bool | int) for v in labels):
        return torch.tensor(labels, dtype=torch.int64)
    if all(isinstance(v, float | int) for v in labels):
        return torch.tensor(labels, dtype=torch.float32)
    return list(labels)


def sample_indices(samples: Sequence[Mapping[str, Any]]) -> torch.Tensor | None:
    """``int64 [B]``: the samples' ``"index"``, checked here on the host; None if no sample has one.

    The random transforms key their draws on these indices, so a missing or
    negative one would give reads the same random numbers.  The check runs
    before the batch reaches the device, where checking values would cost a
    host synchronisation: without an ``"index"`` the batch has no ``index``
    and a random transform raises on any device; a negative index, or an
    index on some samples only, raises here.
    """
    raw = [s.get("index") for s in samples]
    if raw and all(v is None for v in raw):
        return None
    values = []
    for i, v in enumerate(raw):
        if v is None:
            raise ValueError(f"sample {i} of the batch has no 'index' but others have one")
        v = int(v)
        if v < 0:
            raise ValueError(
                f"sample {i} of the batch has index {v}: sample indices must be >= 0 "
                "(they key the random transforms)"
            )
        values.append(v)
    return torch.tensor(values, dtype=torch.int64)


class Collate:
    """Pads a list of samples into a batch dict (see the module docstring).

    Parameters
    ----------
    max_len : int, optional
        Fixed ``Lmax``; longer reads are truncated (their ``lengths`` too).
    multiple_of : int
        Round the batch's longest read up to this multiple (default 8).

    Examples
    --------
    >>> import torch
    >>> samples = [{"sequence": torch.tensor(list(b"ACGT"), dtype=torch.uint8), "quality": None,
    ...             "name": "r1", "index": 0},
    ...            {"sequence": torch.tensor(list(b"GG"), dtype=torch.uint8), "quality": None,
    ...             "name": "r2", "index": 1}]
    >>> batch = Collate(multiple_of=4)(samples)
    >>> batch["sequences"].shape, batch["lengths"].tolist(), batch["names"]
    (torch.Size([2, 4]), [4, 2], ['r1', 'r2'])
    """

    def __init__(self, max_len: int | None = None, multiple_of: int = 8) -> None:
        if max_len is not None and (isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 0):
            raise ValueError(f"max_len must be a non-negative int or None, got {max_len!r}")
        if isinstance(multiple_of, bool) or not isinstance(multiple_of, int) or multiple_of < 1:
            raise ValueError(f"multiple_of must be a positive int, got {multiple_of!r}")
        self.max_len = max_len
        self.multiple_of = multiple_of

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        fast = getattr(samples, "collate", None)
        if fast is not None:  # a SampleBatch from one of our datasets: no per-sample work
            return fast(self.max_len, self.multiple_of)
        return self._collate_samples(samples)

    def _collate_samples(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if len(samples) and not all(isinstance(s, Mapping) and "sequence" in s for s in samples):
            raise TypeError(
                "default_collate expects sample dicts with a 'sequence' key (as the datasets of "
                "deepbiop_gpu return); pass your own collate_fn for other samples"
            )
        seqs = [torch.as_tensor(s["sequence"], dtype=torch.uint8).reshape(-1) for s in samples]
        lengths = torch.tensor([len(s) for s in seqs], dtype=torch.int64)
        starts = torch.zeros_like(lengths)
        if len(seqs) > 1:
            torch.cumsum(lengths[:-1], 0, out=starts[1:])
        width = batch_width(lengths, self.max_len, self.multiple_of)
        flat = torch.cat(seqs) if seqs else torch.zeros(0, dtype=torch.uint8)
        batch: dict[str, Any] = {
            "sequences": pad_ragged(flat, starts, lengths, width),
            "lengths": lengths.clamp(max=width).to(torch.int32),
        }
        quals = [s.get("quality") for s in samples]
        if quals and all(q is not None for q in quals):
            qflat = torch.cat([torch.as_tensor(q, dtype=torch.uint8).reshape(-1) for q in quals])
            batch["qualities"] = pad_ragged(qflat, starts, lengths, width)
        index = sample_indices(samples)
        if index is not None:
            batch["index"] = index
        batch["names"] = [s.get("name", "") for s in samples]
        if samples and all("label" in s for s in samples):
            batch["labels"] = _stack_labels([s["label"] for s in samples])
        return batch

    def __repr__(self) -> str:
        return f"Collate(max_len={self.max_len}, multiple_of={self.multiple_of})"


default_collate = Collate()
"""The default :class:`Collate`: batch maximum rounded up to a multiple of 8."""
