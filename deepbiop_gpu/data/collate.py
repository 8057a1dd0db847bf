"""Collate on the CPU: samples -> one padded batch dict (worker-safe, never touches CUDA).

The batch dict
--------------
==============  ==============================  =====================================
key             value                           notes
==============  ==============================  =====================================
``sequences``   ``uint8 [B, Lmax]``             raw ASCII, right-padded with 0
``lengths``     ``int32 [B]``                   bases of each read inside ``Lmax``
``qualities``   ``uint8 [B, Lmax]``             phred+33 ASCII; absent for FASTA
``index``       ``int64 [B]``                   sample index: keys the random ops
                                                (absent when the samples have none)
``names``       ``list[str]``
``labels``      ``int64/float32 [B]`` or list   when the dataset has labels
``epoch``       ``int``                         when known (seeds the random ops)
==============  ==============================  =====================================

``Lmax`` is the longest read of the batch, exactly (as DeepBioP pads), or a
fixed ``max_len`` with longer reads truncated; ``Collate(multiple_of=8)``
rounds it up instead (fewer distinct shapes for ``torch.compile``).  The
same rule applies to the datasets' fast path and to sample lists.

Samples of any kind
-------------------
A list of sample dicts (e.g. ``ds[i]`` after a per-sample transform) is
collated field by field, and nothing is ever cast:

* a tensor or array with a leading length dimension (``[L]``, ``[L, F]``, ...,
  any dtype) is padded along it into ``[B, Lmax, ...]``, its dtype kept; the
  pad value is 0, or the one the sample's transform declares (integer ids pad
  with the encoder's ``pad_value``), or ``Collate(pad_values={key: value})``;
* scalars (numbers, 0-d tensors) stack into ``[B]``; strings become lists;
  nested sample dicts (paired reads) collate into nested batch dicts;
* sample keys ``sequence``, ``quality``, ``name``, ``description`` and
  ``label`` become ``sequences``, ``qualities``, ``names``, ``descriptions``
  and ``labels``; ``lengths`` comes from the samples' ``length`` (what a
  per-sample transform leaves) or the sequence's leading dimension;
* anything else (ragged trailing dimensions, mixed dtypes in one key,
  objects) raises a :class:`TypeError` naming the key, dtypes and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ..packed import pad_ragged

__all__ = [
    "Collate",
    "Sample",
    "default_collate",
    "batch_width",
    "transform_pad_values",
    "sample_indices",
]

#: sample key -> batch key (other keys keep their name)
BATCH_KEYS = {
    "sequence": "sequences",
    "quality": "qualities",
    "name": "names",
    "description": "descriptions",
    "label": "labels",
}


def batch_width(lengths: torch.Tensor | np.ndarray, max_len: int | None, multiple_of: int) -> int:
    """``Lmax`` for a batch: ``max_len`` if given, else the longest read (rounded up to ``multiple_of``)."""
    if max_len is not None:
        return max_len
    longest = int(lengths.max()) if len(lengths) else 0
    return -(-longest // multiple_of) * multiple_of if multiple_of > 1 else longest


class Sample(dict):
    """A sample dict that declares the pad values of its fields.

    ``pad_values`` maps sample keys (``"sequence"``) to the value that pads
    them in a batch; keys not listed pad with 0.  Per-sample transforms
    return these (an :class:`~deepbiop_gpu.IntegerEncoder` declares its
    ``pad_value``); it is an ordinary ``dict`` otherwise, and pickles as one
    plus that mapping.

    Examples
    --------
    >>> s = Sample({"sequence": torch.tensor([0, 3])}, pad_values={"sequence": -1})
    >>> default_collate([s, Sample({"sequence": torch.tensor([2])}, pad_values={"sequence": -1})])["sequences"]
    tensor([[ 0,  3],
            [ 2, -1]])
    """

    def __init__(
        self, *args: Any, pad_values: Mapping[str, int | float] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.pad_values = dict(pad_values or {})

    def __reduce__(self):
        return (_sample, (dict(self), self.pad_values))


def _sample(items: dict, pad_values: dict) -> Sample:
    return Sample(items, pad_values=pad_values)


def transform_pad_values(transform: Any) -> dict[str, int | float]:
    """The pad values a (batch) transform declares for the sample fields it writes.

    A step may say so with a ``pad_values`` mapping (sample keys) or a
    ``pad_value`` (for ``sequence``, as :class:`~deepbiop_gpu.IntegerEncoder`
    has); k-mer ids pad with -1 (their value for windows past the read).
    Later steps override earlier ones.
    """
    from ..transforms.compose import transform_steps
    from ..transforms.encoders import KmerEncoder, OneHotEncoder

    pads: dict[str, int | float] = {}
    for step in transform_steps(transform):
        declared = getattr(step, "pad_values", None)
        if isinstance(declared, Mapping):
            pads.update(declared)
        elif isinstance(getattr(step, "pad_value", None), (int, float)):
            pads["sequence"] = step.pad_value
        elif isinstance(step, KmerEncoder) and step.mode == "ids":
            pads["sequence"] = -1
        elif isinstance(step, (KmerEncoder, OneHotEncoder)):
            pads.pop("sequence", None)  # an encoding padded with zeros
    return pads


def _describe(values: Sequence[Any]) -> str:
    """``dtype [shape]`` of each distinct kind among ``values`` (for error messages)."""
    seen: list[str] = []
    for v in values:
        if isinstance(v, torch.Tensor):
            d = f"{v.dtype} {list(v.shape)}"
        elif isinstance(v, np.ndarray):
            d = f"numpy {v.dtype} {list(v.shape)}"
        else:
            d = type(v).__name__
        if d not in seen:
            seen.append(d)
        if len(seen) == 4:
            break
    return ", ".join(seen)


def _cannot(key: str, why: str, values: Sequence[Any]) -> TypeError:
    return TypeError(
        f"cannot collate {key!r}: {why} (got {_describe(values)}); pass Collate(...) options or "
        "your own collate_fn"
    )


def _as_tensor(key: str, value: Any, values: Sequence[Any]) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.from_numpy(np.ascontiguousarray(value))
    except TypeError:  # object / string arrays and other dtypes torch does not have
        raise _cannot(key, f"numpy dtype {value.dtype} has no torch dtype", values) from None


def _is_scalar(v: Any) -> bool:
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return v.ndim == 0
    return isinstance(v, (bool, int, float, np.generic)) and not isinstance(v, (np.str_, np.bytes_))


def _stack_scalars(key: str, values: list[Any]) -> torch.Tensor:
    """``[B]``: 0-d tensors / numpy scalars keep their dtype; Python ints int64, floats float32."""
    if all(isinstance(v, (bool, int, float)) and not isinstance(v, np.generic) for v in values):
        if all(isinstance(v, (bool, int)) for v in values):
            return torch.tensor(values, dtype=torch.int64)
        return torch.tensor(values, dtype=torch.float32)
    if any(isinstance(v, (bool, int, float)) and not isinstance(v, np.generic) for v in values):
        raise _cannot(key, "a mix of Python numbers and tensors / numpy scalars", values)
    tensors = [
        v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v)) for v in values
    ]
    if len({t.dtype for t in tensors}) > 1:
        raise _cannot(key, "mixed dtypes", values)
    return torch.stack(tensors)


def sample_indices(samples: Sequence[Mapping[str, Any]]) -> torch.Tensor | None:
    """``int64 [B]``: the samples' ``"index"``, checked here on the host; None if no sample has one.

    The random transforms key their draws on these indices, so a missing or
    negative one would give reads the same random numbers.  The check runs
    before the batch reaches the device, where checking values would cost a
    host synchronisation: without an ``"index"`` the batch has no ``index``
    and a random transform raises on any device; a negative index, or an
    index on some samples only, raises here.
    """
    raw = [s.get("index") for s in samples]
    if raw and all(v is None for v in raw):
        return None
    values = []
    for i, v in enumerate(raw):
        if v is None:
            raise ValueError(f"sample {i} of the batch has no 'index' but others have one")
        v = int(v)
        if v < 0:
            raise ValueError(
                f"sample {i} of the batch has index {v}: sample indices must be >= 0 "
                "(they key the random transforms)"
            )
        values.append(v)
    return torch.tensor(values, dtype=torch.int64)


class Collate:
    """Pads a list of samples into a batch dict (see the module docstring).

    Parameters
    ----------
    max_len : int, optional
        Fixed ``Lmax``; longer reads (and any field with a length dimension)
        are truncated (their ``lengths`` too).
    multiple_of : int
        Round the batch's longest read up to this multiple (default 1: the
        exact maximum, as DeepBioP pads).
    pad_values : mapping, optional
        Pad value per sample key (``{"sequence": -1}``), overriding what the
        samples declare; others pad with 0.

    Examples
    --------
    >>> import torch
    >>> samples = [{"sequence": torch.tensor(list(b"ACGT"), dtype=torch.uint8), "quality": None,
    ...             "name": "r1", "index": 0},
    ...            {"sequence": torch.tensor(list(b"GG"), dtype=torch.uint8), "quality": None,
    ...             "name": "r2", "index": 1}]
    >>> batch = Collate()(samples)
    >>> batch["sequences"].shape, batch["lengths"].tolist(), batch["names"]
    (torch.Size([2, 4]), [4, 2], ['r1', 'r2'])
    >>> Collate(multiple_of=8)(samples)["sequences"].shape
    torch.Size([2, 8])
    >>> onehot = [{"sequence": torch.eye(4)[:3]}, {"sequence": torch.eye(4)[:1]}]
    >>> Collate()(onehot)["sequences"].shape, Collate()(onehot)["lengths"].tolist()
    (torch.Size([2, 3, 4]), [3, 1])
    """

    def __init__(
        self,
        max_len: int | None = None,
        multiple_of: int = 1,
        pad_values: Mapping[str, int | float] | None = None,
    ) -> None:
        if max_len is not None and (
            isinstance(max_len, bool) or not isinstance(max_len, int) or max_len < 0
        ):
            raise ValueError(f"max_len must be a non-negative int or None, got {max_len!r}")
        if isinstance(multiple_of, bool) or not isinstance(multiple_of, int) or multiple_of < 1:
            raise ValueError(f"multiple_of must be a positive int, got {multiple_of!r}")
        if pad_values is not None and not isinstance(pad_values, Mapping):
            raise TypeError(
                f"pad_values must be a mapping of key -> value, got {type(pad_values).__name__}"
            )
        for k, v in (pad_values or {}).items():
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise TypeError(f"pad_values[{k!r}] must be a number, got {v!r}")
        self.max_len = max_len
        self.multiple_of = multiple_of
        self.pad_values = dict(pad_values or {})

    def __call__(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        fast = getattr(samples, "collate", None)
        if fast is not None:  # a SampleBatch from one of our datasets: no per-sample work
            return fast(self.max_len, self.multiple_of)
        if len(samples) and not all(isinstance(s, Mapping) for s in samples):
            kinds = sorted({type(s).__name__ for s in samples if not isinstance(s, Mapping)})
            raise TypeError(
                f"default_collate expects sample dicts (as the datasets of deepbiop_gpu return), got "
                f"{', '.join(kinds)}; pass your own collate_fn for other samples"
            )
        return self._collate_samples(samples)

    # ---------------------------------------------------------- sample lists
    def _pad_value(self, key: str, samples: Sequence[Mapping[str, Any]]) -> int | float:
        for name in (key, BATCH_KEYS.get(key, key)):
            if name in self.pad_values:
                return self.pad_values[name]
        declared = getattr(samples[0], "pad_values", None) if samples else None
        return declared.get(key, 0) if isinstance(declared, Mapping) else 0

    def _collate_samples(self, samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if not len(samples):
            return {
                "sequences": torch.zeros((0, 0), dtype=torch.uint8),
                "lengths": torch.zeros(0, dtype=torch.int32),
                "index": torch.zeros(0, dtype=torch.int64),
                "names": [],
            }
        keys = list(samples[0].keys())
        for s in samples[1:]:
            if s.keys() != samples[0].keys():
                missing = sorted(set(keys) ^ set(s.keys()))
                raise TypeError(
                    f"cannot collate samples with different keys (in some, not all: {missing})"
                )
        batch: dict[str, Any] = {}
        seq_lengths: torch.Tensor | None = None
        for key in keys:
            if key in ("length", "epoch"):
                continue
            if key == "index":  # checked on the host: the random transforms key on it
                index = sample_indices(samples)
                if index is not None:
                    batch["index"] = index
                continue
            values = [s[key] for s in samples]
            value, lengths = self._collate_field(key, values, samples)
            if value is None:
                continue
            batch[BATCH_KEYS.get(key, key)] = value
            if key == "sequence":
                seq_lengths = lengths
        if seq_lengths is not None:
            if "length" in keys:
                given = [s["length"] for s in samples]
                if not all(
                    isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in given
                ):
                    raise _cannot("length", "lengths must be ints", given)
                seq_lengths = torch.tensor([int(v) for v in given], dtype=torch.int64)
                if self.max_len is not None:
                    seq_lengths = seq_lengths.clamp(max=self.max_len)
            batch["lengths"] = seq_lengths.to(torch.int32)
        if "epoch" in keys:
            epochs = [s["epoch"] for s in samples]
            if len(set(map(int, epochs))) == 1:
                batch["epoch"] = int(epochs[0])
            else:
                batch["epoch"] = torch.tensor([int(e) for e in epochs], dtype=torch.int64)
        return batch

    def _collate_field(
        self, key: str, values: list[Any], samples: Sequence[Mapping[str, Any]]
    ) -> tuple[Any, torch.Tensor | None]:
        """``(batch value, lengths or None)`` of one key; None value: leave the key out."""
        if all(v is None for v in values):
            return None, None
        if any(v is None for v in values):
            raise _cannot(key, "None in some samples and not in others", values)
        if all(isinstance(v, (str, bytes)) for v in values):
            return list(values), None
        if all(isinstance(v, Mapping) for v in values):  # paired reads: one batch per side
            return self._collate_samples(values), None
        if all(_is_scalar(v) for v in values):
            return _stack_scalars(key, values), None
        if not all(isinstance(v, (torch.Tensor, np.ndarray)) for v in values):
            raise _cannot(
                key,
                "only arrays / tensors, numbers, strings and sample dicts can be collated",
                values,
            )
        tensors = [_as_tensor(key, v, values) for v in values]
        if any(t.dim() == 0 for t in tensors):
            raise _cannot(key, "a mix of 0-d and n-d tensors", values)
        if len({t.dtype for t in tensors}) > 1:
            raise _cannot(key, "mixed dtypes in one key (nothing is cast)", values)
        if len({t.shape[1:] for t in tensors}) > 1:
            raise _cannot(
                key,
                "ragged trailing dimensions (only the leading length dimension is padded)",
                values,
            )
        if len({t.device for t in tensors}) > 1:
            raise _cannot(key, "tensors on different devices", [t.device for t in tensors])
        return self._pad(key, tensors, self._pad_value(key, samples))

    def _pad(
        self, key: str, tensors: list[torch.Tensor], pad: int | float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[B, Lmax, ...]`` of ``tensors`` (dtype kept), and their lengths (``int64 [B]``)."""
        first = tensors[0]
        dtype = first.dtype
        fill = torch.tensor(pad).to(dtype)
        if fill.item() != pad or (
            isinstance(pad, float) and not (dtype.is_floating_point or dtype.is_complex)
        ):
            raise TypeError(
                f"cannot collate {key!r}: pad value {pad!r} is not a {dtype} value (nothing is cast)"
            )
        lengths = torch.tensor([t.shape[0] for t in tensors], dtype=torch.int64)
        width = batch_width(lengths, self.max_len, self.multiple_of)
        if dtype == torch.uint8 and first.dim() == 1 and first.device.type == "cpu":
            # byte reads: one gather from the concatenated rows
            flat = torch.cat([t.reshape(-1) for t in tensors])
            starts = torch.zeros_like(lengths)
            if len(tensors) > 1:
                torch.cumsum(lengths[:-1], 0, out=starts[1:])
            out = pad_ragged(flat, starts, lengths, width, int(pad))
        else:
            out = torch.full(
                (len(tensors), width, *first.shape[1:]), pad, dtype=dtype, device=first.device
            )
            for row, t in zip(out, tensors, strict=True):
                n = min(t.shape[0], width)
                row[:n] = t[:n]
        return out, lengths.clamp(max=width)

    def __repr__(self) -> str:
        pads = f", pad_values={self.pad_values}" if self.pad_values else ""
        return f"Collate(max_len={self.max_len}, multiple_of={self.multiple_of}{pads})"


default_collate = Collate()
"""The default :class:`Collate`: the batch's exact longest read, pad values as declared."""
