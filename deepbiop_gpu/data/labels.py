"""The ``labels=`` argument of the datasets: one label per read.

Accepted forms
--------------
* a sequence with one label per input file (the "one file per class" case);
* a mapping ``{read name: label}``;
* a path to a TSV or CSV file of ``name<TAB or ,>label`` rows (an optional
  first row ``name,label`` is a header);
* a callable ``f(record) -> label`` called on each :class:`~deepbiop_gpu.Record`.

Integer labels become an ``int64`` tensor, real ones ``float32``.  String
labels become class indices into ``classes`` (sorted names), as torchvision's
``ImageFolder`` does, so every batch carries a tensor.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from ..packed import PackedReads, Record

__all__ = ["LabelSpec", "LabelResolver"]

LabelSpec = Union[Sequence[Any], Mapping[str, Any], str, os.PathLike, Callable[[Record], Any]]


def _read_label_table(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"labels file not found: {path}")
    text = path.read_text()
    dialect = "excel-tab" if "\t" in text.split("\n", 1)[0] else "excel"
    table: dict[str, str] = {}
    for lineno, row in enumerate(csv.reader(text.splitlines(), dialect=dialect), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 2:
            raise ValueError(f"{path}: line {lineno}: expected 'name<TAB>label', got {row!r}")
        name, label = row[0].strip(), row[1].strip()
        if lineno == 1 and name.lower() in ("name", "id", "read", "read_id") and label.lower() == "label":
            continue
        if table.get(name, label) != label:
            raise ValueError(f"{path}: line {lineno}: read {name!r} has two labels")
        table[name] = label
    values = list(table.values())
    for cast in (int, float):
        try:
            cast_values = [cast(v) for v in values]
        except ValueError:
            continue
        return dict(zip(table.keys(), cast_values))
    return table


def _kind_of(values: Sequence[Any], what: str) -> str:
    """'str', 'int' or 'float' for a homogeneous collection of labels."""
    if all(isinstance(v, str) for v in values):
        return "str"
    arr = np.asarray(values)
    if arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer):
        return "int"
    if np.issubdtype(arr.dtype, np.floating):
        return "float"
    kinds = sorted({type(v).__name__ for v in values})
    raise TypeError(f"labels from {what} must all be numbers or all be strings, got {kinds}")


class LabelResolver:
    """Turns a ``labels=`` argument into label tensors, file by file or chunk by chunk.

    Parameters
    ----------
    spec : LabelSpec
        See the module docstring.
    n_files : int
        Number of input files (for the one-label-per-file form).
    """

    def __init__(self, spec: LabelSpec, n_files: int) -> None:
        self._per_file: list[Any] | None = None
        self._mapping: Mapping[str, Any] | None = None
        self._callable: Callable[[Record], Any] | None = None
        self._what: str
        if isinstance(spec, (str, os.PathLike)):
            self._mapping = _read_label_table(Path(spec))
            self._what = f"file {os.fspath(spec)}"
        elif isinstance(spec, Mapping):
            self._mapping = spec
            self._what = "mapping"
        elif callable(spec):
            self._callable = spec
            self._what = "the labels callable"
        elif isinstance(spec, (Sequence, torch.Tensor, np.ndarray)) and not isinstance(spec, bytes):
            values = spec.tolist() if isinstance(spec, (torch.Tensor, np.ndarray)) else list(spec)
            if len(values) != n_files:
                raise ValueError(
                    f"labels has {len(values)} entries but there are {n_files} input files: give "
                    "one label per file, a {name: label} mapping, a TSV/CSV path or a callable"
                )
            self._per_file = values
            self._what = "the per-file list"
        else:
            raise TypeError(
                "labels must be one label per file, a {name: label} mapping, a TSV/CSV path or a "
                f"callable, got {type(spec).__name__}"
            )
        known = self._per_file if self._per_file is not None else (
            list(self._mapping.values()) if self._mapping is not None else None
        )
        self.kind: str | None = _kind_of(known, self._what) if known else None
        self.classes: list[str] | None = sorted(set(known)) if self.kind == "str" else None

    def raw(self, reads: PackedReads, file_no: int, rows: range | None = None) -> list[Any]:
        """Python labels of ``reads[rows]`` (default: all), which come from input file ``file_no``."""
        rows = range(len(reads)) if rows is None else rows
        if self._per_file is not None:
            return [self._per_file[file_no]] * len(rows)
        if self._mapping is not None:
            names = reads.names[rows.start : rows.stop].tolist()
            missing = [n for n in names if n not in self._mapping]
            if missing:
                first = ", ".join(repr(m) for m in missing[:5])
                raise ValueError(
                    f"labels {self._what} has no label for {len(missing)} of {len(names)} reads "
                    f"(first: {first})"
                )
            return [self._mapping[n] for n in names]
        assert self._callable is not None
        return [self._callable(reads[i]) for i in rows]

    def to_tensor(self, raw: list[Any]) -> torch.Tensor:
        """Python labels -> ``int64`` / ``float32 [n]`` (strings -> indices into ``classes``).

        For a callable returning strings, ``classes`` is fixed by the first call.
        """
        kind = self.kind or (_kind_of(raw, self._what) if raw else "int")
        if kind == "str":
            if self.classes is None:
                self.classes = sorted(set(raw))
                self.kind = "str"
            lookup = {c: i for i, c in enumerate(self.classes)}
            try:
                return torch.tensor([lookup[v] for v in raw], dtype=torch.int64)
            except KeyError as err:
                raise ValueError(f"label {err.args[0]!r} is not one of the classes {self.classes}") from None
        dtype = torch.int64 if kind == "int" else torch.float32
        return torch.tensor(raw, dtype=dtype)

    def tensor(self, reads: PackedReads, file_no: int, rows: range | None = None) -> torch.Tensor:
        """``raw`` then ``to_tensor``, with a fast path for per-file labels."""
        if self._per_file is not None and self.kind != "str":
            dtype = torch.int64 if self.kind == "int" else torch.float32
            n = len(reads) if rows is None else len(rows)
            return torch.full((n,), self._per_file[file_no], dtype=dtype)
        return self.to_tensor(self.raw(reads, file_no, rows))
