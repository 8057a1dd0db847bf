"""``integer``: ASCII bases -> ``int64`` base codes with a chosen padding value.

Also holds the helpers that the table-driven torch implementations share
(``one_hot``, ``kmer_ids``): :func:`byte_index` turns a padded batch into
``int32`` indices into a 512-row table whose upper half stands for padding, so
one gather (``index_select``, the fastest gather on the CPU) maps bytes *and*
padding in a single pass.  Per-read padding is applied by copying rows of a
template (:func:`length_rows`), not by comparing every position.

With numba installed (and ``DEEPBIOP_GPU_NUMBA`` not ``0``) the CPU runs
compiled loops instead (:func:`run_numba` threads them); both implementations
are tested against the naive reference.
"""

from __future__ import annotations

import functools

import torch

from ._checks import check_batch, check_int
from ._dispatch import run_op, run_triton, use_triton
from ._numba import numba_lengths, numba_ok, run_numba
from ._tables import check_alphabet, code_table

__all__ = [
    "PAD_OFFSET",
    "TABLE_ROWS",
    "byte_index",
    "gather",
    "integer",
    "integer_torch",
    "length_rows",
]

PAD_OFFSET = 256  # byte_index adds this at padding: tables have 512 rows, the upper half padding
TABLE_ROWS = 2 * PAD_OFFSET
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def length_rows(
    lengths: torch.Tensor, width: int, inside: int, outside: int, dtype: torch.dtype
) -> torch.Tensor:
    """``dtype [B, width]``: ``inside`` before each read's length, ``outside`` from it on.

    Built without a per-element comparison: rows are gathered (one contiguous
    copy per read) from an ``unfold`` view of a ``2 * width`` template, whose
    row ``width - n`` is the row of a read of length ``n``.
    """
    template = torch.full((2 * width,), inside, dtype=dtype, device=lengths.device)
    template[width:] = outside
    if width == 0:
        return template.new_empty((lengths.shape[0], 0))
    rows = width - lengths.clamp(0, width)
    return template.unfold(0, width, 1).index_select(0, rows)


def byte_index(seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``int32 [B, L]``: the byte value (0..255), plus :data:`PAD_OFFSET` at padding.

    Index into a :data:`TABLE_ROWS`-row table whose upper half is the padding
    value, so that one gather (``index_select``) maps bytes and padding in a
    single pass, whatever garbage the padding holds.
    """
    index = seqs.to(torch.int32)
    return index.bitwise_or_(length_rows(lengths, seqs.shape[1], 0, PAD_OFFSET, torch.int32))


def gather(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a 1-D ``table`` (one ``index_select`` on the flat index)."""
    return table.index_select(0, index.view(-1)).view(index.shape)


def integer_table(pad_value: int, device: torch.device, alphabet: str = "dna") -> torch.Tensor:
    """``int64 [512]``: byte -> code (dna: A0 C1 G2 T/U3, else 4); rows 256.. = ``pad_value``."""
    codes = code_table(device, alphabet).to(torch.int64)
    return torch.cat([codes, codes.new_full((PAD_OFFSET,), pad_value)])


def integer_torch(
    seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int = -1, alphabet: str = "dna"
) -> torch.Tensor:
    """Torch implementation (any device): one gather from a 512-entry ``int64`` table."""
    return gather(integer_table(pad_value, seqs.device, alphabet), byte_index(seqs, lengths))


@functools.cache
def lookup_loop():
    """The table-lookup CPU loop (numba, which must be installed), one pass per read.

    ``out[b, i] = table[seqs[b, i]]`` inside read ``b``, ``pad_value`` after it;
    numba compiles it once per table / output dtype (``integer``, ``encode``
    and the one-hot of 16-bit floats and uint8 use it).
    """
    import numba

    @numba.njit(nogil=True)
    def loop(seqs, lens, table, pad_value, out, nv, v0, v1):  # pragma: no cover - compiled
        B, L = seqs.shape
        for b in range(B * v0 // nv, B * v1 // nv):
            n = lens[b]
            for i in range(n):
                out[b, i] = table[seqs[b, i]]
            for i in range(n, L):
                out[b, i] = pad_value

    return loop


def _integer_numba(seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int, alphabet: str):
    """CPU implementation with numba (same result as the torch code); None if numba fails."""
    B, L = seqs.shape
    out = torch.empty((B, L), dtype=torch.int64)
    if B == 0 or L == 0:
        return out
    table = code_table(seqs.device, alphabet).to(torch.int64).numpy()
    ok = run_numba(
        "integer", lookup_loop(), seqs, seqs.contiguous().numpy(), numba_lengths(lengths, L),
        table, pad_value, out.numpy(),
    )  # fmt: skip
    return out if ok else None


@torch.library.custom_op("deepbiop_gpu::integer", mutates_args=())
def _integer_op(
    seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int, alphabet: str = "dna"
) -> torch.Tensor:
    seqs = seqs.contiguous()  # every path returns a contiguous result, as the fake does
    if use_triton(seqs):
        from deepbiop_gpu.kernels.integer import integer_triton

        out = run_triton(integer_triton, seqs, lengths, pad_value, alphabet)
        if out is not None:
            return out
    if seqs.device.type == "cpu" and numba_ok("integer"):
        out = _integer_numba(seqs, lengths, pad_value, alphabet)
        if out is not None:
            return out
    return integer_torch(seqs, lengths, pad_value, alphabet)


@_integer_op.register_fake
def _(seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int, alphabet: str = "dna") -> torch.Tensor:
    return torch.empty_like(seqs, dtype=torch.int64, memory_format=torch.contiguous_format)


def integer(
    seqs: torch.Tensor, lengths: torch.Tensor, pad_value: int = -1, *, alphabet: str = "dna"
) -> torch.Tensor:
    """Map ASCII bases to ``int64`` base codes, with a chosen value at padding.

    The codes are those of :func:`~deepbiop_gpu.ops.encode`, widened to
    ``int64`` (ready for ``nn.Embedding`` or ``F.cross_entropy``), with padding
    set to ``pad_value`` instead of 5.

    Parameters
    ----------
    seqs : Tensor, ``uint8 [B, L]``
        Raw ASCII bases, any case, right-padded (the padding bytes are ignored).
    lengths : Tensor, ``int32`` or ``int64 [B]``
        Length of each read; positions at or past it are padding.
    pad_value : int, default -1
        Value at padding positions (any ``int64``; e.g. ``-100``, the
        ``ignore_index`` of ``F.cross_entropy``, or 4 to fold padding into N).
    alphabet : {"dna", "rna", "protein"}, default "dna"
        ``"rna"``: A0 C1 G2 U3, T and every other byte 4; ``"protein"``: the
        amino acids ``ACDEFGHIKLMNPQRSTVWY`` (either case) = 0..19, every
        other byte (X, B, Z, J, U, O, '*', '-') 20.

    Returns
    -------
    Tensor, ``int64 [B, L]``
        dna: A/a=0, C/c=1, G/g=2, T/t/U/u=3, every other byte (N, IUPAC, '-', '.') 4,
        padding ``pad_value``.

    Examples
    --------
    >>> seqs = torch.tensor([list(b"ACgtN"), list(b"uR\\0\\0\\0")], dtype=torch.uint8)
    >>> integer(seqs, torch.tensor([5, 2]))
    tensor([[ 0,  1,  2,  3,  4],
            [ 3,  4, -1, -1, -1]])
    >>> integer(seqs, torch.tensor([5, 2]), alphabet="rna")[:, :2]
    tensor([[0, 1],
            [3, 4]])
    """
    check_batch(seqs, lengths)
    check_int(pad_value, "pad_value", low=_INT64_MIN, high=_INT64_MAX)
    check_alphabet(alphabet)
    return run_op(_integer_op, seqs, lengths, pad_value, alphabet)
