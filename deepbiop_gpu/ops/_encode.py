"""``encode``: ASCII bases -> base codes (A=0 C=1 G=2 T/U=3, other=4, padding=5).

CPU: a numba loop (one table lookup per base) when numba is installed, else
torch code (a table gather, then the padding); both tested against the naive
reference.
"""

from __future__ import annotations

import torch

from ._checks import check_batch
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_lengths, numba_ok, run_numba
from ._tables import PAD_CODE, code_table
from ._integer import lookup_loop

__all__ = ["encode", "encode_torch"]


def padding_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``bool [B, width]``: True at positions at or past each read's length."""
    cols = torch.arange(width, device=lengths.device)
    return cols.unsqueeze(0) >= lengths.unsqueeze(1)


def encode_torch(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Torch implementation (any device): a 256-entry table lookup, then padding."""
    codes = code_table(seqs.device)[seqs.to(torch.int64)]
    return codes.masked_fill_(padding_mask(lengths, seqs.shape[1]), PAD_CODE)


def _encode_numba(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor | None:
    """The numba CPU loop; None if numba cannot compile it (then torch runs)."""
    out = torch.empty_like(seqs, memory_format=torch.contiguous_format)
    ok = run_numba(
        "encode", lookup_loop(), seqs,
        seqs.contiguous().numpy(), numba_lengths(lengths, seqs.shape[1]),
        code_table(seqs.device).numpy(), PAD_CODE, out.numpy(),
    )  # fmt: skip
    return out if ok else None


@torch.library.custom_op("deepbiop_gpu::encode", mutates_args=())
def _encode_op(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    seqs = seqs.contiguous()  # every path returns a contiguous result, as the fake does
    if use_triton(seqs):
        from deepbiop_gpu.kernels.encode import encode_triton

        out = run_triton(encode_triton, seqs, lengths)
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("encode") and seqs.numel():
        out = _encode_numba(seqs, lengths)
        if out is not None:
            return out
    return encode_torch(seqs, lengths)


@_encode_op.register_fake
def _(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(seqs, memory_format=torch.contiguous_format)


def encode(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Map ASCII bases to base codes.

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (the padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.

    Returns
    -------
    Tensor, ``uint8 [B, L]``
        A/a=0, C/c=1, G/g=2, T/t/U/u=3, every other byte (N, IUPAC, '-', '.') 4,
        padding 5.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"ACgtN"), list(b"uR\\0\\0\\0")], dtype=torch.uint8)
    >>> encode(seqs, torch.tensor([5, 2]))
    tensor([[0, 1, 2, 3, 4],
            [3, 4, 5, 5, 5]], dtype=torch.uint8)
    """
    check_batch(seqs, lengths)
    return run_op(_encode_op, seqs, lengths)
