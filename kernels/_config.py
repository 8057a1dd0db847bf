"""Block-size heuristic shared by the kernels (no autotuning: first calls stay
cheap and results stable).

Kernels work on 2-D tiles of ``ROWS x BLOCK_L`` bytes of a padded ``[B, L]``
batch: ``BLOCK_L`` is the next power of two of ``L`` (at most
:data:`MAX_BLOCK_L`, more columns go to more programs), and ``ROWS`` fills the
tile up to :data:`TILE` elements, so short reads (L = 150) get many rows per
program and long reads (L = 10,000) few.

Grids are flat: axis 0 numbers the tiles row block by row block (the
kernels recover both block numbers with ``//`` and ``%``, see
``_codes.tile_rows_cols``), so reads of any length (a chromosome too) and
batches of any size fit CUDA's limits (2**31 - 1 on axis 0; axes 1 and 2,
capped at 65535, are not used).
"""

from __future__ import annotations

__all__ = [
    "MAX_BLOCK_L", "TILE", "MAX_GRID_X", "MAX_GRID_Y", "TileConfig", "tile_config", "cdiv",
    "flat_grid", "next_pow2",
]

MAX_BLOCK_L = 1024
TILE = 4096
MAX_GRID_X = 2**31 - 1  # CUDA's limit on the first grid dimension
MAX_GRID_Y = 65535  # CUDA's limit on the second and third (unused: grids are flat)


def flat_grid(programs: int, what: str) -> tuple[int]:
    """``(programs,)`` (at least 1) for a flat grid; raises beyond CUDA's axis-0 limit."""
    programs = max(1, programs)
    if programs > MAX_GRID_X:
        raise ValueError(
            f"{what} needs {programs} programs, more than one launch allows ({MAX_GRID_X}): "
            "split the batch"
        )
    return (programs,)


class TileConfig:
    __slots__ = ("rows", "block_l", "num_warps")

    def __init__(self, rows: int, block_l: int, num_warps: int) -> None:
        self.rows = rows
        self.block_l = block_l
        self.num_warps = num_warps

    def grid(self, batch: int, length: int, name: str = "L") -> tuple[int]:
        """Flat grid over ``batch`` rows and ``length`` columns (``name`` for errors).

        Program ``p`` covers row block ``p // n`` and column block ``p % n``,
        ``n = max(1, cdiv(length, block_l))`` (``_codes.tile_rows_cols``).
        """
        row_blocks = max(1, cdiv(batch, self.rows))
        col_blocks = max(1, cdiv(length, self.block_l))
        return flat_grid(row_blocks * col_blocks, f"a batch of B = {batch} and {name} = {length}")

    def __repr__(self) -> str:
        return f"TileConfig(rows={self.rows}, block_l={self.block_l}, num_warps={self.num_warps})"


def cdiv(a: int, b: int) -> int:
    return -(-a // b)


def next_pow2(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def tile_config(length: int, tile: int = TILE, max_block_l: int = MAX_BLOCK_L) -> TileConfig:
    """Tile shape for a batch of width ``length`` (``tile`` elements per program)."""
    block_l = min(next_pow2(max(length, 1)), max_block_l)
    rows = max(1, tile // block_l)
    num_warps = 4 if rows * block_l <= 2048 else 8
    return TileConfig(rows, block_l, num_warps)
