"""Independent reference values for the inspection tests: pysam and plain Python, no numpy."""

from __future__ import annotations

from pathlib import Path

import pysam

DATA = Path(__file__).resolve().parents[1] / "data"

FASTQ = sorted((DATA / "fastq").iterdir())
FASTA = sorted(p for p in (DATA / "fasta").iterdir() if p.suffix not in (".fai", ".gzi"))
ALIGNED = sorted(
    p
    for p in (DATA / "sam_bam").iterdir()
    if p.suffix in (".bam", ".sam") and not p.name.startswith("malformed")
)


def records(path: Path) -> list[tuple[str, str, str | None]]:
    """(name, sequence, quality phred+33 or None) of every record, read by pysam."""
    if path in ALIGNED or path.suffix in (".bam", ".sam"):
        out = []
        with pysam.AlignmentFile(str(path), check_sq=False) as fh:
            for a in fh:
                if a.is_secondary or a.is_supplementary:
                    continue
                quals = a.get_forward_qualities()
                qual = None if quals is None else "".join(chr(q + 33) for q in quals)
                out.append((a.query_name, a.get_forward_sequence() or "", qual))
        return out
    out = []
    with pysam.FastxFile(str(path)) as fh:
        for rec in fh:
            out.append((rec.name, rec.sequence or "", rec.quality))
    if any(q is not None for _, _, q in out):
        out = [(n, s, q if q is not None else "") for n, s, q in out]
    return out


def n50(lengths: list[int]) -> int:
    total = sum(lengths)
    running = 0
    for length in sorted(lengths, reverse=True):
        running += length
        if 2 * running >= total:
            return length
    return 0


def median(values: list[int]) -> float:
    v = sorted(values)
    mid = len(v) // 2
    return float(v[mid]) if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
