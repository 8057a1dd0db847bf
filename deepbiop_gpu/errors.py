"""Exceptions raised by deepbiop_gpu.

Every problem with an input file is a :class:`FormatError`, a ``ValueError``
subclass that names the file, the 1-based record number and (for line-based
formats) the 1-based line, so a user can open the file at the right place::

    >>> err = FormatError("quality length 26 differs from sequence length 25",
    ...                   path="reads.fastq", record=4, line=14)
    >>> str(err)
    'reads.fastq: record 4, line 14: quality length 26 differs from sequence length 25'
"""

from __future__ import annotations

import os

__all__ = [
    "DeepBiopError",
    "FormatError",
    "UnknownFormatError",
    "FastqFormatError",
    "FastaFormatError",
    "AlignmentFormatError",
    "CompressionError",
    "PairedReadsError",
    "SkippedRecordsWarning",
    "SkippedCommentsWarning",
]


class DeepBiopError(Exception):
    """Base class of every exception deepbiop_gpu raises on purpose."""


class FormatError(DeepBiopError, ValueError):
    """A file is not valid FASTQ / FASTA / SAM / BAM (or is truncated or corrupt).

    Attributes
    ----------
    message : str
        What is wrong, without the location.
    path : str or None
        The file, as given by the caller.
    record : int or None
        1-based number of the record where the problem was found.
    line : int or None
        1-based line number, for line-based formats (FASTQ, FASTA, SAM).
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        record: int | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.path = None if path is None else os.fspath(path)
        self.record = record
        self.line = line
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}")
        if self.line is not None:
            where.append(f"line {self.line}")
        location = ", ".join(where)
        prefix = self.path or ""
        if location:
            prefix = f"{prefix}: {location}" if prefix else location
        return f"{prefix}: {self.message}" if prefix else self.message

    def __reduce__(self):  # picklable across DataLoader worker processes
        return (
            _rebuild_format_error,
            (type(self), self.message, self.path, self.record, self.line),
        )


def _rebuild_format_error(cls, message, path, record, line):
    return cls(message, path=path, record=record, line=line)


class UnknownFormatError(FormatError):
    """The bytes of a file match none of the supported formats."""


class FastqFormatError(FormatError):
    """A FASTQ record is malformed (structure, lengths or characters)."""


class FastaFormatError(FormatError):
    """A FASTA record is malformed (text before the first header, control bytes)."""


class AlignmentFormatError(FormatError):
    """A SAM / BAM / CRAM file is malformed, truncated or cannot be decoded."""


class CompressionError(FormatError):
    """Compressed data is truncated or corrupt (gzip / BGZF / bzip2 / xz / zstd)."""


class PairedReadsError(FormatError):
    """Two files of a read pair disagree (names, or number of reads).

    ``path`` is the first file; ``paths`` holds both.
    """

    def __init__(
        self,
        message: str,
        *,
        paths: tuple[str | os.PathLike[str], str | os.PathLike[str]],
        record: int | None = None,
    ) -> None:
        self.paths = (os.fspath(paths[0]), os.fspath(paths[1]))
        super().__init__(message, path=self.paths[0], record=record)

    def _render(self) -> str:
        where = f"pair {self.record}: " if self.record is not None else ""
        return f"{self.paths[0]} + {self.paths[1]}: {where}{self.message}"

    def __reduce__(self):
        return (_rebuild_paired_error, (self.message, self.paths, self.record))


def _rebuild_paired_error(message, paths, record):
    return PairedReadsError(message, paths=paths, record=record)


class SkippedRecordsWarning(UserWarning):
    """Bad records were skipped because the caller asked for ``on_error="skip"``.

    Issued once per file, when reading it finishes.

    Attributes
    ----------
    path : str
        The file.
    count : int
        How many records were skipped.
    errors : list of FormatError
        The first few errors (at most 10), with their record and line numbers.

    Examples
    --------
    >>> w = SkippedRecordsWarning("reads.fastq", 2, [])
    >>> w.count, str(w)
    (2, 'reads.fastq: skipped 2 malformed records')
    """

    def __init__(self, path: str | os.PathLike[str], count: int, errors: list[FormatError]) -> None:
        self.path = os.fspath(path)
        self.count = count
        self.errors = list(errors)
        first = f"; first: {self.errors[0]}" if self.errors else ""
        noun = "record" if count == 1 else "records"
        super().__init__(f"{self.path}: skipped {count} malformed {noun}{first}")

    def __reduce__(self):
        return (SkippedRecordsWarning, (self.path, self.count, self.errors))


class SkippedCommentsWarning(UserWarning):
    """A FASTA file had ``#`` comment lines, which were skipped (they hold no bases).

    Old FASTA files can start with ``#`` lines; dnaio and pysam skip them
    too.  Issued once per file, when reading it finishes; silence it with
    ``warnings.filterwarnings("ignore", category=SkippedCommentsWarning)``.

    Attributes
    ----------
    path : str
        The file.
    count : int
        How many comment lines were skipped.
    first_line : int
        1-based line number of the first one.

    Examples
    --------
    >>> w = SkippedCommentsWarning("old.fasta", 2, 1)
    >>> w.count, str(w)
    (2, "old.fasta: skipped 2 '#' comment lines (the first at line 1)")
    """

    def __init__(self, path: str | os.PathLike[str], count: int, first_line: int) -> None:
        self.path = os.fspath(path)
        self.count = count
        self.first_line = first_line
        noun = "line" if count == 1 else "lines"
        super().__init__(
            f"{self.path}: skipped {count} '#' comment {noun} (the first at line {first_line})"
        )

    def __reduce__(self):
        return (SkippedCommentsWarning, (self.path, self.count, self.first_line))
