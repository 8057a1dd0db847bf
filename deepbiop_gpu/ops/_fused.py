"""``fused``: a pipeline of crop / reverse-complement / mutate steps and an encoder, in one pass.

(Also quality steps: a quality-aware mutate, ``Mutator(rate="phred")``, anywhere,
and ``SimulateQualities`` as the first step.)

The op behind the fused path of :class:`~deepbiop_gpu.Compose` and the
loaders.  It reads *ragged* reads (one flat byte buffer, the start of each
read in it, its length) and writes the padded, encoded batch, every read
going through the steps in order, its qualities following its bases:

* CUDA tensors: one Triton kernel launch for the whole batch
  (:mod:`deepbiop_gpu.kernels.fused`);
* CPU tensors: the numba loop of :mod:`deepbiop_gpu.ops._fused_cpu` (one
  compiled pass per read, threaded), or, without numba, the torch
  implementations of the single ops one after the other.

All three give the same bits as the transforms one by one: they draw the same
Philox words (:mod:`deepbiop_gpu.ops._philox`) and apply the same rules.

A step is a :class:`FusedStep`; the transforms describe themselves as one
(``Sampler.fused_step()``, ...).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

from ._checks import check_int, check_seed
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_ok, run_numba
from ._crop import MODES
from ._integer import PAD_OFFSET, integer_table
from ._mutate import bits_float, float_bits
from ._one_hot import DTYPES, LAYOUTS, UNKNOWN_MODES, one_hot_table
from ._philox import STREAM_CROP, STREAM_MUTATE, STREAM_REVERSE_COMPLEMENT, STREAM_UNKNOWN_BASE
from ._simulate_qualities import STREAM_SIMULATE_QUALITIES
from ._tables import ACGT, acgt_table, alphabet_columns, check_alphabet, code_table, complement_table

__all__ = ["ENCODINGS", "STEP_KINDS", "FusedStep", "fused", "fused_torch", "output_width"]

# what the loops and the kernel call the steps (steps[s, 0] / the kernel's kind codes)
STEP_KINDS = ("crop", "reverse_complement", "mutate", "simulate_qualities")
PHRED_MODE = 1  # a mutate row's mode: rate="phred" (0: a numeric rate)
ENCODINGS = ("bytes", "integer", "one_hot")


class FusedStep(NamedTuple):
    """One step of a fused pipeline, as a transform describes itself (``fused_step()``).

    Augmentations (``kind`` in :data:`STEP_KINDS`) and encoders (``"one_hot"``,
    ``"integer"``); build them with the class methods.

    ==================== ================================================================
    field                meaning
    ==================== ================================================================
    ``kind``             ``"crop"``, ``"reverse_complement"``, ``"mutate"``,
                         ``"one_hot"`` or ``"integer"``
    ``value``            crop: the window length; reverse_complement / mutate: the
                         probability as the integer threshold ``T`` of
                         :func:`~deepbiop_gpu.ops._philox.probability_threshold`;
                         integer: the padding value
    ``seed``             the Philox key of a random step (one_hot: of ``unknown="random"``)
    ``mode``             crop: one of :data:`~deepbiop_gpu.ops._crop.MODES`;
                         one_hot: the layout (``"NLC"`` / ``"NCL"``)
    ``random``           the step draws per-read numbers: it needs ``batch["index"]``
    ``dtype``            one_hot: the output dtype
    ``unknown``          one_hot: ``"zeros"``, ``"uniform"`` or ``"random"`` (each
                         unknown base of the final read gets a drawn column)
    ``alphabet``         one_hot / integer: ``"dna"``, ``"rna"`` or ``"protein"``
    ``params``           simulate_qualities: ``QualityModel.params()`` and
                         ``only_missing`` (``(kind, a, b, sign, sd, only_missing)``)
    ==================== ================================================================

    A quality-aware mutate step (``Mutator(rate="phred")``) has mode ``"phred"``
    and the float64 bits of its ``scale`` as ``value``.

    Examples
    --------
    >>> FusedStep.crop(100, "center").kind
    'crop'
    """

    kind: str
    value: int = 0
    seed: int = 0
    mode: str = ""
    random: bool = False
    dtype: torch.dtype | None = None
    unknown: str = ""
    alphabet: str = "dna"
    params: tuple[int, ...] = ()

    @classmethod
    def crop(cls, length: int, mode: str = "random", seed: int = 0) -> FusedStep:
        return cls("crop", length, seed, mode, mode == "random")

    @classmethod
    def reverse_complement(cls, threshold: int, seed: int = 0) -> FusedStep:
        return cls("reverse_complement", threshold, seed, "", 0 < threshold < 1 << 32)

    @classmethod
    def mutate(cls, threshold: int, seed: int = 0) -> FusedStep:
        return cls("mutate", threshold, seed, "", True)  # the op asks for the index even at 0

    @classmethod
    def mutate_phred(cls, scale: float, seed: int = 0) -> FusedStep:
        """``rate="phred"``: the value carries ``scale`` as its float64 bits."""
        return cls("mutate", float_bits(scale), seed, "phred", True)

    @classmethod
    def simulate_qualities(
        cls, params: tuple[int, int, int, int, int], seed: int = 0, only_missing: bool = True
    ) -> FusedStep:
        """``params``: ``QualityModel.params()``, ``(kind, a, b, sign, sd)``."""
        return cls("simulate_qualities", 0, seed, "", True, params=(*params, int(only_missing)))

    @classmethod
    def one_hot(
        cls, dtype: torch.dtype, layout: str, unknown: str, seed: int = 0, alphabet: str = "dna"
    ) -> FusedStep:
        random = unknown == "random"
        return cls("one_hot", 0, seed if random else 0, layout, random, dtype, unknown, alphabet)

    @classmethod
    def integer(cls, pad_value: int, alphabet: str = "dna") -> FusedStep:
        return cls("integer", pad_value, alphabet=alphabet)

    @property
    def is_encoder(self) -> bool:
        return self.kind in ("one_hot", "integer")


def pack_simulate(kind: int, b: int, sign: int, sd: int, only_missing: int) -> int:
    """A simulate_qualities row's ``mode``: the model's integers but ``a`` (that is the value).

    Bits: 0 the model (0 uniform, 1 normal), 1 ``only_missing``, 2 a negative
    ``sign``, 3..30 ``b`` (``< 2**28``), 32..62 ``sd`` (``< 2**31``).
    """
    if not (0 <= b < 1 << 28 and 0 <= sd < 1 << 31):
        raise ValueError(f"quality model out of range for the fused step: b={b}, sd={sd}")
    return kind | (only_missing << 1) | ((sign < 0) << 2) | (b << 3) | (sd << 32)


def unpack_simulate(mode: int) -> tuple[int, int, int, int, bool]:
    """``(kind, b, sign, sd, only_missing)`` of :func:`pack_simulate`."""
    sign = -1 if mode >> 2 & 1 else 1
    return mode & 1, (mode >> 3) & ((1 << 28) - 1), sign, mode >> 32, bool(mode >> 1 & 1)


def step_rows(steps: Sequence[FusedStep]) -> list[int]:
    """The augmentation steps as flat ``[kind, value, seed, mode]`` int rows (the op's ``steps``).

    mutate: mode 1 for ``rate="phred"`` (value: the scale's float64 bits);
    simulate_qualities: value ``a``, mode :func:`pack_simulate` of the rest.
    """
    flat: list[int] = []
    for s in steps:
        kind = STEP_KINDS.index(s.kind)
        if s.kind == "simulate_qualities":
            model, a, b, sign, sd, only_missing = s.params
            flat += [kind, a, s.seed, pack_simulate(model, b, sign, sd, only_missing)]
            continue
        mode = MODES.index(s.mode) if s.kind == "crop" else 0
        if s.kind == "mutate" and s.mode == "phred":
            mode = PHRED_MODE
        flat += [kind, s.value, s.seed, mode]
    return flat


def is_phred_mutate(steps: Sequence[int], s: int) -> bool:
    """Is the flat step row starting at ``s`` a mutate step with ``rate="phred"``?"""
    return steps[s] == 2 and steps[s + 3] == PHRED_MODE


def simulates(steps: Sequence[int]) -> bool:
    """Do the flat step rows have a simulate_qualities step (the output has qualities)?"""
    return any(steps[s] == 3 for s in range(0, len(steps), 4))


def phred_tables(steps: Sequence[int], device: torch.device) -> torch.Tensor:
    """``int64 [S, 256]``: row ``s`` the quality-byte thresholds of a phred mutate step ``s``
    (zeros for the other steps); one table per plan and device (cached)."""
    return _phred_tables(tuple(steps), str(device))


@functools.lru_cache(maxsize=64)
def _phred_tables(steps: tuple[int, ...], device: str) -> torch.Tensor:
    from ._mutate import phred_thresholds

    rows = [
        phred_thresholds(bits_float(steps[s + 1]))
        if is_phred_mutate(steps, s)
        else torch.zeros(256, dtype=torch.int64)
        for s in range(0, len(steps), 4)
    ]
    table = torch.stack(rows) if rows else torch.zeros((1, 256), dtype=torch.int64)
    return table.to(device)


def check_steps(steps: Sequence[int], has_quals: bool) -> None:
    """The plan rules the passes rely on: a simulate_qualities step comes first (its draws are
    keyed on the read's positions before any step), and a phred mutate needs qualities."""
    for s in range(0, len(steps), 4):
        if steps[s] == 3:
            if s:
                raise ValueError("a simulate_qualities step must be the first step of a fused plan")
            has_quals = True
        if is_phred_mutate(steps, s) and not has_quals:
            raise ValueError(
                "a mutate step with rate='phred' needs qualities: pass qualities=, or a "
                "simulate_qualities step (SimulateQualities) first"
            )


def output_width(width: int, steps: list[int]) -> int:
    """The output width: the last crop's window, else the batch ``width``."""
    out = width
    for s in range(0, len(steps), 4):
        if steps[s] == 0:
            out = steps[s + 1]
    return out


def encoder_args(encoder: FusedStep | None) -> tuple[str, torch.dtype, str, str, int, str]:
    """The op's ``(encoding, dtype, layout, unknown, pad_value, alphabet)`` of an encoder step
    (None: bytes).

    ``pad_value`` is the encoder's one scalar: the integer encoder's padding
    value, or the Philox seed of one-hot ``unknown="random"`` (0 otherwise).
    """
    if encoder is None:
        return "bytes", torch.uint8, "NLC", "zeros", 0, "dna"
    if encoder.kind == "integer":
        return "integer", torch.int64, "NLC", "zeros", encoder.value, encoder.alphabet
    seed = encoder.seed if encoder.unknown == "random" else 0
    dtype: torch.dtype = encoder.dtype  # type: ignore[assignment]
    return "one_hot", dtype, encoder.mode, encoder.unknown, seed, encoder.alphabet


def _output_shape(B: int, W: int, encoding: str, layout: str, alphabet: str = "dna") -> tuple[int, ...]:
    if encoding != "one_hot":
        return (B, W)
    C = len(alphabet_columns(alphabet))
    return (B, C, W) if layout == "NCL" else (B, W, C)


# --- the CPU loop (numba) -------------------------------------------------------------


class _Output:
    """How the CPU loop writes a base: raw-bit table rows, and the tensor they make."""

    __slots__ = ("table", "planes", "dtype", "squeeze", "random", "seed", "columns", "codes",
                 "letters")  # fmt: skip

    def __init__(
        self,
        table: np.ndarray,
        planes: bool,
        dtype: torch.dtype,
        squeeze: bool,
        seed: int | None = None,
        alphabet: str = "dna",
    ) -> None:
        self.table = table  # [257, k] raw bits: rows 0..255 the bytes, row 256 padding
        self.planes = planes  # one-hot NCL: table[x, c] goes to channel c; else rows of k words
        self.dtype = dtype  # the output tensor's dtype (a view of the bits)
        self.squeeze = squeeze  # [B, L, 1] words -> [B, L] (bytes, integers)
        # one-hot unknown="random": unknown bases are written as the row of a drawn A/C/G/T
        self.random = seed is not None
        self.seed = np.uint64(seed or 0)  # its Philox key
        # one-hot: the alphabet's C columns, its byte -> id table (unknown: C), its letters
        # (an unknown base drawn column j is written as the row of letters[j])
        self.columns = len(alphabet_columns(alphabet))
        self.codes = code_table(torch.device("cpu"), alphabet).numpy()
        self.letters = np.frombuffer(alphabet_columns(alphabet).encode(), np.uint8).copy()

    def allocate(self, rows: int, width: int) -> tuple[np.ndarray, torch.Tensor]:
        """The loop's output array and the tensor sharing its memory."""
        table = self.table
        C = self.columns
        shape = (rows, C, width) if self.planes else (rows, width, table.shape[1])
        bits = np.empty(shape, table.dtype)
        if bits.size == 0:  # numpy gives empty arrays zero strides, which torch cannot view
            final = (
                (rows, width)
                if self.squeeze
                else ((rows, C, width) if self.planes else (rows, width, C))
            )
            return bits, torch.empty(final, dtype=self.dtype)
        out = torch.from_numpy(bits).view(self.dtype)
        return bits, (out.view(rows, width) if self.squeeze else out)


@functools.cache
def cpu_output(
    encoding: str, dtype: torch.dtype, layout: str, unknown: str, pad_value: int, alphabet: str = "dna"
) -> _Output:
    """The CPU loop's output tables for an encoding (one-hot random: ``pad_value``, the seed)."""
    cpu = torch.device("cpu")
    if encoding == "bytes":
        table = np.arange(PAD_OFFSET + 1, dtype=np.int64)
        table[PAD_OFFSET] = 0
        return _Output(table.astype(np.uint8).reshape(-1, 1), False, torch.uint8, True)
    if encoding == "integer":
        table = integer_table(pad_value, cpu, alphabet)[: PAD_OFFSET + 1].numpy().reshape(-1, 1)
        return _Output(table, False, torch.int64, True)
    seed = pad_value if unknown == "random" else None
    kind = "zeros" if seed is not None else unknown
    table = one_hot_table(dtype, kind, cpu, alphabet)[: PAD_OFFSET + 1]
    if layout == "NCL":
        bits = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[table.element_size()]
        return _Output(table.view(bits).numpy(), True, dtype, False, seed, alphabet)
    # NLC: the C values of a base as wide words (dna: one or two; uint8: int32 words)
    wide = table.view(torch.int64) if table.element_size() >= 2 else table.view(torch.int32)
    return _Output(wide.numpy(), False, dtype, False, seed, alphabet)


@functools.cache
def _byte_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    cpu = torch.device("cpu")
    letters = np.frombuffer(ACGT, dtype=np.uint8).copy()
    codes = code_table(cpu).numpy()  # one-hot's codes (U counts as T): which bases are unknown
    return complement_table(cpu).numpy(), acgt_table(cpu).numpy(), letters, codes


class _Shape:
    """Stands in for a ``[B, L]`` tensor where :func:`run_numba` only reads the shape."""

    __slots__ = ("shape",)

    def __init__(self, *shape: int) -> None:
        self.shape = shape


_STREAM_IDS = (STREAM_CROP, STREAM_REVERSE_COMPLEMENT, STREAM_MUTATE, STREAM_UNKNOWN_BASE)
_STREAMS = tuple(np.uint64(s) for s in _STREAM_IDS)
_NO_QUALS = np.empty((0, 0), np.uint8)  # stand-ins of the loop's quality arguments
_NO_BYTES = np.empty(0, np.uint8)

# the loop's threads: at least this many bases each (~0.5 ms of work; handing a
# range to another thread costs ~50 us on small VMs, more than it saves below that)
MIN_BASES_PER_THREAD = 1 << 17


def fused_numba(
    src: np.ndarray,
    qsrc: np.ndarray | None,
    starts: np.ndarray,
    lens: np.ndarray,
    width: int,
    index: np.ndarray,
    epoch: int,
    steps: np.ndarray,
    output: _Output,
    min_bases: int = MIN_BASES_PER_THREAD,
) -> tuple[torch.Tensor, torch.Tensor | None, np.ndarray] | None:
    """The numba loop on reads ``src[starts[b]:][:lens[b]]`` of a batch ``width`` wide.

    ``starts``, ``lens`` (clamped to ``[0, width]``) and ``index`` are ``int64``
    arrays; ``steps`` is ``int64 [S, 4]`` (:func:`step_rows`).  Returns
    ``(sequences, qualities or None, lengths int64)`` in the output
    encoding, or None if numba could not compile the loop.
    """
    from ._fused_cpu import fused_loop

    B = len(starts)
    crops = [int(s[1]) for s in steps if s[0] == 0]
    out_width = crops[-1] if crops else width
    width_max = max(width, 1, *crops)
    out_bits, out = output.allocate(B, out_width)
    has_quals = qsrc is not None
    flat_steps = tuple(int(v) for v in steps.reshape(-1))
    quals_out = has_quals or simulates(flat_steps)  # a simulate_qualities step makes them
    out_quals = np.empty((B, out_width), np.uint8) if quals_out else _NO_QUALS
    out_lens = np.empty(B, np.int64)
    comp, acgt, letters, _ = _byte_tables()
    args = (src, qsrc if has_quals else _NO_BYTES, has_quals, starts, lens, width, index, epoch,
            steps, width_max, comp, acgt, letters, output.table, output.planes, out_bits,
            out_quals, out_lens, output.random, output.seed, output.codes, *_STREAMS,
            output.letters, _phred_tables(flat_steps, "cpu").numpy().view(np.uint64),
            _normal_table_np(), quals_out, np.uint64(STREAM_SIMULATE_QUALITIES))  # fmt: skip
    if not run_numba("fused", fused_loop, _Shape(B, width_max), *args, min_bases=min_bases):
        return None
    return out, (torch.from_numpy(out_quals) if quals_out else None), out_lens


@functools.cache
def _normal_table_np() -> np.ndarray:
    from ._simulate_qualities import normal_table

    return normal_table(torch.device("cpu")).numpy()


# --- the torch implementation (any device; the CPU without numba) ----------------------


def fused_torch(
    sequences: torch.Tensor,
    qualities: torch.Tensor | None,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    epoch: int,
    width: int,
    steps: list[int],
    encoding: str,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    pad_value: int,
    alphabet: str = "dna",
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """The single ops' torch implementations one after the other, on the padded batch."""
    from ..packed import pad_ragged
    from ._crop import crop_torch, take_windows_torch
    from ._integer import integer_torch
    from ._mutate import mutate_torch
    from ._one_hot import one_hot_random_torch, one_hot_torch
    from ._random_gate import bernoulli_gate_torch
    from ._reverse_complement import reverse_complement_torch
    from ._simulate_qualities import fill_qualities, normal_table, simulate_qualities_torch

    lens = lengths.to(torch.int64).clamp(0, width)
    starts = starts.to(torch.int64)
    seqs = pad_ragged(sequences, starts, lens, width)
    quals = None if qualities is None else pad_ragged(qualities, starts, lens, width)
    for s in range(0, len(steps), 4):
        kind, value, seed, mode = steps[s : s + 4]
        if kind == 0:
            seqs, lens, windows = crop_torch(seqs, lens, index, value, MODES[mode], seed, epoch)
            if quals is not None:
                quals = take_windows_torch(quals, windows, lens, value)
        elif kind == 1:
            apply = None
            if value < 1 << 32:
                apply = bernoulli_gate_torch(index, value, seed, epoch, STREAM_REVERSE_COMPLEMENT)
            seqs = reverse_complement_torch(seqs, lens, apply)
            if quals is not None:
                quals = reverse_complement_torch(quals, lens, apply, complement=False)
        elif kind == 3:  # simulate_qualities: value a, mode the rest of the model
            model, b, sign, sd, only_missing = unpack_simulate(mode)
            table = normal_table(seqs.device)
            sim = simulate_qualities_torch(lens, index, table, model, value, b, sign, sd, seed,
                                           epoch, seqs.shape[1])  # fmt: skip
            quals = fill_qualities(quals, sim, lens, only_missing)
        elif mode == PHRED_MODE:  # mutate, rate="phred"
            if quals is None:
                raise ValueError("a mutate step with rate='phred' needs qualities")
            table = phred_tables(steps, seqs.device)[s // 4]
            seqs = mutate_torch(seqs, lens, index, 0, seed, epoch, quals, table)
        elif value > 0:
            seqs = mutate_torch(seqs, lens, index, value, seed, epoch)
    if encoding == "integer":
        out = integer_torch(seqs, lens, pad_value, alphabet)
    elif encoding == "one_hot" and unknown == "random":  # pad_value: the seed
        out = one_hot_random_torch(seqs, lens, index, dtype, layout, pad_value, epoch, alphabet)
    elif encoding == "one_hot":
        out = one_hot_torch(seqs, lens, dtype, layout, unknown, alphabet)
    else:
        out = seqs
    return out, quals, lens


# --- the op ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _device_params(steps: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """``int64 [S, 2]`` (value, seed) of the steps on ``device``: one copy per plan and device."""
    rows = [[steps[s + 1], steps[s + 2]] for s in range(0, len(steps), 4)] or [[0, 0]]
    # non_blocking: no host sync (a pageable source is staged by the driver before this returns)
    return torch.tensor(rows, dtype=torch.int64).to(device, non_blocking=True)


@torch.library.custom_op("deepbiop_gpu::fused", mutates_args=())
def _fused_op(
    sequences: torch.Tensor,
    qualities: torch.Tensor | None,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    epoch: int,
    width: int,
    steps: list[int],
    encoding: str,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    pad_value: int,
    alphabet: str = "dna",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    B = starts.shape[0]
    done = None
    if use_triton(sequences):
        from deepbiop_gpu.kernels.fused import fused_triton

        params = _device_params(tuple(steps), sequences.device)
        done = run_triton(
            fused_triton, sequences, qualities, starts, lengths, index, epoch, width, steps,
            params, encoding, dtype, layout, unknown, pad_value, alphabet,
        )  # fmt: skip
    if done is None and sequences.device.type == "cpu" and numba_ok("fused") and B:
        output = cpu_output(encoding, dtype, layout, unknown, pad_value, alphabet)
        lens_np = np.clip(lengths.numpy().astype(np.int64), 0, width)
        looped = fused_numba(
            sequences.numpy(), None if qualities is None else qualities.numpy(),
            starts.to(torch.int64).numpy(), lens_np, width,
            index.to(torch.int64).contiguous().numpy(), epoch,
            np.array(steps, dtype=np.int64).reshape(-1, 4), output,
        )  # fmt: skip
        if looped is not None:
            done = (looped[0], looped[1], torch.from_numpy(looped[2]))
    if done is None:
        done = fused_torch(sequences, qualities, starts, lengths, index, epoch, width, steps,
                           encoding, dtype, layout, unknown, pad_value, alphabet)  # fmt: skip
    out, quals, lens = done
    if quals is None:
        quals = sequences.new_empty((0, 0))
    return out, quals, lens


@_fused_op.register_fake
def _(
    sequences: torch.Tensor,
    qualities: torch.Tensor | None,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    epoch: int,
    width: int,
    steps: list[int],
    encoding: str,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    pad_value: int,
    alphabet: str = "dna",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    B = starts.shape[0]
    W = output_width(width, steps)
    out_dtype = {"bytes": torch.uint8, "integer": torch.int64}.get(encoding, dtype)
    out = sequences.new_empty(_output_shape(B, W, encoding, layout, alphabet), dtype=out_dtype)
    quals = sequences.new_empty((B, W) if qualities is not None or simulates(steps) else (0, 0))
    return out, quals, starts.new_empty((B,), dtype=torch.int64)


def fused(
    sequences: torch.Tensor,
    starts: torch.Tensor,
    lengths: torch.Tensor,
    width: int,
    steps: Sequence[FusedStep] = (),
    encoder: FusedStep | None = None,
    *,
    qualities: torch.Tensor | None = None,
    index: torch.Tensor | None = None,
    epoch: int = 0,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Pad ragged reads into a batch, run augmentation steps and an encoder: one pass.

    Read ``b`` is ``sequences[starts[b] : starts[b] + min(lengths[b], width)]``.
    It goes through ``steps`` in order (crop, reverse-complement, mutate,
    any order and number, with the rules of :func:`crop`,
    :func:`reverse_complement` + :func:`bernoulli_gate` and :func:`mutate`,
    ``rate="phred"`` included, which needs ``qualities`` or a first
    simulate_qualities step; a simulate_qualities step, the rule of
    :func:`simulate_qualities` and ``SimulateQualities``, must come first),
    its qualities following its bases, and is written once, padded, in the
    encoding of ``encoder`` (one-hot, integer, or bytes when None).  The
    result equals padding the reads into a ``[B, width]`` batch and running
    the ops one by one, bit for bit, on every device.

    Parameters
    ----------
    sequences : Tensor, ``uint8 [N]``
        Flat buffer holding the reads (e.g. ``PackedReads.sequences``).
    starts : Tensor, ``int64 [B]``
        Where each read starts in ``sequences`` (int64: buffers may exceed 2 GB).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Read lengths; clamped to ``[0, width]``.
    width : int
        The batch width (longer reads are truncated to it).
    steps : sequence of :class:`FusedStep`
        Augmentations, e.g. ``[t.fused_step() for t in (Sampler(100), Mutator(0.01))]``.
    encoder : :class:`FusedStep`, optional
        ``OneHotEncoder(...).fused_step()`` or ``IntegerEncoder(...).fused_step()``.
    qualities : Tensor, ``uint8 [N]``, optional
        Qualities, laid out like ``sequences``.
    index : Tensor, ``int64 [B]``, optional
        Sample index of each read; needed by the random steps.
    epoch : int

    Returns
    -------
    (sequences, qualities or None, lengths ``int64 [B]``): ``sequences`` is
    ``uint8 [B, W]`` (bytes), ``int64 [B, W]`` (integer) or one-hot
    ``[B, W, 4]`` / ``[B, 4, W]``, with ``W`` the last crop's length or
    ``width``; qualities ``uint8 [B, W]`` (when ``qualities`` is given or a
    simulate_qualities step makes them, else None); lengths after the crops.

    Examples
    --------
    >>> flat = torch.tensor(list(b"ACGTTTGA"), dtype=torch.uint8)
    >>> out, _, n = fused(flat, torch.tensor([0, 4]), torch.tensor([4, 4]), 4,
    ...                   [FusedStep.reverse_complement(1 << 32)])
    >>> [bytes(r) for r in out.tolist()], n.tolist()
    ([b'ACGT', b'TCAA'], [4, 4])
    """
    width = check_int(width, "width", low=0)
    check_seed(epoch, "epoch")
    for name, t in (("sequences", sequences), ("starts", starts), ("lengths", lengths)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if sequences.dtype != torch.uint8 or sequences.dim() != 1:
        raise ValueError(f"sequences must be uint8 [N], got {sequences.dtype} {tuple(sequences.shape)}")
    B = starts.shape[0]
    if starts.dtype != torch.int64 or starts.dim() != 1 or lengths.shape != (B,):
        raise ValueError(
            f"starts must be int64 [B] and lengths [B], got {starts.dtype} {tuple(starts.shape)} "
            f"and {tuple(lengths.shape)}"
        )
    if qualities is not None and (qualities.shape != sequences.shape or qualities.dtype != torch.uint8):
        raise ValueError("qualities must be uint8, shaped like sequences")
    rows = step_rows(steps)
    check_steps(rows, qualities is not None)
    random_encoder = encoder is not None and encoder.is_encoder and encoder.random
    needs_index = random_encoder or any(s.random for s in steps)
    if index is None:
        if needs_index:
            raise ValueError("random steps need index: the sample index of each read (int64 [B])")
        index = torch.zeros(B, dtype=torch.int64, device=starts.device)
    for name, t in (("starts", starts), ("lengths", lengths), ("index", index)):
        if t.device != sequences.device:
            raise ValueError(f"{name} is on {t.device} but sequences is on {sequences.device}")
    if encoder is not None and not encoder.is_encoder:
        raise ValueError(f"encoder must be a one_hot or integer step, got {encoder.kind!r}")
    encoding, dtype, layout, unknown, pad_value, alphabet = encoder_args(encoder)
    if encoding == "one_hot" and (dtype not in DTYPES or layout not in LAYOUTS or unknown not in UNKNOWN_MODES):
        raise ValueError(f"bad one-hot encoder {encoder!r}")
    check_alphabet(alphabet)
    if encoding == "one_hot" and unknown == "random":
        check_seed(pad_value, "seed")
    if qualities is not None and not simulates(rows) and any(
        is_phred_mutate(rows, s) for s in range(0, len(rows), 4)
    ):
        _check_ragged_qualities(qualities, starts, lengths, width)
    out, quals, lens = run_op(
        _fused_op, sequences, qualities, starts, lengths, index, epoch, width, rows,
        encoding, dtype, layout, unknown, pad_value, alphabet,
    )  # fmt: skip
    return out, (quals if qualities is not None or simulates(rows) else None), lens


def _check_ragged_qualities(qualities, starts, lengths, width) -> None:
    """:func:`~deepbiop_gpu.ops._mutate.check_qualities_present` on ragged qualities.

    Screens each read's first quality byte in place (no Phred+33 byte is 0);
    only when some non-empty read starts with a 0 are the reads padded and
    checked in full, which names the read.
    """
    from ..packed import pad_ragged
    from ._mutate import check_qualities_present

    if torch.compiler.is_compiling():
        return
    lens = lengths.to(torch.int64).clamp(0, width)
    if qualities.numel():
        first = qualities[torch.where(lens > 0, starts, 0).clamp(max=qualities.numel() - 1)]
        if not bool(((first == 0) & (lens > 0)).any()):  # one bool read back, as before
            return
    check_qualities_present(pad_ragged(qualities, starts, lens, width), lens, "a fused mutate step")
