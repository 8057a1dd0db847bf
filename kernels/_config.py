"""Block-size heuristic shared by the kernels (no autotuning: first calls stay
cheap and results stable).

Kernels work on 2-D tiles of ``ROWS x BLOCK_L`` bytes of a padded ``[B, L]``
batch: ``BLOCK_L`` is the next power of two of ``L`` (at most
:data:`MAX_BLOCK_L`, more columns go to more programs), and ``ROWS`` fills the
tile up to :data:`TILE` elements, so short reads (L = 150) get many rows per
program and long reads (L = 10,000) few.
"""

from __future__ import annotations

__all__ = ["MAX_BLOCK_L", "TILE", "MAX_GRID_Y", "TileConfig", "tile_config", "cdiv", "next_pow2"]

MAX_BLOCK_L = 1024
TILE = 4096
MAX_GRID_Y = 65535  # CUDA's limit on the second grid dimension


class TileConfig:
    __slots__ = ("rows", "block_l", "num_warps")

    def __init__(self, rows: int, block_l: int, num_warps: int) -> None:
        self.rows = rows
        self.block_l = block_l
        self.num_warps = num_warps

    def grid(self, batch: int, length: int) -> tuple[int, int]:
        cols = cdiv(length, self.block_l)
        if cols > MAX_GRID_Y:
            raise ValueError(
                f"L = {length} needs {cols} column blocks, more than the grid allows ({MAX_GRID_Y})"
            )
        return (max(1, cdiv(batch, self.rows)), max(1, cols))

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
