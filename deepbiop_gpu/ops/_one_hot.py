"""``one_hot``: ASCII bases -> one-hot ``[B, L, 4]`` (or channels-first ``[B, 4, L]``).

Columns are A, C, G, T in that order (U counts as T, case is folded).  Unknown
bases (N, IUPAC codes, any other byte) give all zeros, or 0.25 in every
column with ``unknown="uniform"``, or with ``unknown="random"`` a one-hot row
drawn uniformly from A/C/G/T, keyed on ``(seed, epoch, index, position)``
(DeepBioP's ``unknown_strategy="random"``, reproducible); padding always
gives all zeros.

Torch implementation (CPU):

* ``NLC``: one gather.  A 512-row table (rows 256.. = padding) of the 4 output
  values of each byte is viewed as *one* wide element per row (16 bytes for
  float32 as ``complex128``, 8 bytes for 16-bit floats as ``int64``, 4 bytes
  for uint8 as ``int32``), so ``index_select`` writes all 4 values of a base
  in one element copy.  The copies move bits and never do arithmetic on them.
* ``NCL``: one broadcast byte comparison writes the ``uint8 [B, 4, L]``
  planes, then one widening pass to the output dtype.

With numba installed (and ``DEEPBIOP_GPU_NUMBA`` not ``0``) the CPU runs a
compiled loop instead, one pass per read copying the same table rows as raw
bits; both implementations are tested against the naive reference.

Padding is applied by zeroing it in the input bytes (byte 0 is an unknown
base, all zeros too) or, with ``unknown="uniform"``, through the upper half of
the table; either way per read, not by a comparison per position.

Alphabets (issue 12): ``alphabet="rna"`` has columns A, C, G, U (T is
unknown), ``"protein"`` the 20 columns ACDEFGHIKLMNPQRSTVWY (unknown: 1/20
each with ``unknown="uniform"``).  The dna paths above are unchanged; the
other alphabets use the same tables with ``C`` columns (torch: a row gather;
numba: a loop over the ``C`` values of a row), and ``NCL`` as the transpose.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ._checks import check_batch, check_index, check_seed
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_lengths, numba_module, numba_ok, run_numba, run_rows
from ._philox import STREAM_UNKNOWN_BASE, numba_philox, philox4x32, read_counters
from ._tables import alphabet_codes, alphabet_columns, check_alphabet
from ._integer import PAD_OFFSET, TABLE_ROWS, byte_index, gather, length_rows, lookup_loop

__all__ = ["DTYPES", "LAYOUTS", "UNKNOWN_MODES", "one_hot", "one_hot_torch"]

DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.uint8)
LAYOUTS = ("NLC", "NCL")
UNKNOWN_MODES = ("zeros", "uniform", "random")

# one table element covers the 4 values of a base: 4 * itemsize bytes
_WIDE = {16: torch.complex128, 8: torch.int64, 4: torch.int32}
# folded (| 0x20) byte of each column: a c g t (u is folded into t first)
_FOLDED = (0x61, 0x63, 0x67, 0x74)


@functools.cache
def _one_hot_table_cpu(dtype: torch.dtype, unknown: str, alphabet: str = "dna") -> torch.Tensor:
    if unknown not in ("zeros", "uniform"):  # "random" is no table: never encode it as zeros
        raise ValueError(f"one-hot tables exist for unknown='zeros' / 'uniform', not {unknown!r}")
    columns = len(alphabet_columns(alphabet))
    # 1 / C rounded once to float32 (0.25 for 4 columns, 0.05 for 20), then to dtype
    fill = 1.0 / columns if unknown == "uniform" else 0.0
    table = torch.full((TABLE_ROWS, columns), fill, dtype=torch.float32)
    table[PAD_OFFSET:] = 0
    for base, code in alphabet_codes(alphabet).items():
        for byte in (ord(base), ord(base.lower())):
            table[byte] = 0
            table[byte, code] = 1
    return table.to(dtype)


@functools.cache
def uniform_share(dtype: torch.dtype, columns: int) -> float:
    """``1 / columns`` as ``unknown="uniform"`` stores it: rounded to float32, then to ``dtype``
    (the kernels take it pre-rounded, so their float32 -> ``dtype`` cast is exact: Triton's
    interpreter truncates where the GPU rounds)."""
    return float(torch.tensor(1.0 / columns, dtype=torch.float32).to(dtype).to(torch.float32))


@functools.cache
def one_hot_table(
    dtype: torch.dtype, unknown: str, device: torch.device, alphabet: str = "dna"
) -> torch.Tensor:
    """``dtype [512, C]``: the ``C`` output values of each byte; rows 256.. = padding (zeros)."""
    return _one_hot_table_cpu(dtype, unknown, alphabet).to(device)


def _masked_bytes(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``uint8 [B, L]``: ``seqs`` with padding zeroed (a byte copy per read, no comparisons)."""
    return length_rows(lengths, seqs.shape[1], 0xFF, 0, torch.uint8).bitwise_and_(seqs)


def _empty_rows(rows: int, columns: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``dtype [rows, columns]``, uninitialised; on the CPU allocated by numpy, which asks for
    huge pages: the first touch of a large one-hot output is then several times cheaper."""
    if device.type != "cpu":
        return torch.empty((rows, columns), dtype=dtype, device=device)
    size = torch.empty((), dtype=dtype).element_size()
    bits = np.empty((rows, columns), dtype={1: np.uint8, 2: np.uint16, 4: np.uint32}[size])
    return torch.from_numpy(bits).view(dtype)


def _nlc(
    seqs: torch.Tensor, lengths: torch.Tensor, dtype: torch.dtype, unknown: str, alphabet: str = "dna"
):
    B, L = seqs.shape
    table = one_hot_table(dtype, unknown, seqs.device, alphabet)
    columns = table.shape[1]
    if unknown == "zeros":
        # byte 0 and padding are both all zeros: zeroing the padding bytes is enough
        index = _masked_bytes(seqs, lengths).to(torch.int32)
    else:
        index = byte_index(seqs, lengths)
    wide_dtype = _WIDE.get(columns * table.element_size())
    if wide_dtype is None:  # protein: no element type holds a row; gather the rows
        out = _empty_rows(B * L, columns, dtype, seqs.device)
        return torch.index_select(table, 0, index.view(-1), out=out).view(B, L, columns)
    wide = table.view(wide_dtype).view(-1)  # [512] wide elements
    out = gather(wide, index)  # [B, L] wide elements
    return out.view(dtype).view(B, L, columns)


def _ncl(
    seqs: torch.Tensor, lengths: torch.Tensor, dtype: torch.dtype, unknown: str, alphabet: str = "dna"
):
    if alphabet != "dna":  # the byte comparisons below are dna's (U folded into T)
        return _nlc(seqs, lengths, dtype, unknown, alphabet).transpose(1, 2).contiguous()
    B, L = seqs.shape
    # 'A' -> 'a': only a/A fold to 'a' (likewise c, g, t, u); padding -> 0, which no
    # byte folds to and no column matches
    folded = _masked_bytes(seqs.bitwise_or(0x20), lengths)
    scratch = torch.empty_like(folded)
    folded.bitwise_xor_(torch.eq(folded, 0x75, out=scratch))  # u (0x75) -> t (0x74)
    columns = torch.tensor(_FOLDED, dtype=torch.uint8, device=seqs.device).view(1, 4, 1)
    # comparisons write uint8 (the vectorised path), never bool
    planes = torch.empty((B, 4, L), dtype=torch.uint8, device=seqs.device)
    torch.eq(folded.unsqueeze(1), columns, out=planes)
    if unknown == "uniform":
        # unknown inside the read: no column set, and not padding (folded != 0)
        known = planes.amax(dim=1)
        unk = torch.ne(folded, 0, out=scratch).bitwise_and_(known.bitwise_xor_(1))
        quarters = planes.mul_(4).add_(unk.unsqueeze(1))  # 4 = one, 1 = a quarter
        return torch.mul(quarters, 0.25).to(dtype)
    if dtype == torch.uint8:
        return planes
    out = torch.empty((B, 4, L), dtype=dtype, device=seqs.device)
    if dtype != torch.float16:
        return out.copy_(planes)
    # float16: write the bit pattern of 1.0 (an exact integer multiply); faster than a cast
    one_bits = int(torch.ones((), dtype=dtype).view(torch.int16))
    out.view(torch.int16).copy_(planes).mul_(one_bits)
    return out


@functools.cache
def _numba_loops():
    """The CPU loops (numba, which must be installed): one pass per read.

    They copy raw bits: each table row (the 4 output values of a byte, row 256
    = padding) is read as unsigned integers of the output's width, so one
    loop serves every dtype and never does float arithmetic.
    """
    import numba

    @numba.njit(nogil=True)
    def nlc2(seqs, lens, table, out, nv, v0, v1):  # pragma: no cover - compiled
        # table [257, 2] and out [B, L, 2]: 16 bytes (4 x float32) per base
        B, L = seqs.shape
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            for i in range(n):
                t = seqs[b, i]
                out[b, i, 0] = table[t, 0]
                out[b, i, 1] = table[t, 1]
            for i in range(n, L):
                out[b, i, 0] = table[256, 0]
                out[b, i, 1] = table[256, 1]

    @numba.njit(nogil=True)
    def ncl(seqs, lens, table, out, nv, v0, v1):  # pragma: no cover - compiled
        # table [257, 4] and out [B, 4, L]: one value per channel plane
        B, L = seqs.shape
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            for i in range(n):
                t = seqs[b, i]
                out[b, 0, i] = table[t, 0]
                out[b, 1, i] = table[t, 1]
                out[b, 2, i] = table[t, 2]
                out[b, 3, i] = table[t, 3]
            for c in range(4):
                for i in range(n, L):
                    out[b, c, i] = table[256, c]

    return nlc2, ncl


@functools.cache
def _numba_column_loops(words: int):
    """The CPU loops of the alphabets other than dna's fast paths (numba, which must be
    installed).  ``rows``: a table row of ``words`` raw-bit words (``table [257, words]``,
    row 256 padding) per base into ``[B, L, words]``; ``words`` is a compile-time constant
    (a closure variable), so the copy of a row is unrolled.  ``planes``: ``table [257, C]``
    into ``[B, C, L]``."""
    import numba

    W = words

    @numba.njit(nogil=True)
    def rows(seqs, lens, table, out, nv, v0, v1):  # pragma: no cover - compiled
        B, L = seqs.shape
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            for i in range(n):
                t = seqs[b, i]
                for c in range(W):
                    out[b, i, c] = table[t, c]
            for i in range(n, L):
                for c in range(W):
                    out[b, i, c] = table[256, c]

    @numba.njit(nogil=True)
    def planes(seqs, lens, table, out, nv, v0, v1):  # pragma: no cover - compiled
        B, L = seqs.shape
        C = table.shape[1]
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            for c in range(C):
                for i in range(n):
                    out[b, c, i] = table[seqs[b, i], c]
                for i in range(n, L):
                    out[b, c, i] = table[256, c]

    return rows, planes


_BITS = {1: torch.uint8, 2: torch.uint16, 4: torch.uint32}


def _one_hot_numba(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    alphabet: str = "dna",
) -> torch.Tensor:
    """CPU implementation with numba (same bits as the torch code); None if numba fails."""
    B, L = seqs.shape
    ncl = layout == "NCL"
    C = len(alphabet_columns(alphabet))
    out = torch.empty((B, C, L) if ncl else (B, L, C), dtype=dtype)
    if B == 0 or L == 0:
        return out
    table = one_hot_table(dtype, unknown, seqs.device, alphabet)[: PAD_OFFSET + 1]
    nlc2, ncl_loop = _numba_loops()
    extra: tuple = ()
    if C != 4 and ncl:  # protein: C planes
        bits = _BITS[table.element_size()]
        loop, table, out_bits = _numba_column_loops(C)[1], table.view(bits), out.view(bits)
    elif C != 4:  # protein: a row of C values per base, copied as the widest words that fit
        row_bytes = C * table.element_size()
        bits = torch.uint64 if row_bytes % 8 == 0 else torch.uint32
        table = table.view(bits)
        # numpy allocates the output (as the fused loop does): it asks for huge pages, which
        # makes the first touch of these 80-bytes-a-residue outputs ~4x cheaper than torch.empty
        words = np.empty((B, L, table.shape[1]), dtype=np.uint64 if bits == torch.uint64 else np.uint32)
        out_bits = torch.from_numpy(words)
        out = out_bits.view(dtype)
        loop = _numba_column_loops(table.shape[1])[0]
    elif ncl:
        loop, bits = ncl_loop, _BITS[table.element_size()]
        table, out_bits = table.view(bits), out.view(bits)
    elif table.element_size() == 4:  # 16 bytes per base: two uint64
        loop, table, out_bits = nlc2, table.view(torch.uint64), out.view(torch.uint64)
    else:  # 8 or 4 bytes per base: one wide element, the table lookup loop
        bits = torch.uint64 if table.element_size() == 2 else torch.uint32
        wide = table.view(bits).view(-1).numpy()
        loop, table, out_bits = lookup_loop(), table.view(bits).view(-1), out.view(bits).view(B, L)
        extra = (wide[PAD_OFFSET],)  # the padding row's value
    ok = run_numba(
        "one_hot", loop, seqs, seqs.contiguous().numpy(), numba_lengths(lengths, L),
        table.numpy(), *extra, out_bits.numpy(),
    )  # fmt: skip
    return out if ok else None


def one_hot_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    dtype: torch.dtype = torch.float32,
    layout: str = "NLC",
    unknown: str = "zeros",
    alphabet: str = "dna",
) -> torch.Tensor:
    """Torch implementation (any device); see the module docstring."""
    if layout == "NLC":
        return _nlc(seqs, lengths, dtype, unknown, alphabet)
    return _ncl(seqs, lengths, dtype, unknown, alphabet)


def _out_shape(seqs: torch.Tensor, layout: str, alphabet: str = "dna"):
    B, L = seqs.shape
    C = len(alphabet_columns(alphabet))
    return (B, L, C) if layout == "NLC" else (B, C, L)


@torch.library.custom_op("deepbiop_gpu::one_hot", mutates_args=())
def _one_hot_op(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    alphabet: str = "dna",
) -> torch.Tensor:
    seqs = seqs.contiguous()  # every path returns a contiguous result, as the fake does
    if use_triton(seqs):
        from deepbiop_gpu.kernels.one_hot import one_hot_triton

        out = run_triton(
            lambda: one_hot_triton(seqs, lengths, dtype, layout, unknown, alphabet=alphabet)
        )
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("one_hot"):
        out = _one_hot_numba(seqs, lengths, dtype, layout, unknown, alphabet)
        if out is not None:
            return out
    return one_hot_torch(seqs, lengths, dtype, layout, unknown, alphabet)


@_one_hot_op.register_fake
def _(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    dtype: torch.dtype,
    layout: str,
    unknown: str,
    alphabet: str = "dna",
):
    return seqs.new_empty(_out_shape(seqs, layout, alphabet), dtype=dtype)


def check_one_hot_args(dtype: object, layout: object, unknown: object) -> None:
    """``dtype``, ``layout`` and ``unknown`` are among the supported choices."""
    if not isinstance(dtype, torch.dtype) or dtype not in DTYPES:
        raise TypeError(f"dtype must be one of {', '.join(map(str, DTYPES))}, got {dtype!r}")
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise ValueError(f"layout must be 'NLC' or 'NCL', got {layout!r}")
    if not isinstance(unknown, str) or unknown not in UNKNOWN_MODES:
        raise ValueError(f"unknown must be 'zeros', 'uniform' or 'random', got {unknown!r}")
    if unknown == "uniform" and dtype == torch.uint8:
        raise ValueError(
            "unknown='uniform' needs a floating dtype (0.25 is not a uint8 value), "
            "got dtype=torch.uint8"
        )


def one_hot(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    dtype: torch.dtype = torch.float32,
    layout: str = "NLC",
    unknown: str = "zeros",
    *,
    seed: int = 0,
    index: torch.Tensor | None = None,
    epoch: int = 0,
    alphabet: str = "dna",
) -> torch.Tensor:
    """One-hot encode ASCII bases (or amino acids).

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (the padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    dtype : torch.dtype, default ``torch.float32``
        ``torch.float32``, ``torch.bfloat16``, ``torch.float16`` or ``torch.uint8``.
    layout : {"NLC", "NCL"}, default "NLC"
        ``"NLC"``: ``[B, L, 4]`` (for transformers / ``nn.Linear``);
        ``"NCL"``: channels first, ``[B, 4, L]`` (for ``nn.Conv1d``).
    unknown : {"zeros", "uniform", "random"}, default "zeros"
        Encoding of unknown bases (N, IUPAC codes, any other byte): all zeros,
        0.25 in each column (not allowed with ``dtype=torch.uint8``), or one
        column drawn uniformly from A/C/G/T (see :func:`one_hot_random`).
    seed, index, epoch
        ``unknown="random"`` only: the Philox key, the sample index of each
        read (``int64 [B]``, required) and the epoch.
    alphabet : {"dna", "rna", "protein"}, default "dna"
        ``"dna"``: columns A, C, G, T, U counts as T.  ``"rna"``: columns A,
        C, G, U; T is unknown.  ``"protein"``: ``C = 20`` columns in the order
        ``ACDEFGHIKLMNPQRSTVWY``; every other byte (X, B, Z, J, U, O, '*',
        '-') is unknown: zeros, ``1/20`` (float32 ``0.05`` cast to ``dtype``)
        in every column with ``"uniform"``, or a drawn column with
        ``"random"`` (column ``(word * C) >> 32``; for 4 columns that is
        ``word >> 30``, dna's rule).

    Returns
    -------
    Tensor, ``dtype [B, L, C]`` or ``[B, C, L]`` (``C`` = 4, or 20 for protein)
        dna: channels A, C, G, T (U counts as T; case is folded).  Padding
        positions are all zeros.  Values are exact (0, 1/C or 1).

    Examples
    --------
    >>> seqs = torch.tensor([list(b"AcN"), list(b"u\\0\\0")], dtype=torch.uint8)
    >>> one_hot(seqs, torch.tensor([3, 1]))
    tensor([[[1., 0., 0., 0.],
             [0., 1., 0., 0.],
             [0., 0., 0., 0.]],
    <BLANKLINE>
            [[0., 0., 0., 1.],
             [0., 0., 0., 0.],
             [0., 0., 0., 0.]]])
    >>> one_hot(seqs, torch.tensor([3, 1]), dtype=torch.uint8, layout="NCL")[0]
    tensor([[1, 0, 0],
            [0, 1, 0],
            [0, 0, 0],
            [0, 0, 0]], dtype=torch.uint8)
    """
    check_batch(seqs, lengths)
    check_one_hot_args(dtype, layout, unknown)
    check_alphabet(alphabet)
    if unknown == "random":
        if index is None:
            raise ValueError(
                "one_hot(unknown='random') needs index (the sample index of each read, "
                "int64 [B]): it keys the random column of each unknown base"
            )
        check_seed(seed)
        check_seed(epoch, "epoch")
        check_index(index, seqs)
        return run_op(
            _one_hot_random_op, seqs, lengths, index, dtype, layout, seed, epoch, alphabet
        )
    return run_op(_one_hot_op, seqs, lengths, dtype, layout, unknown, alphabet)


# --- unknown="random" (issue 15) ----------------------------------------------
#
# Unknown base ``i`` of read ``b`` (inside the read; not A/C/G/T/U) gets column
# ``word >> 30`` (0..3: A, C, G, T, uniform) with ``word`` word ``i % 4`` of the
# (other alphabets, issue 12: column ``(word * C) >> 32`` of their ``C`` columns)
# Philox call keyed ``seed`` with counter ``(i // 4, index[b] & 0xFFFFFFFF,
# epoch & 0xFFFFFFFF, STREAM_UNKNOWN_BASE | (index[b] >> 32) << 8)``.  Every
# implementation encodes with unknown="zeros" first, then sets those columns.


def _set_columns(out: torch.Tensor, rows, pos, cols, layout: str) -> torch.Tensor:
    """Write a one at ``(row, pos, col)`` of a zeros-for-unknown one-hot ``out``."""
    if rows.numel():
        one = torch.ones((), dtype=out.dtype, device=out.device)
        if layout == "NLC":
            out[rows, pos, cols] = one
        else:
            out[rows, cols, pos] = one
    return out


def random_columns_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    seed: int,
    epoch: int,
    alphabet: str = "dna",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(rows, positions, columns)`` of the unknown bases inside the reads (torch, any device).

    The column of an unknown base is ``(word * C) >> 32`` (``C`` columns; for
    4 that is ``word >> 30``).
    """
    from ._tables import code_table

    B, L = seqs.shape
    C = len(alphabet_columns(alphabet))
    lens = lengths.to(torch.int64).clamp(0, L).unsqueeze(1)
    inside = torch.arange(L, device=seqs.device) < lens
    unknown = (code_table(seqs.device, alphabet)[seqs.to(torch.int64)] == C) & inside
    rows, pos = unknown.nonzero(as_tuple=True)
    if rows.numel() == 0:
        return rows, pos, pos
    c1, c2, c3 = read_counters(index[rows], epoch, STREAM_UNKNOWN_BASE)
    words = philox4x32(seed, pos // 4, c1, c2, c3)
    lane = (pos % 4).unsqueeze(0)
    word = torch.stack(words).gather(0, lane).squeeze(0)
    return rows, pos, (word * C) >> 32


@functools.cache
def _random_columns_loop():
    """The CPU loop (numba): ``cols[b, i]`` = the drawn column of unknown base i, else -1."""
    if numba_module() is None or numba_philox() is None:
        return None
    import numba
    import numpy as np

    philox = numba_philox()
    stream = np.uint64(STREAM_UNKNOWN_BASE)

    @numba.njit(nogil=True)
    def loop(seqs, lens, index, k0, k1, c2, codes, ncols, cols, r0, r1):  # pragma: no cover
        L = seqs.shape[1]
        m32 = np.uint64(0xFFFFFFFF)
        for b in range(r0, r1):
            n = lens[b]
            idx = np.uint64(index[b])
            c1 = idx & m32
            c3 = (((idx >> np.uint64(32)) << np.uint64(8)) | stream) & m32
            last = -1
            w0 = w1 = w2 = w3 = np.uint64(0)
            for i in range(L):
                cols[b, i] = -1
            for i in range(n):
                if codes[seqs[b, i]] != ncols:
                    continue
                d = i // 4
                if d != last:
                    w0, w1, w2, w3 = philox(k0, k1, np.uint64(d), c1, c2, c3)
                    last = d
                k = i % 4
                w = w0 if k == 0 else (w1 if k == 1 else (w2 if k == 2 else w3))
                cols[b, i] = np.int8((w * np.uint64(ncols)) >> np.uint64(32))

    return loop


def _random_columns_numba(seqs, lengths, index, seed: int, epoch: int, alphabet: str = "dna"):
    """:func:`random_columns_torch` with the numba loop (same words); None without numba."""
    import numpy as np

    from ._tables import code_table

    loop = _random_columns_loop()
    if loop is None:
        return None
    B, L = seqs.shape
    cols = torch.empty((B, L), dtype=torch.int8)
    lens = lengths.to(torch.int64).clamp(0, L).contiguous()
    run_rows(
        loop, B, seqs.contiguous().numpy(), lens.numpy(), index.contiguous().numpy(),
        np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF),
        np.uint64(epoch & 0xFFFFFFFF), code_table(seqs.device, alphabet).numpy(),
        np.uint64(len(alphabet_columns(alphabet))), cols.numpy(),
    )  # fmt: skip
    rows, pos = (cols >= 0).nonzero(as_tuple=True)
    return rows, pos, cols[rows, pos].to(torch.int64)


def one_hot_random_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    dtype: torch.dtype,
    layout: str,
    seed: int,
    epoch: int,
    alphabet: str = "dna",
) -> torch.Tensor:
    """Torch implementation of ``unknown="random"`` (any device)."""
    out = one_hot_torch(seqs, lengths, dtype, layout, "zeros", alphabet)
    found = random_columns_torch(seqs, lengths, index, seed, epoch, alphabet)
    return _set_columns(out, *found, layout)


@torch.library.custom_op("deepbiop_gpu::one_hot_random", mutates_args=())
def _one_hot_random_op(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    index: torch.Tensor,
    dtype: torch.dtype,
    layout: str,
    seed: int,
    epoch: int,
    alphabet: str = "dna",
) -> torch.Tensor:
    if use_triton(seqs):
        from deepbiop_gpu.kernels.one_hot import one_hot_triton

        out = run_triton(
            lambda: one_hot_triton(
                seqs, lengths, dtype, layout, "random", index=index, seed=seed, epoch=epoch,
                alphabet=alphabet,
            )
        )  # fmt: skip
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("one_hot"):
        out = _one_hot_numba(seqs, lengths, dtype, layout, "zeros", alphabet)
        found = None
        if out is not None:
            found = _random_columns_numba(seqs, lengths, index, seed, epoch, alphabet)
        if found is not None:
            return _set_columns(out, *found, layout)
    return one_hot_random_torch(seqs, lengths, index, dtype, layout, seed, epoch, alphabet)


@_one_hot_random_op.register_fake
def _(seqs, lengths, index, dtype, layout, seed, epoch, alphabet="dna"):
    return seqs.new_empty(_out_shape(seqs, layout, alphabet), dtype=dtype)
