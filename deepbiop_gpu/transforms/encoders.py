"""Encoders: replace ``batch["sequences"]`` (bytes) with a model-ready tensor.

================  ===========================================  ================================
encoder           ``batch["sequences"]`` becomes               padding / unknown bases
================  ===========================================  ================================
OneHotEncoder     ``float32 [B, L, 4]`` (``NCL``: ``[B, 4, L]``)  zeros / zeros or 0.25 each
IntegerEncoder    ``int64 [B, L]``: A0 C1 G2 T3, other 4        ``pad_value`` (-1)
KmerEncoder ids   ``int64 [B, (L-k)//stride+1]``                -1 for windows touching N/padding
KmerEncoder counts ``float32 [B, 4**k]``                        only valid k-mers counted
================  ===========================================  ================================

``OneHotEncoder`` and ``IntegerEncoder`` take ``alphabet="dna" | "rna" |
"protein"`` (see :func:`deepbiop_gpu.ops.one_hot`): rna has columns A C G U
(T is unknown), protein the 20 columns ACDEFGHIKLMNPQRSTVWY (``[B, L, 20]``;
ids 0..19, unknown 20).  ``KmerEncoder`` is nucleotide-only.
"""

from __future__ import annotations

import torch

from .. import ops
from ..ops._fused import FusedStep
from ..ops._tables import ALPHABETS
from .base import Batch, BatchTransform

__all__ = ["OneHotEncoder", "IntegerEncoder", "KmerEncoder"]

_LAYOUTS = ("NLC", "NCL")


def _check_alphabet(alphabet: object, allowed: tuple[str, ...] = ALPHABETS) -> str:
    """``alphabet`` in lower case (DeepBioP's ``encoding_type`` names), if ``allowed``."""
    if not isinstance(alphabet, str) or alphabet.lower() not in ALPHABETS:
        raise ValueError(f"alphabet must be 'dna', 'rna' or 'protein', got {alphabet!r}")
    if alphabet.lower() not in allowed:
        raise ValueError(
            f"alphabet={alphabet!r} is not supported here (only {', '.join(map(repr, allowed))}): "
            "k-mers are nucleotide words"
        )
    return alphabet.lower()
_UNKNOWN = ("zeros", "uniform", "random")
_ONE_HOT_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.uint8)


class OneHotEncoder(BatchTransform):
    """One-hot encode the bases (columns A, C, G, T; U counts as T), or RNA / amino acids.

    Parameters
    ----------
    dtype : torch.dtype
        float32 (default), bfloat16, float16 or uint8.
    layout : "NLC" or "NCL"
        ``[B, L, 4]`` (default) or channels-first ``[B, 4, L]`` for ``Conv1d``.
    unknown : "zeros", "uniform" or "random"
        N and other symbols as all zeros, 0.25 in each column, or one column
        drawn uniformly from A/C/G/T per base, keyed on ``(seed, epoch,
        index, position)`` (DeepBioP's ``unknown_strategy="random"``;
        reproducible, the same on CPU and CUDA).
    seed : int
        Philox key of ``unknown="random"``.
    alphabet : "dna", "rna" or "protein"
        DeepBioP's ``encoding_type``.  ``"dna"``: columns A, C, G, T (U counts
        as T).  ``"rna"``: columns A, C, G, U (T is unknown).  ``"protein"``:
        20 columns ``ACDEFGHIKLMNPQRSTVWY`` (``[B, L, 20]``); every other byte
        (X, B, Z, J, U, O, '*', '-') is unknown: zeros, 1/20 each, or a drawn
        column.  A protein encoder cannot follow a :class:`ReverseComplement`
        or :class:`Mutator` in a :class:`Compose` (a ValueError says why).

    Examples
    --------
    >>> batch = {"sequences": torch.tensor([list(b"ACGN")], dtype=torch.uint8),
    ...          "lengths": torch.tensor([4])}
    >>> OneHotEncoder()(batch)["sequences"][0].tolist()
    [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    >>> protein = {"sequences": torch.tensor([list(b"MKX")], dtype=torch.uint8),
    ...            "lengths": torch.tensor([3])}
    >>> OneHotEncoder(alphabet="protein")(protein)["sequences"].shape
    torch.Size([1, 3, 20])
    """

    def __init__(
        self, dtype: torch.dtype = torch.float32, layout: str = "NLC", unknown: str = "zeros", seed: int = 0,
        *, alphabet: str = "dna",
    ) -> None:
        super().__init__()
        self.alphabet = _check_alphabet(alphabet)
        if dtype not in _ONE_HOT_DTYPES:
            raise ValueError(f"dtype must be one of {_ONE_HOT_DTYPES}, got {dtype!r}")
        if layout not in _LAYOUTS:
            raise ValueError(f"layout must be one of {_LAYOUTS}, got {layout!r}")
        if unknown not in _UNKNOWN:
            raise ValueError(f"unknown must be one of {_UNKNOWN}, got {unknown!r}")
        if dtype == torch.uint8 and unknown == "uniform":
            raise ValueError("unknown='uniform' (0.25) cannot be stored in dtype uint8")
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise ValueError(f"seed must be an int in [0, 2**63), got {seed!r}")
        self.dtype, self.layout, self.unknown, self.seed = dtype, layout, unknown, seed

    @property
    def random(self) -> bool:  # type: ignore[override]
        """``unknown="random"`` draws from the reads' index and the epoch."""
        return self.unknown == "random"

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        out = dict(batch)
        if self.unknown == "random":
            index, epoch = self._index_epoch(batch, seqs)
            out["sequences"] = ops.one_hot(seqs, lengths, dtype=self.dtype, layout=self.layout, unknown="random",
                                           seed=self.seed, index=index, epoch=epoch,
                                           alphabet=self.alphabet)  # fmt: skip
            return out
        out["sequences"] = ops.one_hot(seqs, lengths, dtype=self.dtype, layout=self.layout, unknown=self.unknown,
                                       alphabet=self.alphabet)  # fmt: skip
        return out

    def fused_step(self) -> FusedStep:
        """This encoding as the final step of a fused pass (see :class:`BatchTransform`).

        ``unknown="random"`` fuses too: the drawn column of an unknown base is
        keyed on its position in the final (cropped, reverse-complemented) read,
        the same bits as running this encoder after the other transforms.
        """
        return FusedStep.one_hot(self.dtype, self.layout, self.unknown, self.seed, self.alphabet)

    def extra_repr(self) -> str:
        seed = f", seed={self.seed}" if self.unknown == "random" else ""
        alphabet = f", alphabet={self.alphabet!r}" if self.alphabet != "dna" else ""
        return f"dtype={self.dtype}, layout={self.layout!r}, unknown={self.unknown!r}{seed}{alphabet}"


class IntegerEncoder(BatchTransform):
    """Bases as integers A=0 C=1 G=2 T/U=3, other 4, padding ``pad_value``: ``int64 [B, L]``.

    ``alphabet`` is DeepBioP's ``encoding_type``: ``"dna"`` (above), ``"rna"``
    (A0 C1 G2 U3, T and other bytes 4) or ``"protein"`` (``ACDEFGHIKLMNPQRSTVWY``
    = 0..19, every other byte 20).

    Examples
    --------
    >>> batch = {"sequences": torch.tensor([list(b"ACGN\\0")], dtype=torch.uint8),
    ...          "lengths": torch.tensor([4])}
    >>> IntegerEncoder()(batch)["sequences"].tolist()
    [[0, 1, 2, 4, -1]]
    """

    def __init__(self, pad_value: int = -1, *, alphabet: str = "dna") -> None:
        super().__init__()
        self.alphabet = _check_alphabet(alphabet)
        if isinstance(pad_value, bool) or not isinstance(pad_value, int):
            raise TypeError(f"pad_value must be an int, got {type(pad_value).__name__}")
        self.pad_value = pad_value

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        out = dict(batch)
        out["sequences"] = ops.integer(seqs, lengths, pad_value=self.pad_value, alphabet=self.alphabet)
        return out

    def fused_step(self) -> FusedStep:
        """This encoding as the final step of a fused pass (see :class:`BatchTransform`)."""
        return FusedStep.integer(self.pad_value, self.alphabet)

    def extra_repr(self) -> str:
        alphabet = f", alphabet={self.alphabet!r}" if self.alphabet != "dna" else ""
        return f"pad_value={self.pad_value}{alphabet}"


class KmerEncoder(BatchTransform):
    """k-mer token ids (for ``nn.Embedding``) or k-mer count vectors.

    Parameters
    ----------
    k : int
    mode : "counts" or "ids"
        ``float32 [B, 4**k]`` counts (DeepBioP's KmerEncoder) or ``int64``
        ids per window (-1 where a window touches N or padding).
    stride : int
        Window step (ids mode).
    canonical : bool
        Count a k-mer and its reverse complement as one.
    buckets : int, optional
        Hash ids into this many buckets (ids mode).
    alphabet : "dna" or "rna"
        DeepBioP's ``encoding_type``; the k-mer ops count U as T either way.
        ``"protein"`` raises a ValueError (k-mers are nucleotide words).

    Examples
    --------
    >>> batch = {"sequences": torch.tensor([list(b"ACGT")], dtype=torch.uint8),
    ...          "lengths": torch.tensor([4])}
    >>> KmerEncoder(2, mode="ids")(batch)["sequences"].tolist()
    [[1, 6, 11]]
    """

    def __init__(
        self, k: int, mode: str = "counts", stride: int = 1, canonical: bool = False, buckets: int | None = None,
        *, alphabet: str = "dna",
    ) -> None:
        super().__init__()
        self.alphabet = _check_alphabet(alphabet, ("dna", "rna"))
        if mode not in ("counts", "ids"):
            raise ValueError(f"mode must be 'counts' or 'ids', got {mode!r}")
        if mode == "counts" and (stride != 1 or buckets is not None):
            raise ValueError("stride and buckets apply to mode='ids' only")
        self.k, self.mode, self.stride, self.canonical, self.buckets = k, mode, stride, canonical, buckets
        # validate k / stride / buckets now, with the op's own checks, on an empty batch
        empty = torch.zeros(0, max(k, 1) if isinstance(k, int) else 1, dtype=torch.uint8)
        self._encode(empty, torch.zeros(0, dtype=torch.int64))

    def _encode(self, seqs: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.mode == "counts":
            return ops.kmer_counts(seqs, lengths, self.k, canonical=self.canonical)
        return ops.kmer_ids(seqs, lengths, self.k, stride=self.stride, canonical=self.canonical, buckets=self.buckets)

    def forward(self, batch: Batch) -> Batch:
        seqs, lengths = self._byte_sequences(batch)
        out = dict(batch)
        out["sequences"] = self._encode(seqs, lengths)
        return out

    def extra_repr(self) -> str:
        return f"k={self.k}, mode={self.mode!r}, stride={self.stride}, canonical={self.canonical}, buckets={self.buckets}"
