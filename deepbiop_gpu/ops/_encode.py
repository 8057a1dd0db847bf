"""``encode``: ASCII bases -> base codes (A=0 C=1 G=2 T/U=3, other=4, padding=5).

With ``alphabet="rna"`` (A C G U, T unknown) or ``"protein"`` (the 20 amino
acids ACDEFGHIKLMNPQRSTVWY = 0..19, other 20, padding 21): the codes of
:func:`~deepbiop_gpu.ops._tables.code_table`, padding one past unknown.

CPU: a numba loop (one table lookup per base) when numba is installed, else
torch code (a table gather, then the padding); both tested against the naive
reference.
"""

from __future__ import annotations

import torch

from ._checks import check_batch
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_lengths, numba_ok, run_numba
from ._tables import alphabet_columns, check_alphabet, code_table
from ._integer import lookup_loop

__all__ = ["encode", "encode_torch", "pad_code"]


def padding_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """``bool [B, width]``: True at positions at or past each read's length."""
    cols = torch.arange(width, device=lengths.device)
    return cols.unsqueeze(0) >= lengths.unsqueeze(1)


def pad_code(alphabet: str = "dna") -> int:
    """``encode``'s padding code: one past unknown (5 for dna and rna, 21 for protein)."""
    return len(alphabet_columns(alphabet)) + 1


def encode_torch(seqs: torch.Tensor, lengths: torch.Tensor, alphabet: str = "dna") -> torch.Tensor:
    """Torch implementation (any device): a 256-entry table lookup, then padding."""
    codes = code_table(seqs.device, alphabet)[seqs.to(torch.int64)]
    return codes.masked_fill_(padding_mask(lengths, seqs.shape[1]), pad_code(alphabet))


def _encode_numba(seqs: torch.Tensor, lengths: torch.Tensor, alphabet: str) -> torch.Tensor | None:
    """The numba CPU loop; None if numba cannot compile it (then torch runs)."""
    out = torch.empty_like(seqs, memory_format=torch.contiguous_format)
    ok = run_numba(
        "encode", lookup_loop(), seqs,
        seqs.contiguous().numpy(), numba_lengths(lengths, seqs.shape[1]),
        code_table(seqs.device, alphabet).numpy(), pad_code(alphabet), out.numpy(),
    )  # fmt: skip
    return out if ok else None


@torch.library.custom_op("deepbiop_gpu::encode", mutates_args=())
def _encode_op(seqs: torch.Tensor, lengths: torch.Tensor, alphabet: str = "dna") -> torch.Tensor:
    seqs = seqs.contiguous()  # every path returns a contiguous result, as the fake does
    if use_triton(seqs):
        from deepbiop_gpu.kernels.encode import encode_triton

        out = run_triton(encode_triton, seqs, lengths, alphabet)
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("encode") and seqs.numel():
        out = _encode_numba(seqs, lengths, alphabet)
        if out is not None:
            return out
    return encode_torch(seqs, lengths, alphabet)


@_encode_op.register_fake
def _(seqs: torch.Tensor, lengths: torch.Tensor, alphabet: str = "dna") -> torch.Tensor:
    return torch.empty_like(seqs, memory_format=torch.contiguous_format)


def encode(seqs: torch.Tensor, lengths: torch.Tensor, *, alphabet: str = "dna") -> torch.Tensor:
    """Map ASCII bases (or amino acids) to codes.

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (the padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    alphabet : {"dna", "rna", "protein"}, default "dna"
        ``"rna"``: U/u=3 and T is unknown; ``"protein"``: the amino acids
        ``ACDEFGHIKLMNPQRSTVWY`` (either case) = 0..19, every other byte
        (X, B, Z, J, U, O, '*', '-') 20, padding 21.

    Returns
    -------
    Tensor, ``uint8 [B, L]``
        dna: A/a=0, C/c=1, G/g=2, T/t/U/u=3, every other byte (N, IUPAC, '-', '.') 4,
        padding 5.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"ACgtN"), list(b"uR\\0\\0\\0")], dtype=torch.uint8)
    >>> encode(seqs, torch.tensor([5, 2]))
    tensor([[0, 1, 2, 3, 4],
            [3, 4, 5, 5, 5]], dtype=torch.uint8)
    >>> encode(torch.tensor([list(b"MKX*")], dtype=torch.uint8), torch.tensor([3]),
    ...        alphabet="protein")
    tensor([[10,  8, 20, 21]], dtype=torch.uint8)
    """
    check_batch(seqs, lengths)
    check_alphabet(alphabet)
    return run_op(_encode_op, seqs, lengths, alphabet)
