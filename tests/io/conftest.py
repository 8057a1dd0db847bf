"""Helpers for the reader tests: pysam as the oracle, and writers of test files."""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path

import pysam
import pytest


def pysam_fastx(path: Path) -> list[tuple[str, str, bytes, bytes | None]]:
    """(name, description, sequence, quality) of every record, as pysam.FastxFile reads them.

    pysam returns ``None`` as the quality of an empty FASTQ record (its quality
    string is empty); the packed form has an empty quality there, so FASTQ
    records map ``None`` to ``b""``.
    """
    out = []
    with pysam.FastxFile(str(path)) as fh:
        for rec in fh:
            qual = rec.quality.encode() if rec.quality is not None else None
            out.append([rec.name, rec.comment or "", rec.sequence.encode(), qual])
    is_fastq = any(r[3] is not None for r in out)
    for r in out:
        if is_fastq and r[3] is None:
            r[3] = b""
    return [tuple(r) for r in out]


def pysam_alignments(
    path: Path,
    *,
    as_sequenced: bool = True,
    keep_secondary: bool = False,
    keep_supplementary: bool = False,
    reference: str | None = None,
) -> list[tuple[str, bytes, bytes | None]]:
    """(name, sequence, quality) of every kept record, computed with pysam's own accessors."""
    out = []
    kw = {"check_sq": False}
    if reference:
        kw["reference_filename"] = reference
    with pysam.AlignmentFile(str(path), **kw) as fh:
        # next() rather than iter(): pysam's iter() refuses SAM/CRAM without @SQ lines
        for a in iter(lambda: next(fh, None), None):
            if a.is_secondary and not keep_secondary:
                continue
            if a.is_supplementary and not keep_supplementary:
                continue
            if as_sequenced:
                seq = a.get_forward_sequence()
                qual = a.get_forward_qualities()
            else:
                seq = a.query_sequence
                qual = a.query_qualities
            qual = None if qual is None else bytes(q + 33 for q in qual)
            out.append((a.query_name, (seq or "").encode(), qual))
    return out


def records_of(reads) -> list[tuple[str, str, bytes, bytes | None]]:
    return [(r.name, r.description, r.sequence, r.quality) for r in reads]


def write_compressed(path: Path, data: bytes, compression: str, members: int = 2) -> Path:
    """Write ``data`` plain, as one gzip member, as several members, as BGZF, or as
    multi-stream bzip2 / xz / zstd."""
    if compression == "none":
        path.write_bytes(data)
    elif compression == "gzip":
        path.write_bytes(gzip.compress(data))
    elif compression == "multigzip":
        step = max(1, -(-len(data) // members))
        parts = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        path.write_bytes(b"".join(gzip.compress(p) for p in parts))
    elif compression == "bgzf":
        with pysam.BGZFile(str(path), "wb") as fh:
            fh.write(data)
    elif compression in ("bzip2", "xz", "zstd"):
        # several streams (frames), cut anywhere, as parallel compressors write them
        step = max(1, -(-len(data) // members))
        parts = [data[i : i + step] for i in range(0, len(data), step)] or [b""]
        if compression == "bzip2":
            packed = [bz2.compress(p) for p in parts]
        elif compression == "xz":
            packed = [lzma.compress(p, preset=0) for p in parts]
        else:
            import zstandard

            packed = [zstandard.ZstdCompressor(write_checksum=True).compress(p) for p in parts]
        path.write_bytes(b"".join(packed))
    else:
        raise ValueError(compression)
    return path


@pytest.fixture(scope="session")
def oracle():
    """pysam-based expectations and file writers, as a namespace."""

    class Oracle:
        fastx = staticmethod(pysam_fastx)
        alignments = staticmethod(pysam_alignments)
        records = staticmethod(records_of)
        write = staticmethod(write_compressed)

    return Oracle
