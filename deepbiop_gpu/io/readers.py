"""Read a whole file into one :class:`~deepbiop_gpu.PackedReads`."""

from __future__ import annotations

import os

from ..packed import PackedReads
from .chunks import open_chunks
from .compression import DEFAULT_BLOCK_SIZE

__all__ = ["read", "read_fastx", "read_bam"]


def read(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    reference: str | os.PathLike[str] | None = None,
    as_sequenced: bool = True,
    keep_secondary: bool = False,
    keep_supplementary: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
) -> PackedReads:
    """Read every read of a FASTQ / FASTA / SAM / BAM / CRAM file.

    The format (and the compression: plain, gzip, multi-member gzip, BGZF,
    bzip2, xz or zstd, multi-stream included) is detected from the file's
    bytes, never from its name.  zstd needs the ``zstandard`` package
    (``pip install "deepbiop-gpu[zstd]"``); without it the error says so.

    Parameters
    ----------
    path : str or PathLike
        The file.
    format : {"fastq", "fasta", "sam", "bam", "cram"}, optional
        Expected format: an error if the content is something else.
    quality_offset : {33, 64}
        FASTQ quality encoding.  64 is for Illumina 1.3-1.7 files; their
        qualities are converted to phred+33.  A quality character below the
        offset is a :class:`~deepbiop_gpu.FormatError`.
    quality_format : {"phred33", "phred64", "solexa"}, optional
        The same choice by name, plus ``"solexa"``: Solexa / Illumina 1.0-1.2
        files (offset 64, log-odds scores from -5) are converted to Phred
        with ``Q = round(10 * log10(10 ** (S / 10) + 1))``, so qualities are
        phred+33 downstream whatever the input.  Overrides ``quality_offset``.
        Solexa files can only be recognised by their negative scores (``;``
        to ``?``): reading one as phred+64 stops there with an error saying
        so; a Solexa file with no negative score reads as phred+64 without
        error (for scores >= 10 both give the same Phred values).
    on_error : {"raise", "skip"}
        ``"raise"``: the first malformed record raises
        :class:`~deepbiop_gpu.FormatError`.  ``"skip"`` (FASTQ / FASTA): drop
        malformed records and issue one
        :class:`~deepbiop_gpu.SkippedRecordsWarning` carrying their count and
        the first errors.  Truncated or corrupt compressed data always raises.
    reference : str or PathLike, optional
        Reference FASTA for CRAM.
    as_sequenced : bool
        SAM/BAM/CRAM: return reverse-strand reads reverse-complemented back
        to sequencing orientation, qualities reversed (``False``: as stored).
    keep_secondary, keep_supplementary : bool
        SAM/BAM/CRAM: keep secondary / supplementary alignments (skipped by
        default: they repeat a read).
    block_size : int
        Decompressed bytes parsed at a time.
    threads : int
        ``1``: decompression in a background thread, overlapping parsing;
        ``0``: all in the calling thread.

    Returns
    -------
    PackedReads
        ``sequences`` ``uint8 [total]`` (ASCII, case kept), ``offsets``
        ``int64 [n + 1]``, ``qualities`` ``uint8 [total]`` phred+33 (``None``
        for FASTA, and for SAM/BAM without any qualities), ``names`` and
        ``descriptions`` (:class:`~deepbiop_gpu.StringColumn`).

    Raises
    ------
    FileNotFoundError
        No such file.
    UnknownFormatError
        The bytes are not a supported format (the message quotes them).
    FormatError
        A malformed record (``.path``, ``.record`` 1-based, ``.line`` 1-based
        for FASTQ / FASTA / SAM), or truncated / corrupt data.

    Examples
    --------
    >>> reads = read("tests/data/fastq/illumina_novaseq_800reads.fastq")
    >>> len(reads), reads.sequences.dtype, reads.offsets.shape
    (800, torch.uint8, torch.Size([801]))
    >>> reads.names[0], reads[0].sequence[:10]
    ('A00129:183:H77K2DMXX:1:1101:6804:1031', b'TGCACACGTA')
    """
    chunks = open_chunks(
        path,
        None,
        format=format,
        quality_offset=quality_offset,
        quality_format=quality_format,
        on_error=on_error,
        reference=reference,
        as_sequenced=as_sequenced,
        keep_secondary=keep_secondary,
        keep_supplementary=keep_supplementary,
        block_size=block_size,
        threads=threads,
    )
    return next(iter(chunks))


def read_fastx(
    path: str | os.PathLike[str],
    *,
    format: str | None = None,
    quality_offset: int = 33,
    quality_format: str | None = None,
    on_error: str = "raise",
    block_size: int = DEFAULT_BLOCK_SIZE,
    threads: int = 1,
) -> PackedReads:
    """Read a FASTQ or FASTA file (any compression :func:`read` takes); see :func:`read`.

    Parameters
    ----------
    path : str or PathLike
    format : {"fastq", "fasta"}, optional
        Expected format; detected from the bytes when ``None``.
    quality_offset, quality_format, on_error, block_size, threads
        As in :func:`read`.

    Returns
    -------
    PackedReads
        ``qualities`` is ``None`` for FASTA.

    Raises
    ------
    FormatError
        Also when the file is SAM / BAM / CRAM.

    Examples
    --------
    >>> reads = read_fastx("tests/data/fasta/softmasked_with_N_4seqs.fasta")
    >>> reads.names.tolist(), reads.qualities is None, reads[0].sequence
    (['chr1', 'chr2', 'chr11', 'MT'], True, b'ACTGNactgn')
    """
    if format is not None and format.lower() not in ("fastq", "fasta"):
        raise ValueError(f"read_fastx reads FASTQ or FASTA, not {format!r}; use read()")
    chunks = open_chunks(
        path,
        None,
        format=format,
        quality_offset=quality_offset,
        quality_format=quality_format,
        on_error=on_error,
        block_size=block_size,
        threads=threads,
        allowed=("fastq", "fasta"),
    )
    return next(iter(chunks))


def read_bam(
    path: str | os.PathLike[str],
    *,
    reference: str | os.PathLike[str] | None = None,
    as_sequenced: bool = True,
    keep_secondary: bool = False,
    keep_supplementary: bool = False,
    threads: int = 1,
) -> PackedReads:
    """Read the reads of a SAM, BAM (aligned or unaligned) or CRAM file via pysam.

    Parameters
    ----------
    path : str or PathLike
    reference : str or PathLike, optional
        Reference FASTA for CRAM.
    as_sequenced : bool
        Reverse-strand reads back in sequencing orientation (default) or as
        stored.
    keep_secondary, keep_supplementary : bool
        Keep secondary / supplementary alignments (skipped by default).
    threads : int
        htslib decompression threads.

    Returns
    -------
    PackedReads
        Names are the QNAMEs, descriptions empty; ``qualities`` is ``None``
        when no read has any (QUAL ``*``), and missing ones are filled with
        ``'!'`` (with a warning) when only some lack them.

    Examples
    --------
    >>> reads = read_bam("tests/data/sam_bam/ont_unaligned_30reads.bam")
    >>> len(reads), reads.qualities is not None
    (30, True)
    """
    chunks = open_chunks(
        path,
        None,
        reference=reference,
        as_sequenced=as_sequenced,
        keep_secondary=keep_secondary,
        keep_supplementary=keep_supplementary,
        threads=threads,
        allowed=("sam", "bam", "cram"),
    )
    return next(iter(chunks))
