"""Models of per-base quality scores, for :func:`~deepbiop_gpu.ops.simulate_qualities`.

DeepBioP's ``QualitySimulator`` models, by the same names::

    QualityModel.uniform(min, max)                 integers in [min, max], both ends included
    QualityModel.normal(mean, sd)                  N(mean, sd)
    QualityModel.high_quality()                    N(37, 2)
    QualityModel.medium_quality()                  N(28, 5)
    QualityModel.degrading(start_mean, end_mean, sd)
        N(mean_i, sd), mean_i moving linearly from start_mean at the first
        base of a read to end_mean at its last

Normal draws are **rounded to the nearest integer** (halves up) and clipped
to ``[0, 93]`` (the Phred+33 range ``!`` .. ``~``).  DeepBioP truncates
instead, which lowers every mean by 0.5: ``normal(30, 3)`` here has mean 30,
in DeepBioP about 29.5.

How a draw is made (integer arithmetic only, so CPU and CUDA agree bit for bit)
------------------------------------------------------------------------------
Each base takes one 32-bit Philox word ``w`` (counter layout of
:mod:`deepbiop_gpu.ops._philox`).

* uniform: ``Q = min + (w * (max - min + 1)) >> 32``.
* normal: ``z = Z[w >> 16]``, from a table of the standard normal quantiles
  at the 65,536 midpoints ``(k + 0.5) / 65536`` in 16.16 fixed point
  (``round(Φ⁻¹(·) · 2**16)``, built once on the host in double precision and
  shared by both devices); then in fixed point
  ``Q = (mean_i · 2**32 + sd · z + 2**31) >> 32``, clipped to ``[0, 93]``, with
  ``mean`` and ``sd`` in 16.16.  The degrading mean is
  ``start + sign · (|end - start| · i) // (n - 1)`` (16.16, ``i`` the position,
  ``n`` the read length): divisions of non-negative integers only.

Why not Box-Muller: it needs ``log`` and ``cos``, whose last bits differ
between CUDA's libdevice and the CPU's libm, so a value near a ``.5``
boundary could round differently on the two devices.  The table makes the
normal a 16-bit inverse-CDF lookup: exact integers everywhere, quantiles
correct to ``2**-16`` in probability (tails reach ``|z| ≈ 4.3``), far below
what a quality model needs.
"""

from __future__ import annotations

import dataclasses
import math

__all__ = ["QualityModel", "MAX_QUALITY"]

#: Highest Phred score (``~`` in Phred+33).
MAX_QUALITY = 93
_FIXED = 1 << 16  # 16.16 fixed point
_LIMIT = 1000.0  # |means| and sd: keeps every fixed-point product inside int64

UNIFORM = 0
NORMAL = 1


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if abs(float(value)) > _LIMIT:
        raise ValueError(f"{name} must be within [-{_LIMIT:g}, {_LIMIT:g}], got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class QualityModel:
    """A per-base quality distribution; build one with the class methods.

    Attributes
    ----------
    kind : {"uniform", "normal", "degrading"}
    low, high : int
        Uniform bounds (inclusive).
    start_mean, end_mean, sd : float
        Normal parameters (``start_mean == end_mean`` for a constant mean).

    Examples
    --------
    >>> QualityModel.high_quality()
    QualityModel.normal(mean=37.0, sd=2.0)
    >>> QualityModel.uniform(20, 40).params()
    (0, 20, 21, 0, 0)
    """

    kind: str
    low: int = 0
    high: int = 0
    start_mean: float = 0.0
    end_mean: float = 0.0
    sd: float = 0.0

    # ------------------------------------------------------------ builders
    @classmethod
    def uniform(cls, min: int, max: int) -> QualityModel:  # noqa: A002 (DeepBioP's names)
        """Integers in ``[min, max]``, both ends included, each equally likely."""
        for value, name in ((min, "min"), (max, "max")):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{name} must be an int in [0, {MAX_QUALITY}], got {value!r}")
        if not 0 <= min <= max <= MAX_QUALITY:
            raise ValueError(f"uniform needs 0 <= min <= max <= {MAX_QUALITY}, got [{min}, {max}]")
        return cls("uniform", low=min, high=max)

    @classmethod
    def normal(cls, mean: float, sd: float) -> QualityModel:
        """``N(mean, sd)``, rounded to the nearest integer and clipped to ``[0, 93]``."""
        mean = _number(mean, "mean")
        return cls("normal", start_mean=mean, end_mean=mean, sd=_sd(sd))

    @classmethod
    def high_quality(cls) -> QualityModel:
        """``N(37, 2)``: modern Illumina-like reads."""
        return cls.normal(37.0, 2.0)

    @classmethod
    def medium_quality(cls) -> QualityModel:
        """``N(28, 5)``."""
        return cls.normal(28.0, 5.0)

    @classmethod
    def degrading(cls, start_mean: float, end_mean: float, sd: float) -> QualityModel:
        """``N(mean_i, sd)``, ``mean_i`` linear from ``start_mean`` (first base) to ``end_mean``."""
        return cls(
            "degrading",
            start_mean=_number(start_mean, "start_mean"),
            end_mean=_number(end_mean, "end_mean"),
            sd=_sd(sd),
        )

    # ----------------------------------------------------------- the maths
    def mean_at(self, position: int, length: int) -> float:
        """The mean of position ``position`` of a read of ``length`` bases (before rounding)."""
        if self.kind == "uniform":
            return (self.low + self.high) / 2
        if length <= 1:
            return self.start_mean
        return self.start_mean + (self.end_mean - self.start_mean) * position / (length - 1)

    def params(self) -> tuple[int, int, int, int, int]:
        """The integers the op and kernels take: ``(kind, a, b, sign, sd)``.

        uniform: ``(0, min, max - min + 1, 0, 0)``; normal / degrading:
        ``(1, start, |end - start|, ±1, sd)``, means and sd in 16.16 fixed point.
        """
        if self.kind == "uniform":
            return (UNIFORM, self.low, self.high - self.low + 1, 0, 0)
        start = round(self.start_mean * _FIXED)
        end = round(self.end_mean * _FIXED)
        return (NORMAL, start, abs(end - start), 1 if end >= start else -1, round(self.sd * _FIXED))

    def __repr__(self) -> str:
        if self.kind == "uniform":
            return f"QualityModel.uniform(min={self.low}, max={self.high})"
        if self.kind == "normal":
            return f"QualityModel.normal(mean={self.start_mean}, sd={self.sd})"
        return (
            f"QualityModel.degrading(start_mean={self.start_mean}, end_mean={self.end_mean}, "
            f"sd={self.sd})"
        )


def _sd(sd: object) -> float:
    value = _number(sd, "sd")
    if value < 0:
        raise ValueError(f"sd must be >= 0, got {sd!r}")
    return value
