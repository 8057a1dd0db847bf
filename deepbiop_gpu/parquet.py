"""Parquet export and import of datasets, for sharing with pandas / polars / Spark users.

One row per read::

    name         large_string   the read id
    description  large_string   the rest of the header line ("" when none)
    sequence     large_string   the bases, as read (case kept)
    quality      large_string   phred+33 characters; null for FASTA input
    label        int64 / float32, or dictionary<int32, string> for class labels;
                 all null when the dataset has no labels

The string columns are built straight from the packed buffers and their
``int64`` offsets (``pa.LargeStringArray.from_buffers``): no Python object
per read.  The schema metadata key ``deepbiop_gpu`` (JSON) keeps the
classes, source paths and per-file read counts, so :func:`read_parquet`
gives back exactly the dataset that was exported.

Needs the optional dependency pyarrow (``pip install 'deepbiop-gpu[parquet]'``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ._version import __version__
from .packed import PackedReads, StringColumn

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from .data.dataset import Dataset

__all__ = ["export_parquet", "read_parquet", "export_chunks"]

PathLike = str | os.PathLike
_META_KEY = b"deepbiop_gpu"
#: Rows per Parquet row group (bounds the memory of the export).
ROW_GROUP_SIZE = 256 * 1024


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
        raise ImportError(
            "Parquet export/import needs pyarrow, which is not installed: "
            "pip install 'deepbiop-gpu[parquet]' (or pip install pyarrow)"
        ) from exc
    return pa, pq


def _np(t: torch.Tensor | np.ndarray) -> np.ndarray:
    return t.detach().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def _string_array(pa, data: np.ndarray, offsets: np.ndarray, a: int, b: int):
    """Rows ``a:b`` of a ragged byte column as a ``large_string`` array (zero-copy data)."""
    lo, hi = int(offsets[a]), int(offsets[b])
    offs = np.ascontiguousarray(offsets[a : b + 1] - lo, dtype=np.int64)
    body = np.ascontiguousarray(data[lo:hi])
    return pa.LargeStringArray.from_buffers(b - a, pa.py_buffer(offs), pa.py_buffer(body))


def _label_array(pa, labels: np.ndarray | None, classes: list[str] | None, a: int, b: int):
    if labels is None:
        return pa.nulls(b - a, type=pa.int64())
    part = labels[a:b]
    if classes is not None:
        return pa.DictionaryArray.from_arrays(
            pa.array(part.astype(np.int32)), pa.array(classes, type=pa.string())
        )
    return pa.array(part)


def _batches(
    pa,
    reads: PackedReads,
    labels: np.ndarray | None,
    classes: list[str] | None,
    row_group_size: int,
    always: bool = True,
) -> Iterator[pa.RecordBatch]:
    """Record batches of at most ``row_group_size`` reads (``always``: one even for no reads)."""
    seqs = _np(reads.sequences)
    offs = _np(reads.offsets)
    quals = None if reads.qualities is None else _np(reads.qualities)
    n = len(reads)
    names, descs = reads.names, reads.descriptions
    for a in range(0, max(n, 1 if always else 0), row_group_size):
        b = min(a + row_group_size, n)
        columns = [
            _string_array(pa, names.data, names.offsets, a, b),
            _string_array(pa, descs.data, descs.offsets, a, b),
            _string_array(pa, seqs, offs, a, b),
            pa.nulls(b - a, type=pa.large_string())
            if quals is None
            else _string_array(pa, quals, offs, a, b),
            _label_array(pa, labels, classes, a, b),
        ]
        yield pa.RecordBatch.from_arrays(columns, names=_COLUMNS)


_COLUMNS = ["name", "description", "sequence", "quality", "label"]


def _write(
    path: str,
    pa,
    pq,
    first: pa.RecordBatch,
    rest: Iterator[pa.RecordBatch],
    info: dict,
    compression: str,
) -> str:
    """Write batches atomically (temporary file beside ``path``, then rename)."""
    schema = first.schema.with_metadata({_META_KEY: json.dumps(info).encode()})
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with pq.ParquetWriter(tmp, schema, compression=compression) as writer:
            if first.num_rows:
                writer.write_batch(first.replace_schema_metadata(schema.metadata))
            for batch in rest:
                if batch.num_rows:
                    writer.write_batch(batch.replace_schema_metadata(schema.metadata))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def _info(classes, label_dtype, has_qualities, paths, file_sizes) -> dict[str, Any]:
    return {
        "format_version": 1,
        "library_version": __version__,
        "classes": classes,
        "label_dtype": label_dtype,
        "has_qualities": has_qualities,
        "paths": paths,
        "file_sizes": file_sizes,
    }


def export_chunks(
    chunks: Iterator[PackedReads],
    path: PathLike,
    *,
    paths: list[str] | None = None,
    compression: str = "zstd",
    row_group_size: int = ROW_GROUP_SIZE,
) -> int:
    """Write a stream of unlabelled read chunks to Parquet without holding them all.

    Used by ``deepbiop-gpu export``.  Returns the number of reads written.

    Examples
    --------
    >>> from deepbiop_gpu.io import iter_chunks
    >>> export_chunks(iter_chunks("tests/data/fastq/crlf_dos_3reads.fastq", 2), "/tmp/s.parquet")
    3
    """
    pa, pq = _pyarrow()
    chunks = iter(chunks)
    first_chunk = next(chunks, None)
    if first_chunk is None:
        first_chunk = PackedReads.empty()
    counter = {"n": len(first_chunk)}

    def rest() -> Iterator[pa.RecordBatch]:
        yield from _batches(pa, first_chunk, None, None, row_group_size, always=False)
        for chunk in chunks:
            counter["n"] += len(chunk)
            yield from _batches(pa, chunk, None, None, row_group_size, always=False)

    schema_batch = next(_batches(pa, first_chunk[0:0], None, None, row_group_size))
    info = _info(None, None, first_chunk.qualities is not None, paths or [], None)
    _write(os.fspath(path), pa, pq, schema_batch, rest(), info, compression)
    return counter["n"]


def export_parquet(
    dataset: Dataset | PackedReads,
    path: PathLike,
    *,
    compression: str = "zstd",
    row_group_size: int = ROW_GROUP_SIZE,
) -> str:
    """Write a dataset to a Parquet file, one row per read.

    Parameters
    ----------
    dataset : Dataset or PackedReads
        Reads (``uint8`` buffers + ``int64`` offsets), and the labels
        (``int64`` / ``float32 [n]``) and classes of a dataset.
    path : str or PathLike
        The ``.parquet`` file to write (replaced atomically: written beside
        it, then renamed).
    compression : str
        Parquet codec ("zstd", "snappy", "gzip", "none", ...).
    row_group_size : int
        Reads per row group; memory used is about one row group.

    Returns
    -------
    str
        ``path``.

    Raises
    ------
    ImportError
        pyarrow is not installed (the message says how to install it).

    Examples
    --------
    >>> from deepbiop_gpu import Dataset
    >>> ds = Dataset("tests/data/fastq/crlf_dos_3reads.fastq")
    >>> export_parquet(ds, "/tmp/crlf.parquet")
    '/tmp/crlf.parquet'
    >>> read_parquet("/tmp/crlf.parquet").reads.equals(ds.reads)
    True
    """
    pa, pq = _pyarrow()
    from .data.dataset import Dataset as _Dataset

    if isinstance(dataset, PackedReads):
        dataset = _Dataset.from_reads(dataset)
    if not hasattr(dataset, "reads"):
        raise TypeError(
            f"export_parquet takes a Dataset or PackedReads, got {type(dataset).__name__}"
        )
    if row_group_size < 1:
        raise ValueError(f"row_group_size must be >= 1, got {row_group_size}")
    labels = getattr(dataset, "labels", None)
    classes = getattr(dataset, "classes", None)
    if labels is not None and classes is None and labels.dtype not in (torch.int64, torch.float32):
        labels = labels.to(torch.float32 if labels.is_floating_point() else torch.int64)
    info = _info(
        classes,
        None if labels is None else str(labels.dtype).replace("torch.", ""),
        dataset.reads.qualities is not None,
        list(getattr(dataset, "paths", [])),
        [int(x) for x in getattr(dataset, "file_sizes", [len(dataset.reads)])],
    )
    label_np = None if labels is None else _np(labels)
    batches = _batches(pa, dataset.reads, label_np, classes, row_group_size)
    first = next(batches)
    return _write(os.fspath(path), pa, pq, first, batches, info, compression)


def _ragged(pa, column, what: str, path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """A string column -> (uint8 data, int64 offsets [n + 1], null count), copied out of arrow."""
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    if not (
        pa.types.is_string(column.type)
        or pa.types.is_large_string(column.type)
        or pa.types.is_binary(column.type)
        or pa.types.is_large_binary(column.type)
    ):
        raise ValueError(f"{path}: column {what!r} must hold strings, it holds {column.type}")
    target = (
        pa.large_binary()
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type)
        else pa.large_string()
    )
    arr = (
        column.cast(target).combine_chunks()
        if hasattr(column, "combine_chunks")
        else column.cast(target)
    )
    n = len(arr)
    nulls = arr.null_count
    _, off_buf, data_buf = arr.buffers()
    if n == 0 or off_buf is None:
        return np.zeros(0, np.uint8), np.zeros(1, np.int64), nulls
    offs = np.frombuffer(off_buf, dtype=np.int64)[arr.offset : arr.offset + n + 1]
    lo, hi = int(offs[0]), int(offs[-1])
    data = (
        np.frombuffer(data_buf, dtype=np.uint8)[lo:hi].copy()
        if data_buf is not None and hi > lo
        else np.zeros(0, np.uint8)
    )
    if nulls:  # a null entry may still own bytes in principle: drop them
        valid = np.asarray(arr.is_valid())
        lens = np.where(valid, np.diff(offs), 0)
        if lens.sum() != hi - lo:
            keep = np.repeat(valid, np.diff(offs))
            data = data[keep]
        offs = np.concatenate([[0], np.cumsum(lens)])
    return data, (offs - lo).astype(np.int64), nulls


def read_parquet(path: PathLike, *, transform: Callable | None = None) -> Dataset:
    """Read a Parquet file of reads (as :func:`export_parquet` writes) into a Dataset.

    Files written by other tools work too: the ``sequence`` column (strings)
    is required; ``name``, ``description``, ``quality`` and ``label`` are
    optional.  A ``label`` column of strings becomes class indices into
    sorted ``classes`` (unless the file records its classes).

    Parameters
    ----------
    path : str or PathLike
    transform : callable, optional
        As in :class:`~deepbiop_gpu.Dataset`.

    Returns
    -------
    Dataset
        ``reads`` (``uint8`` buffers, ``int64`` offsets), ``labels``
        (``int64`` / ``float32 [n]``, or ``None``), ``classes``, ``paths``,
        ``file_sizes``.

    Raises
    ------
    ImportError
        pyarrow is not installed.
    ValueError
        A required column is missing, a sequence is null, or only some
        reads have a quality.

    Examples
    --------
    >>> ds = read_parquet("reads.parquet")  # doctest: +SKIP
    >>> ds.reads.sequences.dtype, ds.classes  # doctest: +SKIP
    (torch.uint8, ['phage', 'E. coli'])
    """
    pa, pq = _pyarrow()
    from .data.dataset import Dataset as _Dataset

    path = os.fspath(path)
    table = pq.read_table(path)
    info: dict[str, Any] = {}
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw:
        try:
            info = json.loads(raw)
        except ValueError:
            info = {}
    cols = set(table.column_names)
    if "sequence" not in cols:
        raise ValueError(f"{path}: no 'sequence' column (columns: {sorted(cols)})")
    n = table.num_rows
    seq, offs, nulls = _ragged(pa, table.column("sequence"), "sequence", path)
    if nulls:
        raise ValueError(f"{path}: {nulls} of {n} reads have a null sequence")
    qualities = None
    if "quality" in cols:
        q, qoffs, qnulls = _ragged(pa, table.column("quality"), "quality", path)
        if qnulls == n and n and not info.get("has_qualities", False):
            qualities = None
        elif qnulls:
            raise ValueError(f"{path}: {qnulls} of {n} reads have no quality (all or none must)")
        elif n == 0 and not info.get("has_qualities", True):
            qualities = None
        else:
            if not np.array_equal(qoffs, offs):
                bad = int(np.flatnonzero(np.diff(qoffs) != np.diff(offs))[0])
                raise ValueError(f"{path}: row {bad}: quality length differs from sequence length")
            qualities = torch.from_numpy(q)
    columns = {}
    for key in ("name", "description"):
        if key in cols:
            data, o, knulls = _ragged(pa, table.column(key), key, path)
            columns[key] = StringColumn(data, o)
        else:
            columns[key] = StringColumn.empty(n)
    reads = PackedReads(
        torch.from_numpy(seq),
        torch.from_numpy(offs),
        qualities,
        columns["name"],
        columns["description"],
    )
    labels = None
    classes = info.get("classes")
    if "label" in cols:
        labels, classes = _labels(pa, table.column("label"), classes, info.get("label_dtype"), path)
    paths = info.get("paths")
    sizes = info.get("file_sizes")
    if sizes is None and paths and len(paths) == 1:
        sizes = [n]
    if not sizes or sum(sizes) != n or not paths or len(paths) != len(sizes):
        paths, sizes = [path], [n]
    return _Dataset.from_reads(
        reads, labels=labels, classes=classes, paths=paths, file_sizes=sizes, transform=transform
    )


def _labels(pa, column, classes: list[str] | None, dtype: str | None, path: str):
    import pyarrow.compute as pc

    n = len(column)
    if column.null_count == n:
        return None, None
    typ = column.type
    if pa.types.is_dictionary(typ) or pa.types.is_string(typ) or pa.types.is_large_string(typ):
        values = column.cast(typ.value_type) if pa.types.is_dictionary(typ) else column
        if column.null_count:
            raise ValueError(f"{path}: {column.null_count} of {n} reads have no label")
        if classes is None:
            classes = sorted(pc.unique(values).to_pylist())
        codes = pc.index_in(values, value_set=pa.array(classes, type=pa.string()))
        if codes.null_count:
            raise ValueError(f"{path}: labels outside the recorded classes {classes}")
        arr = np.asarray(codes.to_numpy(zero_copy_only=False), dtype=np.int64)
        return torch.from_numpy(arr), list(classes)
    if pa.types.is_integer(typ) or pa.types.is_boolean(typ):
        if column.null_count:  # missing labels: NaN, reported by validate()
            arr = np.asarray(
                column.cast(pa.float32()).to_numpy(zero_copy_only=False), dtype=np.float32
            )
            return torch.from_numpy(arr), classes
        arr = np.asarray(column.to_numpy(zero_copy_only=False)).astype(np.int64)
        return torch.from_numpy(arr), classes
    if pa.types.is_floating(typ):
        arr = np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
        target = np.float64 if dtype == "float64" else np.float32
        return torch.from_numpy(np.ascontiguousarray(arr.astype(target))), classes
    raise ValueError(f"{path}: column 'label' has unsupported type {typ}")
