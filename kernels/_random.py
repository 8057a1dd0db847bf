"""Counter-based random words for the kernels (Philox-4x32-10 via ``tl.philox``).

The counter layout is documented in ``deepbiop_gpu/ops/_philox.py``, whose
torch code computes the same words on the CPU.
"""

import torch
import triton
import triton.language as tl

from ._config import cdiv, flat_grid
from ._launch import launch


@triton.jit
def read_philox(seed, draw, index, epoch, stream: tl.constexpr):
    """Four uint32 words for each (read ``index``, ``draw``) pair.

    ``seed``: int64 scalar; ``draw``: uint32/int tensor (the c0 counter);
    ``index``: int64 tensor broadcastable against ``draw``; ``epoch``: scalar.
    """
    c0 = draw.to(tl.uint32)
    c1 = (index & 0xFFFFFFFF).to(tl.uint32)
    c2 = ((index * 0 + epoch) & 0xFFFFFFFF).to(tl.uint32)
    c3 = ((((index >> 32) << 8) | stream) & 0xFFFFFFFF).to(tl.uint32)
    c0, c1 = tl.broadcast(c0, c1)
    c2, c3 = tl.broadcast(c2, c3)
    c0, c2 = tl.broadcast(c0, c2)
    c1, c3 = tl.broadcast(c1, c3)
    return tl.philox(seed, c0, c1, c2, c3)


# --- per-read Bernoulli gate (issue 3) ---------------------------------------


@triton.jit(do_not_specialize=["B", "threshold", "seed", "epoch"])
def bernoulli_gate_kernel(
    idx_ptr, out_ptr, B, threshold, seed, epoch,
    STREAM: tl.constexpr, BLOCK: tl.constexpr,
):
    """``out[b] = word0(draw 0 of read index[b]) < threshold`` (uint8 0/1)."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    ok = offs < B
    index = tl.load(idx_ptr + offs, mask=ok, other=0)
    w0, _, _, _ = read_philox(seed, offs * 0, index, epoch, STREAM)
    fire = w0.to(tl.int64) < threshold
    tl.store(out_ptr + offs, fire.to(tl.uint8), mask=ok)


def bernoulli_gate_triton(
    index: torch.Tensor, threshold: int, seed: int, epoch: int, stream: int
) -> torch.Tensor:
    """Launch ``bernoulli_gate_kernel``: ``int64 [B]`` sample indices -> ``bool [B]``."""
    index = index.contiguous()
    (B,) = index.shape
    out = torch.empty(B, dtype=torch.uint8, device=index.device)
    if B == 0:
        return out.view(torch.bool)
    block = 256
    launch(
        bernoulli_gate_kernel, flat_grid(cdiv(B, block), f"a batch of B = {B}"),
        index, out, B, threshold, seed, epoch, STREAM=stream, BLOCK=block,
    )
    return out.view(torch.bool)
