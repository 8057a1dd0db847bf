"""Device helpers shared by the kernels: a tile's place in the grid, a row tile of the
batch, base codes, complements."""

import triton
import triton.language as tl


@triton.jit
def tile_blocks(width, BLOCK: tl.constexpr):
    """``(row block, column block)`` of this program (int64) in a flat grid (see below)."""
    n_cols = tl.maximum(tl.cdiv(width, BLOCK), 1).to(tl.int64)
    pid = tl.program_id(0).to(tl.int64)
    return pid // n_cols, pid % n_cols


@triton.jit
def tile_rows_cols(width, ROWS: tl.constexpr, BLOCK: tl.constexpr):
    """Row and column numbers (int64) of this program's ``ROWS x BLOCK`` tile.

    Grids are flat (``TileConfig.grid``): axis 0 numbers the tiles row block
    by row block, ``cdiv(width, BLOCK)`` column blocks each (at least one), so
    neither the batch size nor the read length meets the 65535 limit of the
    other grid axes.
    """
    row_block, col_block = tile_blocks(width, BLOCK)
    rows = row_block * ROWS + tl.arange(0, ROWS)
    cols = col_block * BLOCK + tl.arange(0, BLOCK)
    return rows, cols


@triton.jit
def row_tile(seq_ptr, len_ptr, B, L, stride_s, ROWS: tl.constexpr, BLOCK_L: tl.constexpr):
    """This program's ``ROWS x BLOCK_L`` tile of a padded ``[B, L]`` byte batch.

    Returns ``(rows, cols, in_bounds, inside, bytes)``: the tile's row and
    column numbers, which of its positions fall in ``[B, L]``, which fall
    inside their read (``col < length``), and the bytes there (0 elsewhere).
    The launch grid is ``TileConfig.grid(B, L)`` (see :func:`tile_rows_cols`).
    """
    rows, cols = tile_rows_cols(L, ROWS, BLOCK_L)
    row_ok = rows < B
    lens = tl.load(len_ptr + rows, mask=row_ok, other=0).to(tl.int64)
    in_bounds = row_ok[:, None] & (cols[None, :] < L)
    inside = in_bounds & (cols[None, :] < lens[:, None])
    # the load is masked by the batch's bounds only (the padding bytes lie inside the
    # [B, L] allocation): a per-read mask would stop the compiler vectorising it
    b = tl.load(seq_ptr + rows[:, None] * stride_s + cols[None, :], mask=in_bounds, other=0)
    b = tl.where(inside, b, 0)
    return rows, cols, in_bounds, inside, b


@triton.jit
def base_code(b):
    """ASCII byte -> A=0 C=1 G=2 T/U=3, anything else 4 (either case).

    ``b | 0x20`` folds upper to lower case; only 'A'/'a' map to 'a' under it
    (likewise c, g, t, u), so no other byte is mistaken for a base.
    """
    f = b.to(tl.int32) | 0x20
    code = tl.where(f == 97, 0, 4)
    code = tl.where(f == 99, 1, code)
    code = tl.where(f == 103, 2, code)
    code = tl.where((f == 116) | (f == 117), 3, code)
    return code



# --- alphabets (issue 12) ---------------------------------------------------------
# ALPHABET constexpr: 0 dna, 1 rna, 2 protein (deepbiop_gpu.ops._tables.ALPHABET_IDS)

# the letters a..z (as 0..25) that are no amino acid: B J O U X Z
PROTEIN_GAPS = tl.constexpr((1 << 1) | (1 << 9) | (1 << 14) | (1 << 20) | (1 << 23) | (1 << 25))


@triton.jit
def rna_code(b):
    """ASCII byte -> A=0 C=1 G=2 U=3, anything else 4 (T too; either case). int32."""
    f = b.to(tl.int32) | 0x20
    code = tl.where(f == 97, 0, 4)
    code = tl.where(f == 99, 1, code)
    code = tl.where(f == 103, 2, code)
    code = tl.where(f == 117, 3, code)
    return code


@triton.jit
def protein_code(b):
    """ASCII byte -> amino-acid id 0..19 in the order ACDEFGHIKLMNPQRSTVWY, else 20. int32.

    ``(b | 0x20) - 97`` is the letter's place 0..25 for letters only; the id
    is that place less the non-amino-acid letters B J O U X Z before it.
    """
    f = (b.to(tl.int32) | 0x20) - 97
    letter = (f >= 0) & (f < 26)
    f = tl.where(letter, f, 1)  # non-letters: as B, an unknown
    known = ((PROTEIN_GAPS >> f) & 1) == 0
    code = f - (f > 1).to(tl.int32) - (f > 9).to(tl.int32) - (f > 14).to(tl.int32)
    code = code - (f > 20).to(tl.int32) - (f > 23).to(tl.int32)
    return tl.where(known, code, 20)


@triton.jit
def alphabet_code(b, ALPHABET: tl.constexpr):
    """ASCII byte -> its id in ``ALPHABET`` (0 dna: :func:`base_code`, 1 rna, 2 protein)."""
    if ALPHABET == 0:
        code = base_code(b)
    elif ALPHABET == 1:
        code = rna_code(b)
    else:
        code = protein_code(b)
    return code


# --- reverse complement and mutate (issue 3) ---------------------------------


@triton.jit
def complement_byte(b):
    """ASCII byte -> its IUPAC complement, case kept (other bytes unchanged).

    A<->T, C<->G, U->A, R<->Y, K<->M, B<->V, D<->H; S, W, N and every other
    byte map to themselves.  Works on the lower-case fold ``b | 0x20`` (only
    letters fold into 'a'..'z') and puts the case bit of ``b`` back.
    Returns int32.
    """
    x = b.to(tl.int32)
    f = x | 0x20
    c = tl.where(f == 97, 116, 0)  # a -> t
    c = tl.where(f == 116, 97, c)  # t -> a
    c = tl.where(f == 117, 97, c)  # u -> a
    c = tl.where(f == 99, 103, c)  # c -> g
    c = tl.where(f == 103, 99, c)  # g -> c
    c = tl.where(f == 114, 121, c)  # r -> y
    c = tl.where(f == 121, 114, c)  # y -> r
    c = tl.where(f == 107, 109, c)  # k -> m
    c = tl.where(f == 109, 107, c)  # m -> k
    c = tl.where(f == 98, 118, c)  # b -> v
    c = tl.where(f == 118, 98, c)  # v -> b
    c = tl.where(f == 100, 104, c)  # d -> h
    c = tl.where(f == 104, 100, c)  # h -> d
    return tl.where(c != 0, (c & 0xDF) | (x & 0x20), x)


@triton.jit
def acgt_code(b):
    """ASCII byte -> A=0 C=1 G=2 T=3 (either case), anything else 4 (U too). int32."""
    f = b.to(tl.int32) | 0x20
    code = tl.where(f == 97, 0, 4)
    code = tl.where(f == 99, 1, code)
    code = tl.where(f == 103, 2, code)
    code = tl.where(f == 116, 3, code)
    return code


@triton.jit
def acgt_byte(code):
    """Code 0..3 -> upper-case 'A', 'C', 'G', 'T' (int32)."""
    return tl.where(code == 0, 65, tl.where(code == 1, 67, tl.where(code == 2, 71, 84)))


@triton.jit
def mutate_byte(x, word, threshold, divisor):
    """The substitution rule of ``mutate`` for a byte ``x`` and its Philox ``word``.

    An A/C/G/T byte (either case) whose ``word`` (int64 holding a uint32) is
    below ``threshold`` becomes base ``(code + 1 + (word * 3) // divisor) & 3``
    in the case of ``x``; every other byte is kept.  ``divisor`` is
    ``max(threshold, 1)``.  Returns int32.
    """
    x = x.to(tl.int32)
    code = acgt_code(x)
    hit = (code < 4) & (word < threshold)
    j = ((word * 3) // divisor).to(tl.int32)  # 0, 1 or 2 where hit
    return tl.where(hit, acgt_byte((code + 1 + j) & 3) | (x & 0x20), x)
