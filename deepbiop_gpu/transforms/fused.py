"""The fused path of :class:`~deepbiop_gpu.Compose` and the loaders: every step of a read in one pass.

``Compose([Sampler, ReverseComplement, Mutator, OneHotEncoder])`` would run
five op calls (the gate, two reverse-complements, mutate, one-hot), each a
pass over the whole batch.  Instead, the leading run of transforms that
describe themselves as a fused step (:meth:`BatchTransform.fused_step`:
crop, reverse-complement and mutate steps, ``Mutator(rate="phred")`` included,
after a ``SimulateQualities`` first step if there is one, optionally ended
by a one-hot or integer encoder) becomes a :class:`FusedPlan`, run by the ``fused`` op
(:mod:`deepbiop_gpu.ops._fused`) as one pass that reads each read once and
writes it once in its final encoding, its qualities following:

* CUDA batches: one Triton kernel launch (:mod:`deepbiop_gpu.kernels.fused`);
* CPU batches with numba: one compiled loop, reads split over
  ``torch.get_num_threads()`` threads (:mod:`deepbiop_gpu.ops._fused_cpu`).

The result is bit-identical to running the transforms one after the other:
both passes draw the same Philox words (:mod:`deepbiop_gpu.ops._philox`) and
apply the same rules as the ops, which the tests check on random batches,
every edge case and every order of the steps.  Anything else (CUDA without
Triton, ``torch.compile``, a batch the ops would reject, a subclass that
overrides ``forward``, no numba on the CPU, ``DEEPBIOP_GPU_NUMBA=0``) takes
the step-by-step path, which also raises the errors.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..ops._checks import check_batch, check_index, check_seed
from ..ops._dispatch import run_op, use_triton
from ..ops._numba import numba_ok
from ..ops._fused import (
    MIN_BASES_PER_THREAD,
    FusedStep,
    encoder_args,
    _fused_op,
    check_steps,
    cpu_output,
    fused_numba,
    simulates,
    step_rows,
)

__all__ = [
    "BYTES_PLAN", "FusedPlan", "collate_fused", "fused_plan", "fusable_step", "protein_conflict",
    "run_fused", "run_plan_ragged",
]  # fmt: skip

# the CPU loop's threads: at least this many bases each (tests lower it)
_MIN_BASES_PER_THREAD = MIN_BASES_PER_THREAD


class FusedPlan:
    """What the fused pass runs: the steps, the encoder, how many transforms it covers.

    ``steps`` are the augmentation :class:`FusedStep` s in order, ``encoder``
    the final one-hot / integer step (None: bytes out), ``count`` the number
    of transforms covered from the start of the list.
    """

    __slots__ = ("steps", "encoder", "rows", "table", "random", "touches_qualities", "crops",
                 "encoding", "output", "count", "reads_qualities", "phred")  # fmt: skip

    def __init__(self, steps: Sequence[FusedStep], encoder: FusedStep | None, count: int) -> None:
        self.steps = tuple(steps)
        self.encoder = encoder
        self.rows = step_rows(self.steps)  # flat [kind, value, seed, mode] ints (the op's)
        self.table = np.array(self.rows, dtype=np.int64).reshape(-1, 4)  # the CPU loop's
        # some step (or one-hot unknown="random") needs batch["index"]
        self.random = any(s.random for s in self.steps) or (encoder is not None and encoder.random)
        self.touches_qualities = any(s.kind != "mutate" for s in self.steps)
        # a Mutator(rate="phred") step reads the qualities (it never changes them)
        self.phred = any(s.kind == "mutate" and s.mode == "phred" for s in self.steps)
        self.reads_qualities = self.touches_qualities or self.phred
        self.crops = [s.value for s in self.steps if s.kind == "crop"]
        self.encoding = encoder_args(encoder)  # (encoding, dtype, layout, unknown, pad_value)
        self.output = cpu_output(*self.encoding)  # how the CPU loop writes the bases
        self.count = count

    def __repr__(self) -> str:
        return f"FusedPlan(steps={list(self.steps)}, encoder={self.encoder}, count={self.count})"


@functools.lru_cache(maxsize=256)
def _cached_plan(steps: tuple[FusedStep, ...], encoder: FusedStep | None, count: int) -> FusedPlan:
    """Plans are rebuilt from the transforms' settings at every call (they may change
    between batches), but built only once per distinct setting."""
    return FusedPlan(steps, encoder, count)


BYTES_PLAN = FusedPlan((), None, 0)
"""No steps, bytes out: the fused pass as a plain gather of padded rows."""


def fusable_step(transform: Any) -> FusedStep | None:
    """``transform.fused_step()``, or None when the transform cannot fuse.

    A transform whose class overrides ``forward`` below the class that
    defines ``fused_step`` (a user's subclass changing what the transform
    does) is not fused: its ``forward`` must run.
    """
    describe = getattr(transform, "fused_step", None)
    if describe is None:
        return None
    kind = type(transform)
    owner = next((c for c in kind.__mro__ if "fused_step" in vars(c)), None)
    if owner is None or getattr(kind, "forward", None) is not getattr(owner, "forward", None):
        return None
    return describe()


def fused_plan(transforms: Sequence[Any]) -> FusedPlan | None:
    """The plan for the leading fusable transforms, or None when there are none.

    Fusable: transforms whose :meth:`fused_step` describes an augmentation
    (crop, reverse-complement, mutate), in any order and number, optionally
    ended by one that describes an encoder (one-hot, integer).  A
    SimulateQualities step fuses as the first step only (its draws are keyed on
    the read's own positions); later, the plan stops before it.
    """
    steps: list[FusedStep] = []
    encoder = None
    count = 0
    for t in transforms:
        step = fusable_step(t)
        if step is None or (step.kind == "simulate_qualities" and steps):
            break
        count += 1
        if step.is_encoder:
            encoder = step
            break
        if step.kind == "reverse_complement" and step.value == 0 and not step.random:
            continue  # p == 0: nothing to do
        steps.append(step)
    if not steps and encoder is None:  # nothing to do (the padding stays as it is)
        return None
    if encoder is not None and encoder.alphabet == "protein":  # e.g. a list, not a Compose
        nucleotide = sorted({s.kind for s in steps if s.kind in ("reverse_complement", "mutate")})
        if nucleotide:
            raise ValueError(protein_conflict(f"{encoder.kind} encoder", nucleotide))
    return _cached_plan(tuple(steps), encoder, count)


def protein_conflict(encoder: str, steps: Sequence[str]) -> str:
    """Why a protein encoder cannot share a pipeline with nucleotide ``steps`` (the message)."""
    return (
        f"{encoder} (alphabet='protein') cannot be combined with {', '.join(steps)}: "
        "reverse-complement, base substitution and k-mers are nucleotide operations, and "
        "bytes alone cannot tell a protein from DNA (A, C, G, T are amino acids too). "
        "Drop those steps for protein reads (a Sampler crop is fine)."
    )


def _happy(batch: Any, plan: FusedPlan) -> bool:
    """Is ``batch`` one the step-by-step path would accept?  (Else it raises there.)"""
    if not isinstance(batch, dict):
        return False
    seqs, lengths = batch.get("sequences"), batch.get("lengths")
    if not isinstance(seqs, torch.Tensor) or not isinstance(lengths, torch.Tensor):
        return False
    if lengths.device != seqs.device or seqs.requires_grad:
        return False
    try:
        check_batch(seqs, lengths)
        if seqs.shape[0] == 0:
            return False
        quals = batch.get("qualities")
        if plan.phred and quals is None and plan.steps[0].kind != "simulate_qualities":
            return False  # the step-by-step path raises the error
        if quals is not None and plan.reads_qualities:
            if (
                not isinstance(quals, torch.Tensor)
                or quals.dtype != torch.uint8
                or quals.shape != seqs.shape
                or quals.device != seqs.device
            ):
                return False
        if plan.random:
            if "index" not in batch:
                return False
            check_index(batch["index"], seqs)
            check_seed(batch.get("epoch", 0), "epoch")
    except (TypeError, ValueError):
        return False
    return True


def run_plan_ragged(
    plan: FusedPlan,
    sequences: torch.Tensor,
    qualities: torch.Tensor | None,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    width: int,
    index: torch.Tensor | None,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The fused op on ragged reads, on their device: ``(out, quals or None, lengths int64)``.

    One Triton launch on CUDA; the numba loop (or the torch ops) on the CPU.
    """
    if index is None or not plan.random:
        index = torch.zeros(starts.shape[0], dtype=torch.int64, device=starts.device)
        epoch = 0
    check_steps(plan.rows, qualities is not None)
    out, quals, lens = run_op(
        _fused_op, sequences, qualities, starts, lengths, index, epoch, width, plan.rows,
        *plan.encoding,
    )  # fmt: skip
    quals = quals if qualities is not None or simulates(plan.rows) else None
    if plan.phred and _has_reads_without_qualities(quals, lens):
        from ..ops._mutate import check_qualities_present

        check_qualities_present(quals, lens, "Mutator")  # raises, naming the read
    return out, quals, lens


def _has_reads_without_qualities(quals: torch.Tensor | None, lens: torch.Tensor) -> bool:
    """After a pass with a phred mutate: does a non-empty read have only 0 quality bytes?

    Then the step-by-step path must run (it raises the error where the
    transforms would).  One bool read back (a synchronisation on CUDA);
    skipped while compiling.
    """
    from ..ops._mutate import reads_without_qualities

    if quals is None:
        return True
    if torch.compiler.is_compiling():
        return False
    return reads_without_qualities(quals, lens).numel() > 0


def run_fused(plan: FusedPlan, batch: dict[str, Any]) -> dict[str, Any] | None:
    """Run ``plan`` on a padded batch in one pass; None when it needs the step-by-step path."""
    if not _happy(batch, plan):
        return None
    seqs, lengths = batch["sequences"], batch["lengths"]
    B, L = seqs.shape
    quals = batch.get("qualities") if plan.reads_qualities else None
    epoch = batch.get("epoch", 0) if plan.random else 0
    if use_triton(seqs):
        starts = torch.arange(B, dtype=torch.int64, device=seqs.device) * L
        done = run_plan_ragged(
            plan, seqs.contiguous().view(-1), None if quals is None else quals.contiguous().view(-1),
            starts, lengths, L, batch.get("index"), epoch,
        )  # fmt: skip
    elif seqs.device.type == "cpu" and numba_ok("fused"):
        starts_np = np.arange(B, dtype=np.int64) * L
        index = batch["index"].contiguous().numpy() if plan.random else np.zeros(B, np.int64)
        done = fused_numba(
            seqs.contiguous().numpy().reshape(-1),
            None if quals is None else quals.contiguous().numpy().reshape(-1),
            starts_np, np.ascontiguousarray(lengths.numpy(), dtype=np.int64), L, index, epoch,
            plan.table, plan.output, _MIN_BASES_PER_THREAD,
        )  # fmt: skip
        if done is not None:
            done = (done[0], done[1], torch.from_numpy(done[2]))
    else:
        return None
    if done is None:
        return None
    out, out_quals, out_lens = done
    if plan.phred and _has_reads_without_qualities(out_quals, out_lens):
        return None  # the step-by-step path raises the error
    result = dict(batch)
    if plan.encoder is not None or any(s.kind != "simulate_qualities" for s in plan.steps):
        result["sequences"] = out  # (SimulateQualities alone leaves the bases as they are)
    if out_quals is not None and plan.touches_qualities:
        result["qualities"] = out_quals
    if plan.crops:
        result["lengths"] = out_lens.to(lengths.dtype)
    return result


def collate_fused(
    plan: FusedPlan,
    sequences: np.ndarray,
    qualities: np.ndarray | None,
    starts: np.ndarray,
    lengths: np.ndarray,
    width: int,
    index: np.ndarray,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor] | None:
    """Collate and transform in one pass, straight from a dataset's packed buffers (CPU).

    Read ``b`` is ``sequences[starts[b]:][:lengths[b]]`` (qualities alike),
    truncated to the batch ``width``; the result is what padding the reads
    into a ``[B, width]`` batch and running the plan's transforms on it gives:
    ``(sequences, qualities or None, lengths int32)``.  None when numba is
    unavailable (the caller pads and transforms step by step).
    """
    if not numba_ok("fused") or len(starts) == 0:
        return None
    if plan.phred and qualities is None and not simulates(plan.rows):
        return None  # a phred mutate with no qualities: the step-by-step path raises
    lens = np.ascontiguousarray(np.minimum(lengths, width), dtype=np.int64)
    starts = starts.astype(np.int64, copy=False)
    if not plan.random:
        index = np.zeros(len(starts), np.int64)
    done = fused_numba(sequences, qualities, starts, lens, width, index, epoch, plan.table,
                       plan.output, _MIN_BASES_PER_THREAD)  # fmt: skip
    if done is None:
        return None
    out, out_quals, out_lens = done
    if plan.phred and _has_reads_without_qualities(out_quals, torch.from_numpy(out_lens)):
        return None  # the step-by-step path raises the error
    return out, out_quals, torch.from_numpy(out_lens.astype(np.int32))
