"""The CPU's per-read rules, the fused loop and the Philox they draw from, cached by numba.

Imported only when numba is installed: by the ops' numba loops (mutate, crop,
the gate), by :func:`deepbiop_gpu.ops._philox.numba_philox` and by
:mod:`deepbiop_gpu.transforms.fused`.  The functions are ``cache=True``:
numba keeps their machine code beside this file (or in its user cache
directory when that is read-only), so only the first process on a machine
pays the compile (a second or two per output type).  Numba invalidates that
cache when *this file* changes, which is why everything the results depend
on lives here or arrives as an argument: the Philox rounds and constants are
in this file, the streams, seeds, thresholds and tables are arguments.  (The
prefetch hint comes from :mod:`._numba`; it never changes a result.)

``fused_loop`` runs one batch's worth of reads, each through: a copy into a
small buffer (bases and qualities), the plan's steps in order (crop,
reverse-complement, mutate: the rules of :func:`crop`, :func:`reverse_complement`
+ :func:`bernoulli_gate` and :func:`mutate`, on the same Philox words), and
one write in the output encoding (``table`` rows of raw bits; one-hot
``unknown="random"`` first replaces each unknown base by its drawn letter).  See
:mod:`deepbiop_gpu.transforms.fused` for the plan and the output tables.
"""

from __future__ import annotations

import numba
import numpy as np

from ._numba import numba_prefetch

__all__ = [
    "AHEAD",
    "AHEAD_BYTES",
    "first_word",
    "fused_loop",
    "gather_rows",
    "mutate_read",
    "mutate_read_phred",
    "philox",
    "quality_score",
    "read_counters",
    "simulate_read",
    "simulate_step",
    "window_start",
]

M32 = np.uint64(0xFFFFFFFF)
U32, U8, THREE = np.uint64(32), np.uint64(8), np.uint64(3)
_ROUND_A, _ROUND_B = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_KEY_A, _KEY_B = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)

# prefetch the reads this many rows ahead, their first bytes (the rest stream in)
AHEAD = 4
AHEAD_BYTES = 512

prefetch = numba_prefetch()


@numba.njit(inline="always", nogil=True, cache=True)
def philox(k0, k1, c0, c1, c2, c3):  # pragma: no cover - compiled
    """Philox-4x32-10 on ``uint64`` scalars holding 32-bit values (``tl.philox``'s words)."""
    for _ in range(10):
        p0 = c0 * _ROUND_A
        p1 = c2 * _ROUND_B
        c0 = (p1 >> U32) ^ c1 ^ k0
        c2 = (p0 >> U32) ^ c3 ^ k1
        c1 = p1 & M32
        c3 = p0 & M32
        k0 = (k0 + _KEY_A) & M32
        k1 = (k1 + _KEY_B) & M32
    return c0, c1, c2, c3


# --- the per-read rules, shared by the ops' own numba loops and the fused loop -------------


@numba.njit(inline="always", nogil=True, cache=True)
def read_counters(index_value, stream):  # pragma: no cover - compiled
    """``(c1, c3)`` of a read: its index's low word, and the stream with its high bits."""
    idx = np.uint64(index_value)
    return idx & M32, (((idx >> U32) << U8) | np.uint64(stream)) & M32


@numba.njit(inline="always", nogil=True, cache=True)
def first_word(k0, k1, c1, c2, c3):  # pragma: no cover - compiled
    """Word 0 of draw 0 (the per-read draws: the gate, the random crop)."""
    w0, _, _, _ = philox(k0, k1, np.uint64(0), c1, c2, c3)
    return w0


@numba.njit(inline="always", nogil=True, cache=True)
def window_start(n, length, mode, k0, k1, c1, c2, c3):  # pragma: no cover - compiled
    """Where a read of ``n`` bases keeps its ``length``-base window (:func:`crop`).

    ``mode`` is the index in ``crop.MODES``: 0 random, 1 start, 2 center, 3 end.
    """
    excess = max(n - length, 0)
    if mode == 0:  # random: multiply-shift of a 32-bit word onto [0, excess]
        w0, _, _, _ = philox(k0, k1, np.uint64(0), c1, c2, c3)
        start = np.int64((w0 * np.uint64(excess + 1)) >> U32)
    elif mode == 1:
        start = 0
    elif mode == 2:
        start = excess // 2
    else:
        start = excess
    return start


@numba.njit(inline="always", nogil=True, cache=True)
def fill_lanes(lanes, n, k0, k1, c1, c2, c3):  # pragma: no cover
    """Mutate's Philox words of an ``n``-base read into ``lanes`` (``uint64 [4, >= (n + 3) //
    4]``): draw ``d`` (counter ``d``) gives word ``lane`` of position ``4 * d + lane``, one row
    per lane (a loop LLVM vectorises).  Returns the number of draws."""
    draws = (n + 3) // 4
    for d in range(draws):
        w0, w1, w2, w3 = philox(k0, k1, np.uint64(d), c1, c2, c3)
        lanes[0, d] = w0
        lanes[1, d] = w1
        lanes[2, d] = w2
        lanes[3, d] = w3
    return draws


@numba.njit(inline="always", nogil=True, cache=True)
def substitute(buf, p, w, t, acgt, letters):  # pragma: no cover
    """Mutate's substitution of a hit (word ``w`` below threshold ``t``) at ``buf[p]``: an
    A/C/G/T byte (either case) becomes base ``(code + 1 + w * 3 // t) & 3`` in its case;
    any other byte is kept."""
    x = buf[p]
    code = acgt[x]
    if code < 4:
        j = np.int64((w * THREE) // t)
        buf[p] = letters[(np.int64(code) + 1 + j) & 3] | (x & 0x20)


@numba.njit(inline="always", nogil=True, cache=True)
def mutate_read(buf, n, k0, k1, c1, c2, c3, t, acgt, letters, lanes):  # pragma: no cover
    """Substitute the A/C/G/T bases of ``buf[:n]`` in place (the rule of :func:`mutate`).

    ``t`` is the ``uint64`` threshold (> 0); ``lanes`` is ``uint64 [4, >= (n + 3) // 4]``
    scratch: all Philox words first, one row per lane (a loop LLVM vectorises),
    then the rare hits, where a draw whose 4 words all miss costs one test.
    """
    draws = fill_lanes(lanes, n, k0, k1, c1, c2, c3)
    for d in range(draws):
        if min(min(lanes[0, d], lanes[1, d]), min(lanes[2, d], lanes[3, d])) >= t:
            continue
        for lane in range(4):
            p = 4 * d + lane
            w = lanes[lane, d]
            if p < n and w < t:
                substitute(buf, p, w, t, acgt, letters)


@numba.njit(inline="always", nogil=True, cache=True)
def mutate_read_phred(  # pragma: no cover
    buf, qbuf, n, k0, k1, c1, c2, c3, thr, acgt, letters, lanes
):
    """:func:`mutate_read` with each base's own threshold ``thr[qbuf[p]]`` (``rate="phred"``).

    ``thr`` is ``uint64 [256]`` (the thresholds of the quality bytes); the
    words are the same, a hit is ``word < thr[q]`` and the new base divides
    by that threshold.
    """
    fill_lanes(lanes, n, k0, k1, c1, c2, c3)
    for p in range(n):
        w = lanes[p % 4, p // 4]
        t = thr[qbuf[p]]
        if w < t:
            substitute(buf, p, w, t, acgt, letters)


@numba.njit(inline="always", nogil=True, cache=True)
def quality_score(word, i, n, normal, table, a, b, sign, sd):  # pragma: no cover
    """The Phred score of position ``i`` of an ``n``-base read from its 32-bit ``word``
    (the integer rule of :mod:`deepbiop_gpu.quality_models`; int64 scalars)."""
    w = np.int64(word)
    if normal:
        z = np.int64(table[w >> 16])
        mean = a + sign * ((b * i) // max(n - 1, 1))
        v = mean * 65536 + sd * z + 2147483648
        return min(max(v, 0) >> 32, 93)
    return a + ((w * b) >> 32)


@numba.njit(inline="always", nogil=True, cache=True)
def simulate_read(  # pragma: no cover
    qbuf, m, n, k0, k1, c1, c2, c3, normal, table, a, b, sign, sd
):
    """Phred+33 bytes of positions ``0 .. m - 1`` of an ``n``-base read into ``qbuf``
    (:func:`~deepbiop_gpu.ops.simulate_qualities`: word ``i % 4`` of draw ``i // 4``)."""
    for d in range((m + 3) // 4):
        words = philox(k0, k1, np.uint64(d), c1, c2, c3)
        for k in range(min(4, m - 4 * d)):
            i = 4 * d + k
            qbuf[i] = quality_score(words[k], i, n, normal, table, a, b, sign, sd) + 33


@numba.njit(inline="always", nogil=True, cache=True)
def simulate_step(qbuf, n, have_q, a, packed, k0, k1, c1, c2, c3, table):  # pragma: no cover
    """A fused simulate_qualities step on ``qbuf[:n]``: the model unpacked from a step row
    (``ops._fused.pack_simulate``); with ``only_missing`` a read that has a non-0 quality keeps
    its own."""
    if have_q and (packed >> 1) & 1:
        for i in range(n):
            if qbuf[i] != 0:
                return
    normal = (packed & 1) == 1
    sign = np.int64(-1) if (packed >> 2) & 1 else np.int64(1)
    b = np.int64((packed >> 3) & ((1 << 28) - 1))
    sd = np.int64(packed >> 32)
    simulate_read(qbuf, n, n, k0, k1, c1, c2, c3, normal, table, np.int64(a), b, sign, sd)


@numba.njit(nogil=True, cache=True)
def fused_loop(
    src,
    qsrc,
    has_quals,
    starts,
    lens,
    L,
    index,
    epoch,
    steps,
    width_max,
    comp,
    acgt,
    letters,
    table,
    planes,
    out,
    out_quals,
    out_lens,
    rand_unknown,
    unknown_seed,
    codes,
    s_crop,
    s_rc,
    s_mut,
    s_unk,
    enc_letters,
    phred_thr,
    normal,
    quals_out,
    s_sim,
    nv,
    v0,
    v1,
):  # pragma: no cover
    # read b is src[starts[b] : starts[b] + lens[b]] (qualities: qsrc), in a batch L wide;
    # rand_unknown: one-hot unknown="random", the unknown bases (codes[x] == C, C =
    # len(enc_letters), the encoder alphabet's columns) of the final read written as the
    # row of enc_letters[(word * C) >> 32] (dna: word >> 30), word i % 4 of draw i // 4 of
    # stream s_unk
    # phred_thr: uint64 [S, 256], the quality-byte thresholds of phred mutate steps (mode 1);
    # normal: simulate_qualities' quantile table; quals_out: write out_quals (the input has
    # qualities, or a simulate_qualities step makes them); s_sim: its Philox stream
    # Offsets into the buffers are unsigned (np.uint64) where they are not
    # plain range() indices: numba skips the negative-index wrap-around
    # test for them, which lets LLVM vectorise the copies (3x faster).
    B = starts.shape[0]
    buf = np.empty(width_max, np.uint8)
    qbuf = np.empty(width_max, np.uint8)
    lanes = np.empty((4, (width_max + 3) // 4), np.uint64)  # mutate's Philox words
    c2 = np.uint64(epoch) & M32
    k = table.shape[1]  # 1 or 2 (rows layouts)
    first_row, end_row = B * v0 // nv, B * v1 // nv
    for b in range(first_row, end_row):
        ahead = b + AHEAD  # start fetching a later read's bytes (shuffled batches miss cache)
        if ahead < end_row:
            pa = starts[ahead]
            m = min(lens[ahead], AHEAD_BYTES)
            if m > 0:
                for o in range(0, m, 64):
                    prefetch(src, pa + o)
                prefetch(src, pa + m - 1)
                if has_quals:
                    for o in range(0, m, 64):
                        prefetch(qsrc, pa + o)
                    prefetch(qsrc, pa + m - 1)
        n = lens[b]
        a = np.uint64(starts[b])
        width = L
        have_q = has_quals  # qbuf holds the read's qualities
        for i in range(n):
            buf[i] = src[a + np.uint64(i)]
        if has_quals:
            for i in range(n):
                qbuf[i] = qsrc[a + np.uint64(i)]
        for s in range(steps.shape[0]):
            kind = steps[s, 0]
            seed = np.uint64(steps[s, 2])
            k0 = seed & M32
            k1 = seed >> U32
            if kind == 0:  # crop to steps[s, 1] bases
                length = steps[s, 1]
                c1, c3 = read_counters(index[b], s_crop)
                start = window_start(n, length, steps[s, 3], k0, k1, c1, c2, c3)
                n = n if n < length else length
                if start > 0:
                    first = np.uint64(start)
                    for i in range(n):
                        buf[i] = buf[first + np.uint64(i)]
                    if have_q:
                        for i in range(n):
                            qbuf[i] = qbuf[first + np.uint64(i)]
                width = length
            elif kind == 1:  # reverse-complement with probability steps[s, 1] / 2**32
                threshold = steps[s, 1]
                fire = True
                if threshold < 4294967296:
                    c1, c3 = read_counters(index[b], s_rc)
                    fire = first_word(k0, k1, c1, c2, c3) < np.uint64(threshold)
                if fire and n > 0:  # in place: swapping buffers would defeat vectorisation
                    last = np.uint64(n - 1)
                    for i in range(n // 2):
                        j = last - np.uint64(i)
                        x = buf[i]
                        buf[i] = comp[buf[j]]
                        buf[j] = comp[x]
                    if n % 2:
                        buf[n // 2] = comp[buf[n // 2]]
                    if have_q:
                        for i in range(n // 2):
                            j = last - np.uint64(i)
                            x = qbuf[i]
                            qbuf[i] = qbuf[j]
                            qbuf[j] = x
            elif kind == 3:  # simulate_qualities (value a, mode the rest of the model)
                c1, c3 = read_counters(index[b], s_sim)
                simulate_step(qbuf, n, have_q, steps[s, 1], steps[s, 3], k0, k1, c1, c2, c3,
                              normal)  # fmt: skip
                have_q = True
            elif steps[s, 3] == 1:  # mutate, rate="phred": each base's threshold from its quality
                c1, c3 = read_counters(index[b], s_mut)
                mutate_read_phred(buf, qbuf, n, k0, k1, c1, c2, c3, phred_thr[s], acgt, letters,
                                  lanes)  # fmt: skip
            else:  # mutate at rate steps[s, 1] / 2**32
                threshold = steps[s, 1]
                if threshold > 0:
                    c1, c3 = read_counters(index[b], s_mut)
                    t = np.uint64(threshold)
                    mutate_read(buf, n, k0, k1, c1, c2, c3, t, acgt, letters, lanes)
        out_lens[b] = n
        if rand_unknown:  # after every step: i is the position in the final read
            k0 = unknown_seed & M32
            k1 = unknown_seed >> U32
            c1, c3 = read_counters(index[b], s_unk)
            last = -1
            w0 = w1 = w2 = w3 = np.uint64(0)
            ncols = enc_letters.shape[0]
            for i in range(n):
                if codes[buf[i]] != ncols:
                    continue
                d = i // 4
                if d != last:
                    w0, w1, w2, w3 = philox(k0, k1, np.uint64(d), c1, c2, c3)
                    last = d
                lane = i % 4
                w = w0 if lane == 0 else (w1 if lane == 1 else (w2 if lane == 2 else w3))
                buf[i] = enc_letters[np.int64((w * np.uint64(ncols)) >> U32)]
        if planes:
            for c in range(table.shape[1]):
                for i in range(n):
                    out[b, c, i] = table[buf[i], c]
                for i in range(n, width):
                    out[b, c, i] = table[256, c]
        elif k == 2:  # 16 bytes a base (float32 one-hot): unrolled, 3x faster
            for i in range(n):
                x = buf[i]
                out[b, i, 0] = table[x, 0]
                out[b, i, 1] = table[x, 1]
            for i in range(n, width):
                out[b, i, 0] = table[256, 0]
                out[b, i, 1] = table[256, 1]
        elif k == 1:  # bytes, integers, 16-bit and uint8 one-hot
            for i in range(n):
                out[b, i, 0] = table[buf[i], 0]
            for i in range(n, width):
                out[b, i, 0] = table[256, 0]
        else:  # protein one-hot: k words a base
            for i in range(n):
                x = buf[i]
                for j in range(k):
                    out[b, i, j] = table[x, j]
            for i in range(n, width):
                for j in range(k):
                    out[b, i, j] = table[256, j]
        if quals_out:
            for i in range(n):
                out_quals[b, i] = qbuf[i]
            for i in range(n, width):
                out_quals[b, i] = 0


@numba.njit(nogil=True, cache=True)
def gather_rows(src, qsrc, has_quals, starts, lens, out, o, total):  # pragma: no cover
    """Reads ``src[starts[b]:][:lens[b]]`` back to back into ``out[o:]``, their qualities
    (``qsrc``) into ``out[o + total:]``: the CPU side of a ragged batch."""
    pos = np.uint64(o)
    q = np.uint64(o + total)
    B = starts.shape[0]
    for b in range(B):
        ahead = b + AHEAD  # shuffled batches miss the cache: fetch a later read's first bytes
        if ahead < B:
            pa = starts[ahead]
            prefetch(src, pa)
            if has_quals:
                prefetch(qsrc, pa)
        a = np.uint64(starts[b])
        n = np.uint64(lens[b])
        for i in range(n):
            out[pos + i] = src[a + i]
        if has_quals:
            for i in range(n):
                out[q + i] = qsrc[a + i]
            q += n
        pos += n
