"""Vectorised helpers over ragged byte ranges of one buffer.

The parsers locate lines with one ``np.flatnonzero`` per buffer and then
describe every field as a ``(start, length)`` pair.  The helpers here turn
such pairs into packed arrays without a Python loop per record:

* :func:`gather` concatenates ``buf[start:start+length]`` for every pair, by
  copying fixed-width rows out of a strided (sliding-window) view of the
  buffer and dropping the padding with one boolean mask;
* :func:`split_headers` cuts header lines into id (up to the first space or
  tab) and description (the rest);
* :func:`ranges_equal` compares two sets of ranges byte for byte.

Every buffer passed in must have at least :data:`PAD` readable bytes after
the last byte any range covers (the parsers allocate their buffers so); the
padding bytes are read but never copied into a result.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["PAD", "gather", "split_headers", "ranges_equal", "first_true"]

#: Slack (bytes) every parse buffer carries after its valid data.
PAD = 4096

_EMPTY = np.zeros(0, dtype=np.uint8)


@functools.lru_cache(maxsize=16)
def _prefix_masks(width: int) -> np.ndarray:
    """``bool [width + 1, width]``: row ``k`` is ``True`` in its first ``k`` columns.

    ``_prefix_masks(w)[lengths]`` is the keep-mask of ``[n, w]`` padded rows,
    built by copying rows instead of comparing ``n * w`` column numbers.
    """
    return np.tri(width + 1, width, -1, dtype=bool)


def _windows(buf: np.ndarray, width: int) -> np.ndarray:
    """``[len(buf) - width + 1, width]`` read-only view: row ``i`` is ``buf[i:i+width]``."""
    return sliding_window_view(buf, width)


def gather(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate ragged ranges of ``buf``.

    Parameters
    ----------
    buf : ndarray, ``uint8 [m]``
        Source buffer, with :data:`PAD` readable bytes after every range end.
    starts, lengths : ndarray, ``int64 [n]``
        Range ``i`` is ``buf[starts[i] : starts[i] + lengths[i]]``.

    Returns
    -------
    ndarray, ``uint8 [lengths.sum()]``
        The ranges back to back, in order (a new array, never a view of ``buf``).

    Examples
    --------
    >>> buf = np.frombuffer(b"@r1\\nACGT\\n+\\nIIII\\n" + bytes(PAD), dtype=np.uint8)
    >>> gather(buf, np.array([4, 11]), np.array([4, 4])).tobytes()
    b'ACGTIIII'
    """
    n = len(starts)
    if n == 0:
        return _EMPTY.copy()
    lmax = int(lengths.max())
    if lmax == 0:
        return _EMPTY.copy()
    total = int(lengths.sum())
    if lmax <= PAD and n * lmax <= total + (total >> 2) + 64:
        # near-uniform lengths: one row per range
        rows = _windows(buf, lmax)[starts]
        if total == n * lmax:
            return rows.reshape(-1)
        return rows[_prefix_masks(lmax)[lengths]]
    # long or very uneven ranges: cut into pieces of a fixed width
    width = 1024 if total // n >= 2048 else 256
    pieces = (lengths + (width - 1)) // width
    n_pieces = int(pieces.sum())
    owner = np.repeat(np.arange(n, dtype=np.int64), pieces)
    first_piece = np.cumsum(pieces) - pieces
    k = np.arange(n_pieces, dtype=np.int64) - first_piece[owner]
    k *= width
    piece_starts = starts[owner] + k
    piece_lengths = np.minimum(lengths[owner] - k, width)
    rows = _windows(buf, width)[piece_starts]
    return rows[_prefix_masks(width)[piece_lengths]]


def first_true(mask: np.ndarray) -> int:
    """Index of the first ``True`` in a 1-D boolean array, or -1."""
    idx = int(np.argmax(mask)) if len(mask) else 0
    return idx if len(mask) and mask[idx] else -1


def ranges_equal(
    buf: np.ndarray, a_starts: np.ndarray, b_starts: np.ndarray, lengths: np.ndarray
) -> np.ndarray:
    """Whether ``buf[a:a+l] == buf[b:b+l]`` for every range pair.

    Parameters
    ----------
    buf : ndarray, ``uint8``
        Buffer holding both sets of ranges (with :data:`PAD` slack).
    a_starts, b_starts, lengths : ndarray, ``int64 [n]``

    Returns
    -------
    ndarray, ``bool [n]``

    Examples
    --------
    >>> buf = np.frombuffer(b"abcabd" + bytes(PAD), dtype=np.uint8)
    >>> ranges_equal(buf, np.array([0, 0]), np.array([3, 3]), np.array([2, 3])).tolist()
    [True, False]
    """
    n = len(lengths)
    out = np.ones(n, dtype=bool)
    nonempty = lengths > 0
    if not nonempty.any():
        return out
    idx = np.flatnonzero(nonempty)
    la = gather(buf, a_starts[idx], lengths[idx])
    lb = gather(buf, b_starts[idx], lengths[idx])
    diff = la != lb
    offs = np.zeros(len(idx) + 1, dtype=np.int64)
    np.cumsum(lengths[idx], out=offs[1:])
    # number of differing bytes in each range
    ndiff = np.add.reduceat(diff.astype(np.int64), offs[:-1]) if len(diff) else np.zeros(len(idx))
    out[idx] = ndiff == 0
    return out


def split_headers(
    buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cut header lines (without their ``@`` / ``>``) into id and description.

    The id is everything up to the first space or tab; the description is
    everything after that one separator (kept verbatim), as ``pysam.FastxFile``
    and ``kseq`` do.

    Parameters
    ----------
    buf : ndarray, ``uint8``
        Buffer holding the headers (with :data:`PAD` slack).
    starts, lengths : ndarray, ``int64 [n]``
        The header text of each record.

    Returns
    -------
    names : ndarray, ``uint8``
        Ids back to back.
    name_lengths : ndarray, ``int64 [n]``
    descriptions : ndarray, ``uint8``
        Descriptions back to back.
    description_lengths : ndarray, ``int64 [n]``

    Examples
    --------
    >>> buf = np.frombuffer(b"r1 some text\\nr2\\n" + bytes(PAD), dtype=np.uint8)
    >>> names, nl, descs, dl = split_headers(buf, np.array([0, 13]), np.array([12, 2]))
    >>> names.tobytes(), nl.tolist(), descs.tobytes(), dl.tolist()
    (b'r1r2', [2, 2], b'some text', [9, 0])
    """
    n = len(starts)
    if n == 0:
        z = np.zeros(0, dtype=np.int64)
        return _EMPTY.copy(), z, _EMPTY.copy(), z.copy()
    lmax = int(lengths.max())
    if lmax == 0:
        z = np.zeros(n, dtype=np.int64)
        return _EMPTY.copy(), z, _EMPTY.copy(), z.copy()
    if lmax <= PAD and n * lmax <= 4 * int(lengths.sum()) + 64:
        # rows of the header bytes (plus whatever follows them, ignored)
        rows = _windows(buf, lmax)[starts]
        sep = rows == 32
        sep |= rows == 9
        first = sep.argmax(axis=1)
        has_sep = sep[np.arange(n), first] & (first < lengths)
        name_lengths = np.where(has_sep, first, lengths)
        names = rows[_prefix_masks(lmax)[name_lengths]]
    else:
        # long or very uneven headers: search the concatenated header text
        flat = gather(buf, starts, lengths)
        offs = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(lengths, out=offs[1:])
        seps = np.flatnonzero((flat == 32) | (flat == 9))
        cand = np.append(seps, len(flat))[np.searchsorted(seps, offs[:-1])]
        has_sep = cand < offs[1:]
        name_lengths = np.where(has_sep, cand - offs[:-1], lengths)
        names = gather(buf, starts, name_lengths)
    desc_lengths = np.where(has_sep, lengths - name_lengths - 1, 0)
    if not has_sep.any():
        return names, name_lengths, _EMPTY.copy(), desc_lengths
    descs = gather(buf, starts + name_lengths + 1, desc_lengths)
    return names, name_lengths, descs, desc_lengths
