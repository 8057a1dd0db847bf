"""NumPy export of datasets as fixed-length arrays (DeepBioP's ``dbp export numpy``).

Many genomics models read their training data as one array ``X`` of fixed
length ``L`` per read.  :func:`export_numpy` writes it, with the read lengths
and the labels:

``encoded="one_hot"``
    ``X``: ``uint8 [N, L, 4]`` (or ``bool`` with ``dtype="bool"``), columns
    A, C, G, T (U counts as T, case folded); N, other symbols and padding
    are all zeros.
``encoded="integer"``
    ``X``: ``int8 [N, L]``, A=0 C=1 G=2 T=3, N and every other symbol 4,
    padding ``-1``.

The fixed-length rule (shared with :func:`~deepbiop_gpu.export_hdf5`):

* a read longer than ``L`` is **cropped**: ``crop="start"`` (default) keeps
  its first ``L`` bases, ``crop="center"`` its middle ``L`` bases (starting at
  ``(len - L) // 2``);
* a read shorter than ``L`` is **right-padded** (zeros in one-hot, ``-1`` in
  integer);
* ``lengths`` (``int32 [N]``) holds ``min(len, L)``, the bases each row holds;
* ``L`` defaults to the longest read.

Encoding goes through the library's own ops (:func:`~deepbiop_gpu.ops.one_hot`
and :func:`~deepbiop_gpu.ops.integer`), in slices of reads, so memory stays
bounded: a ``.npy`` file is written through a memory map, a ``.npz`` archive
member by member into the zip stream.  Writes are atomic (a temporary file
beside ``path``, then renamed).
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .packed import PackedReads, pad_ragged

if TYPE_CHECKING:  # pragma: no cover
    from .data.dataset import Dataset

__all__ = ["export_numpy", "fixed_length_slices", "fixed_spec"]

PathLike = str | os.PathLike
#: Reads encoded at a time (bounds the memory of an export).
SLICE_READS = 16 * 1024
ENCODINGS = ("one_hot", "integer")
CROPS = ("start", "center")
INTEGER_PAD = -1


def fixed_spec(encoded: str, dtype: str | None) -> tuple[np.dtype, int]:
    """``(numpy dtype of X, channels per position)`` for an encoding (0 channels: ``[N, L]``)."""
    if encoded not in ENCODINGS:
        raise ValueError(f"encoded must be one of {ENCODINGS}, got {encoded!r}")
    if encoded == "one_hot":
        name = dtype or "uint8"
        if name not in ("uint8", "bool"):
            raise ValueError(f"one-hot dtype must be 'uint8' or 'bool', got {dtype!r}")
        return np.dtype(name), 4
    name = dtype or "int8"
    if name not in ("int8", "int16", "int32", "int64"):
        raise ValueError(f"integer dtype must be a signed integer type, got {dtype!r}")
    return np.dtype(name), 0


def _dataset_parts(dataset: Any, what: str) -> tuple[PackedReads, torch.Tensor | None, list | None]:
    from .data.dataset import Dataset as _Dataset

    if isinstance(dataset, PackedReads):
        dataset = _Dataset.from_reads(dataset)
    if not hasattr(dataset, "reads"):
        raise TypeError(f"{what} takes a Dataset or PackedReads, got {type(dataset).__name__}")
    return dataset.reads, getattr(dataset, "labels", None), getattr(dataset, "classes", None)


def resolve_length(reads: PackedReads, length: int | None) -> int:
    """``length`` checked (``>= 1``), or the longest read (at least 1) when None."""
    if length is None:
        return max(int(reads.lengths.max()) if len(reads) else 0, 1)
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be an int >= 1, got {length!r}")
    return int(length)


def fixed_length_slices(
    reads: PackedReads,
    encoded: str,
    length: int,
    *,
    crop: str = "start",
    dtype: str | None = None,
    slice_reads: int = SLICE_READS,
) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """``(first row, X slice, lengths slice)`` for consecutive slices of ``reads``.

    ``X`` follows the module's fixed-length rule; ``lengths`` is ``int32``.
    """
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    out_dtype, _ = fixed_spec(encoded, dtype)
    from .ops import integer, one_hot

    offsets = reads.offsets.cpu()
    seqs = reads.sequences.cpu()
    n = len(reads)
    for a in range(0, n, slice_reads):
        b = min(a + slice_reads, n)
        starts = offsets[a:b]
        lens = offsets[a + 1 : b + 1] - starts
        if crop == "center":
            starts = starts + torch.clamp((lens - length) // 2, min=0)
        kept = lens.clamp(max=length)
        padded = pad_ragged(seqs, starts, kept, length)
        if encoded == "one_hot":
            x = one_hot(padded, kept, dtype=torch.uint8).numpy()
            x = x.astype(np.bool_) if out_dtype == np.bool_ else x
        else:
            x = integer(padded, kept, pad_value=INTEGER_PAD).numpy().astype(out_dtype)
        yield a, x, kept.to(torch.int32).numpy()


def _npy_header(fh, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_2_0(fh, header)


def _sibling(path: str, what: str) -> str:
    stem = path[:-4] if path.endswith(".npy") else path
    return f"{stem}.{what}.npy"


def export_numpy(
    dataset: Dataset | PackedReads,
    path: PathLike,
    *,
    encoded: str = "one_hot",
    length: int | None = None,
    crop: str = "start",
    dtype: str | None = None,
    compress: bool = False,
) -> str:
    """Write a dataset as fixed-length encoded arrays to ``.npz`` or ``.npy``.

    Parameters
    ----------
    dataset : Dataset or PackedReads
    path : str or PathLike
        ``*.npz``: one archive with ``X``, ``lengths`` (``int32 [N]``),
        ``y`` (the labels, when the dataset has them), ``classes`` (``str``
        array, when it has class names) and ``encoding`` (a 0-d ``str``
        array).  ``*.npy``: ``X`` alone there, plus ``<stem>.lengths.npy``
        and, with labels, ``<stem>.labels.npy`` beside it.
    encoded : {"one_hot", "integer"}
        ``one_hot``: ``uint8 [N, L, 4]`` (``dtype="bool"``: ``bool``);
        ``integer``: ``int8 [N, L]`` (padding -1).
    length : int, optional
        ``L``; default the longest read.  See the module docstring for the
        crop / pad rule.
    crop : {"start", "center"}
        Which ``L`` bases a longer read keeps.
    dtype : str, optional
        Element type of ``X`` (see ``encoded``).
    compress : bool
        ``.npz`` only: deflate the members (``np.savez_compressed``).

    Returns
    -------
    str
        ``path``.

    Examples
    --------
    >>> from deepbiop_gpu import Dataset
    >>> ds = Dataset("tests/data/fastq/crlf_dos_3reads.fastq")
    >>> export_numpy(ds, "/tmp/crlf.npz", encoded="one_hot", length=8)
    '/tmp/crlf.npz'
    >>> z = np.load("/tmp/crlf.npz")
    >>> z["X"].shape, z["X"].dtype, z["lengths"].tolist()
    ((3, 8, 4), dtype('uint8'), [8, 8, 8])
    """
    reads, labels, classes = _dataset_parts(dataset, "export_numpy")
    path = os.fspath(path)
    if not path.endswith((".npz", ".npy")):
        raise ValueError(f"{path}: export_numpy writes .npz or .npy files")
    out_dtype, channels = fixed_spec(encoded, dtype)
    L = resolve_length(reads, length)
    if crop not in CROPS:
        raise ValueError(f"crop must be one of {CROPS}, got {crop!r}")
    n = len(reads)
    shape = (n, L, channels) if channels else (n, L)
    slices = fixed_length_slices(reads, encoded, L, crop=crop, dtype=dtype)
    y = None if labels is None else labels.cpu().numpy()
    if path.endswith(".npy"):
        targets = {"X": path, "lengths": _sibling(path, "lengths")}
        if y is not None:
            targets["labels"] = _sibling(path, "labels")
        with _atomic(list(targets.values())) as tmp:
            x_map = np.lib.format.open_memmap(tmp[0], mode="w+", dtype=out_dtype, shape=shape)
            all_lens = np.zeros(n, np.int32)
            for a, x, lens in slices:
                x_map[a : a + len(x)] = x
                all_lens[a : a + len(lens)] = lens
            x_map.flush()
            del x_map
            np.save(tmp[1], all_lens)
            if y is not None:
                np.save(tmp[2], y)
        return path
    mode = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with _atomic([path]) as tmp, zipfile.ZipFile(tmp[0], "w", mode, allowZip64=True) as zf:
        all_lens = np.zeros(n, np.int32)
        with zf.open("X.npy", "w", force_zip64=True) as fh:
            _npy_header(fh, out_dtype, shape)
            for a, x, lens in slices:
                fh.write(np.ascontiguousarray(x).tobytes())
                all_lens[a : a + len(lens)] = lens
        extras: dict[str, np.ndarray] = {"lengths": all_lens, "encoding": np.array(encoded)}
        if y is not None:
            extras["y"] = y
        if classes is not None:
            extras["classes"] = np.array(list(classes), dtype=str)
        for key, arr in extras.items():
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    return path


class _atomic:
    """Temporary paths beside each target (the ``.npy`` suffix kept), renamed on success."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.tmps = [
            os.path.join(os.path.dirname(t) or ".", f".tmp-{os.getpid()}-{os.path.basename(t)}")
            for t in targets
        ]

    def __enter__(self) -> list[str]:
        return self.tmps

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            for tmp, target in zip(self.tmps, self.targets, strict=True):
                os.replace(tmp, target)
            return
        for tmp in self.tmps:
            if os.path.exists(tmp):
                os.remove(tmp)
