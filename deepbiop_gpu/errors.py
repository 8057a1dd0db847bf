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

__all__ = ["DeepBiopError", "FormatError", "UnknownFormatError"]


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
