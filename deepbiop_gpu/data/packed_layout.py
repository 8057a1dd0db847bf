"""The packed (varlen) batch layout: a batch's reads back to back, with ``cu_seqlens``.

``DataLoader(..., layout="packed")`` delivers, instead of ``[B, Lmax, ...]``
tensors padded to the longest read:

==========================  =================================  =========================================
key                         value                              notes
==========================  =================================  =========================================
``sequences``               ``[T]`` bytes / ids, ``[T, 4]``    one-hot, integer, k-mer ids or raw bytes
``cu_seqlens``              ``int32 [B + 1]``                  starts at 0; read ``b`` is
                                                               ``sequences[cu_seqlens[b]:cu_seqlens[b+1]]``
``max_seqlen``              ``int``                            longest read (in ``sequences`` positions)
``lengths``                 ``int32 [B]``                      bases of each read (as in the padded layout)
``qualities``               ``uint8 [Tq]``                     the bases' qualities, back to back
``cu_seqlens_qualities``    ``int32 [B + 1]``                  only when ``sequences`` holds k-mer ids
                                                               (then ``T`` counts k-mers, not bases)
``index``, ``names``, ...   as in the padded layout            one entry per read
==========================  =================================  =========================================

``cu_seqlens`` follows FlashAttention's varlen convention;
:func:`to_nested` wraps ``sequences`` as a ``torch.nested`` jagged tensor
for PyTorch's ``scaled_dot_product_attention``.

How: the transforms run on the padded batch as usual (fused on the CPU),
then the valid positions are gathered (one ``index_select``).  The packed
values are therefore those of the padded layout at the valid positions, bit
for bit, on every device and path.  (A direct packed path that never
materialises the padding is an optimisation left for later; on CPU
delivery the packing happens where the batch is collated, so what leaves
the workers is already packed.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..transforms.base import Batch, BatchTransform
from ..transforms.compose import Compose, transform_steps

__all__ = ["PackBatch", "pack_batch", "packed_transform", "to_nested"]


def _gather_valid(padded: torch.Tensor, counts: torch.Tensor, cu: torch.Tensor) -> torch.Tensor:
    """``padded[b, :counts[b]]`` for every row, back to back: ``[T, ...]``.

    On the CPU one numpy ``concatenate`` of the rows' prefixes (small torch
    copies pay their thread pool's overhead, 10-100x more here); on a device one ``index_select`` of whole
    positions (the rows' valid prefixes are runs of the flattened batch).
    Both are much faster than boolean-mask indexing.
    """
    B, W = padded.shape[:2]
    counts = counts.to(torch.int64)
    total = int(cu[-1])
    if padded.device.type == "cpu":
        as_bits = padded.dtype == torch.bfloat16  # numpy has no bfloat16: copy its bits
        rows = (padded.view(torch.int16) if as_bits else padded).numpy()
        parts = [rows[b, :n] for b, n in enumerate(counts.tolist()) if n]
        flat = np.concatenate(parts) if parts else rows.reshape(B * W, *rows.shape[2:])[:0]
        out = torch.from_numpy(np.ascontiguousarray(flat))
        return out.view(torch.bfloat16) if as_bits else out
    starts = torch.arange(B, device=padded.device, dtype=torch.int64) * W - cu[:-1].to(torch.int64)
    idx = torch.arange(total, device=padded.device, dtype=torch.int64)
    idx += torch.repeat_interleave(starts, counts, output_size=total)
    return padded.reshape(B * W, *padded.shape[2:]).index_select(0, idx)


def _cu_seqlens(counts: torch.Tensor) -> torch.Tensor:
    cu = torch.zeros(counts.numel() + 1, dtype=torch.int32, device=counts.device)
    torch.cumsum(counts.to(torch.int32), 0, out=cu[1:])
    return cu


def pack_batch(batch: Batch, kmer: tuple[int, int] | None = None) -> Batch:
    """The packed layout of a padded batch dict (see the module docstring).

    Parameters
    ----------
    batch : dict
        ``sequences`` ``[B, L]`` or ``[B, L, C]`` (bytes, ids, one-hot),
        ``lengths`` ``int32 [B]``, optional ``qualities`` ``uint8 [B, L]``.
    kmer : (k, stride), optional
        ``sequences`` holds k-mer ids: read ``b`` has
        ``max((lengths[b] - k) // stride + 1, 0)`` of them.

    Examples
    --------
    >>> b = {"sequences": torch.tensor([[65, 67, 71], [84, 0, 0]], dtype=torch.uint8),
    ...      "lengths": torch.tensor([3, 1], dtype=torch.int32)}
    >>> p = pack_batch(b)
    >>> bytes(p["sequences"].tolist()), p["cu_seqlens"].tolist(), p["max_seqlen"]
    (b'ACGT', [0, 3, 4], 3)
    """
    if not isinstance(batch, dict) or "sequences" not in batch or "lengths" not in batch:
        raise TypeError("layout='packed' needs batch dicts with 'sequences' and 'lengths'")
    if "cu_seqlens" in batch:
        return batch  # packed already
    seqs, lengths = batch["sequences"], batch["lengths"]
    if not isinstance(seqs, torch.Tensor) or seqs.dim() < 2 or seqs.shape[0] != lengths.shape[0]:
        got = tuple(seqs.shape) if isinstance(seqs, torch.Tensor) else type(seqs).__name__
        raise ValueError(f"layout='packed' needs per-position sequences [B, L, ...], got {got}")
    if kmer is not None:
        k, stride = kmer
        counts = torch.clamp((lengths.to(torch.int64) - k) // stride + 1, min=0)
    else:
        counts = lengths.to(torch.int64)
        if lengths.numel() and seqs.shape[1] < int(lengths.max()):
            raise ValueError(
                f"layout='packed': sequences have {seqs.shape[1]} positions but a read has "
                f"{int(lengths.max())} bases (an encoder with one value per read cannot be packed)"
            )
    out = dict(batch)
    cu = _cu_seqlens(counts)
    out["sequences"] = _gather_valid(seqs, counts, cu)
    out["cu_seqlens"] = cu
    out["max_seqlen"] = int(counts.max()) if counts.numel() else 0
    quals = batch.get("qualities")
    if isinstance(quals, torch.Tensor) and quals.dim() == 2:
        qcu = cu if kmer is None else _cu_seqlens(lengths)
        out["qualities"] = _gather_valid(quals, lengths, qcu)
        if kmer is not None:
            out["cu_seqlens_qualities"] = qcu
    return out


class PackBatch(BatchTransform):
    """Transform: padded batch dict -> packed layout (:func:`pack_batch`)."""

    def __init__(self, kmer: tuple[int, int] | None = None) -> None:
        super().__init__()
        self.kmer = kmer

    def forward(self, batch: Batch) -> Batch:
        return pack_batch(batch, self.kmer)

    def extra_repr(self) -> str:
        return "" if self.kmer is None else f"kmer={self.kmer}"


def _flat_steps(transform: Callable) -> list[Callable]:
    out: list[Callable] = []
    for step in transform_steps(transform):
        out.extend(_flat_steps(step) if type(step) is Compose and step is not transform else [step])
    return out


def packed_transform(transform: Callable | None) -> Compose:
    """``transform`` followed by packing, or a ``ValueError`` naming ``layout`` when it cannot be packed.

    The leading steps of ``transform`` keep fusing (the result is one
    :class:`~deepbiop_gpu.Compose`).
    """
    from ..transforms.encoders import KmerEncoder, OneHotEncoder

    steps = [] if transform is None else _flat_steps(transform)
    kmer = None
    for step in steps:
        if isinstance(step, KmerEncoder):
            if step.mode != "ids":
                raise ValueError(
                    "layout='packed' cannot hold KmerEncoder(mode='counts'): one count vector per "
                    "read has no positions to pack; use mode='ids' or layout='padded'"
                )
            kmer = (step.k, step.stride)
        elif isinstance(step, OneHotEncoder) and step.layout != "NLC":
            raise ValueError(
                "layout='packed' needs OneHotEncoder(layout='NLC') ([T, 4]); channels-first "
                f"layout={step.layout!r} cannot be packed"
            )
        elif isinstance(step, PackBatch):
            raise ValueError("layout='packed' packs the batches itself: remove PackBatch from transform")
    if transform is None:
        return Compose([PackBatch(kmer)])
    if type(transform) is Compose:
        return Compose([*transform_steps(transform), PackBatch(kmer)])
    return Compose([transform, PackBatch(kmer)])


def to_nested(batch: Batch, key: str = "sequences") -> torch.Tensor:
    """A packed batch's ``key`` as a ``torch.nested`` jagged tensor ``[B, j, ...]``.

    ``layout=torch.jagged``: a view of the packed values with
    ``cu_seqlens`` as offsets (no copy), accepted by
    ``torch.nn.functional.scaled_dot_product_attention`` (CPU included)
    once the heads are split off: ``nt.unflatten(-1, (H, D)).transpose(1, 2)``.

    Examples
    --------
    >>> b = {"sequences": torch.arange(5), "cu_seqlens": torch.tensor([0, 3, 5], dtype=torch.int32),
    ...      "max_seqlen": 3}
    >>> nt = to_nested(b)
    >>> nt.layout, [t.tolist() for t in nt.unbind()]
    (torch.jagged, [[0, 1, 2], [3, 4]])
    """
    if not isinstance(batch, dict) or "cu_seqlens" not in batch:
        raise ValueError("to_nested needs a packed batch (DataLoader(..., layout='packed'))")
    values = batch[key]
    cu = batch["cu_seqlens_qualities"] if key == "qualities" and "cu_seqlens_qualities" in batch \
        else batch["cu_seqlens"]
    if values.shape[0] != int(cu[-1]):
        raise ValueError(f"to_nested: batch[{key!r}] has {values.shape[0]} positions, cu_seqlens says {int(cu[-1])}")
    offsets = cu.to(device=values.device, dtype=torch.int64)
    max_seqlen = batch.get("max_seqlen") if key == "sequences" else None
    return torch.nested.nested_tensor_from_jagged(values, offsets, max_seqlen=max_seqlen)
