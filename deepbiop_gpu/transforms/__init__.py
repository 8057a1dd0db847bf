"""Batch transforms (``nn.Module`` s on batch dicts), composable with :class:`Compose`."""

from .augment import Mutator, ReverseComplement, Sampler
from .base import BatchTransform
from .compose import Compose
from .encoders import IntegerEncoder, KmerEncoder, OneHotEncoder
from .quality import SimulateQualities

__all__ = [
    "BatchTransform",
    "Compose",
    "IntegerEncoder",
    "KmerEncoder",
    "Mutator",
    "OneHotEncoder",
    "ReverseComplement",
    "Sampler",
    "SimulateQualities",
]
