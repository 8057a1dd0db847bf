"""Device helpers shared by the kernels: base codes and complements of ASCII bytes."""

import triton
import triton.language as tl


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
