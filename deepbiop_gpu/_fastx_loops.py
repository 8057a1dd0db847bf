"""Compiled (numba) loops of the writers and filters: one pass per read, no temporaries.

Imported only when numba is installed and enabled (see
:func:`deepbiop_gpu.ops._numba.numba_enabled`); :mod:`deepbiop_gpu.writers` and
:mod:`deepbiop_gpu.filters` fall back to vectorised numpy code otherwise, with
the same results (the tests run both).
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["assemble_records", "base_counts", "quality_sums", "multilinear_hashes"]


@numba.njit(nogil=True, cache=True)
def _copy_wrapped(out, p, src, a, n, width, add):
    """Copy ``src[a:a+n]`` (+ ``add``) to ``out[p:]``, a newline every ``width`` bytes.

    Returns the new ``p``.
    """
    if width <= 0:
        if add == 0:
            out[p : p + n] = src[a : a + n]  # a plain copy (vectorised)
        else:
            for j in range(n):
                out[p + j] = src[a + j] + add
        return p + n
    for j in range(n):
        if j and j % width == 0:
            out[p] = 10
            p += 1
        out[p] = src[a + j] + add
        p += 1
    return p


@numba.njit(nogil=True, cache=True)
def assemble_records(
    out,
    rec_starts,
    rows,
    seq,
    offsets,
    qual,
    has_qual,
    fill,
    qual_add,
    names,
    name_offsets,
    descs,
    desc_offsets,
    fastq,
    width,
):
    """Write the records of reads ``rows`` into ``out`` at ``rec_starts`` (sized by the caller)."""
    marker = 64 if fastq else 62
    for k in range(len(rows)):
        r = rows[k]
        p = rec_starts[k]
        out[p] = marker
        p += 1
        a, b = name_offsets[r], name_offsets[r + 1]
        out[p : p + b - a] = names[a:b]
        p += b - a
        a, b = desc_offsets[r], desc_offsets[r + 1]
        if b > a:
            out[p] = 32
            p += 1
            out[p : p + b - a] = descs[a:b]
            p += b - a
        out[p] = 10
        p += 1
        s, n = offsets[r], offsets[r + 1] - offsets[r]
        p = _copy_wrapped(out, p, seq, s, n, width, 0)
        out[p] = 10
        p += 1
        if fastq:
            out[p] = 43
            out[p + 1] = 10
            p += 2
            if has_qual:
                p = _copy_wrapped(out, p, qual, s, n, width, qual_add)
            else:
                for j in range(n):
                    if width > 0 and j and j % width == 0:
                        out[p] = 10
                        p += 1
                    out[p] = fill
                    p += 1
            out[p] = 10


@numba.njit(nogil=True, cache=True)
def quality_sums(qual, offsets, err_table, low_table, err_out, sum_out, low_out):
    """Per read: the sum of error probabilities, of phred+33 bytes, and the low-quality count."""
    for r in range(len(offsets) - 1):
        e = 0.0
        t = 0
        low = 0
        for j in range(offsets[r], offsets[r + 1]):
            q = qual[j]
            e += err_table[q]
            t += q
            low += low_table[q]
        err_out[r] = e
        sum_out[r] = t
        low_out[r] = low


@numba.njit(nogil=True, cache=True)
def base_counts(seq, offsets, classes, n_out, acgt_out, gc_out):
    """Per read: how many N, A/C/G/T and G/C bases (``classes``: bit 1 N, 2 ACGT, 4 GC)."""
    for r in range(len(offsets) - 1):
        nn = 0
        acgt = 0
        gc = 0
        for j in range(offsets[r], offsets[r + 1]):
            c = classes[seq[j]]
            nn += c & 1
            acgt += (c >> 1) & 1
            gc += (c >> 2) & 1
        n_out[r] = nn
        acgt_out[r] = acgt
        gc_out[r] = gc


@numba.njit(nogil=True, cache=True)
def multilinear_hashes(seq, offsets, rows, k1, k2, comp, canonical, out):
    """The 128-bit multilinear hash of reads ``rows`` (see ``filters.sequence_hashes``)."""
    last = len(k1) - 1
    for k in range(len(rows)):
        r = rows[k]
        a = offsets[r]
        n = offsets[r + 1] - a
        ln = np.uint64(n)
        h1 = ln * k1[last]
        h2 = ln * k2[last]
        for j in range(n):
            b = np.uint64(seq[a + j])
            h1 += k1[j] * b
            h2 += k2[j] * b
        if canonical:
            g1 = ln * k1[last]
            g2 = ln * k2[last]
            for j in range(n):
                b = np.uint64(comp[seq[a + j]])
                g1 += k1[n - 1 - j] * b
                g2 += k2[n - 1 - j] * b
            if g1 < h1 or (g1 == h1 and g2 < h2):
                h1 = g1
                h2 = g2
        out[k, 0] = h1
        out[k, 1] = h2


def _philox():
    from .ops._philox import numba_philox

    return numba_philox()


_philox_fn = _philox()
_M32 = np.uint64(0xFFFFFFFF)


@numba.njit(nogil=True, cache=True)
def read_words01(k0, k1, index, stream, w0_out, w1_out):
    """Words 0 and 1 of Philox draw 0 of each read (epoch 0), as ``read_words`` gives them."""
    for i in range(len(index)):
        idx = np.uint64(index[i])
        c1 = idx & _M32
        c3 = ((idx >> np.uint64(32)) << np.uint64(8) | np.uint64(stream)) & _M32
        w0, w1, _, _ = _philox_fn(k0, k1, np.uint64(0), c1, np.uint64(0), c3)
        w0_out[i] = w0
        w1_out[i] = w1
