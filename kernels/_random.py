"""Counter-based random words for the kernels (Philox-4x32-10 via ``tl.philox``).

The counter layout is documented in ``deepbiop_gpu/ops/_philox.py``, whose
torch code computes the same words on the CPU.
"""

import triton
import triton.language as tl


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
