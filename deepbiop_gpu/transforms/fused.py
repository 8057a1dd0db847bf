"""The fused CPU path of :class:`~deepbiop_gpu.Compose`: every step of a read in one pass.

On the CPU, ``Compose([Sampler, ReverseComplement, Mutator, OneHotEncoder])``
would run five op calls (the gate, two reverse-complements, mutate, one-hot),
each a pass over the whole batch plus tens of microseconds of Python.  When
numba is installed, :class:`Compose` instead runs the leading run of
:class:`Sampler`, :class:`ReverseComplement` and :class:`Mutator` steps, and
an :class:`OneHotEncoder` or :class:`IntegerEncoder` ending it, as one
compiled loop: each read is copied once into a small buffer, cropped,
reverse-complemented and mutated there (its qualities following), and
written once in its final encoding.  Large batches (long reads) are split
over ``torch.get_num_threads()`` threads (the loop releases the GIL).  The
loop itself, and the Philox it draws from, live in
:mod:`deepbiop_gpu.ops._fused_cpu` (compiled once, cached on disk).

The result is bit-identical to running the transforms one after the other:
the loop draws the same Philox words (:mod:`deepbiop_gpu.ops._philox`) and
applies the same rules as the ops, which the tests check on random batches,
every edge case and every order of the steps.  Anything else (CUDA tensors,
``torch.compile``, a batch the ops would reject, subclasses of the
transforms, no numba, ``DEEPBIOP_GPU_NUMBA=0``) takes the step-by-step path,
which also raises the errors.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..ops._checks import check_batch, check_index, check_seed
from ..ops._numba import numba_ok, run_numba
from ..ops._philox import (
    STREAM_CROP,
    STREAM_MUTATE,
    STREAM_REVERSE_COMPLEMENT,
    probability_threshold,
)
from ..ops._tables import ACGT, acgt_table, complement_table
from ..ops.crop import MODES
from ..ops.integer import PAD_OFFSET, integer_table
from ..ops.one_hot import one_hot_table
from .augment import Mutator, ReverseComplement, Sampler
from .encoders import IntegerEncoder, OneHotEncoder

__all__ = ["BYTES_PLAN", "FusedPlan", "collate_fused", "fused_plan", "run_fused"]

# step kinds and crop modes, as the loop sees them
_CROP, _REVCOMP, _MUTATE = 0, 1, 2
_CROP_MODES = {mode: i for i, mode in enumerate(MODES)}  # as window_start numbers them

# the loop's threads: at least this many bases each (~0.5 ms of work; handing a
# range to another thread costs ~50 us on small VMs, more than it saves below that)
_MIN_BASES_PER_THREAD = 1 << 17


class _Output:
    """How the loop writes a base: raw-bit table rows, and the tensor they make."""

    __slots__ = ("table", "planes", "dtype", "squeeze")

    def __init__(self, table: np.ndarray, planes: bool, dtype: torch.dtype, squeeze: bool) -> None:
        self.table = table  # [257, k] raw bits: rows 0..255 the bytes, row 256 padding
        self.planes = planes  # one-hot NCL: table[x, c] goes to channel c; else rows of k words
        self.dtype = dtype  # the output tensor's dtype (a view of the bits)
        self.squeeze = squeeze  # [B, L, 1] words -> [B, L] (bytes, integers)

    def allocate(self, rows: int, width: int) -> tuple[np.ndarray, torch.Tensor]:
        """The loop's output array and the tensor sharing its memory."""
        table = self.table
        shape = (rows, 4, width) if self.planes else (rows, width, table.shape[1])
        bits = np.empty(shape, table.dtype)
        if bits.size == 0:  # numpy gives empty arrays zero strides, which torch cannot view
            final = (
                (rows, width)
                if self.squeeze
                else ((rows, 4, width) if self.planes else (rows, width, 4))
            )
            return bits, torch.empty(final, dtype=self.dtype)
        out = torch.from_numpy(bits).view(self.dtype)
        return bits, (out.view(rows, width) if self.squeeze else out)


@functools.cache
def _output(kind: str, args: tuple) -> _Output:
    cpu = torch.device("cpu")
    if kind == "bytes":
        table = np.arange(PAD_OFFSET + 1, dtype=np.int64)
        table[PAD_OFFSET] = 0
        return _Output(table.astype(np.uint8).reshape(-1, 1), False, torch.uint8, True)
    if kind == "integer":
        table = integer_table(args[0], cpu)[: PAD_OFFSET + 1].numpy().reshape(-1, 1)
        return _Output(table, False, torch.int64, True)
    dtype, layout, unknown = args
    table = one_hot_table(dtype, unknown, cpu)[: PAD_OFFSET + 1]
    if layout == "NCL":
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[table.element_size()]
        return _Output(table.view(bits).numpy(), True, dtype, False)
    # NLC: the 4 values of a base as one or two wide words (uint8: one int32)
    wide = table.view(torch.int64) if table.element_size() >= 2 else table.view(torch.int32)
    return _Output(wide.numpy(), False, dtype, False)


def _output_key(encoder: Any) -> tuple[str, tuple]:
    """The :func:`_output` arguments of an encoder (None: bytes out)."""
    if encoder is None:
        return "bytes", ()
    if type(encoder) is IntegerEncoder:
        return "integer", (encoder.pad_value,)
    return "one_hot", (encoder.dtype, encoder.layout, encoder.unknown)


class FusedPlan:
    """What the loop runs: the steps, the output encoding, how many transforms it covers."""

    __slots__ = ("steps", "random", "touches_qualities", "crops", "output", "count")

    def __init__(
        self, steps: list[tuple[int, int, int, int]], random: bool, output: _Output, count: int
    ):
        self.steps = np.array(steps, dtype=np.int64).reshape(-1, 4)
        self.random = random  # some step needs batch["index"]
        self.touches_qualities = any(s[0] in (_CROP, _REVCOMP) for s in steps)
        self.crops = [s[1] for s in steps if s[0] == _CROP]
        self.output = output  # how the bases are written (bytes, integers or one-hot)
        self.count = count  # transforms covered, from the start of the Compose


@functools.lru_cache(maxsize=256)
def _cached_plan(steps: tuple, random: bool, output_key: tuple, count: int) -> FusedPlan:
    """Plans are rebuilt from the transforms' settings at every call (they may change
    between batches), but built only once per distinct setting."""
    return FusedPlan(list(steps), random, _output(*output_key), count)


BYTES_PLAN = FusedPlan([], False, _output("bytes", ()), 0)
"""No steps, bytes out: the loop as a plain (prefetching) gather of padded rows."""


def fused_plan(transforms: Sequence[Any]) -> FusedPlan | None:
    """The plan for the leading fusable transforms, or None when there are none.

    Fusable: :class:`Sampler`, :class:`ReverseComplement` and :class:`Mutator`
    (exact types: a subclass may override ``forward``), optionally ended by a
    :class:`OneHotEncoder` or :class:`IntegerEncoder`.
    """
    steps: list[tuple[int, int, int, int]] = []
    random = False
    encoder = None
    count = 0
    for t in transforms:
        kind = type(t)
        if kind is ReverseComplement:
            if t.p > 0.0:
                steps.append((_REVCOMP, probability_threshold(t.p, "p"), t.seed, 0))
                random |= t.random
        elif kind is Mutator:
            steps.append((_MUTATE, probability_threshold(t.rate, "rate"), t.seed, 0))
            random = True  # the op asks for the index even at rate 0
        elif kind is Sampler:
            steps.append((_CROP, t.length, t.seed, _CROP_MODES[t.mode]))
            random |= t.random
        elif kind is OneHotEncoder or kind is IntegerEncoder:
            encoder = t
            count += 1
            break
        else:
            break
        count += 1
    if not steps and encoder is None:
        return None
    return _cached_plan(tuple(steps), random, _output_key(encoder), count)


def _loop():
    """The fused loop (numba, compiled once and cached on disk): see :mod:`..ops._fused_cpu`."""
    from ..ops._fused_cpu import fused_loop

    return fused_loop




@functools.cache
def _byte_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cpu = torch.device("cpu")
    letters = np.frombuffer(ACGT, dtype=np.uint8).copy()
    return complement_table(cpu).numpy(), acgt_table(cpu).numpy(), letters


def _happy(batch: Any, plan: FusedPlan) -> bool:
    """Is ``batch`` one the step-by-step path would accept, on the CPU?  (Else it raises there.)"""
    if not isinstance(batch, dict):
        return False
    seqs, lengths = batch.get("sequences"), batch.get("lengths")
    if not isinstance(seqs, torch.Tensor) or not isinstance(lengths, torch.Tensor):
        return False
    if seqs.device.type != "cpu" or lengths.device.type != "cpu" or seqs.requires_grad:
        return False
    try:
        check_batch(seqs, lengths)
        if seqs.shape[0] == 0:
            return False
        quals = batch.get("qualities")
        if quals is not None and plan.touches_qualities:
            if (
                not isinstance(quals, torch.Tensor)
                or quals.dtype != torch.uint8
                or quals.shape != seqs.shape
            ):
                return False
            if quals.device.type != "cpu":
                return False
        if plan.random:
            if "index" not in batch:
                return False
            check_index(batch["index"], seqs)
            check_seed(batch.get("epoch", 0), "epoch")
    except (TypeError, ValueError):
        return False
    return True


def _run(
    plan: FusedPlan,
    src: np.ndarray,
    qsrc: np.ndarray | None,
    starts: np.ndarray,
    lens: np.ndarray,
    width: int,
    index: np.ndarray,
    epoch: int,
) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray] | None:
    """The loop on reads ``src[starts[b]:][:lens[b]]`` (``int64``) of a batch ``width`` wide.

    Returns ``(sequences, qualities or None, lengths int64)`` in the plan's
    output encoding, or None if numba could not compile the loop.
    """
    B = len(starts)
    out_width = plan.crops[-1] if plan.crops else width
    width_max = max(width, 1, *plan.crops)
    output = plan.output
    out_bits, out = output.allocate(B, out_width)
    has_quals = qsrc is not None
    out_quals = np.empty((B, out_width), np.uint8) if has_quals else _NO_QUALS
    out_lens = np.empty(B, np.int64)
    comp, acgt, letters = _byte_tables()
    args = (src, qsrc if has_quals else _NO_BYTES, has_quals, starts, lens, width, index, epoch,
            plan.steps, width_max, comp, acgt, letters, output.table, output.planes, out_bits,
            out_quals, out_lens, *_STREAMS)  # fmt: skip
    if not run_numba(
        "fused", _loop(), _Shape(B, width_max), *args, min_bases=_MIN_BASES_PER_THREAD
    ):
        return None
    return out, (torch.from_numpy(out_quals) if has_quals else None), out_lens


class _Shape:
    """Stands in for a ``[B, L]`` tensor where :func:`run_numba` only reads the shape."""

    __slots__ = ("shape",)

    def __init__(self, *shape: int) -> None:
        self.shape = shape


_STREAMS = tuple(np.uint64(s) for s in (STREAM_CROP, STREAM_REVERSE_COMPLEMENT, STREAM_MUTATE))
_NO_QUALS = np.empty((0, 0), np.uint8)  # stand-ins of the loop's quality arguments
_NO_BYTES = np.empty(0, np.uint8)


def run_fused(plan: FusedPlan, batch: dict[str, Any]) -> dict[str, Any] | None:
    """Run ``plan`` on a padded batch in one pass; None when it needs the step-by-step path."""
    if not numba_ok("fused") or not _happy(batch, plan):
        return None
    seqs, lengths = batch["sequences"], batch["lengths"]
    B, L = seqs.shape
    quals = batch.get("qualities") if plan.touches_qualities else None
    starts = np.arange(B, dtype=np.int64) * L
    index = batch["index"].contiguous().numpy() if plan.random else np.zeros(B, np.int64)
    epoch = batch.get("epoch", 0) if plan.random else 0
    done = _run(
        plan, seqs.contiguous().numpy().reshape(-1),
        None if quals is None else quals.contiguous().numpy().reshape(-1),
        starts, np.ascontiguousarray(lengths.numpy(), dtype=np.int64), L, index, epoch,
    )  # fmt: skip
    if done is None:
        return None
    out, out_quals, out_lens = done
    result = dict(batch)
    result["sequences"] = out
    if out_quals is not None:
        result["qualities"] = out_quals
    if plan.crops:
        result["lengths"] = torch.from_numpy(out_lens).to(lengths.dtype)
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
    """Collate and transform in one pass, straight from a dataset's packed buffers.

    Read ``b`` is ``sequences[starts[b]:][:lengths[b]]`` (qualities alike),
    truncated to the batch ``width``; the result is what padding the reads
    into a ``[B, width]`` batch and running the plan's transforms on it gives:
    ``(sequences, qualities or None, lengths int32)``.  None when numba is
    unavailable (the caller pads and transforms step by step).
    """
    if not numba_ok("fused") or len(starts) == 0:
        return None
    lens = np.ascontiguousarray(np.minimum(lengths, width), dtype=np.int64)
    starts = starts.astype(np.int64, copy=False)
    if not plan.random:
        index = np.zeros(len(starts), np.int64)
    done = _run(plan, sequences, qualities, starts, lens, width, index, epoch)
    if done is None:
        return None
    out, out_quals, out_lens = done
    return out, out_quals, torch.from_numpy(out_lens.astype(np.int32))
