"""Triton kernels, installed as ``deepbiop_gpu.kernels``.

Nothing here is imported unless the ``triton`` package is installed; the
launchers in ``deepbiop_gpu.ops`` import the kernel modules lazily.
"""
