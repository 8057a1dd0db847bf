"""``mutate``: seeded random substitutions of A/C/G/T bases (Philox, counter-based)."""

from __future__ import annotations

import functools
import math
import struct
import warnings

import torch

from ._checks import check_batch, check_index, check_seed
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_enabled, numba_module, run_rows
from ._philox import (
    STREAM_MUTATE,
    philox4x32,
    probability_threshold,
    read_counters,
)
from ._tables import ACGT, acgt_table

__all__ = ["PHRED", "mutate", "mutate_torch", "phred_thresholds"]

#: ``rate`` of a quality-aware mutation: each base's probability comes from its own quality
PHRED = "phred"
PHRED_OFFSET = 33
MAX_PHRED = 93

_CHUNK_DRAWS = 1 << 16  # Philox calls per pass of the torch code
_COMPACT_BELOW = 0.5  # compute only the needed draws when fewer than this fraction are
# devices where data-dependent indexing (nonzero) is free of host synchronisation
_SPARSE_DEVICES = ("cpu",)


def _substitute(s, r, pos, code, word, threshold, letters) -> None:
    """Mutate ``s[r, pos]`` (hits only): base ``code``, Philox ``word`` -> new letter, case kept.

    ``threshold``: the int ``T``, or an ``int64`` tensor of each hit's own ``T`` (phred).
    """
    j = (word * 3) // threshold  # 0, 1 or 2: uniform over the other three bases
    x = s[r, pos]
    s[r, pos] = letters[(code.to(torch.int64) + 1 + j) & 3] | (x & 0x20)


def mutate_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    threshold: int,
    seed: int,
    epoch: int,
    qualities: torch.Tensor | None = None,
    thresholds: torch.Tensor | None = None,
) -> torch.Tensor:
    """Torch implementation (any device), batch rows in chunks of ~64 K Philox calls.

    Word ``k`` of draw ``d`` goes with position ``4d + k``: the bases are seen
    as ``[rows, D, 4]`` and handled one word lane at a time.  On the CPU only
    the mutated positions are rewritten (found with ``nonzero``), and when
    fewer than half the draws cover an A/C/G/T base of a read (very ragged or
    N-rich batches) only those draws are computed; the words are the same.

    With ``thresholds`` (``int64 [256]``, :func:`phred_thresholds`) and
    ``qualities`` (``uint8 [B, L]``) each base's threshold is
    ``thresholds[qualities[b, i]]`` instead of ``threshold``.
    """
    B, L = seqs.shape
    lens = lengths.to(torch.int64).clamp(0, L).unsqueeze(1)
    cols = torch.arange(L, device=seqs.device)
    out = seqs.masked_fill(cols >= lens, 0).contiguous()
    phred = thresholds is not None and qualities is not None
    if (threshold <= 0 and not phred) or B == 0 or L == 0:
        return out
    D = -(-L // 4)  # draws per read: draw d serves positions 4d .. 4d+3
    c1, c2, c3 = read_counters(index, epoch, STREAM_MUTATE)
    table = acgt_table(seqs.device)
    letters = torch.tensor(list(ACGT), dtype=torch.uint8, device=seqs.device)
    draws = torch.arange(D, device=seqs.device)
    sparse = seqs.device.type in _SPARSE_DEVICES
    step = max(1, _CHUNK_DRAWS // D)
    for r0 in range(0, B, step):
        s = out[r0 : r0 + step]  # a view: written in place
        n = s.shape[0]
        code = table.index_select(0, s.reshape(-1).to(torch.int64)).view(n, L)
        # padding is 0 by now, whose code is 4: only real A/C/G/T bases are candidates
        code4 = torch.nn.functional.pad(code, (0, 4 * D - L), value=4).view(n, D, 4)
        t4: torch.Tensor | int = threshold  # each base's threshold: [n, D, 4] with phred
        if phred:
            q = qualities[r0 : r0 + n].to(torch.int64)
            t4 = torch.nn.functional.pad(thresholds[q], (0, 4 * D - L)).view(n, D, 4)
        rc1, rc2, rc3 = (c[r0 : r0 + n, None] for c in (c1, c2, c3))
        if not sparse:  # dense, no host synchronisation
            sp = torch.nn.functional.pad(s, (0, 4 * D - L)).view(n, D, 4)
            words = philox4x32(seed, draws, rc1, rc2, rc3)
            for k in range(4):
                ck, wk, xk = code4[..., k], words[k], sp[..., k]
                tk = t4[..., k] if phred else threshold
                hit = (ck < 4) & (wk < tk)
                j = (wk * 3) // (tk.clamp(min=1) if phred else max(threshold, 1))
                new = letters[(ck.to(torch.int64) + 1 + j) & 3] | (xk & 0x20)
                xk.copy_(torch.where(hit, new, xk))
            s.copy_(sp.view(n, 4 * D)[:, :L])
            continue
        needed = (code4 < 4).any(-1)  # [n, D]: draws that cover a base
        if int(needed.sum()) < _COMPACT_BELOW * n * D:
            rr, dd = needed.nonzero(as_tuple=True)
            words = philox4x32(seed, dd, rc1[rr, 0], rc2[rr, 0], rc3[rr, 0])
            codes = code4[rr, dd]  # [m, 4]
            tm = t4[rr, dd] if phred else None  # [m, 4]
            for k in range(4):
                tk = tm[:, k] if tm is not None else threshold
                (i,) = ((codes[:, k] < 4) & (words[k] < tk)).nonzero(as_tuple=True)
                d = dd[i]
                ti = tk[i] if tm is not None else threshold
                _substitute(s, rr[i], 4 * d + k, codes[i, k], words[k][i], ti, letters)
        else:
            words = philox4x32(seed, draws, rc1, rc2, rc3)
            for k in range(4):
                ck = code4[..., k]
                tk = t4[..., k] if phred else threshold
                r, d = ((ck < 4) & (words[k] < tk)).nonzero(as_tuple=True)
                ti = tk[r, d] if phred else threshold
                _substitute(s, r, 4 * d + k, ck[r, d], words[k][r, d], ti, letters)
    return out


def float_bits(value: float) -> int:
    """The bits of a float64 as a (signed) int64: how an int op argument carries a float
    (no float reaches the ops: ``torch.compile`` would specialise it)."""
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


def bits_float(bits: int) -> float:
    """The inverse of :func:`float_bits`."""
    return struct.unpack("<d", struct.pack("<q", bits))[0]


def phred_probability(quality_byte: int, scale: float) -> float:
    """``min(1, scale * 10**(-Q / 10))`` of a Phred+33 byte, ``Q`` clamped to ``[0, 93]``."""
    q = min(max(quality_byte - PHRED_OFFSET, 0), MAX_PHRED)
    return min(1.0, scale * 10.0 ** (-q / 10.0))


def check_scale(scale: object) -> float:
    """``scale`` as a float: a finite number ``>= 0`` (else ValueError)."""
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) \
            or scale < 0:  # fmt: skip
        raise ValueError(f"scale must be a finite number >= 0, got {scale!r}")
    return float(scale)


@functools.lru_cache(maxsize=64)
def _phred_table_cpu(scale: float) -> torch.Tensor:
    values = [probability_threshold(phred_probability(x, scale), "probability") for x in range(256)]
    return torch.tensor(values, dtype=torch.int64)


@functools.lru_cache(maxsize=64)
def _phred_table_on(scale: float, device: str) -> torch.Tensor:
    return _phred_table_cpu(scale).to(device)


def phred_thresholds(scale: float, device: torch.device | str = "cpu") -> torch.Tensor:
    """``int64 [256]``: the mutate threshold ``T`` of each quality byte, for ``rate="phred"``.

    Entry ``x`` is :func:`~deepbiop_gpu.ops._philox.probability_threshold` of
    ``min(1, scale * 10**(-Q / 10))`` with ``Q = clamp(x - 33, 0, 93)``,
    computed once on the host in float64 (cached per ``scale`` and device):
    every implementation looks the thresholds up in this table, so none
    evaluates a power.
    """
    return _phred_table_on(check_scale(scale), str(torch.device(device)))


def reads_without_qualities(qualities: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``int64 [k]``: the rows of the non-empty reads whose quality bytes are all 0.

    A read with qualities has one at its first base (no Phred+33 byte is 0),
    so only the reads whose first byte is 0 are looked at in full: one pass
    over ``B`` bytes, and one bool read back (a synchronisation on CUDA).
    """
    B, L = qualities.shape
    lens = lengths.to(torch.int64).clamp(0, L)
    if B == 0 or L == 0:
        return lens.new_empty(0)
    suspect = (qualities[:, 0] == 0) & (lens > 0)
    if not bool(suspect.any()):
        return lens.new_empty(0)
    rows = suspect.nonzero()[:, 0]
    inside = torch.arange(L, device=qualities.device) < lens[rows, None]
    return rows[~((qualities[rows] != 0) & inside).any(dim=1)]


def check_qualities_present(
    qualities: torch.Tensor | None, lengths: torch.Tensor, what: str
) -> None:
    """``rate="phred"`` needs qualities: raise unless every non-empty read has a non-0 one.

    A read whose quality bytes are all 0 has none (no Phred+33 byte is 0: the
    loaders give such rows to FASTA reads).  The check reads one bool back
    from the device (a synchronisation on CUDA); it is skipped while
    ``torch.compile`` traces, where such a read would count as ``Q = 0``.
    """
    hint = ("add SimulateQualities(QualityModel...) before it (it fills reads that have none), "
            "or use a numeric rate")  # fmt: skip
    if qualities is None:
        raise ValueError(f"{what} with rate='phred' needs qualities (batch['qualities']); {hint}")
    if torch.compiler.is_compiling():
        return
    bad = reads_without_qualities(qualities, lengths)
    if bad.numel():
        row = int(bad[0])
        raise ValueError(
            f"{what} with rate='phred' needs qualities, but read {row} of the batch (and "
            f"{bad.shape[0] - 1} more) has none (all its quality bytes are 0); {hint}"
        )


@functools.cache
def _numba_mutate_loops():
    """The CPU loops (numba), or None without numba: ``(numeric, phred)``.  Per read, a
    copy, then :func:`~deepbiop_gpu.ops._fused_cpu.mutate_read` (a numeric rate) or
    :func:`~deepbiop_gpu.ops._fused_cpu.mutate_read_phred` (``rate="phred"``): the rules
    the fused loop uses too.
    """
    if numba_module() is None:
        return None
    import numba
    import numpy as np

    from ._fused_cpu import mutate_read, mutate_read_phred, read_counters

    stream = np.uint64(STREAM_MUTATE)

    @numba.njit(inline="always", nogil=True)
    def copy_row(seqs, b, n, row):  # read b into row, zero padded
        for p in range(n):
            row[p] = seqs[b, p]
        for p in range(n, seqs.shape[1]):
            row[p] = 0

    @numba.njit(nogil=True)
    def numeric(seqs, lens, index, threshold, k0, k1, c2, lut, letters, out, r0, r1):
        t = np.uint64(threshold)
        lanes = np.empty((4, (seqs.shape[1] + 3) // 4), np.uint64)
        for b in range(r0, r1):
            copy_row(seqs, b, lens[b], out[b])
            c1, c3 = read_counters(index[b], stream)
            mutate_read(out[b], lens[b], k0, k1, c1, c2, c3, t, lut, letters, lanes)

    @numba.njit(nogil=True)
    def phred(seqs, quals, lens, index, thr, k0, k1, c2, lut, letters, out, r0, r1):
        lanes = np.empty((4, (seqs.shape[1] + 3) // 4), np.uint64)
        for b in range(r0, r1):
            copy_row(seqs, b, lens[b], out[b])
            c1, c3 = read_counters(index[b], stream)
            mutate_read_phred(out[b], quals[b], lens[b], k0, k1, c1, c2, c3, thr, lut, letters,
                              lanes)  # fmt: skip

    try:  # compile now, on the argument types of the real calls
        read = np.frombuffer(b"ACGTN", np.uint8).reshape(1, 5).copy()
        lut = acgt_table(torch.device("cpu")).numpy()
        keys = (np.uint64(0), np.uint64(0), np.uint64(0))
        numeric(read, np.array([5]), np.array([0]), 1 << 32, *keys, lut, _letters_np(),
                np.zeros_like(read), 0, 1)  # fmt: skip
        phred(read, read.copy(), np.array([5]), np.array([0]), np.zeros(256, np.uint64), *keys,
              lut, _letters_np(), np.zeros_like(read), 0, 1)  # fmt: skip
    except Exception as e:  # a numba that cannot compile them: fall back to the torch code
        warnings.warn(f"numba failed on the mutate loops, using torch: {e}", RuntimeWarning, 2)
        return None
    return numeric, phred


def _letters_np():
    import numpy as np

    return np.frombuffer(ACGT, dtype=np.uint8)


def _mutate_numba(seqs, lengths, index, threshold: int, seed: int, epoch: int,
                  qualities=None, thresholds=None) -> torch.Tensor:  # fmt: skip
    """CPU implementation with numba (same words and rule as :func:`mutate_torch`)."""
    import numpy as np

    B, L = seqs.shape
    phred = thresholds is not None  # rate="phred": the op builds them when qualities come
    if (threshold <= 0 and not phred) or B == 0 or L == 0:
        return mutate_torch(seqs, lengths, index, 0, seed, epoch)
    out = torch.empty((B, L), dtype=torch.uint8)
    lens = lengths.to(torch.int64).clamp(0, L).contiguous()
    keys = (np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF),
            np.uint64(epoch & 0xFFFFFFFF))  # fmt: skip
    tables = (acgt_table(seqs.device).numpy(), _letters_np(), out.numpy())
    if phred:
        run_rows(
            _numba_mutate_loops()[1], B,
            seqs.contiguous().numpy(), qualities.contiguous().numpy(), lens.numpy(),
            index.contiguous().numpy(), thresholds.numpy().view(np.uint64), *keys, *tables,
        )  # fmt: skip
        return out
    run_rows(
        _numba_mutate_loops()[0], B,
        seqs.contiguous().numpy(), lens.numpy(), index.contiguous().numpy(), threshold,
        *keys, *tables,
    )  # fmt: skip
    return out


@torch.library.custom_op("deepbiop_gpu::mutate", mutates_args=())
def _mutate_op(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    threshold: int,
    seed: int,
    epoch: int,
    qualities: torch.Tensor | None = None,
    scale_bits: int = 0,
) -> torch.Tensor:
    # rate="phred" (qualities given): the thresholds of the quality bytes, built here, in
    # the op's body (opaque to torch.compile), from the scale's float64 bits
    thresholds = None
    if qualities is not None:
        thresholds = phred_thresholds(bits_float(scale_bits), seqs.device)
    if use_triton(seqs):
        from deepbiop_gpu.kernels.mutate import mutate_triton

        out = run_triton(mutate_triton, seqs, lengths, index, threshold, seed, epoch, qualities,
                         thresholds)  # fmt: skip
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_enabled() and _numba_mutate_loops() is not None:
        return _mutate_numba(seqs, lengths, index, threshold, seed, epoch, qualities, thresholds)
    return mutate_torch(seqs, lengths, index, threshold, seed, epoch, qualities, thresholds)


@_mutate_op.register_fake
def _(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    threshold: int,
    seed: int,
    epoch: int,
    qualities: torch.Tensor | None = None,
    scale_bits: int = 0,
) -> torch.Tensor:
    return torch.empty_like(seqs, memory_format=torch.contiguous_format)


def mutate(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    rate: float | str,
    seed: int,
    index: torch.Tensor,
    epoch: int = 0,
    *,
    qualities: torch.Tensor | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """Seeded random substitutions: each A/C/G/T base becomes another one with probability ``rate``.

    Every A, C, G or T (either case) inside a read mutates with probability
    ``rate`` to one of the other three bases, uniformly, keeping its case.
    Other bytes (N, IUPAC codes, U, anything else) are left as they are, and
    padding is written as 0.  The output depends only on
    ``(rate, seed, epoch, index[b])`` and the read itself: not on the batch
    size, the batch composition or order, or the device (CPU and CUDA give the
    same bits).

    The rule, exactly (counter layout in :mod:`deepbiop_gpu.ops._philox`):

    * ``T = min(floor(rate * 2**32), 2**32)``, an integer computed here once;
    * the base at position ``i`` of read ``b`` takes word ``i % 4`` of the
      Philox-4x32-10 call with key ``seed`` and counter
      ``(i // 4, index[b] & 0xFFFFFFFF, epoch & 0xFFFFFFFF,
      STREAM_MUTATE | (index[b] >> 32) << 8)``: one call serves 4 positions;
    * it mutates iff ``word < T``; its new base is
      ``"ACGT"[(code + 1 + j) % 4]`` with ``code`` its own (A=0 C=1 G=2 T=3)
      and ``j = (word * 3) // T`` (0, 1 or 2, uniform within ``1/T``).

    Quality-aware (``rate="phred"``): each base has its own ``T``, that of
    probability ``min(1, scale * 10**(-Q / 10))`` with ``Q`` its Phred score
    (``qualities[b, i] - 33``, clamped to ``[0, 93]``): the sequencer's own
    error estimate.  The thresholds are a table of the 256 quality bytes
    (:func:`phred_thresholds`, computed once on the host in float64), so the
    words and the rule stay exactly those above.  ``Q = 0`` (``!``) mutates
    always when ``scale >= 1``; ``Q = 30`` with ``scale = 1`` one base in 1000.
    Every non-empty read needs qualities: ``qualities=None``, or a read whose
    quality bytes are all 0 (the loaders' rows of FASTA reads), raises a
    ``ValueError`` (see :class:`~deepbiop_gpu.SimulateQualities` to give
    reads qualities).  The qualities are only read, never changed.

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    rate : float or "phred"
        Substitution probability per A/C/G/T base, in ``[0, 1]``; or
        ``"phred"``: each base's from its quality.
    seed : int
        Philox key, ``0 <= seed < 2**63``.
    index : Tensor, ``int64 [B]``
        Sample index of each read (``>= 0``), on the device of ``seqs``.
    epoch : int, default 0
        Training epoch, ``>= 0`` (a new epoch gives new substitutions).
    qualities : Tensor, ``uint8 [B, L]``, optional
        Phred+33 quality bytes, shaped like ``seqs`` (``rate="phred"`` only).
    scale : float, default 1.0
        ``rate="phred"``: multiplies every probability (``>= 0``; capped at 1).

    Returns
    -------
    Tensor, ``uint8 [B, L]``, a new contiguous tensor.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"ACGTNacgt"), list(b"GGGG\\0\\0\\0\\0\\0")], dtype=torch.uint8)
    >>> out = mutate(seqs, torch.tensor([9, 4]), rate=1.0, seed=0, index=torch.arange(2))
    >>> bool((out[0, :4] != seqs[0, :4]).all()), chr(out[0, 4]), bool(out[0, 5:].gt(96).all())
    (True, 'N', True)
    >>> torch.equal(mutate(seqs, torch.tensor([9, 4]), 0.0, 0, torch.arange(2))[1, 4:],
    ...             torch.zeros(5, dtype=torch.uint8))
    True

    Quality-aware: ``!`` (Q 0) always mutates, ``~`` (Q 93) practically never:

    >>> quals = torch.tensor([list(b"!!!!~~~~~"), list(b"~~~~\\0\\0\\0\\0\\0")], dtype=torch.uint8)
    >>> out = mutate(seqs, torch.tensor([9, 4]), "phred", 0, torch.arange(2), qualities=quals)
    >>> out[0, :4].ne(seqs[0, :4]).all().item(), torch.equal(out[0, 4:], seqs[0, 4:])
    (True, True)
    """
    check_batch(seqs, lengths)
    check_seed(seed)
    check_seed(epoch, "epoch")
    check_index(index, seqs)
    if isinstance(rate, str):
        if rate != PHRED:
            raise TypeError(f"rate must be a float in [0, 1] or 'phred', got {rate!r}")
        scale = check_scale(scale)
        if qualities is not None:
            if not isinstance(qualities, torch.Tensor):
                raise TypeError(f"qualities must be a torch.Tensor, got {type(qualities).__name__}")
            if qualities.dtype != torch.uint8 or qualities.shape != seqs.shape:
                raise ValueError(f"qualities must be uint8 shaped like seqs {tuple(seqs.shape)}, "
                                 f"got {qualities.dtype} {tuple(qualities.shape)}")  # fmt: skip
            if qualities.device != seqs.device:
                raise ValueError(f"qualities is on {qualities.device} but seqs on {seqs.device}")
        check_qualities_present(qualities, lengths, "mutate")
        bits = float_bits(scale)
        return run_op(_mutate_op, seqs, lengths, index, 0, seed, epoch, qualities, bits)
    if scale != 1.0:
        raise ValueError(
            f"scale applies to rate='phred' only, got rate={rate!r} and scale={scale!r}"
        )
    threshold = probability_threshold(rate, "rate")
    return run_op(_mutate_op, seqs, lengths, index, threshold, seed, epoch)
