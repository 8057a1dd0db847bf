"""``Dataset.summary()``: what is in a dataset, computed on the packed arrays.

Everything is vectorised over the flat buffers: one ``bincount`` of the
sequence bytes gives the base composition, GC and lowercase fractions, one
of the quality bytes gives the quality statistics, and the lengths come
from the offsets.  A million 150 bp reads are summarised in a fraction of a
second.

Conventions
-----------
* Composition counts are case-insensitive; ``T`` includes ``U`` (as the
  encoders treat it); ``other`` is every byte that is not A, C, G, T, U or N.
* GC fraction is ``(G + C) / (A + C + G + T)``: N and other symbols excluded.
* Qualities are phred+33 (what the readers return whatever the file's
  encoding); mean quality is the mean phred score over all bases.
* N50: the largest length ``L`` such that reads of length ``>= L`` hold at
  least half of all bases.
* The per-position mean quality (for :meth:`Summary.plot`) is computed on an
  evenly spaced sample of reads holding at most ``position_sample_bases``
  bases.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from typing import Any

import numpy as np

from ._stats import as_numpy, byte_histogram
from .packed import PackedReads

__all__ = ["Summary", "summarize"]

PathLike = str | os.PathLike

_COMPOSITION = ("A", "C", "G", "T", "N", "other")
_BASE_BYTES = {
    "A": b"Aa",
    "C": b"Cc",
    "G": b"Gg",
    "T": b"TtUu",
    "N": b"Nn",
}


def _fmt_int(x: int) -> str:
    return f"{x:,}"


def _fmt_pct(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.2f}%"


def _fmt_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclasses.dataclass
class Summary:
    """Statistics of a dataset (see :func:`summarize`).

    Attributes
    ----------
    n_records : int
        Reads (for a paired dataset: reads of both mates).
    n_pairs : int or None
        Read pairs, for a paired dataset.
    total_bases : int
    length_min, length_max, length_median, length_n50 : int or None
        ``None`` when there are no reads.
    length_mean : float or None
    length_histogram : (ndarray int64 [bins], ndarray float64 [bins + 1])
        Counts and bin edges (lengths ``edges[i] <= len < edges[i+1]``, the
        last bin closed).
    composition : dict str -> int
        Counts of A, C, G, T (incl. U), N, other; case-insensitive.
    gc_fraction, n_fraction, lowercase_fraction : float or None
    has_qualities : bool
    mean_quality : float or None
        Mean phred score of all bases.
    q20_fraction, q30_fraction : float or None
        Fraction of bases with phred >= 20 / >= 30.
    quality_min, quality_max : int or None
        Lowest and highest phred score.
    quality_histogram : ndarray int64 [94]
        Bases per phred score 0..93.
    per_position_quality : ndarray float64 [L]
        Mean phred score at each read position (sampled reads).
    label_counts : dict or None
        Reads per class name (or per label value); ``"missing"`` counts NaN labels.
    memory_bytes : int
        Bytes held by the packed arrays (and labels) in memory or mapped.
    files : list of (str, int)
        Source paths and their read counts.

    Examples
    --------
    >>> from deepbiop_gpu import Dataset
    >>> s = Dataset("tests/data/fastq/illumina_novaseq_800reads.fastq").summary()
    >>> s.n_records, s.length_min, s.length_max
    (800, 150, 150)
    >>> round(s.gc_fraction, 3) > 0, "GC" in str(s)
    (True, True)
    """

    n_records: int
    total_bases: int
    length_min: int | None
    length_max: int | None
    length_mean: float | None
    length_median: float | None
    length_n50: int | None
    length_histogram: tuple[np.ndarray, np.ndarray]
    composition: dict[str, int]
    gc_fraction: float | None
    n_fraction: float | None
    lowercase_fraction: float | None
    has_qualities: bool
    mean_quality: float | None
    q20_fraction: float | None
    q30_fraction: float | None
    quality_min: int | None
    quality_max: int | None
    quality_histogram: np.ndarray
    per_position_quality: np.ndarray
    label_counts: dict[Any, int] | None
    memory_bytes: int
    files: list[tuple[str, int]]
    n_pairs: int | None = None

    # ---------------------------------------------------------------- views
    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-serialisable values (arrays as lists, NaN as None).

        Examples
        --------
        >>> s = Dataset("tests/data/fastq/crlf_dos_3reads.fastq").summary()  # doctest: +SKIP
        >>> s.to_dict()["n_records"]  # doctest: +SKIP
        3
        """
        d = dataclasses.asdict(self)
        counts, edges = self.length_histogram
        d["length_histogram"] = {"counts": counts, "edges": edges}
        d["composition_fraction"] = self.composition_fraction
        d["files"] = [{"path": p, "records": n} for p, n in self.files]
        return _jsonable(d)

    def to_json(self, **kwargs: Any) -> str:
        """``json.dumps(self.to_dict())``."""
        return json.dumps(self.to_dict(), **kwargs)

    @property
    def composition_fraction(self) -> dict[str, float | None]:
        """Each composition class as a fraction of all bases."""
        total = self.total_bases
        return {k: (v / total if total else None) for k, v in self.composition.items()}

    def __str__(self) -> str:
        rows: list[tuple[str, str]] = []
        what = f"{_fmt_int(self.n_records)} reads"
        if self.n_pairs is not None:
            what += f" ({_fmt_int(self.n_pairs)} pairs)"
        nfiles = len(self.files)
        head = f"Summary: {what} from {nfiles} file{'s' if nfiles != 1 else ''}"
        rows.append(("bases", _fmt_int(self.total_bases)))
        if self.n_records:
            rows.append(
                (
                    "length",
                    f"min {self.length_min:,}  mean {self.length_mean:,.1f}  median "
                    f"{self.length_median:,.1f}  N50 {self.length_n50:,}  max {self.length_max:,}",
                )
            )
        frac = self.composition_fraction
        rows.append(("composition", "  ".join(f"{k} {_fmt_pct(frac[k])}" for k in _COMPOSITION)))
        rows.append(("GC", _fmt_pct(self.gc_fraction)))
        rows.append(("N", _fmt_pct(self.n_fraction)))
        rows.append(("lowercase", _fmt_pct(self.lowercase_fraction)))
        if self.has_qualities and self.mean_quality is not None:
            rows.append(
                (
                    "quality",
                    f"mean Q{self.mean_quality:.1f}  >=Q20 {_fmt_pct(self.q20_fraction)}  "
                    f">=Q30 {_fmt_pct(self.q30_fraction)}  "
                    f"range Q{self.quality_min}-Q{self.quality_max}",
                )
            )
        elif not self.has_qualities:
            rows.append(("quality", "none (FASTA)"))
        if self.label_counts is not None:
            items = sorted(self.label_counts.items(), key=lambda kv: -kv[1])
            shown = ", ".join(f"{k}: {v:,}" for k, v in items[:10])
            more = f", ... ({len(items)} labels)" if len(items) > 10 else ""
            rows.append(("labels", shown + more))
        rows.append(("memory", _fmt_bytes(self.memory_bytes)))
        width = max(len(k) for k, _ in rows)
        lines = [head] + [f"  {k:<{width}}  {v}" for k, v in rows]
        counts, edges = self.length_histogram
        if self.n_records and len(counts):
            lines.append("  length histogram")
            top = max(int(counts.max()), 1)
            labels = [_bin_label(edges, i) for i in range(len(counts))]
            lw = max(len(s) for s in labels)
            for label, c in zip(labels, counts, strict=False):
                bar = "#" * int(round(30 * int(c) / top))
                lines.append(f"    {label:>{lw}}  {bar:<30} {int(c):,}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Summary(n_records={self.n_records}, total_bases={self.total_bases}, "
            f"gc_fraction={self.gc_fraction}, mean_quality={self.mean_quality})"
        )

    # ----------------------------------------------------------------- plot
    def plot(self, path: PathLike, *, dpi: int = 100) -> str:
        """Write a PNG: length histogram, per-position mean quality, base composition.

        Parameters
        ----------
        path : str or PathLike
            Output image (the format follows the extension; PNG recommended).
        dpi : int

        Returns
        -------
        str
            ``path``.

        Raises
        ------
        ImportError
            matplotlib is not installed (``pip install 'deepbiop-gpu[plot]'``).

        Examples
        --------
        >>> Dataset("reads.fastq.gz").summary().plot("reads.png")  # doctest: +SKIP
        'reads.png'
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise ImportError(
                "Summary.plot needs matplotlib, which is not installed: "
                "pip install 'deepbiop-gpu[plot]' (or pip install matplotlib)"
            ) from exc
        fig = Figure(figsize=(15, 4), dpi=dpi, layout="constrained")
        ax_len, ax_q, ax_c = fig.subplots(1, 3)
        counts, edges = self.length_histogram
        if len(counts):
            ax_len.stairs(counts, edges, fill=True, color="tab:blue")
        ax_len.set(
            title=f"Read length ({self.n_records:,} reads)", xlabel="length (bases)", ylabel="reads"
        )
        if self.has_qualities and len(self.per_position_quality):
            pos = np.arange(1, len(self.per_position_quality) + 1)
            ax_q.plot(pos, self.per_position_quality, color="tab:green")
            for q, style in ((20, ":"), (30, "--")):
                ax_q.axhline(q, color="grey", linestyle=style, linewidth=0.8)
            ax_q.set_ylim(bottom=0)
        else:
            ax_q.text(0.5, 0.5, "no qualities", ha="center", va="center", transform=ax_q.transAxes)
        ax_q.set(title="Mean quality by position", xlabel="position (1-based)", ylabel="phred")
        frac = self.composition_fraction
        values = [0.0 if frac[k] is None else 100 * frac[k] for k in _COMPOSITION]
        colors = ["tab:green", "tab:blue", "tab:orange", "tab:red", "tab:grey", "tab:purple"]
        ax_c.bar(_COMPOSITION, values, color=colors)
        gc = _fmt_pct(self.gc_fraction)
        ax_c.set(title=f"Base composition (GC {gc})", ylabel="% of bases")
        path = os.fspath(path)
        fig.savefig(path)
        return path


def _bin_label(edges: np.ndarray, i: int) -> str:
    lo, hi = edges[i], edges[i + 1]
    lo_i, hi_i = int(math.ceil(lo)), int(math.ceil(hi)) - 1
    last = i == len(edges) - 2
    if last:
        hi_i = int(math.floor(hi))
    return f"{lo_i:,}" if hi_i <= lo_i else f"{lo_i:,}-{hi_i:,}"


def _n50(lengths: np.ndarray) -> int | None:
    if len(lengths) == 0:
        return None
    total = int(lengths.sum())
    if total == 0:
        return 0
    desc = np.sort(lengths)[::-1]
    cum = np.cumsum(desc)
    return int(desc[int(np.searchsorted(cum, (total + 1) // 2))])


def _length_histogram(lengths: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if len(lengths) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(1, dtype=np.float64)
    lo, hi = int(lengths.min()), int(lengths.max())
    span = hi - lo + 1
    if span <= bins:  # one bin per length, centred on it
        edges = np.arange(lo, hi + 2, dtype=np.float64) - 0.5
        return np.bincount(lengths - lo, minlength=span).astype(np.int64), edges
    counts, edges = np.histogram(lengths, bins=bins, range=(lo, hi))
    return counts.astype(np.int64), edges


def _per_position_quality(reads: PackedReads, max_bases: int) -> np.ndarray:
    if reads.qualities is None or len(reads) == 0 or reads.total_bases == 0:
        return np.zeros(0, dtype=np.float64)
    offsets = as_numpy(reads.offsets)
    lengths = np.diff(offsets)
    n = len(lengths)
    mean_len = max(float(lengths.mean()), 1.0)
    k = int(min(n, max(1, max_bases // mean_len)))
    rows = np.unique(np.linspace(0, n - 1, k).round().astype(np.int64))
    starts, lens = offsets[rows], lengths[rows]
    keep = np.cumsum(lens) <= max(max_bases, int(lens[0]))
    starts, lens = starts[keep], lens[keep]
    total = int(lens.sum())
    if total == 0:
        return np.zeros(0, dtype=np.float64)
    packed = np.zeros(len(lens), dtype=np.int64)
    np.cumsum(lens[:-1], out=packed[1:])
    pos = np.arange(total, dtype=np.int64) - np.repeat(packed, lens)
    src = np.repeat(starts, lens) + pos
    q = as_numpy(reads.qualities)[src].astype(np.float64) - 33
    sums = np.bincount(pos, weights=q)
    cnt = np.bincount(pos)
    return sums / np.maximum(cnt, 1)


def _parts_of(dataset: Any) -> tuple[list[PackedReads], Any, list[tuple[str, int]], int | None]:
    """(packs, label holder, files, n_pairs) for a Dataset / PairedDataset / PackedReads."""
    if isinstance(dataset, PackedReads):
        return [dataset], None, [("", len(dataset))], None
    if hasattr(dataset, "r1") and hasattr(dataset, "r2"):
        r1, r2 = dataset.r1, dataset.r2
        files = [
            (p, n) for side in (r1, r2) for p, n in zip(side.paths, side.file_sizes, strict=False)
        ]
        return [r1.reads, r2.reads], r1, files, len(r1)
    if hasattr(dataset, "indices") and hasattr(getattr(dataset, "dataset", None), "reads"):
        reads = dataset.dataset.reads[dataset.indices]  # a Subset: its reads (copied)
        return [reads], dataset, [("", len(reads))], None
    if hasattr(dataset, "reads"):
        paths = list(getattr(dataset, "paths", [""]))
        sizes = list(getattr(dataset, "file_sizes", [len(dataset.reads)]))
        return [dataset.reads], dataset, list(zip(paths, sizes, strict=False)), None
    raise TypeError(
        f"summarize takes a Dataset, PairedDataset or PackedReads, got {type(dataset).__name__}"
    )


def _label_counts(holder: Any) -> dict[Any, int] | None:
    labels = getattr(holder, "labels", None)
    if labels is None:
        return None
    values = as_numpy(labels)
    classes = getattr(holder, "classes", None)
    counts: dict[Any, int] = {}
    if values.dtype.kind == "f":
        missing = ~np.isfinite(values)
        uniq, cnt = np.unique(values[~missing], return_counts=True)
        counts = {float(u): int(c) for u, c in zip(uniq, cnt, strict=False)}
        if missing.any():
            counts["missing"] = int(missing.sum())
        return counts
    if classes is not None and values.size and values.min() >= 0 and values.max() < len(classes):
        cnt = np.bincount(values.astype(np.int64), minlength=len(classes))
        return {str(c): int(k) for c, k in zip(classes, cnt, strict=False)}
    uniq, cnt = np.unique(values, return_counts=True)
    return {
        int(u) if values.dtype.kind in "iub" else u: int(c) for u, c in zip(uniq, cnt, strict=False)
    }


def summarize(
    dataset: Any,
    *,
    bins: int = 20,
    position_sample_bases: int = 2_000_000,
) -> Summary:
    """Statistics of a dataset's reads, labels and memory (see :class:`Summary`).

    Parameters
    ----------
    dataset : Dataset, PairedDataset or PackedReads
        Anything with ``.reads`` (a :class:`~deepbiop_gpu.PackedReads`:
        ``sequences`` ``uint8 [total]``, ``offsets`` ``int64 [n + 1]``,
        ``qualities`` ``uint8 [total]`` or None) and optionally ``.labels``
        (``[n]``) and ``.classes``.
    bins : int
        Bins of the length histogram (one bin per length when fewer lengths).
    position_sample_bases : int
        Bases sampled (evenly spaced reads) for the per-position quality.

    Returns
    -------
    Summary

    Examples
    --------
    >>> from deepbiop_gpu import PackedReads
    >>> s = summarize(PackedReads.from_records([("a", b"ACGT", b"II5+"), ("b", b"GGn", b"!!!")]))
    >>> s.n_records, s.total_bases, s.composition["G"], round(s.gc_fraction, 3)
    (2, 7, 3, 0.667)
    >>> s.lowercase_fraction == 1 / 7, s.quality_max
    (True, 40)
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    parts, holder, files, n_pairs = _parts_of(dataset)
    lengths = np.concatenate([np.diff(as_numpy(p.offsets)) for p in parts]).astype(np.int64)
    n = len(lengths)
    seq_hist = sum((byte_histogram(p.sequences) for p in parts), np.zeros(256, dtype=np.int64))
    total = int(seq_hist.sum())
    composition = {k: int(sum(seq_hist[b] for b in v)) for k, v in _BASE_BYTES.items()}
    composition["other"] = total - sum(composition.values())
    acgt = composition["A"] + composition["C"] + composition["G"] + composition["T"]
    lower = int(seq_hist[ord("a") : ord("z") + 1].sum())

    has_q = all(p.qualities is not None for p in parts) and bool(parts)
    q_hist = np.zeros(94, dtype=np.int64)
    mean_q = q20 = q30 = None
    q_min = q_max = None
    if has_q:
        raw = sum((byte_histogram(p.qualities) for p in parts), np.zeros(256, dtype=np.int64))
        phred = raw[33:127]
        q_hist = phred.astype(np.int64)
        nq = int(q_hist.sum())
        if nq:
            scores = np.arange(94)
            mean_q = float((q_hist * scores).sum() / nq)
            q20 = float(q_hist[20:].sum() / nq)
            q30 = float(q_hist[30:].sum() / nq)
            present = np.flatnonzero(q_hist)
            q_min, q_max = int(present[0]), int(present[-1])
    per_pos = _per_position_quality(parts[0], position_sample_bases) if has_q else np.zeros(0)

    labels = getattr(holder, "labels", None) if holder is not None else None
    memory = sum(p.nbytes for p in parts) + (
        0 if labels is None else labels.numel() * labels.element_size()
    )
    return Summary(
        n_records=n,
        total_bases=total,
        length_min=int(lengths.min()) if n else None,
        length_max=int(lengths.max()) if n else None,
        length_mean=float(lengths.mean()) if n else None,
        length_median=float(np.median(lengths)) if n else None,
        length_n50=_n50(lengths),
        length_histogram=_length_histogram(lengths, bins),
        composition=composition,
        gc_fraction=(composition["G"] + composition["C"]) / acgt if acgt else None,
        n_fraction=composition["N"] / total if total else None,
        lowercase_fraction=lower / total if total else None,
        has_qualities=has_q,
        mean_quality=mean_q,
        q20_fraction=q20,
        q30_fraction=q30,
        quality_min=q_min,
        quality_max=q_max,
        quality_histogram=q_hist,
        per_position_quality=per_pos,
        label_counts=_label_counts(holder) if holder is not None else None,
        memory_bytes=int(memory),
        files=[(str(p), int(k)) for p, k in files],
        n_pairs=n_pairs,
    )
