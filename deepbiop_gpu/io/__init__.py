"""File readers: FASTQ / FASTA / SAM / BAM / CRAM into :class:`~deepbiop_gpu.PackedReads`.

* :func:`read` — a whole file (format and compression — plain, gzip, BGZF, bzip2,
  xz, zstd — detected from the bytes);
  :func:`read_fastx` and :func:`read_bam` for the explicit cases;
* :func:`iter_chunks` — constant-memory streaming in chunks of N reads;
* :func:`read_pairs` / :func:`iter_pair_chunks` — paired-end R1/R2 files;
* :func:`detect_format` — what a file is.

Modules: ``sniff`` (format detection), ``compression`` (decompressed blocks),
``ragged`` (vectorised gathers), ``sink`` (growable packed columns),
``fastq`` / ``fasta`` (vectorised parsers), ``alignment`` (pysam),
``chunks`` (streaming), ``readers`` (whole files), ``pairs`` (paired-end).
"""

from ..errors import (
    AlignmentFormatError,
    CompressionError,
    FastaFormatError,
    FastqFormatError,
    PairedReadsError,
    SkippedCommentsWarning,
    SkippedRecordsWarning,
)
from .chunks import iter_chunks
from .pairs import iter_pair_chunks, read_pairs
from .readers import read, read_bam, read_fastx
from .sniff import Detected
from .sniff import detect as detect_format

__all__ = [
    "read",
    "read_fastx",
    "read_bam",
    "iter_chunks",
    "read_pairs",
    "iter_pair_chunks",
    "detect_format",
    "Detected",
    "FastqFormatError",
    "FastaFormatError",
    "AlignmentFormatError",
    "CompressionError",
    "PairedReadsError",
    "SkippedRecordsWarning",
    "SkippedCommentsWarning",
]
