"""``SimulateQualities``: give reads without qualities seeded, model-drawn ones."""

from __future__ import annotations

import torch  # noqa: F401 (the examples below use it)

from ..ops._fused import FusedStep
from ..ops._simulate_qualities import fill_qualities, simulate_qualities
from ..quality_models import QualityModel
from .augment import _check_seed
from .base import Batch, BatchTransform

__all__ = ["SimulateQualities"]


class SimulateQualities(BatchTransform):
    """Fill ``batch["qualities"]`` from a :class:`~deepbiop_gpu.QualityModel`, seeded per read.

    A batch without qualities (FASTA input) gets a ``uint8 [B, L]`` tensor of
    Phred+33 bytes (padding 0) drawn by
    :func:`~deepbiop_gpu.ops.simulate_qualities`, keyed on ``(seed, epoch,
    index)`` like every random step.  With ``only_missing=True`` (default) a
    batch that has qualities keeps them, except rows whose qualities are all
    0 bytes within the read (no Phred+33 byte is 0: a read with no qualities,
    e.g. a FASTA read packed beside FASTQ reads): those rows get simulated
    ones.  With ``only_missing=False`` every row is replaced.  The output's
    padding (positions at or past each read's length) is 0.

    The positions are those of the batch the step sees: put it first in a
    :class:`~deepbiop_gpu.Compose` so that a later Sampler crops (and a
    ReverseComplement reverses) the simulated qualities with their bases; the
    degrading model then runs from each read's first base to its last.  As
    the first step it fuses with the steps after it (Sampler,
    ReverseComplement, ``Mutator``, including ``rate="phred"``, and an
    encoder): one pass on the CPU loop and one CUDA kernel, with the same
    draws and bits as step by step.  Anywhere else the fused pass stops before
    it and the steps from it on run one by one, with the same result.

    Typical use, FASTA reads augmented by their (simulated) qualities::

        Compose([SimulateQualities(QualityModel.degrading(38, 20, 3), seed=1),
                 Sampler(150), ReverseComplement(p=0.5), Mutator("phred", seed=2),
                 OneHotEncoder()])

    Parameters
    ----------
    model : QualityModel
    seed : int
        ``0 <= seed < 2**63``.
    only_missing : bool

    Examples
    --------
    >>> from deepbiop_gpu import QualityModel
    >>> seqs = torch.tensor([list(b"ACGTA"), list(b"GG\\0\\0\\0")], dtype=torch.uint8)
    >>> batch = {"sequences": seqs,
    ...          "lengths": torch.tensor([5, 2]), "index": torch.tensor([0, 1])}
    >>> out = SimulateQualities(QualityModel.uniform(40, 40))(batch)
    >>> bytes(out["qualities"][0].tolist()), out["qualities"][1].tolist()
    (b'IIIII', [73, 73, 0, 0, 0])
    """

    random = True

    def __init__(self, model: QualityModel, seed: int = 0, only_missing: bool = True) -> None:
        super().__init__()
        if not isinstance(model, QualityModel):
            raise TypeError(
                "model must be a QualityModel (e.g. QualityModel.high_quality()), "
                f"got {type(model).__name__}"
            )
        self.model = model
        self.seed = _check_seed(seed)
        self.only_missing = bool(only_missing)

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        index, epoch = self._index_epoch(batch, seqs)
        have = batch.get("qualities")
        out = dict(batch)
        simulated = simulate_qualities(lengths, self.model, self.seed, index, epoch,
                                       width=seqs.shape[1])  # fmt: skip
        if have is None or not self.only_missing:
            out["qualities"] = simulated
            return out
        if have.shape != seqs.shape:
            raise ValueError(
                f"SimulateQualities: batch['qualities'] has shape {tuple(have.shape)}, "
                f"the sequences {tuple(seqs.shape)}"
            )
        out["qualities"] = fill_qualities(have, simulated, lengths, True)
        return out

    def fused_step(self) -> FusedStep:
        """A simulate_qualities step with this model, seed and ``only_missing`` (fuses first)."""
        return FusedStep.simulate_qualities(self.model.params(), self.seed, self.only_missing)

    def extra_repr(self) -> str:
        return f"model={self.model!r}, seed={self.seed}, only_missing={self.only_missing}"
