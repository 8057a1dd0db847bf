"""Device ops on padded byte tensors (Triton on CUDA, torch on CPU)."""

__all__: list[str] = []
