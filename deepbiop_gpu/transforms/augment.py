"""Seeded augmentations on byte sequences (qualities follow their bases).

Each random draw is keyed on ``(seed, epoch, index, position)`` through the
counter-based Philox generator of :mod:`deepbiop_gpu.ops`, so a read is
augmented the same way whatever batch it lands in, however many workers or
ranks there are, and on CPU or CUDA alike.  ``epoch`` comes from
``batch["epoch"]`` (the DataLoader sets it; default 0).
"""

from __future__ import annotations

import torch  # noqa: F401 (the examples below use it)

from .. import ops
from ..ops._mutate import PHRED, check_scale
from ..ops._philox import probability_threshold
from ..ops._fused import FusedStep
from ..ops._random_gate import bernoulli_gate
from .base import Batch, BatchTransform

__all__ = ["ReverseComplement", "Mutator", "Sampler"]

_MODES = ("random", "start", "center", "end")


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
    return seed


def _check_probability(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


class ReverseComplement(BatchTransform):
    """Reverse-complement each read (within its own length) with probability ``p``.

    Qualities are reversed with their read.  IUPAC codes are complemented
    (R<->Y, K<->M, B<->V, D<->H) and case is kept.

    Examples
    --------
    >>> batch = {"sequences": torch.tensor([list(b"AACGt\\0")], dtype=torch.uint8),
    ...          "lengths": torch.tensor([5]), "index": torch.tensor([0])}
    >>> bytes(ReverseComplement()(batch)["sequences"][0].tolist())
    b'aCGTT\\x00'
    """

    def __init__(self, p: float = 1.0, seed: int = 0) -> None:
        super().__init__()
        self.p = _check_probability(p, "p")
        self.seed = _check_seed(seed)
        self.random = 0.0 < self.p < 1.0

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        out = dict(batch)
        if self.p == 0.0:
            return out
        apply = None
        if self.random:
            index, epoch = self._index_epoch(batch, seqs)
            apply = bernoulli_gate(self.p, self.seed, index, epoch)
        out["sequences"] = ops.reverse_complement(seqs, lengths, apply=apply)
        if batch.get("qualities") is not None:
            out["qualities"] = ops.reverse_complement(batch["qualities"], lengths, apply=apply, complement=False)
        return out

    def fused_step(self) -> FusedStep:
        """A reverse-complement step with this ``p`` and ``seed`` (see :class:`BatchTransform`)."""
        step = FusedStep.reverse_complement(probability_threshold(self.p, "p"), self.seed)
        return step._replace(random=self.random)  # forward asks for the index when 0 < p < 1

    def extra_repr(self) -> str:
        return f"p={self.p}, seed={self.seed}"


class Mutator(BatchTransform):
    """Substitute each A/C/G/T base with probability ``rate`` by one of the other three.

    Case is kept; N, IUPAC codes and padding are never touched, and
    ``batch["qualities"]`` is passed on unchanged (a substitution keeps its
    base's quality).

    Parameters
    ----------
    rate : float or "phred"
        Probability per base, in ``[0, 1]``; or ``"phred"``: quality-aware,
        each base substituted with probability ``min(1, scale * 10**(-Q / 10))``
        where ``Q`` is its own Phred score (``batch["qualities"]``, ``uint8
        [B, L]`` Phred+33 bytes, minus 33, clamped to ``[0, 93]``), so
        augmentation follows the sequencer's own error estimate.
    seed : int
        Philox key: the draws are those of :func:`~deepbiop_gpu.ops.mutate`
        (stream 1, keyed on ``(seed, epoch, index, position)``) for either kind
        of rate; only the threshold a word is compared with changes.
    scale : float, default 1.0
        ``rate="phred"`` only: multiplies every probability (``>= 0``).

    With ``rate="phred"`` a batch without ``"qualities"``, or with a non-empty
    read whose quality bytes are all 0 (how the loaders store a FASTA read
    beside FASTQ reads), raises a ``ValueError``: put
    :class:`~deepbiop_gpu.SimulateQualities` before the Mutator to give such
    reads qualities.  (The check reads one bool from the device, a
    synchronisation on CUDA; it is skipped under ``torch.compile``, where such
    a read counts as ``Q = 0``.)  Fused on the CPU loop and the CUDA kernel
    like the numeric rate, with the same bits.

    Examples
    --------
    >>> batch = {"sequences": torch.tensor([list(b"ACGT" * 4)], dtype=torch.uint8),
    ...          "lengths": torch.tensor([16]), "index": torch.tensor([7])}
    >>> Mutator(rate=1.0)(batch)["sequences"].ne(batch["sequences"]).all().item()
    True

    Quality-aware: Q 0 (``!``) always mutates at ``scale=1``, Q 93 (``~``)
    practically never:

    >>> batch["qualities"] = torch.tensor([list(b"!!!!!!!!~~~~~~~~")], dtype=torch.uint8)
    >>> out = Mutator(rate="phred", seed=3)(batch)
    >>> out["sequences"].ne(batch["sequences"])[0].tolist() == [True] * 8 + [False] * 8
    True
    """

    random = True

    def __init__(self, rate: float | str, seed: int = 0, scale: float = 1.0) -> None:
        super().__init__()
        if isinstance(rate, str):
            if rate != PHRED:
                raise ValueError(f"rate must be a number in [0, 1] or 'phred', got {rate!r}")
            self.rate: float | str = rate
            self.scale = check_scale(scale)
        else:
            self.rate = _check_probability(rate, "rate")
            if scale != 1.0:
                raise ValueError(f"scale applies to rate='phred' only, got rate={rate!r}, "
                                 f"scale={scale!r}")  # fmt: skip
            self.scale = 1.0
        self.seed = _check_seed(seed)

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        index, epoch = self._index_epoch(batch, seqs)
        out = dict(batch)
        if self.rate == PHRED:
            out["sequences"] = ops.mutate(seqs, lengths, PHRED, self.seed, index, epoch,
                                          qualities=batch.get("qualities"), scale=self.scale)
        else:
            out["sequences"] = ops.mutate(seqs, lengths, self.rate, self.seed, index, epoch)
        return out

    def fused_step(self) -> FusedStep:
        """A mutate step with this ``rate`` (``scale``) and ``seed`` (see BatchTransform)."""
        if self.rate == PHRED:
            return FusedStep.mutate_phred(self.scale, self.seed)
        return FusedStep.mutate(probability_threshold(self.rate, "rate"), self.seed)

    def extra_repr(self) -> str:
        if self.rate == PHRED:
            return f"rate='phred', scale={self.scale}, seed={self.seed}"
        return f"rate={self.rate}, seed={self.seed}"


class Sampler(BatchTransform):
    """Crop a window of ``length`` bases from each read (shorter reads are kept whole).

    Parameters
    ----------
    length : int
        Window length; the batch becomes ``[B, length]``.
    mode : "random", "start", "center" or "end"
        Where the window sits; "random" draws its start per read and epoch.
    seed : int

    Qualities are cropped with exactly the same windows.

    Examples
    --------
    >>> batch = {"sequences": torch.tensor([list(b"ACGTACGT")], dtype=torch.uint8),
    ...          "lengths": torch.tensor([8]), "index": torch.tensor([0])}
    >>> bytes(Sampler(3, mode="end")(batch)["sequences"][0].tolist())
    b'CGT'
    """

    def __init__(self, length: int, mode: str = "random", seed: int = 0) -> None:
        super().__init__()
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise ValueError(f"length must be a non-negative int, got {length!r}")
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
        self.length = length
        self.mode = mode
        self.seed = _check_seed(seed)
        self.random = mode == "random"

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        index, epoch = (self._index_epoch(batch, seqs) if self.random else (None, 0))
        cropped, new_lengths, starts = ops.crop(
            seqs, lengths, self.length, mode=self.mode, seed=self.seed, index=index, epoch=epoch
        )
        out = dict(batch)
        out["sequences"] = cropped
        out["lengths"] = new_lengths
        if batch.get("qualities") is not None:
            out["qualities"] = ops.take_windows(batch["qualities"], starts, new_lengths, self.length)
        return out

    def fused_step(self) -> FusedStep:
        """A crop step with this ``length``, ``mode`` and ``seed`` (see :class:`BatchTransform`)."""
        return FusedStep.crop(self.length, self.mode, self.seed)

    def extra_repr(self) -> str:
        return f"length={self.length}, mode={self.mode!r}, seed={self.seed}"
