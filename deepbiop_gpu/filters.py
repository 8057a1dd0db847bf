"""Filter, deduplicate and subsample reads: one vectorised pass over packed columns.

:class:`ReadFilter` holds the criteria; it is used in three places:

* ``ReadFilter(...)(reads)`` on a :class:`~deepbiop_gpu.PackedReads` returns
  the kept reads (``.mask(reads)`` the ``bool [n]`` mask, ``.report`` the
  counts of the last call);
* ``Dataset.filter(...)`` returns a view of a dataset (an index array over
  the same buffers, labels kept);
* :func:`filter_file` streams files chunk by chunk in constant memory and
  writes the kept reads.

All three give the same reads: the decisions depend only on each read and
its index in the input (counted across chunks and files), never on how the
input was chunked.

Criteria, applied in this order (the report counts a read under the first
criterion that removes it):

========================  ==============================================================
``min_length``            drop reads shorter than this
``max_length``            drop reads longer than this
``min_quality``           drop reads whose mean quality is below this (Phred); the mean is
                          ``quality_mean="error"`` (default: the mean of the error
                          probabilities ``10^(-Q/10)``, back to Phred, as nanoq / NanoFilt
                          / chopper do) or ``"arithmetic"`` (the mean of the Phred values)
``low_quality_threshold`` with ``max_low_quality_fraction``: drop reads whose fraction of
                          bases with Phred ``< low_quality_threshold`` is above the limit
                          (fastp ``-q`` / ``-u``; a missing one takes fastp's default,
                          15 / 0.4)
``max_n``                 drop reads with more than this many ``N`` / ``n``
``max_n_fraction``        drop reads whose ``N`` fraction is above this
``gc_range``              ``(lo, hi)``: drop reads whose G+C fraction of their A/C/G/T
                          bases (either case) is outside ``[lo, hi]``; reads without any
                          A/C/G/T base are dropped
``names``                 keep only reads with these names (an iterable of names, or the
                          path of a file with one name per line, its first word)
``exclude_names``         drop reads with these names (same forms)
``predicate``             a vectorised callable ``PackedReads -> bool [n]`` (True: keep)
``dedup``                 ``"exact"``: keep the first read of each sequence (byte for byte,
                          case-sensitive); ``"canonical"``: a read's reverse complement
                          counts as the same sequence
``subsample``             a float ``p``: keep each read with probability ``p``, drawn by
                          Philox keyed on ``(seed, read index)``; an int ``k``: keep ``k``
                          reads, a seeded uniform choice (bottom-k of the same per-read
                          keys: a reservoir over a stream)
========================  ==============================================================

Dedup and subsample see only the reads that passed the criteria before
them: the first *kept* copy of a sequence stays, and subsampling picks among
the reads that pass everything else.  An empty read has mean quality 0.

Duplicates are found by a 128-bit hash of each sequence (two independent
multilinear hashes with 64-bit Philox keys per position).  For two distinct
sequences, each 64-bit half collides with probability at most ``2**-56``
(bytes differ by less than ``2**8``), so both collide with probability at
most ``2**-112``; over ``n`` distinct sequences the chance that any two are
taken for each other is below ``n**2 / 2**113``: ``1e-16`` for a billion
reads.  A stream keeps one hash per distinct kept sequence in a Python set
(about 100 bytes each).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from .packed import PackedReads, StringColumn

__all__ = ["ReadFilter", "FilterReport", "filter_file", "sequence_hashes", "CRITERIA"]

#: Every criterion, in the order they are applied (the report's rows).
CRITERIA = (
    "min_length",
    "max_length",
    "min_quality",
    "low_quality",
    "max_n",
    "max_n_fraction",
    "gc_range",
    "names",
    "exclude_names",
    "predicate",
    "dedup",
    "subsample",
)
_QUALITY_CRITERIA = ("min_quality", "low_quality")
#: Philox stream of the subsample draws (other ops use 1-3; see ops/_philox.py).
STREAM_SUBSAMPLE = 0x53
_HASH_KEY = 0x6465647570  # fixed key of the dedup hash's per-position multipliers
_BLOCK = 1 << 16  # reads per block in the hash (bounds its temporaries)


# ------------------------------------------------------------------ report
class FilterReport:
    """What a filter did: reads in, reads removed per criterion, reads kept.

    Each removed read is counted once, under the first criterion (in
    :data:`CRITERIA` order) that removes it.  Prints as a small table;
    :meth:`to_dict` gives the numbers.

    Examples
    --------
    >>> r = FilterReport(["min_length"], reads_in=10, removed={"min_length": 3})
    >>> r.kept, r.to_dict()["removed"]
    (7, {'min_length': 3})
    """

    def __init__(
        self,
        criteria: Sequence[str],
        reads_in: int = 0,
        removed: dict[str, int] | None = None,
        bases_in: int = 0,
        bases_kept: int = 0,
    ) -> None:
        self.criteria = list(criteria)
        self.reads_in = int(reads_in)
        self.removed = {c: 0 for c in self.criteria}
        for c, k in (removed or {}).items():
            self.removed[c] = int(k)
        self.bases_in = int(bases_in)
        self.bases_kept = int(bases_kept)

    @property
    def kept(self) -> int:
        return self.reads_in - sum(self.removed.values())

    def to_dict(self) -> dict[str, Any]:
        """``{"reads_in", "removed": {criterion: count}, "kept", "bases_in", "bases_kept"}``."""
        return {
            "reads_in": self.reads_in,
            "removed": dict(self.removed),
            "kept": self.kept,
            "bases_in": self.bases_in,
            "bases_kept": self.bases_kept,
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FilterReport):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __str__(self) -> str:
        def pct(k: int) -> str:
            return f"{100.0 * k / self.reads_in:6.2f}%" if self.reads_in else "      -"

        rows = [("reads in", f"{self.reads_in:,}", "")]
        rows += [(f"removed: {c}", f"{k:,}", pct(k)) for c, k in self.removed.items()]
        rows.append(("kept", f"{self.kept:,}", pct(self.kept)))
        w0 = max(len(r[0]) for r in rows)
        w1 = max(len(r[1]) for r in rows)
        lines = [f"{a:<{w0}}  {b:>{w1}}  {c}".rstrip() for a, b, c in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        removed = ", ".join(f"{c}={k}" for c, k in self.removed.items())
        return f"FilterReport(reads_in={self.reads_in}, {removed}, kept={self.kept})"


# ------------------------------------------------------------------ helpers
def _segment_sum(values: np.ndarray, offsets: np.ndarray, dtype: Any = np.int64) -> np.ndarray:
    """``[n]``: the sum of ``values[offsets[i]:offsets[i+1]]`` (0 for an empty row)."""
    n = len(offsets) - 1
    lengths = offsets[1:] - offsets[:-1]
    if n == 0:
        return np.zeros(0, dtype=dtype)
    m = int(lengths[0])
    if m and np.all(lengths == m):  # equal lengths: a 2-D row sum
        return values.reshape(n, m).sum(axis=1, dtype=dtype)
    out = np.zeros(n, dtype=dtype)
    full = lengths > 0
    if full.any():
        out[full] = np.add.reduceat(values, offsets[:-1][full], dtype=dtype)
    return out


@functools.lru_cache(maxsize=4)
def _byte_table(members: bytes) -> np.ndarray:
    t = np.zeros(256, dtype=np.uint8)
    t[np.frombuffer(members, dtype=np.uint8)] = 1
    return t


@functools.lru_cache(maxsize=2)
def _error_table() -> np.ndarray:
    """``float64 [256]``: error probability ``10^(-Q/10)`` of each phred+33 character."""
    q = np.arange(256, dtype=np.float64) - 33
    return np.power(10.0, -np.maximum(q, 0) / 10.0)


def _loops():
    """The compiled loops (:mod:`deepbiop_gpu._fastx_loops`), or None without numba."""
    from .writers import _loops as loops

    return loops()


@functools.lru_cache(maxsize=1)
def _base_classes() -> np.ndarray:
    """``uint8 [256]``: bit 1 for N/n, bit 2 for A/C/G/T (either case), bit 4 for G/C."""
    t = _byte_table(b"Nn") | (_byte_table(b"ACGTacgt") << 1) | (_byte_table(b"GCgc") << 2)
    return t.astype(np.uint8)


def _base_counts(seq: np.ndarray, offsets: np.ndarray, need_gc: bool):
    """Per read: N count, A/C/G/T count and G/C count (the last two None when not needed)."""
    loops = _loops()
    n = len(offsets) - 1
    if loops is not None:
        ns, acgt, gc = (np.empty(n, np.int64) for _ in range(3))
        loops.base_counts(seq, offsets, _base_classes(), ns, acgt, gc)
        return ns, acgt, gc
    ns = _count(_byte_table(b"Nn"), seq, offsets)
    if not need_gc:
        return ns, None, None
    return (
        ns,
        _count(_byte_table(b"ACGTacgt"), seq, offsets),
        _count(_byte_table(b"GCgc"), seq, offsets),
    )


def _count(table: np.ndarray, seq: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``int64 [n]``: per read, how many bytes ``table`` marks."""
    return _segment_sum(table[seq], offsets)


@functools.lru_cache(maxsize=8)
def _hash_keys(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Two ``uint64 [length + 1]`` multiplier arrays (the last one weighs the length)."""
    from .ops._philox import philox4x32

    j = torch.arange(length + 1, dtype=torch.int64)
    z = torch.zeros_like(j)
    w = [x.numpy().astype(np.uint64) for x in philox4x32(_HASH_KEY, j, z, z, z)]
    k1 = (w[0] << np.uint64(32)) | w[1]
    k2 = (w[2] << np.uint64(32)) | w[3]
    return k1, k2


def _keys_for(longest: int) -> tuple[np.ndarray, np.ndarray]:
    size = 256
    while size < longest:
        size *= 2
    return _hash_keys(size)


def sequence_hashes(
    reads: PackedReads, canonical: bool = False, rows: np.ndarray | None = None
) -> np.ndarray:
    """128-bit hash of each read's sequence: ``uint64 [n, 2]``.

    ``h = sum_j K[j] * byte[j] + K[-1] * length`` (mod ``2**64``) for two
    independent key arrays ``K``; equal sequences have equal hashes.  With
    ``canonical``, the smaller (as a pair) of the hashes of the sequence
    and of its reverse complement, so both strands hash alike.  ``rows``:
    hash only those reads (``uint64 [len(rows), 2]``).

    Examples
    --------
    >>> recs = [("a", b"ACCG", None), ("b", b"ACCG", None), ("c", b"CGGT", None)]
    >>> r = PackedReads.from_records(recs)
    >>> h = sequence_hashes(r)
    >>> bool((h[0] == h[1]).all()), bool((h[0] == h[2]).all())
    (True, False)
    >>> hc = sequence_hashes(r, canonical=True)
    >>> bool((hc[0] == hc[2]).all())
    True
    """
    n = len(reads) if rows is None else len(rows)
    out = np.zeros((n, 2), dtype=np.uint64)
    if n == 0:
        return out
    seq = reads.sequences.cpu().numpy()
    offsets = reads.offsets.cpu().numpy()
    lengths = offsets[1:] - offsets[:-1]
    k1, k2 = _keys_for(int(lengths.max()) + 1)
    from .ops._tables import complement_table

    comp = complement_table(torch.device("cpu")).numpy().astype(np.uint8)
    loops = _loops()
    if loops is not None:
        index = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        loops.multilinear_hashes(seq, offsets, index, k1, k2, comp, canonical, out)
        return out
    if rows is not None:
        picked = reads[np.asarray(rows, dtype=np.int64)]
        seq, offsets = picked.sequences.cpu().numpy(), picked.offsets.cpu().numpy()
    if not canonical:
        comp = None
    for a in range(0, n, _BLOCK):
        b = min(n, a + _BLOCK)
        block_offsets = offsets[a : b + 1] - offsets[a]
        bases = seq[offsets[a] : offsets[b]]
        fwd = _multilinear(bases, block_offsets, k1, k2, reverse=False)
        if comp is not None:
            rev = _multilinear(comp[bases], block_offsets, k1, k2, reverse=True)
            swap = (rev[:, 0] < fwd[:, 0]) | ((rev[:, 0] == fwd[:, 0]) & (rev[:, 1] < fwd[:, 1]))
            fwd[swap] = rev[swap]
        out[a:b] = fwd
    return out


def _multilinear(
    bases: np.ndarray, offsets: np.ndarray, k1: np.ndarray, k2: np.ndarray, *, reverse: bool
) -> np.ndarray:
    """The two hash words of each row; ``reverse``: position ``j`` weighs as ``len - 1 - j``."""
    n = len(offsets) - 1
    lengths = offsets[1:] - offsets[:-1]
    total = int(offsets[-1])
    out = np.empty((n, 2), dtype=np.uint64)
    tail = lengths.astype(np.uint64)
    last = len(k1) - 1
    m = int(lengths[0]) if n else 0
    if total and np.all(lengths == m):  # equal lengths: rows times the key vector
        rows = bases.reshape(n, m).astype(np.uint64)
        for w, k in enumerate((k1, k2)):
            keys = k[:m][::-1] if reverse else k[:m]
            out[:, w] = (rows * keys).sum(axis=1, dtype=np.uint64) + tail * k[last]
        return out
    pos = np.arange(total, dtype=np.int64) - np.repeat(offsets[:-1], lengths)
    if reverse:
        pos = np.repeat(lengths - 1, lengths) - pos
    b64 = bases.astype(np.uint64)
    for w, k in enumerate((k1, k2)):
        out[:, w] = _segment_sum(k[pos] * b64, offsets, dtype=np.uint64) + tail * k[last]
    return out


def _as_names(spec: Iterable[str] | str | os.PathLike[str], what: str) -> np.ndarray:
    """Names from an iterable or a file (first word of each non-empty line), as ``S`` bytes."""
    if isinstance(spec, (str, os.PathLike)):
        path = os.fspath(spec)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{what}={path!r}: no such file (pass a list of names, or the path of a file "
                "with one name per line)"
            )
        with open(path, "rb") as fh:
            names = [line.split()[0] for line in fh if line.strip()]
    else:
        names = [n.encode() if isinstance(n, str) else bytes(n) for n in spec]
    if not names:
        return np.zeros(0, dtype="S1")
    return np.unique(np.array(names, dtype=object).astype(bytes))


def _name_matrix(names: StringColumn) -> np.ndarray:
    """Every name as fixed-width ``S`` bytes (NUL-padded; names hold no NUL)."""
    from .packed import pad_rows_numpy

    offs = names.offsets
    lengths = offs[1:] - offs[:-1]
    width = max(int(lengths.max()) if len(lengths) else 0, 1)
    padded = pad_rows_numpy([names.data], offs[:-1], lengths, width)[0]
    return np.ascontiguousarray(padded).view(f"S{width}").reshape(-1)


def _names_in(names: StringColumn, wanted: np.ndarray) -> np.ndarray:
    if len(names) == 0 or len(wanted) == 0:
        return np.zeros(len(names), dtype=bool)
    matrix = _name_matrix(names)
    width = matrix.dtype.itemsize
    fits = np.char.str_len(wanted) <= width
    return np.isin(matrix, wanted[fits].astype(f"S{width}"))


def _subsample_words(seed: int, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two 32-bit Philox words per read, keyed on ``(seed, read index)``."""
    index = np.ascontiguousarray(index, dtype=np.int64)
    loops = _loops()
    if loops is not None:
        w0, w1 = np.empty(len(index), np.uint64), np.empty(len(index), np.uint64)
        k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)
        loops.read_words01(k0, k1, index, STREAM_SUBSAMPLE, w0, w1)
        return w0.astype(np.int64), w1.astype(np.int64)
    from .ops._philox import read_words

    w = read_words(seed, torch.from_numpy(index), 0, STREAM_SUBSAMPLE)
    return w[0].numpy(), w[1].numpy()


# ------------------------------------------------------------------ filter
class ReadFilter:
    """Criteria for keeping reads; call it on :class:`~deepbiop_gpu.PackedReads`.

    Parameters
    ----------
    min_length, max_length : int, optional
    min_quality : float, optional
        Minimum mean read quality (Phred).
    quality_mean : {"error", "arithmetic"}
        How ``min_quality`` averages (see the module docstring).
    low_quality_threshold : int, optional
    max_low_quality_fraction : float, optional
    max_n : int, optional
    max_n_fraction : float, optional
    gc_range : (float, float), optional
    names, exclude_names : iterable of str, or a path, optional
    predicate : callable, optional
        ``predicate(reads) -> bool [n]`` (numpy or torch), True for reads to keep.
    dedup : {None, "exact", "canonical"}
    subsample : float or int, optional
        A float in ``[0, 1]``: keep probability; an int ``>= 0``: reads to keep.
    seed : int
        Key of the subsample draws.

    Every criterion is vectorised over the packed arrays (one pass per
    criterion, no Python per read).  A quality criterion on reads without
    qualities raises ``ValueError``.

    Examples
    --------
    >>> from deepbiop_gpu import read
    >>> reads = read("tests/data/fastq/illumina_novaseq_800reads.fastq")
    >>> keep = ReadFilter(min_quality=30, max_n=0, dedup="exact")
    >>> kept = keep(reads)
    >>> len(kept) == keep.report.kept == int(keep.mask(reads).sum())
    True
    >>> keep.report.to_dict()["reads_in"]
    800
    """

    def __init__(
        self,
        *,
        min_length: int | None = None,
        max_length: int | None = None,
        min_quality: float | None = None,
        quality_mean: str = "error",
        low_quality_threshold: int | None = None,
        max_low_quality_fraction: float | None = None,
        max_n: int | None = None,
        max_n_fraction: float | None = None,
        gc_range: tuple[float, float] | None = None,
        names: Iterable[str] | str | os.PathLike[str] | None = None,
        exclude_names: Iterable[str] | str | os.PathLike[str] | None = None,
        predicate: Callable[[PackedReads], Any] | None = None,
        dedup: str | None = None,
        subsample: float | int | None = None,
        seed: int = 0,
    ) -> None:
        if quality_mean not in ("error", "arithmetic"):
            raise ValueError(f"quality_mean must be 'error' or 'arithmetic', got {quality_mean!r}")
        if dedup not in (None, "exact", "canonical"):
            raise ValueError(f"dedup must be None, 'exact' or 'canonical', got {dedup!r}")
        for key, value in (
            ("min_length", min_length),
            ("max_length", max_length),
            ("max_n", max_n),
        ):
            if value is not None and (isinstance(value, bool) or int(value) != value or value < 0):
                raise ValueError(f"{key} must be a non-negative integer, got {value!r}")
        for key, value in (
            ("max_low_quality_fraction", max_low_quality_fraction),
            ("max_n_fraction", max_n_fraction),
        ):
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{key} must be in [0, 1], got {value!r}")
        if gc_range is not None:
            lo, hi = gc_range
            if not 0 <= lo <= hi <= 1:
                raise ValueError(
                    f"gc_range must be (lo, hi) with 0 <= lo <= hi <= 1, got {gc_range!r}"
                )
            gc_range = (float(lo), float(hi))
        if predicate is not None and not callable(predicate):
            raise TypeError(f"predicate must be callable, got {type(predicate).__name__}")
        self._subsample_threshold: int | None = None
        if subsample is not None:
            if isinstance(subsample, bool):
                raise TypeError("subsample must be a float (probability) or an int (count)")
            if isinstance(subsample, (int, np.integer)):
                if subsample < 0:
                    raise ValueError(f"subsample count must be >= 0, got {subsample}")
                subsample = int(subsample)
            else:
                from .ops._philox import probability_threshold

                subsample = float(subsample)
                self._subsample_threshold = probability_threshold(subsample, "subsample")
        if not 0 <= int(seed) < 2**63:
            raise ValueError(f"seed must be in [0, 2**63), got {seed}")
        low = low_quality_threshold is not None or max_low_quality_fraction is not None
        self.min_length = min_length
        self.max_length = max_length
        self.min_quality = min_quality
        self.quality_mean = quality_mean
        self.low_quality_threshold = (
            (15 if low_quality_threshold is None else low_quality_threshold) if low else None
        )
        self.max_low_quality_fraction = (
            (0.4 if max_low_quality_fraction is None else max_low_quality_fraction) if low else None
        )
        self.max_n = max_n
        self.max_n_fraction = max_n_fraction
        self.gc_range = gc_range
        self.names = None if names is None else _as_names(names, "names")
        self.exclude_names = (
            None if exclude_names is None else _as_names(exclude_names, "exclude_names")
        )
        self.predicate = predicate
        self.dedup = dedup
        self.subsample = subsample
        self.seed = int(seed)
        settings = {
            "min_length": min_length,
            "max_length": max_length,
            "min_quality": min_quality,
            "low_quality": self.low_quality_threshold,
            "max_n": max_n,
            "max_n_fraction": max_n_fraction,
            "gc_range": gc_range,
            "names": self.names,
            "exclude_names": self.exclude_names,
            "predicate": predicate,
            "dedup": dedup,
            "subsample": subsample,
        }
        self.criteria = [c for c in CRITERIA if settings[c] is not None]
        self.report = FilterReport(self.criteria)

    @property
    def needs_qualities(self) -> bool:
        return any(c in self.criteria for c in _QUALITY_CRITERIA)

    # ---------------------------------------------------------- per chunk
    def _fails(self, reads: PackedReads) -> list[tuple[str, np.ndarray]]:
        """``(criterion, bool [n] fail mask)`` for the stateless criteria, in order."""
        offsets = reads.offsets.cpu().numpy()
        lengths = offsets[1:] - offsets[:-1]
        n = len(lengths)
        out: list[tuple[str, np.ndarray]] = []
        if self.needs_qualities and reads.qualities is None:
            wanted = ", ".join(c for c in self.criteria if c in _QUALITY_CRITERIA)
            raise ValueError(
                f"these reads have no qualities (FASTA, or SAM/BAM without QUAL), so the quality "
                f"criteria ({wanted}) cannot be applied"
            )
        seq = (
            reads.sequences.cpu().numpy()
            if any(c in self.criteria for c in ("max_n", "max_n_fraction", "gc_range"))
            else None
        )
        if self.min_length is not None:
            out.append(("min_length", lengths < self.min_length))
        if self.max_length is not None:
            out.append(("max_length", lengths > self.max_length))
        if self.needs_qualities:
            err, qsum, low = self._quality_stats(reads.qualities.cpu().numpy(), offsets)
            if self.min_quality is not None:
                out.append(
                    ("min_quality", self._mean_quality(err, qsum, lengths) < self.min_quality)
                )
            if self.low_quality_threshold is not None:
                out.append(
                    ("low_quality", low / np.maximum(lengths, 1) > self.max_low_quality_fraction)
                )
        if self.max_n is not None or self.max_n_fraction is not None or self.gc_range is not None:
            ns, acgt, gc = _base_counts(seq, offsets, need_gc=self.gc_range is not None)
            if self.max_n is not None:
                out.append(("max_n", ns > self.max_n))
            if self.max_n_fraction is not None:
                out.append(("max_n_fraction", ns / np.maximum(lengths, 1) > self.max_n_fraction))
            if self.gc_range is not None:
                lo, hi = self.gc_range
                frac = gc / np.maximum(acgt, 1)
                out.append(("gc_range", (acgt == 0) | (frac < lo) | (frac > hi)))
        if self.names is not None:
            out.append(("names", ~_names_in(reads.names, self.names)))
        if self.exclude_names is not None:
            out.append(("exclude_names", _names_in(reads.names, self.exclude_names)))
        if self.predicate is not None:
            keep = self.predicate(reads)
            if isinstance(keep, torch.Tensor):
                keep = keep.detach().cpu().numpy()
            keep = np.asarray(keep)
            if keep.shape != (n,) or keep.dtype != np.bool_:
                raise ValueError(
                    f"predicate must return a bool mask of shape ({n},), "
                    f"got {keep.dtype} {keep.shape}"
                )
            out.append(("predicate", ~keep))
        return out

    def _quality_stats(self, qual: np.ndarray, offsets: np.ndarray):
        """Per read: sum of error probabilities, sum of phred+33 bytes, low-quality base count."""
        loops = _loops()
        n = len(offsets) - 1
        threshold = self.low_quality_threshold if self.low_quality_threshold is not None else 0
        if loops is not None:
            err, qsum, low = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
            loops.quality_sums(qual, offsets, _error_table(), _low_table(threshold), err, qsum, low)
            return err, qsum, low
        err = qsum = low = None
        if self.min_quality is not None:
            if self.quality_mean == "error":
                err = _segment_sum(_error_table()[qual], offsets, dtype=np.float64)
            else:
                qsum = _segment_sum(qual, offsets)
        if self.low_quality_threshold is not None:
            low = _count(_low_table(threshold), qual, offsets)
        return err, qsum, low

    def _mean_quality(self, err, qsum, lengths: np.ndarray) -> np.ndarray:
        safe = np.maximum(lengths, 1)
        if self.quality_mean == "arithmetic":
            return qsum / safe - 33.0 * (lengths > 0)
        with np.errstate(divide="ignore"):
            return -10.0 * np.log10(np.where(lengths > 0, err / safe, 1.0)) + 0.0  # no -0.0

    def mean_quality(self, reads: PackedReads) -> np.ndarray:
        """``float64 [n]``: each read's mean quality (Phred) by :attr:`quality_mean`; 0 when empty.

        >>> r = PackedReads.from_records([("a", b"AC", b"+5"), ("b", b"", b"")])
        >>> ReadFilter(quality_mean="arithmetic").mean_quality(r).tolist()
        [15.0, 0.0]
        >>> [round(q, 2) for q in ReadFilter().mean_quality(r).tolist()]
        [12.6, 0.0]
        """
        if reads.qualities is None:
            raise ValueError("these reads have no qualities (FASTA, or SAM/BAM without QUAL)")
        offsets = reads.offsets.cpu().numpy()
        err, qsum, _ = ReadFilter(min_quality=0, quality_mean=self.quality_mean)._quality_stats(
            reads.qualities.cpu().numpy(), offsets
        )
        return self._mean_quality(err, qsum, offsets[1:] - offsets[:-1])

    def _run(self, streaming: bool = False) -> _FilterRun:
        return _FilterRun(self, streaming)

    def mask(self, reads: PackedReads) -> np.ndarray:
        """``bool [n]``: which reads pass every criterion (also sets :attr:`report`)."""
        run = self._run()
        mask = run.chunk_mask(reads)
        mask = run.finish_in_memory(mask)
        offsets = reads.offsets.cpu().numpy()
        run.report.bases_kept = (
            int(offsets[-1]) if mask.all() else int(np.diff(offsets)[mask].sum())
        )
        self.report = run.report
        return mask

    def __call__(self, reads: PackedReads) -> PackedReads:
        """The kept reads, in their order (also sets :attr:`report`)."""
        mask = self.mask(reads)
        return reads[np.flatnonzero(mask)]

    def __repr__(self) -> str:
        parts = []
        for c in self.criteria:
            value = {
                "low_quality": (self.low_quality_threshold, self.max_low_quality_fraction),
                "names": f"<{len(self.names)} names>" if self.names is not None else None,
                "exclude_names": f"<{len(self.exclude_names)} names>"
                if self.exclude_names is not None
                else None,
            }.get(c, getattr(self, c, None))
            parts.append(f"{c}={value!r}")
        return f"ReadFilter({', '.join(parts)})"


@functools.lru_cache(maxsize=8)
def _low_table(threshold: int) -> np.ndarray:
    """``uint8 [256]``: 1 for phred+33 characters below ``threshold``."""
    return (np.arange(256) - 33 < threshold).astype(np.uint8)


class _FilterRun:
    """One pass of a filter over a stream of chunks.

    Holds the global read index, the dedup hash set and the int-subsample reservoir.
    """

    def __init__(self, filt: ReadFilter, streaming: bool = False) -> None:
        self.filt = filt
        self.streaming = streaming  # more chunks may follow: remember the hashes
        self.report = FilterReport(filt.criteria)
        self.start = 0  # global index of the next chunk's first read
        self.seen: set[bytes] = set()
        # int subsample over a stream: the reads with the smallest keys so far
        self.res_keys = np.zeros(0, dtype=np.uint64)
        self.res_index = np.zeros(0, dtype=np.int64)
        self.res_parts: list[PackedReads] = []
        self.res_part_index: list[np.ndarray] = []

    def chunk_mask(self, reads: PackedReads) -> np.ndarray:
        """Mask of the reads that pass everything but an int subsample."""
        filt = self.filt
        n = len(reads)
        alive = np.ones(n, dtype=bool)
        counts = self.report.removed
        for name, fail in filt._fails(reads):
            hit = fail & alive
            counts[name] += int(hit.sum())
            alive &= ~fail
        if filt.dedup is not None and alive.any():
            rows = np.flatnonzero(alive)
            h = sequence_hashes(reads, canonical=filt.dedup == "canonical", rows=rows)
            first = self._first_unseen(h)
            counts["dedup"] += int((~first).sum())
            alive[rows[~first]] = False
        if filt._subsample_threshold is not None and alive.any():
            rows = np.flatnonzero(alive)
            w0, _ = _subsample_words(filt.seed, rows + self.start)
            drop = w0 >= filt._subsample_threshold
            counts["subsample"] += int(drop.sum())
            alive[rows[drop]] = False
        self.report.reads_in += n
        self.report.bases_in += int(reads.offsets.cpu().numpy()[-1])
        self.start += n
        return alive

    def _first_unseen(self, h: np.ndarray) -> np.ndarray:
        """``bool [m]``: the hashes seen neither earlier in ``h`` nor in an earlier chunk."""
        first = _first_occurrences(h)
        if not self.streaming:
            return first
        cand = np.flatnonzero(first)
        keys = np.ascontiguousarray(h[cand]).view("V16").reshape(-1).tolist()  # 16-byte keys
        if self.seen:
            known = np.fromiter(map(self.seen.__contains__, keys), dtype=bool, count=len(cand))
            first[cand[known]] = False
        self.seen.update(keys)
        return first

    # int subsample -------------------------------------------------------
    def _keys(self, index: np.ndarray) -> np.ndarray:
        w0, w1 = _subsample_words(self.filt.seed, index)
        return (w0.astype(np.uint64) << np.uint64(32)) | w1.astype(np.uint64)

    def finish_in_memory(self, mask: np.ndarray) -> np.ndarray:
        """Apply an int subsample to a whole-input mask (bottom-k of the per-read keys)."""
        k = self.filt.subsample
        if isinstance(k, int):
            rows = np.flatnonzero(mask)
            if len(rows) > k:
                keys = self._keys(rows + self.start - len(mask))
                chosen = _bottom_k(keys, rows, k)
                drop = np.ones(len(mask), dtype=bool)
                drop[chosen] = False
                drop &= mask
                self.report.removed["subsample"] += int(drop.sum())
                mask = mask & ~drop
        return mask

    def offer(self, reads: PackedReads, mask: np.ndarray, chunk_start: int) -> None:
        """Stream, int subsample: add the chunk's passing reads to the reservoir."""
        k = self.filt.subsample
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return
        index = rows + chunk_start
        keys = self._keys(index)
        if len(self.res_keys) >= k and k > 0:  # only reads beating the current k-th key can enter
            kth = self.res_keys[np.argsort(self.res_keys, kind="stable")[k - 1]]
            better = keys <= kth
            rows, index, keys = rows[better], index[better], keys[better]
        if k == 0 or len(rows) == 0:
            return
        self.res_parts.append(reads[rows])
        self.res_part_index.append(index)
        self.res_keys = np.concatenate([self.res_keys, keys])
        self.res_index = np.concatenate([self.res_index, index])
        if len(self.res_keys) >= 2 * k:
            self._prune()

    def _prune(self) -> None:
        k = self.filt.subsample
        chosen = np.sort(self.res_index[_bottom_k(self.res_keys, np.arange(len(self.res_keys)), k)])
        reads = PackedReads.concat(self.res_parts) if self.res_parts else None
        all_index = (
            np.concatenate(self.res_part_index) if self.res_part_index else np.zeros(0, np.int64)
        )
        order = np.argsort(all_index, kind="stable")
        pos = order[np.searchsorted(all_index[order], chosen)]
        self.res_parts = [reads[np.sort(pos)]] if reads is not None and len(chosen) else []
        self.res_part_index = [np.sort(chosen)] if len(chosen) else []
        keep = np.isin(self.res_index, chosen)
        self.res_keys, self.res_index = self.res_keys[keep], self.res_index[keep]

    def drain(self) -> PackedReads | None:
        """Stream, int subsample: the chosen reads in input order (counts the rest as removed)."""
        k = self.filt.subsample
        before = len(self.res_keys)
        passed = self.report.reads_in - sum(self.report.removed.values())
        if before > k:
            self._prune()
        self.report.removed["subsample"] += passed - min(k, passed)
        if not self.res_parts:
            return None
        reads = PackedReads.concat(self.res_parts)
        index = np.concatenate(self.res_part_index)
        return reads[np.argsort(index, kind="stable")]


def _first_occurrences(h: np.ndarray) -> np.ndarray:
    """``bool [m]``: True for the first row of each distinct ``(h[:, 0], h[:, 1])`` pair."""
    m = len(h)
    first = np.zeros(m, dtype=bool)
    if m == 0:
        return first
    order = np.argsort(h[:, 0], kind="stable")  # equal keys keep their input order
    a, b = h[order, 0], h[order, 1]
    same_a = a[1:] == a[:-1]
    if bool((same_a & (b[1:] != b[:-1])).any()):  # two words-0 alike, words-1 not: sort on both
        order = np.lexsort((np.arange(m), h[:, 1], h[:, 0]))
        a, b = h[order, 0], h[order, 1]
        same_a = a[1:] == a[:-1]
    new = np.ones(m, dtype=bool)
    new[1:] = ~(same_a & (b[1:] == b[:-1]))
    first[order[new]] = True
    return first


def _bottom_k(keys: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` entries of ``rows`` with the smallest ``(key, row)``."""
    if k >= len(keys):
        return rows
    if k == 0:
        return rows[:0]
    order = np.lexsort((rows, keys))
    return rows[order[:k]]


# ------------------------------------------------------------------ files
def filter_file(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    reads_per_chunk: int = 100_000,
    quality_offset: int = 33,
    reference: str | os.PathLike[str] | None = None,
    format: str | None = None,
    compression: str | None = None,
    level: int | None = None,
    line_width: int | None = None,
    output_quality_offset: int = 33,
    fill_quality: int | str | None = None,
    progress: Callable[[int, int], None] | None = None,
    **criteria: Any,
) -> FilterReport:
    """Filter reads files into one output file, chunk by chunk, in constant memory.

    Parameters
    ----------
    inputs : path or list of paths
        FASTQ / FASTA / SAM / BAM / CRAM, any compression; read indices
        continue from one file to the next (they key ``subsample``).
    output : path
        FASTQ or FASTA, plain / gzip / BGZF by its extension (see
        :class:`~deepbiop_gpu.Writer`); written atomically.
    reads_per_chunk : int
        Reads in memory at a time.  The result does not depend on it.
    quality_offset : {33, 64}
        Input FASTQ quality encoding.
    reference : path, optional
        Reference FASTA of CRAM inputs (when their header's URLs cannot be used).
    format, compression, level, line_width, output_quality_offset, fill_quality
        Output options (:class:`~deepbiop_gpu.Writer`'s ``format``,
        ``compression``, ``level``, ``line_width``, ``quality_offset``,
        ``fill_quality``).
    progress : callable, optional
        ``progress(reads_read, bases_read)`` after each chunk.
    filter : ReadFilter, optional
        A filter to use instead of ``**criteria``.
    **criteria
        :class:`ReadFilter`'s parameters.

    Returns
    -------
    FilterReport
        The same counts as ``ReadFilter(**criteria)`` on all the reads at once.

    Memory is one chunk, the dedup hash set (one entry per distinct kept
    sequence) and, for an int ``subsample=k``, up to ``2 k`` candidate reads.

    Examples
    --------
    >>> import tempfile, os
    >>> from deepbiop_gpu import read
    >>> out = os.path.join(tempfile.mkdtemp(), "clean.fq.gz")
    >>> report = filter_file("tests/data/fastq/illumina_novaseq_800reads.fastq", out,
    ...                      min_quality=30, dedup="exact", reads_per_chunk=128)
    >>> report.reads_in, report.kept == len(read(out))
    (800, True)
    """
    from .io import iter_chunks
    from .writers import Writer

    filt = criteria.pop("filter", None) or ReadFilter(**criteria)
    paths = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not paths:
        raise ValueError("filter_file needs at least one input file")
    run = filt._run(streaming=True)
    reservoir = isinstance(filt.subsample, int)
    done_bytes = 0
    with Writer(
        output,
        format,
        compression,
        level=level,
        line_width=line_width,
        quality_offset=output_quality_offset,
        fill_quality=fill_quality,
    ) as writer:
        for path in paths:
            for chunk in iter_chunks(
                path, reads_per_chunk, quality_offset=quality_offset, reference=reference
            ):
                start = run.start
                mask = run.chunk_mask(chunk)
                if reservoir:
                    run.offer(chunk, mask, start)
                else:
                    writer.write(chunk, None if mask.all() else np.flatnonzero(mask))
                done_bytes += int(chunk.offsets[-1])
                if progress is not None:
                    progress(run.start, done_bytes)
        if reservoir:
            chosen = run.drain()
            if chosen is not None:
                writer.write(chosen)
    run.report.bases_kept = writer.bases_written
    filt.report = run.report
    return run.report
