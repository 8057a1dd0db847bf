"""``Compose``: transforms one after the other, the leading fusable ones in one pass."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .base import Batch, BatchTransform
from .fused import fused_plan, protein_conflict, run_fused

__all__ = ["Compose", "check_alphabets", "run_transforms", "transform_steps"]


class Compose(BatchTransform):
    """Run transforms one after the other.

    The leading :class:`Sampler`, :class:`ReverseComplement` and
    :class:`Mutator` steps and an ending :class:`OneHotEncoder` or
    :class:`IntegerEncoder` run fused, with the same result bit for bit
    (see :mod:`deepbiop_gpu.transforms.fused`): on CUDA batches as one Triton
    kernel launch, on CPU batches (with numba) as one compiled pass per read
    over several threads.

    A protein encoder (``OneHotEncoder`` / ``IntegerEncoder`` with
    ``alphabet="protein"``) cannot share a Compose with a
    :class:`ReverseComplement`, :class:`Mutator` or :class:`KmerEncoder`:
    those are nucleotide operations, and bytes alone cannot tell a protein
    from DNA, so building such a Compose raises a ValueError (a
    :class:`Sampler` crop is fine).

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
        check_alphabets(transforms)
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


def _flat_steps(transforms: Sequence[Callable[[Batch], Batch]]) -> list[Callable[[Batch], Batch]]:
    steps: list[Callable[[Batch], Batch]] = []
    for t in transforms:
        steps += _flat_steps(t._all) if isinstance(t, Compose) else [t]
    return steps


def check_alphabets(transforms: Sequence[Callable[[Batch], Batch]]) -> None:
    """Raise a ValueError if a protein encoder shares the pipeline with a nucleotide-only step.

    Reverse-complement, mutation (base substitution) and k-mers are nucleotide
    operations; on amino-acid bytes they would run silently (bytes alone
    cannot tell a protein from DNA: A, C, G and T are amino acids too) and
    give nonsense, so the pipeline refuses them.  Cropping (``Sampler``) is fine.
    """
    from .augment import Mutator, ReverseComplement
    from .encoders import IntegerEncoder, KmerEncoder, OneHotEncoder

    steps = _flat_steps(transforms)
    protein = [t for t in steps if isinstance(t, (OneHotEncoder, IntegerEncoder))
               and getattr(t, "alphabet", "dna") == "protein"]  # fmt: skip
    if not protein:
        return
    nucleotide = [t for t in steps if isinstance(t, (ReverseComplement, Mutator, KmerEncoder))]
    if nucleotide:
        names = sorted({type(t).__name__ for t in nucleotide})
        raise ValueError(protein_conflict(type(protein[0]).__name__, names))


def transform_steps(transform: Callable[[Batch], Batch]) -> list[Callable[[Batch], Batch]]:
    """The steps a batch transform runs: a :class:`Compose` 's list, else ``[transform]``."""
    if type(transform) is Compose:  # a subclass may override forward
        return transform._all
    return [transform]


def run_transforms(transforms: Sequence[Callable[[Batch], Batch]], batch: Batch) -> Batch:
    """Run ``transforms`` in order on ``batch``, the leading fusable steps in one pass.

    The leading run of fusable transforms goes through one fused pass
    (:func:`~deepbiop_gpu.transforms.fused.run_fused`: the Triton kernel on
    CUDA, the numba loop on the CPU); the result is the same bit for bit.
    """
    if not torch.compiler.is_compiling():
        plan = fused_plan(transforms)
        fused = run_fused(plan, batch) if plan is not None else None
        if fused is not None:
            batch, transforms = fused, transforms[plan.count :]  # type: ignore[union-attr]
    for t in transforms:
        batch = t(batch)
    return batch
