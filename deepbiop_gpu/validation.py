"""``Dataset.validate()``: problems in a dataset a user should act on, before training.

Each :class:`Finding` has a severity (``"error"``: the data is wrong for
training as it stands; ``"warning"``: probably unintended; ``"info"``: worth
knowing), a message that says what to do, the number of affected reads and a
few example read names.  All checks are vectorised on the packed arrays
(byte histograms, per-read counts with ``np.add.reduceat``, 64-bit hashes of
the names); nothing is a Python loop over reads.

Checks
------
``empty-reads``          reads of length 0
``short-reads``          reads shorter than ``min_length``
``high-n``               reads whose N fraction exceeds ``max_n_fraction``
``non-iupac``            bytes that are no IUPAC nucleotide code (A C G T U R Y S
                         W K M B D H V N, any case; ``-`` and ``.`` gaps)
``ambiguity-codes``      IUPAC codes other than N (encoded as N)            (info)
``quality-encoding``     qualities that look like phred+64 read as phred+33
``duplicate-names``      a read id used by more than one read
``empty-names``          reads without an id
``missing-labels``       NaN / infinite labels, or reads absent from a label table
``negative-labels``      integer labels below 0
``pair-count``           R1 and R2 hold different numbers of reads (paired)
``pair-names``           R1 and R2 names differ once ``/1`` ``/2`` is removed (paired)
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ._stats import as_numpy, byte_histogram, hash_ranges, per_read_counts
from .packed import PackedReads, StringColumn

__all__ = ["Finding", "validate", "SEVERITIES"]

#: Severities, most severe first.
SEVERITIES = ("error", "warning", "info")

_IUPAC = b"ACGTURYSWKMBDHVN"
_GAPS = b"-."
_ALLOWED = np.zeros(256, dtype=bool)
for _b in _IUPAC + _IUPAC.lower() + _GAPS:
    _ALLOWED[_b] = True
_AMBIGUOUS = np.zeros(256, dtype=bool)
for _b in b"RYSWKMBDHV" + b"RYSWKMBDHV".lower():
    _AMBIGUOUS[_b] = True
_IS_N = np.zeros(256, dtype=bool)
_IS_N[ord("N")] = _IS_N[ord("n")] = True


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem found by :func:`validate`.

    Attributes
    ----------
    severity : {"error", "warning", "info"}
    code : str
        Stable identifier of the check (e.g. ``"duplicate-names"``).
    message : str
        What is wrong and what to do about it.
    count : int
        Number of affected reads (or pairs).
    examples : tuple of str
        A few affected read names (``"#<index>"`` for reads without a name).

    Examples
    --------
    >>> f = Finding("warning", "empty-reads", "2 reads are empty", 2, ("r1", "r7"))
    >>> str(f)
    'warning [empty-reads]: 2 reads are empty (e.g. r1, r7)'
    """

    severity: str
    code: str
    message: str
    count: int
    examples: tuple[str, ...] = ()

    def __str__(self) -> str:
        eg = f" (e.g. {', '.join(self.examples)})" if self.examples else ""
        return f"{self.severity} [{self.code}]: {self.message}{eg}"

    def to_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        d = dataclasses.asdict(self)
        d["examples"] = list(self.examples)
        return d


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _verb(n: int, plural: str, singular: str) -> str:
    return singular if n == 1 else plural


def _examples(names: StringColumn, rows: np.ndarray, k: int) -> tuple[str, ...]:
    out = []
    for r in rows[:k].tolist():
        name = names[int(r)]
        out.append(name if name else f"#{int(r)}")
    return tuple(out)


def _show_bytes(values: np.ndarray) -> str:
    shown = []
    for b in values.tolist()[:8]:
        shown.append(repr(chr(b)) if 32 < b < 127 else f"0x{b:02x}")
    return ", ".join(shown) + (", ..." if len(values) > 8 else "")


def _check_reads(
    reads: PackedReads, *, min_length: int, max_n_fraction: float, k: int, side: str = ""
) -> list[Finding]:
    out: list[Finding] = []
    pre = f"{side}: " if side else ""
    offsets = as_numpy(reads.offsets)
    lengths = np.diff(offsets)
    names = reads.names

    empty = np.flatnonzero(lengths == 0)
    if len(empty):
        out.append(
            Finding(
                "warning",
                "empty-reads",
                f"{pre}{_plural(len(empty), 'read')} of length 0: a model sees them as all "
                "padding; drop them before training (e.g. filter on the lengths) or check how "
                "the file was made",
                len(empty),
                _examples(names, empty, k),
            )
        )
    if min_length > 0:
        short = np.flatnonzero((lengths > 0) & (lengths < min_length))
        if len(short):
            out.append(
                Finding(
                    "warning",
                    "short-reads",
                    f"{pre}{_plural(len(short), 'read')} shorter than {min_length} bases (shortest "
                    f"{int(lengths[short].min())}): filter them out, or pass a smaller "
                    "min_length if "
                    "they are expected",
                    len(short),
                    _examples(names, short, k),
                )
            )

    hist = byte_histogram(reads.sequences)
    seqs = reads.sequences
    if hist[_IS_N].sum():
        n_counts = per_read_counts(seqs, offsets, _IS_N)
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(lengths > 0, n_counts / np.maximum(lengths, 1), 0.0)
        high = np.flatnonzero(frac > max_n_fraction)
        if len(high):
            out.append(
                Finding(
                    "warning",
                    "high-n",
                    f"{pre}{_plural(len(high), 'read')} with more than {100 * max_n_fraction:g}% N "
                    f"(worst {100 * float(frac[high].max()):.0f}%): N is encoded as all zeros, "
                    "so these "
                    "reads carry little signal; quality-trim or filter them",
                    len(high),
                    _examples(names, high, k),
                )
            )
    bad_bytes = np.flatnonzero((hist > 0) & ~_ALLOWED)
    if len(bad_bytes):
        table = np.zeros(256, dtype=bool)
        table[bad_bytes] = True
        rows = np.flatnonzero(per_read_counts(seqs, offsets, table))
        out.append(
            Finding(
                "warning",
                "non-iupac",
                f"{pre}{_plural(len(rows), 'read')} {_verb(len(rows), 'contain', 'contains')} "
                "symbols that are no IUPAC nucleotide code "
                f"({_show_bytes(bad_bytes)}; {int(hist[bad_bytes].sum()):,} bytes): the encoders "
                "treat "
                "them as N; check that the file really holds nucleotide sequences",
                len(rows),
                _examples(names, rows, k),
            )
        )
    amb_bytes = np.flatnonzero((hist > 0) & _AMBIGUOUS)
    if len(amb_bytes):
        table = np.zeros(256, dtype=bool)
        table[amb_bytes] = True
        rows = np.flatnonzero(per_read_counts(seqs, offsets, table))
        out.append(
            Finding(
                "info",
                "ambiguity-codes",
                f"{pre}{_plural(len(rows), 'read')} {_verb(len(rows), 'contain', 'contains')} "
                "IUPAC ambiguity codes "
                f"({_show_bytes(amb_bytes)}; {int(hist[amb_bytes].sum()):,} bases), which the "
                "encoders treat as N",
                len(rows),
                _examples(names, rows, k),
            )
        )

    if reads.qualities is not None and reads.total_bases:
        qh = byte_histogram(reads.qualities)
        present = np.flatnonzero(qh)
        lo, hi = int(present[0]), int(present[-1])
        # phred+64 text read as phred+33: every character is >= ';' (Solexa -5) and the
        # scores run past Q41 ('J'), which no phred+33 instrument of that era produces
        if lo >= ord(";") and hi > ord("J") and hi <= ord("i"):
            rows = np.arange(len(reads))[lengths > 0]
            out.append(
                Finding(
                    "error",
                    "quality-encoding",
                    f"{pre}quality characters run from {chr(lo)!r} to {chr(hi)!r} "
                    f"(Q{lo - 33}-Q{hi - 33} as phred+33): this looks like phred+64 data "
                    "(Illumina 1.3-1.7 / Solexa) read as "
                    "phred+33; read the file again with quality_offset=64",
                    len(rows),
                    _examples(names, rows, k),
                )
            )

    out.extend(_check_names(names, k, pre))
    return out


def _check_names(names: StringColumn, k: int, pre: str) -> list[Finding]:
    out: list[Finding] = []
    offs = names.offsets
    lens = np.diff(offs)
    blank = np.flatnonzero(lens == 0)
    if len(blank):
        out.append(
            Finding(
                "warning",
                "empty-names",
                f"{pre}{_plural(len(blank), 'read')} without a name: they cannot be matched to "
                "labels or mates by name; give every record an id",
                len(blank),
                tuple(f"#{int(r)}" for r in blank[:k]),
            )
        )
    named = np.flatnonzero(lens > 0)
    if len(named) > 1:
        h = hash_ranges(names.data, offs[:-1][named], lens[named])
        order = np.argsort(h, kind="stable")
        hs = h[order]
        same = hs[1:] == hs[:-1]
        if same.any():
            cand = np.zeros(len(hs), dtype=bool)
            cand[1:] |= same
            cand[:-1] |= same
            rows = named[order[cand]]
            strings = names[rows].tolist()
            counts = Counter(strings)
            dup_rows = np.sort(
                np.array(
                    [r for r, s in zip(rows.tolist(), strings, strict=False) if counts[s] > 1],
                    dtype=np.int64,
                )
            )
            if len(dup_rows):
                distinct = sum(1 for c in counts.values() if c > 1)
                worst_name, worst = counts.most_common(1)[0]
                shown = []
                for r in dup_rows.tolist():
                    nm = names[r]
                    if nm not in shown:
                        shown.append(nm)
                    if len(shown) == k:
                        break
                out.append(
                    Finding(
                        "warning",
                        "duplicate-names",
                        f"{pre}{_plural(len(dup_rows), 'read')} share {_plural(distinct, 'name')} "
                        f"({worst_name!r} is used {worst} times): labels given by name "
                        "are ambiguous for them and the records may be duplicated; deduplicate or "
                        "rename them",
                        len(dup_rows),
                        tuple(shown),
                    )
                )
    return out


def _label_table(spec: Any) -> Mapping[str, Any]:
    if isinstance(spec, Mapping):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        from .data.labels import _read_label_table

        return _read_label_table(Path(spec))
    raise TypeError("labels= for validate must be a {name: label} mapping or a TSV/CSV path")


def _check_labels(holder: Any, reads: PackedReads, labels_spec: Any, k: int) -> list[Finding]:
    out: list[Finding] = []
    names = reads.names
    labels = getattr(holder, "labels", None)
    if labels is not None:
        values = as_numpy(labels)
        if values.dtype.kind == "f":
            missing = np.flatnonzero(~np.isfinite(values))
            if len(missing):
                out.append(
                    Finding(
                        "error",
                        "missing-labels",
                        f"{_plural(len(missing), 'read')} of {len(values):,} "
                        f"{_verb(len(missing), 'have', 'has')} no label (NaN or infinite): the "
                        "loss is NaN for them; label them or drop them",
                        len(missing),
                        _examples(names, missing, k),
                    )
                )
        elif values.dtype.kind in "iu":
            neg = np.flatnonzero(values < 0)
            if len(neg):
                out.append(
                    Finding(
                        "warning",
                        "negative-labels",
                        f"{_plural(len(neg), 'read')} {_verb(len(neg), 'have', 'has')} a "
                        f"negative label (min {int(values[neg].min())}): cross-entropy treats "
                        "-100 as 'ignore' and fails on other negatives; "
                        "check the labels",
                        len(neg),
                        _examples(names, neg, k),
                    )
                )
    if labels_spec is not None:
        table = _label_table(labels_spec)
        all_names = names.tolist()
        absent = np.array([i for i, nm in enumerate(all_names) if nm not in table], dtype=np.int64)
        if len(absent):
            out.append(
                Finding(
                    "error",
                    "missing-labels",
                    f"{_plural(len(absent), 'read')} of {len(all_names):,} "
                    f"{_verb(len(absent), 'have', 'has')} no entry in the label table: add "
                    "them, or drop those reads before building the dataset",
                    len(absent),
                    _examples(names, absent, k),
                )
            )
    return out


def _check_pairs(r1: PackedReads, r2: PackedReads, k: int) -> list[Finding]:
    n1, n2 = len(r1), len(r2)
    if n1 != n2:
        return [
            Finding(
                "error",
                "pair-count",
                f"R1 has {n1:,} reads and R2 {n2:,}: the files are not mates of each other, or "
                "one is truncated; re-export both together",
                abs(n1 - n2),
                (),
            )
        ]
    if n1 == 0:
        return []
    keys = []
    for names in (r1.names, r2.names):
        offs = names.offsets
        lens = np.diff(offs)
        ends = offs[1:]
        data = names.data
        strip = lens >= 2
        idx = np.flatnonzero(strip)
        if len(idx):
            last, slash = data[ends[idx] - 1], data[ends[idx] - 2]
            strip[idx] = (slash == ord("/")) & ((last == ord("1")) | (last == ord("2")))
        klen = lens - 2 * strip
        keys.append((klen, hash_ranges(data, offs[:-1], klen)))
    bad = np.flatnonzero((keys[0][0] != keys[1][0]) | (keys[0][1] != keys[1][1]))
    if not len(bad):
        return []
    i = int(bad[0])
    return [
        Finding(
            "error",
            "pair-names",
            f"{_plural(len(bad), 'pair')} {_verb(len(bad), 'have', 'has')} different R1 and R2 "
            f"names (first: pair {i + 1}, "
            f"{r1.names[i]!r} vs {r2.names[i]!r}): the files are out of step (a read missing from "
            "one of them, or different sort orders); re-pair them (e.g. with a repair tool)",
            len(bad),
            tuple(f"{r1.names[int(j)]} / {r2.names[int(j)]}" for j in bad[:k]),
        )
    ]


def validate(
    dataset: Any,
    *,
    min_length: int = 20,
    max_n_fraction: float = 0.1,
    labels: Mapping[str, Any] | str | os.PathLike | None = None,
    max_examples: int = 5,
) -> list[Finding]:
    """Check a dataset for problems that would spoil training; most severe first.

    Parameters
    ----------
    dataset : Dataset, PairedDataset or PackedReads
        Reads (``uint8`` buffers, ``int64`` offsets, names) and, if any,
        ``labels`` (``[n]``).  For a paired dataset both mates are checked
        (messages start with ``R1:`` / ``R2:``) and the pairs too.
    min_length : int
        Reads shorter than this (but not empty) are reported.
    max_n_fraction : float
        Reads with a larger fraction of N are reported.
    labels : mapping or TSV/CSV path, optional
        A name -> label table: reads missing from it are reported.
    max_examples : int
        Example read names per finding.

    Returns
    -------
    list of Finding
        Empty when nothing was found.

    Examples
    --------
    >>> from deepbiop_gpu import PackedReads
    >>> reads = PackedReads.from_records([("r1", b"ACGT", b"IIII"), ("r1", b"", b""),
    ...                                   ("r3", b"NNNA", b"####")])
    >>> [f.code for f in validate(reads, min_length=3)]
    ['empty-reads', 'high-n', 'duplicate-names']
    """
    if not 0 <= max_n_fraction <= 1:
        raise ValueError(f"max_n_fraction must lie in [0, 1], got {max_n_fraction}")
    if isinstance(min_length, bool) or not isinstance(min_length, int) or min_length < 0:
        raise ValueError(f"min_length must be a non-negative int, got {min_length!r}")
    kw = dict(min_length=min_length, max_n_fraction=max_n_fraction, k=max_examples)
    findings: list[Finding] = []
    if isinstance(dataset, PackedReads):
        findings += _check_reads(dataset, **kw)
        findings += _check_labels(None, dataset, labels, max_examples)
    elif hasattr(dataset, "r1") and hasattr(dataset, "r2"):
        r1, r2 = dataset.r1, dataset.r2
        r1_reads = getattr(r1, "reads", r1)
        r2_reads = getattr(r2, "reads", r2)
        findings += _check_pairs(r1_reads, r2_reads, max_examples)
        findings += _check_reads(r1_reads, side="R1", **kw)
        findings += _check_reads(r2_reads, side="R2", **kw)
        findings += _check_labels(
            dataset if hasattr(dataset, "labels") else r1, r1_reads, labels, max_examples
        )
    elif hasattr(dataset, "indices") and hasattr(getattr(dataset, "dataset", None), "reads"):
        reads = dataset.dataset.reads[dataset.indices]  # a Subset: its reads (copied)
        findings += _check_reads(reads, **kw)
        findings += _check_labels(dataset, reads, labels, max_examples)
    elif hasattr(dataset, "reads"):
        findings += _check_reads(dataset.reads, **kw)
        findings += _check_labels(dataset, dataset.reads, labels, max_examples)
    else:
        raise TypeError(
            f"validate takes a Dataset, PairedDataset or PackedReads, got {type(dataset).__name__}"
        )
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: rank[f.severity])
