"""``reverse_complement``: reverse each read within its own length, complementing its bases."""

from __future__ import annotations

import functools
import warnings

import torch

from ._checks import check_batch, check_mask, check_rows
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_enabled, run_rows
from ._tables import complement_table

__all__ = ["reverse_complement", "reverse_complement_torch"]


def reverse_complement_torch(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    apply: torch.Tensor | None = None,
    complement: bool = True,
) -> torch.Tensor:
    """Torch implementation (any device): a gather, a table lookup, a mask.

    Lengths are clamped into ``[0, L]`` (their values are only checked on the
    CPU), so nothing is ever read out of bounds.
    """
    B, L = seqs.shape
    if B == 0 or L == 0:
        return torch.zeros_like(seqs, memory_format=torch.contiguous_format)
    cols = torch.arange(L, device=seqs.device)
    lens = lengths.to(torch.int64).clamp(0, L).unsqueeze(1)
    src = (lens - 1 - cols).clamp_(min=0)  # [B, L]: the read position landing at each column
    if apply is not None:
        src = torch.where(apply.unsqueeze(1), src, cols)
    out = torch.gather(seqs, 1, src)
    if complement:
        table = complement_table(seqs.device)
        comp = table.index_select(0, out.reshape(-1).to(torch.int64)).view(B, L)
        out = comp if apply is None else torch.where(apply.unsqueeze(1), comp, out)
    return out.masked_fill_(cols >= lens, 0)


@functools.cache
def _numba_loop():
    """The CPU loop (numba, which must be installed): one pass per read; None if it fails."""
    import numba
    import numpy as np

    @numba.njit(nogil=True)
    def loop(seqs, lens, flags, has_flags, table, complement, out, r0, r1):  # pragma: no cover
        L = seqs.shape[1]
        for b in range(r0, r1):
            n = lens[b]
            if has_flags and not flags[b]:
                for i in range(n):
                    out[b, i] = seqs[b, i]
            elif complement:
                for i in range(n):
                    out[b, i] = table[seqs[b, n - 1 - i]]
            else:
                for i in range(n):
                    out[b, i] = seqs[b, n - 1 - i]
            for i in range(n, L):
                out[b, i] = 0

    try:  # compile now, on the argument types of the real calls
        read = np.frombuffer(b"ACGTN", np.uint8).reshape(1, 5).copy()
        table = complement_table(torch.device("cpu")).numpy()
        loop(
            read, np.array([5]), np.ones(1, np.bool_), False, table, True, np.zeros_like(read), 0, 1
        )
    except Exception as e:  # a numba that cannot compile it: fall back to the torch code
        warnings.warn(f"numba failed on the reverse-complement loop, using torch: {e}",
                      RuntimeWarning, 2)  # fmt: skip
        return None
    return loop


def _reverse_complement_numba(
    seqs: torch.Tensor, lengths: torch.Tensor, apply: torch.Tensor | None, complement: bool
) -> torch.Tensor:
    """CPU implementation with numba for byte tensors (same result as the torch code)."""
    B, L = seqs.shape
    out = torch.empty((B, L), dtype=seqs.dtype)
    if B == 0 or L == 0:
        return out
    flags = torch.ones(1, dtype=torch.bool) if apply is None else apply.contiguous()
    run_rows(
        _numba_loop(), B,
        seqs.contiguous().view(torch.uint8).numpy(),
        lengths.to(torch.int64).clamp(0, L).contiguous().numpy(),
        flags.numpy(), apply is not None, complement_table(seqs.device).numpy(), complement,
        out.view(torch.uint8).numpy(),
    )  # fmt: skip
    return out


@torch.library.custom_op("deepbiop_gpu::reverse_complement", mutates_args=())
def _reverse_complement_op(
    seqs: torch.Tensor, lengths: torch.Tensor, apply: torch.Tensor | None, complement: bool
) -> torch.Tensor:
    if use_triton(seqs):
        from deepbiop_gpu.kernels.reverse_complement import reverse_complement_triton

        out = run_triton(reverse_complement_triton, seqs, lengths, apply, complement)
        if out is not None:
            return out
    if (
        seqs.device.type == "cpu"
        and seqs.dtype in (torch.uint8, torch.bool)
        and numba_enabled()
        and _numba_loop() is not None
    ):
        return _reverse_complement_numba(seqs, lengths, apply, complement)
    return reverse_complement_torch(seqs, lengths, apply, complement)


@_reverse_complement_op.register_fake
def _(
    seqs: torch.Tensor, lengths: torch.Tensor, apply: torch.Tensor | None, complement: bool
) -> torch.Tensor:
    return torch.empty_like(seqs, memory_format=torch.contiguous_format)


def reverse_complement(
    seqs: torch.Tensor,
    lengths: torch.Tensor,
    apply: torch.Tensor | None = None,
    complement: bool = True,
) -> torch.Tensor:
    """Reverse-complement each read within its own length (ragged batches).

    Read ``b`` of length ``n = lengths[b]`` becomes
    ``out[b, i] = comp(seqs[b, n - 1 - i])`` for ``i < n``; the padding after
    it stays at the end and is written as 0.  The complement is byte-wise
    IUPAC with the case kept: A<->T, C<->G, U->A, R<->Y, K<->M, B<->V, D<->H;
    S, W, N and every other byte are left as they are.

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (padding bytes are ignored).
        With ``complement=False`` any real dtype is accepted (e.g. qualities).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    apply : Tensor, ``bool [B]``, optional
        Reads to reverse(-complement); the others are copied unchanged (their
        padding still written as 0).  Default: every read.
    complement : bool, default True
        False only reverses: use it on the qualities of the same reads, with
        the same ``apply``, so that each quality follows its base.

    Returns
    -------
    Tensor, ``[B, L]``, dtype of ``seqs``, a new contiguous tensor.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"ACGTn"), list(b"aaG\\0\\0")], dtype=torch.uint8)
    >>> out = reverse_complement(seqs, torch.tensor([5, 3]))
    >>> [bytes(r) for r in out.tolist()]
    [b'nACGT', b'Ctt\\x00\\x00']
    >>> quals = torch.tensor([list(b"ABCDE"), list(b"FGH\\0\\0")], dtype=torch.uint8)
    >>> out = reverse_complement(quals, torch.tensor([5, 3]), complement=False)
    >>> [bytes(r) for r in out.tolist()]
    [b'EDCBA', b'HGF\\x00\\x00']
    """
    if not isinstance(complement, bool):
        raise TypeError(f"complement must be a bool, got {type(complement).__name__}")
    if complement:
        check_batch(seqs, lengths)
    else:
        check_rows(seqs, lengths, name="seqs")
    if apply is not None:
        check_mask(apply, seqs, "apply")
    return run_op(_reverse_complement_op, seqs, lengths, apply, complement)
