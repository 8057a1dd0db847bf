"""``kmer_ids`` / ``kmer_counts``: overlapping k-mers of padded reads -> ids, count vectors.

Rules (shared by the torch code, the Triton kernels and the naive test
reference, which agree bit for bit):

* Base codes A=0 C=1 G=2 T/U=3 (case folded).  A window is *valid* when all
  of its ``k`` bases lie inside the read (before ``lengths[i]``) and are
  A/C/G/T/U; every other window (touching N, an IUPAC code, any other byte or
  padding) gets the id **-1**.
* Window ``j`` starts at base ``j * stride``; there are
  ``max((L - k) // stride + 1, 0)`` windows per row of a ``[B, L]`` batch.
* The 2-bit id of a k-mer is ``sum(code[i] * 4**(k - 1 - i))`` (first base
  most significant), ``0 <= id < 4**k``; it fits ``int64`` up to ``k = 31``
  and ``uint64`` at ``k = 32`` (the largest ``k`` supported).
* ``canonical=True``: the id is ``min(id, id of the reverse complement)``
  (unsigned comparison), the reverse complement's id being that of the
  reversed k-mer with each code ``c`` replaced by ``3 - c``.
* Exact ids are returned while ``4**k <= buckets`` (or ``buckets is None``,
  which needs ``k <= 31``).  Otherwise the (canonical) id is hashed:
  ``bucket = (splitmix64(id) & (2**63 - 1)) % buckets`` where ``splitmix64``
  is Vigna's SplitMix64 output function on the 64-bit id::

      z = (id + 0x9E3779B97F4A7C15)          mod 2**64
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 mod 2**64
      z = (z ^ (z >> 27)) * 0x94D049BB133111EB mod 2**64
      z =  z ^ (z >> 31)

  (logical shifts).  The torch code and the kernels compute it in ``int64``
  with wrapping arithmetic and masked arithmetic shifts, so both give the
  same bits.

Torch implementation (CPU): bases -> ``int64`` codes with one gather from a
512-row table, invalid bases and padding mapped to ``-1``.  Window ids are
then built by *doubling* instead of ``k`` shift-and-add passes:
``id_{2a}[i] = id_a[i] << 2a | id_a[i + a]`` and
``id_{a+1}[i] = id_a[i] << 2 | code[i + a]``, about ``2 log2(k)`` passes over
the batch.  An invalid base contributes all-one bits above its position, so
for ``k <= 31`` a window is invalid exactly when its id is negative: validity
costs nothing extra.  ``k = 32`` adds one step on top of the 31-mers.

With numba installed (and ``DEEPBIOP_GPU_NUMBA`` not ``0``) the CPU runs a
compiled rolling loop instead (one pass per read, same bits); both
implementations are tested against the naive reference.
"""

from __future__ import annotations

import functools

import torch

from ._checks import check_batch, check_int
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_lengths, numba_ok, run_numba
from ._tables import BASE_CODES, code_table
from ._integer import TABLE_ROWS, gather, length_rows

__all__ = [
    "MAX_COUNT_K",
    "MAX_EXACT_K",
    "MAX_K",
    "kmer_counts",
    "kmer_counts_torch",
    "kmer_ids",
    "kmer_ids_torch",
    "num_windows",
    "splitmix64_torch",
    "use_hash",
]

MAX_K = 32  # 2-bit ids of up to 32 bases fit 64 bits
MAX_EXACT_K = 31  # exact ids (non-negative int64) up to 31 bases
MAX_COUNT_K = 12  # kmer_counts: 4**12 = 16.8M columns per read is plenty

# SplitMix64 constants as signed int64 (same bits as the uint64 constants)
GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
MIX2 = -7723592293110705685  # 0x94D049BB133111EB
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)


def num_windows(length, k: int, stride: int):
    """Number of windows per row: ``max((length - k) // stride + 1, 0)`` (SymInt-safe)."""
    n = (length - k) // stride + 1
    return torch.sym_max(n, 0) if isinstance(n, torch.SymInt) else max(n, 0)


def use_hash(k: int, buckets: int | None) -> bool:
    """True when ids are hashed into ``buckets`` rather than returned exactly."""
    return buckets is not None and 4**k > buckets


@functools.cache
def _kmer_code_table_cpu() -> torch.Tensor:
    table = torch.full((TABLE_ROWS,), -1, dtype=torch.int64)
    for base, code in BASE_CODES.items():
        table[ord(base)] = code
        table[ord(base.lower())] = code
    return table


@functools.cache
def kmer_code_table(device: torch.device) -> torch.Tensor:
    """``int64 [512]``: byte -> A0 C1 G2 T/U3, every other byte and padding (rows 256..) -1."""
    return _kmer_code_table_cpu().to(device)


def _codes(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``int64 [B, L]`` codes, -1 at invalid bases and padding (zeroed: byte 0 is invalid)."""
    masked = length_rows(lengths, seqs.shape[1], 0xFF, 0, torch.uint8).bitwise_and_(seqs)
    return gather(kmer_code_table(seqs.device), masked.to(torch.int32))


def _forward_ids(codes: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, L - k + 1]`` 2-bit ids of every window (``k <= 31``; negative = invalid)."""
    ids, a = codes, 1
    for bit in bin(k)[3:]:
        n = ids.shape[1] - a
        ids = (ids[:, :n] << (2 * a)).bitwise_or_(ids[:, a : a + n])
        a *= 2
        if bit == "1":
            n = ids.shape[1] - 1
            ids = (ids[:, :n] << 2).bitwise_or_(codes[:, a : a + n])
            a += 1
    return ids


def _reverse_ids(codes: torch.Tensor, k: int) -> torch.Tensor:
    """``[B, L - k + 1]``: ``sum(code[i + j] * 4**j)`` (``k <= 31``; negative = invalid)."""
    ids, a = codes, 1
    for bit in bin(k)[3:]:
        n = ids.shape[1] - a
        ids = (ids[:, a : a + n] << (2 * a)).bitwise_or_(ids[:, :n])
        a *= 2
        if bit == "1":
            n = ids.shape[1] - 1
            ids = (codes[:, a : a + n] << (2 * a)).bitwise_or_(ids[:, :n])
            a += 1
    return ids


def _unsigned_min(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where((a ^ _INT64_MIN) <= (b ^ _INT64_MIN), a, b)


def splitmix64_torch(x: torch.Tensor) -> torch.Tensor:
    """SplitMix64 output function on ``int64`` tensors holding ``uint64`` bits (new tensor).

    ``int64`` adds and multiplies wrap like ``uint64`` ones; the logical right
    shifts are arithmetic shifts with the sign-extended bits masked off.  All
    steps are in place on one output and one scratch tensor.
    """
    z = x + GOLDEN
    t = torch.empty_like(z)
    for shift, mult in ((30, MIX1), (27, MIX2), (31, None)):
        torch.bitwise_right_shift(z, shift, out=t).bitwise_and_((1 << (64 - shift)) - 1)
        z.bitwise_xor_(t)
        if mult is not None:
            z.mul_(mult)
    return z


def hash_to_buckets(ids: torch.Tensor, buckets: int) -> torch.Tensor:
    """``(splitmix64(ids) & (2**63 - 1)) % buckets`` (``int64``, in ``[0, buckets)``)."""
    return splitmix64_torch(ids).bitwise_and_(_INT64_MAX).remainder_(buckets)


def kmer_ids_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    k: int,
    stride: int = 1,
    canonical: bool = False,
    buckets: int | None = None,
) -> torch.Tensor:
    """Torch implementation (any device); see the module docstring."""
    B, L = seqs.shape
    W = num_windows(L, k, stride)
    if W == 0 or B == 0:
        return torch.full((B, W), -1, dtype=torch.int64, device=seqs.device)
    codes = _codes(seqs, lengths)
    kk = min(k, MAX_EXACT_K)
    fwd = _forward_ids(codes, kk)
    rev = _reverse_ids(codes, kk) if canonical else None
    if k <= MAX_EXACT_K:
        fwd = fwd[:, ::stride]
        if canonical:
            # 3 - c == c ^ 3 for every 2-bit code; an invalid (negative) id stays negative
            fwd = torch.minimum(fwd, rev[:, ::stride] ^ (4**k - 1))
        if not use_hash(k, buckets):
            return fwd.clamp_min(-1)
        # fwd >> 63 is -1 exactly for invalid windows (negative ids): OR-ing it sets them to -1
        return hash_to_buckets(fwd, buckets).bitwise_or_(fwd >> 63)
    # k = 32: extend the 31-mer ids by one base; bit 63 is now data, so validity is tracked apart
    n = L - MAX_EXACT_K
    tail = codes[:, MAX_EXACT_K:][:, ::stride]
    fwd = fwd[:, :n][:, ::stride]
    bad = (fwd < 0).logical_or_(tail < 0)
    fwd = (fwd << 2).bitwise_or_(tail)
    if canonical:
        rev = rev[:, :n][:, ::stride]
        rc = (tail << 62).bitwise_or_(rev).bitwise_not_()
        fwd = _unsigned_min(fwd, rc)
    return hash_to_buckets(fwd, buckets).masked_fill_(bad, -1)


def kmer_counts_torch(
    seqs: torch.Tensor, lengths: torch.Tensor, k: int, canonical: bool = False
) -> torch.Tensor:
    """Torch implementation (any device): exact ids, then one ``scatter_add_`` per batch."""
    B = seqs.shape[0]
    counts = torch.zeros((B, 4**k), dtype=torch.float32, device=seqs.device)
    ids = kmer_ids_torch(seqs, lengths, k, 1, canonical, None)
    if ids.numel():
        # invalid windows (-1) add 0.0 to column 0; valid ones 1.0 to their column
        ones = (ids >> 63).add_(1).to(torch.float32)
        counts.scatter_add_(1, ids.clamp_min(0), ones)
    return counts


@functools.cache
def _numba_loops():
    """The CPU loops (numba, which must be installed): one rolling pass per read.

    ``fwd`` keeps the 2-bit id of the last ``k`` bases (masked to ``2k`` bits),
    ``rc`` that of their reverse complement (each new base enters at the top),
    ``run`` the number of valid bases in a row; a window is valid when
    ``run >= k``.  All arithmetic is ``uint64`` (wrapping), as in the kernels.
    """
    import numba
    import numpy as np

    u64 = np.uint64
    golden, mix1, mix2 = u64(GOLDEN % 2**64), u64(MIX1 % 2**64), u64(MIX2 % 2**64)
    low63 = u64(_INT64_MAX)

    @numba.njit(inline="always")
    def canonical_id(fwd, rc, canonical):  # pragma: no cover - compiled
        if canonical and rc < fwd:
            return rc
        return fwd

    @numba.njit(nogil=True)
    def ids_loop(
        seqs, lens, table, k, stride, canonical, mask, buckets, hashed, out, nv, v0, v1
    ):  # pragma: no cover - compiled
        B, L = seqs.shape
        W = out.shape[1]
        top = u64(2 * (k - 1))
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            fwd = u64(0)
            rc = u64(0)
            run = 0
            w = 0  # next window to write; it starts at w * stride
            start = 0
            for i in range(n):
                c = table[seqs[b, i]]
                if c < 4:
                    fwd = ((fwd << u64(2)) | u64(c)) & mask
                    rc = (rc >> u64(2)) | ((u64(3) - u64(c)) << top)
                    run += 1
                else:
                    run = 0
                if i - k + 1 == start:  # window w ends here
                    if w >= W:
                        break
                    if run >= k:
                        x = canonical_id(fwd, rc, canonical)
                        if hashed:
                            z = x + golden
                            z = (z ^ (z >> u64(30))) * mix1
                            z = (z ^ (z >> u64(27))) * mix2
                            z = z ^ (z >> u64(31))
                            x = (z & low63) % buckets
                        out[b, w] = np.int64(x)
                    else:
                        out[b, w] = -1
                    w += 1
                    start += stride
            for j in range(w, W):  # windows running past the read
                out[b, j] = -1

    @numba.njit(nogil=True)
    def counts_loop(seqs, lens, table, k, canonical, mask, out, nv, v0, v1):  # pragma: no cover
        B, L = seqs.shape
        top = u64(2 * (k - 1))
        for b in range(B * v0 // nv, B * v1 // nv):
            fwd = u64(0)
            rc = u64(0)
            run = 0
            for i in range(lens[b]):
                c = table[seqs[b, i]]
                if c < 4:
                    fwd = ((fwd << u64(2)) | u64(c)) & mask
                    rc = (rc >> u64(2)) | ((u64(3) - u64(c)) << top)
                    run += 1
                    if run >= k:
                        out[b, canonical_id(fwd, rc, canonical)] += 1.0
                else:
                    run = 0

    return ids_loop, counts_loop


def _numba_args(seqs: torch.Tensor, lengths: torch.Tensor, k: int):
    import numpy as np

    L = seqs.shape[1]
    table = code_table(seqs.device).numpy()  # uint8: A0 C1 G2 T/U3, else 4
    mask = np.uint64((1 << (2 * k)) - 1)
    return seqs.contiguous().numpy(), numba_lengths(lengths, L), table, mask


def _kmer_ids_numba(seqs, lengths, k, stride, canonical, buckets) -> torch.Tensor:
    """CPU implementation with numba (same bits as the torch code); None if numba fails."""
    import numpy as np

    B, L = seqs.shape
    out = torch.empty((B, num_windows(L, k, stride)), dtype=torch.int64)
    if out.numel() == 0:
        return out
    s, lens, table, mask = _numba_args(seqs, lengths, k)
    hashed = use_hash(k, buckets)
    ids_loop, _ = _numba_loops()
    ok = run_numba(
        "kmer_ids", ids_loop, seqs, s, lens, table, k, stride, canonical, mask,
        np.uint64(buckets if hashed else 1), hashed, out.numpy(),
    )  # fmt: skip
    return out if ok else None


def _kmer_counts_numba(seqs, lengths, k, canonical) -> torch.Tensor:
    """CPU implementation with numba (same counts as the torch code); None if numba fails."""
    B, L = seqs.shape
    out = torch.zeros((B, 4**k), dtype=torch.float32)
    if B == 0 or L < k:
        return out
    s, lens, table, mask = _numba_args(seqs, lengths, k)
    _, counts_loop = _numba_loops()
    ok = run_numba(
        "kmer_counts", counts_loop, seqs, s, lens, table, k, canonical, mask, out.numpy()
    )
    return out if ok else None


@torch.library.custom_op("deepbiop_gpu::kmer_ids", mutates_args=())
def _kmer_ids_op(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    k: int,
    stride: int,
    canonical: bool,
    buckets: int | None,
) -> torch.Tensor:
    if use_triton(seqs):
        from deepbiop_gpu.kernels.kmer import kmer_ids_triton

        out = run_triton(kmer_ids_triton, seqs, lengths, k, stride, canonical, buckets)
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("kmer_ids"):
        out = _kmer_ids_numba(seqs, lengths, k, stride, canonical, buckets)
        if out is not None:
            return out
    return kmer_ids_torch(seqs, lengths, k, stride, canonical, buckets)


@_kmer_ids_op.register_fake
def _(seqs, lengths, k, stride, canonical, buckets):
    return seqs.new_empty((seqs.shape[0], num_windows(seqs.shape[1], k, stride)), dtype=torch.int64)


@torch.library.custom_op("deepbiop_gpu::kmer_counts", mutates_args=())
def _kmer_counts_op(
    seqs: torch.Tensor, lengths: torch.Tensor, k: int, canonical: bool
) -> torch.Tensor:
    if use_triton(seqs):
        from deepbiop_gpu.kernels.kmer import kmer_counts_triton

        out = run_triton(kmer_counts_triton, seqs, lengths, k, canonical)
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("kmer_counts"):
        out = _kmer_counts_numba(seqs, lengths, k, canonical)
        if out is not None:
            return out
    return kmer_counts_torch(seqs, lengths, k, canonical)


@_kmer_counts_op.register_fake
def _(seqs, lengths, k, canonical):
    return seqs.new_empty((seqs.shape[0], 4**k), dtype=torch.float32)


def _check_bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, got {type(value).__name__}")
    return value


def check_kmer_args(k: object, stride: object, canonical: object, buckets: object) -> None:
    """Validate the arguments of :func:`kmer_ids` (errors name the argument)."""
    check_int(k, "k", low=1, high=MAX_K)
    check_int(stride, "stride", low=1, high=_INT64_MAX)
    _check_bool(canonical, "canonical")
    if buckets is not None:
        check_int(buckets, "buckets", low=1, high=_INT64_MAX)
    elif k > MAX_EXACT_K:
        raise ValueError(
            f"buckets is required for k = {k}: exact k-mer ids fit int64 only up to "
            f"k = {MAX_EXACT_K}; pass buckets=N to hash the k-mers into N ids"
        )


def kmer_ids(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    k: int,
    stride: int = 1,
    canonical: bool = False,
    buckets: int | None = None,
) -> torch.Tensor:
    """Ids of the overlapping k-mers of each read (exact 2-bit ids, or hashed).

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (the padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    k : int
        k-mer length, ``1 <= k <= 32`` (``k = 32`` needs ``buckets``).
    stride : int, default 1
        Distance between the starts of consecutive windows.
    canonical : bool, default False
        Use ``min(id, reverse-complement id)``, so a k-mer and its reverse
        complement share one id.
    buckets : int or None, default None
        Number of ids to hash into.  While ``4**k <= buckets`` the ids are exact
        (``buckets`` is only an upper bound); beyond, the 2-bit id is hashed
        with SplitMix64 modulo ``buckets`` (see the module docstring for the
        exact function, stable across versions and devices).  ``None``: exact
        ids, which needs ``k <= 31``.

    Returns
    -------
    Tensor, ``int64 [B, max((L - k) // stride + 1, 0)]``
        Window ``j`` covers bases ``[j * stride, j * stride + k)``; its id is in
        ``[0, min(4**k, buckets))``, or -1 when the window touches an unknown
        base (N, IUPAC, any other byte) or runs past the read's length.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"ACGTN"), list(b"tt\\0\\0\\0")], dtype=torch.uint8)
    >>> kmer_ids(seqs, torch.tensor([5, 2]), k=2)
    tensor([[ 1,  6, 11, -1],
            [15, -1, -1, -1]])
    >>> kmer_ids(seqs, torch.tensor([5, 2]), k=2, canonical=True)
    tensor([[ 1,  6,  1, -1],
            [ 0, -1, -1, -1]])
    """
    check_batch(seqs, lengths)
    check_kmer_args(k, stride, canonical, buckets)
    return run_op(_kmer_ids_op, seqs, lengths, k, stride, canonical, buckets)


def kmer_counts(
    seqs: torch.Tensor, lengths: torch.Tensor, k: int, canonical: bool = False
) -> torch.Tensor:
    """Count vectors of the k-mers of each read (DeepBioP's ``KmerEncoder``).

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (the padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    k : int
        k-mer length, ``1 <= k <= 12`` (the output has ``4**k`` columns).
    canonical : bool, default False
        Count each k-mer under ``min(id, reverse-complement id)``; the columns
        of non-canonical k-mers are then zero.

    Returns
    -------
    Tensor, ``float32 [B, 4**k]``
        ``out[b, id]``: how many windows (stride 1) of read ``b`` have the
        2-bit id ``id`` (first base most significant, A0 C1 G2 T/U3); windows
        touching any other byte or running past the read are not counted.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"AAAN"), list(b"acgt")], dtype=torch.uint8)
    >>> kmer_counts(seqs, torch.tensor([4, 4]), k=1)
    tensor([[3., 0., 0., 0.],
            [1., 1., 1., 1.]])
    """
    check_batch(seqs, lengths)
    check_int(k, "k", low=1, high=MAX_COUNT_K)
    _check_bool(canonical, "canonical")
    return run_op(_kmer_counts_op, seqs, lengths, k, canonical)
