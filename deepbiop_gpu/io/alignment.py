"""SAM / BAM / CRAM reads through pysam (htslib).

Unaligned BAM (ONT and PacBio basecaller output) is read like any other:
the file is opened with ``check_sq=False`` and iterated in file order
(``until_eof``), so no index and no ``@SQ`` lines are needed.

Rules:

* Reads on the reverse strand (FLAG 0x10) are returned **as sequenced**:
  reverse-complemented back (full IUPAC complement, as
  ``pysam.AlignedSegment.get_forward_sequence``) with qualities reversed.
  ``as_sequenced=False`` keeps them as stored.
* Secondary (0x100) and supplementary (0x800) alignments are skipped by
  default (they repeat a read already returned); ``keep_secondary`` /
  ``keep_supplementary`` keep them.  This is filtering on purpose, not error
  skipping, so it is not reported.
* A record with no stored sequence (SEQ ``*``) is an empty read.
* Qualities: if no read of the file (or of the chunk, for
  :func:`~deepbiop_gpu.io.iter_chunks`) has qualities (QUAL ``*``),
  ``qualities`` is ``None``.  If only some lack them, theirs are filled with
  ``'!'`` (phred 0, "no confidence") and a :class:`UserWarning` says how many.
* Names are the QNAME; descriptions are empty.
* Hard-clipped bases are not in the record, so they are not returned.
* A BAM (or BGZF SAM) must end with the BGZF end-of-file block; htslib only
  warns without it, we raise :class:`~deepbiop_gpu.CompressionError`.
* Truncated or undecodable records raise :class:`AlignmentFormatError`
  naming the record (and the line, for SAM).  ``on_error="skip"`` does not
  apply: htslib cannot resynchronise after a bad record.
"""

from __future__ import annotations

import gzip
import os
import warnings
from collections.abc import Iterator

import numpy as np
import torch

from ..errors import AlignmentFormatError, FormatError
from ..packed import PackedReads, StringColumn
from .sniff import Detected, check_bgzf_eof

__all__ = ["iter_alignment_chunks", "reverse_complement_rows", "COMPLEMENT"]

_MODES = {"sam": "r", "bam": "rb", "cram": "rc"}
_BATCH = 1 << 16


def _complement_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    pairs = "AT CG GC TA UA MK KM RY YR SS WW VB BV HD DH NN"
    for pair in pairs.split():
        a, b = pair
        table[ord(a)] = ord(b)
        table[ord(a.lower())] = ord(b.lower())
    return table


#: ``uint8 [256]`` byte → complement byte (IUPAC, case kept; others unchanged).
COMPLEMENT = _complement_table()


def reverse_complement_rows(
    data: np.ndarray, offsets: np.ndarray, rows: np.ndarray, complement: bool = True
) -> None:
    """Reverse (and complement) the selected ragged rows of ``data`` in place.

    Parameters
    ----------
    data : ndarray, ``uint8 [total]``
    offsets : ndarray, ``int64 [n + 1]``
    rows : ndarray, ``int64 [k]``
        Rows to reverse.
    complement : bool
        Also map every byte through :data:`COMPLEMENT` (bases; not qualities).

    Examples
    --------
    >>> d = np.frombuffer(b"AACGtt", np.uint8).copy()
    >>> reverse_complement_rows(d, np.array([0, 2, 6]), np.array([1])); d.tobytes()
    b'AAaaCG'
    """
    if not len(rows):
        return
    starts = offsets[rows]
    lens = offsets[rows + 1] - starts
    total = int(lens.sum())
    if not total:
        return
    first = np.cumsum(lens) - lens
    pos = np.repeat(starts - first, lens) + np.arange(total, dtype=np.int64)
    src = np.repeat(2 * starts + lens - 1, lens) - pos
    values = data[src]
    data[pos] = COMPLEMENT[values] if complement else values


def _open(path: str, det: Detected, reference: str | None, threads: int):
    import pysam

    kwargs = {"check_sq": False}
    if reference is not None:
        kwargs["reference_filename"] = os.fspath(reference)
    if threads > 1:
        kwargs["threads"] = threads
    try:
        return pysam.AlignmentFile(path, _MODES[det.format], **kwargs)
    except (OSError, ValueError) as exc:
        raise AlignmentFormatError(
            f"cannot open as {det.format.upper()}: {exc}", path=path
        ) from None


def _sam_header_lines(path: str, compression: str) -> int:
    """Number of '@' header lines at the start of a SAM file (for line numbers)."""
    opener = gzip.open if compression != "none" else open
    count = 0
    with opener(path, "rb") as fh:
        for line in fh:
            if not line.startswith(b"@"):
                break
            count += 1
    return count


def _pack(
    names: list[str],
    seqs: list[str],
    quals: list[str | None],
    reverse: list[int],
    as_sequenced: bool,
) -> tuple[PackedReads, int, int]:
    """Pack one batch; missing qualities are filled with '!'.

    Returns the reads, how many non-empty reads lack qualities and how many
    reads have them.
    """
    n = len(seqs)
    lengths = np.fromiter(map(len, seqs), np.int64, n)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    bases = np.frombuffer("".join(seqs).encode("ascii"), dtype=np.uint8).copy()
    have = sum(q is not None for q in quals)
    missing = sum(1 for q, s in zip(quals, seqs, strict=True) if q is None and s)
    if missing:
        quals = [q if q is not None else "!" * len(s) for q, s in zip(quals, seqs, strict=True)]
    else:
        quals = [q or "" for q in quals]
    qual_arr = np.frombuffer("".join(quals).encode("ascii"), dtype=np.uint8).copy()
    if as_sequenced and reverse:
        rows = np.asarray(reverse, dtype=np.int64)
        reverse_complement_rows(bases, offsets, rows, complement=True)
        reverse_complement_rows(qual_arr, offsets, rows, complement=False)
    reads = PackedReads(
        torch.from_numpy(bases),
        torch.from_numpy(offsets),
        torch.from_numpy(qual_arr),
        StringColumn.from_strings(names),
        StringColumn.empty(n),
        validate=False,
    )
    return reads, missing, have


def _finish(path: str, parts: list[tuple[PackedReads, int, int]]) -> PackedReads:
    """Join batches and apply the quality rule (all missing → None; some → warn)."""
    reads = PackedReads.concat([p[0] for p in parts]) if parts else PackedReads.empty()
    missing = sum(p[1] for p in parts)
    have = sum(p[2] for p in parts)
    if not have:
        reads.qualities = None
    elif missing:
        warnings.warn(
            f"{path}: {missing} of {len(reads)} reads have no base qualities (QUAL '*'); "
            "they were filled with '!' (phred 0)",
            UserWarning,
            stacklevel=3,
        )
    return reads


def iter_alignment_chunks(
    path: str | os.PathLike[str],
    det: Detected,
    reads_per_chunk: int | None,
    *,
    reference: str | os.PathLike[str] | None = None,
    as_sequenced: bool = True,
    keep_secondary: bool = False,
    keep_supplementary: bool = False,
    threads: int = 1,
) -> Iterator[PackedReads]:
    """Yield the reads of a SAM / BAM / CRAM file as packed chunks.

    Parameters
    ----------
    path : str or PathLike
    det : Detected
        Format (``"sam"``, ``"bam"``, ``"cram"``) and compression.
    reads_per_chunk : int or None
        Reads per yielded chunk (the last may be shorter); ``None``: one chunk
        with every read (yielded even when empty).
    reference : str or PathLike, optional
        FASTA the CRAM was compressed against (not needed for unaligned CRAM
        or when htslib can find it through ``REF_PATH``).
    as_sequenced, keep_secondary, keep_supplementary : bool
        See the module docstring.
    threads : int
        htslib decompression threads.

    Yields
    ------
    PackedReads

    Examples
    --------
    >>> from deepbiop_gpu.io.sniff import detect
    >>> p = "tests/data/sam_bam/ont_unaligned_30reads.bam"
    >>> [len(c) for c in iter_alignment_chunks(p, detect(p), 16)]
    [16, 14]
    """
    path = os.fspath(path)
    if det.format not in _MODES:
        raise ValueError(f"not an alignment format: {det.format!r}")
    if det.compression not in ("none", "gzip", "bgzf"):
        raise FormatError(
            f"{det.compression}-compressed {det.format.upper()}: htslib reads SAM only plain, "
            "gzip or BGZF; decompress it, or recompress it with bgzip",
            path=path,
        )
    if det.compression == "bgzf":
        check_bgzf_eof(path, "BGZF (BAM)" if det.format == "bam" else "BGZF")
    skip_mask = (0 if keep_secondary else 0x100) | (0 if keep_supplementary else 0x800)
    limit = reads_per_chunk or _BATCH
    parts: list[tuple[PackedReads, int, int]] = []
    fh = _open(path, det, reference, threads)
    header_lines = _sam_header_lines(path, det.compression) if det.format == "sam" else 0
    hint = ""
    if det.format == "sam" and header_lines == 0:
        hint = (
            "; the file has no header (@SQ lines), which htslib needs for aligned "
            "records: add one, e.g. with `samtools view -h -t ref.fa.fai`"
        )
    record = 0
    try:
        names: list[str] = []
        seqs: list[str] = []
        quals: list[str | None] = []
        reverse: list[int] = []
        # next() on the file itself: file order, no index, and (unlike iter())
        # also for SAM / CRAM without @SQ lines (unaligned reads)
        it = fh
        while True:
            try:
                aln = next(it)
            except StopIteration:
                break
            except (OSError, ValueError) as exc:
                raise AlignmentFormatError(
                    f"cannot decode {det.format.upper()} record {record + 1}: htslib reports "
                    f"'{exc}' (the file is truncated or corrupt){hint}",
                    path=path,
                    record=record + 1,
                    line=header_lines + record + 1 if det.format == "sam" else None,
                ) from None
            record += 1
            flag = aln.flag
            if flag & skip_mask:
                continue
            seq = aln.query_sequence
            if flag & 0x10:
                reverse.append(len(seqs))
            names.append(aln.query_name or "")
            seqs.append(seq or "")
            quals.append(aln.query_qualities_str if seq else None)
            if len(seqs) == limit:
                parts.append(_pack(names, seqs, quals, reverse, as_sequenced))
                names, seqs, quals, reverse = [], [], [], []
                if reads_per_chunk:
                    yield _finish(path, parts)
                    parts = []
        if seqs:
            parts.append(_pack(names, seqs, quals, reverse, as_sequenced))
    finally:
        try:
            fh.close()
        except OSError:  # pragma: no cover - htslib close error on corrupt files
            pass
    if parts or reads_per_chunk is None:
        yield _finish(path, parts)
