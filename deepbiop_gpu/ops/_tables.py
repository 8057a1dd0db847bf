"""Byte lookup tables used by the torch implementations, built per device and cached.

Built on first use (never as module-level tensors), so nothing here is
captured as a constant by fake-tensor tracing.
"""

from __future__ import annotations

import functools

import torch

__all__ = [
    "ALPHABETS",
    "ALPHABET_IDS",
    "BASE_CODES",
    "PAD_CODE",
    "UNKNOWN_CODE",
    "alphabet_codes",
    "alphabet_columns",
    "check_alphabet",
    "code_table",
]

BASE_CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}
UNKNOWN_CODE = 4
PAD_CODE = 5

# --- alphabets (issue 12) -------------------------------------------------------------
#
# An alphabet is its columns (one-hot) / ids (integer) in order; a byte (either case)
# of a column letter gets that column's id, every other byte is unknown (id = the
# number of columns), padding is one more (``encode``).  "dna" also counts U as T.
ALPHABETS = ("dna", "rna", "protein")
ALPHABET_IDS = {name: i for i, name in enumerate(ALPHABETS)}  # the kernels' ALPHABET constexpr
_COLUMNS = {"dna": "ACGT", "rna": "ACGU", "protein": "ACDEFGHIKLMNPQRSTVWY"}


def check_alphabet(alphabet: object) -> str:
    """``alphabet`` if it is one of :data:`ALPHABETS`, else a ValueError."""
    if not isinstance(alphabet, str) or alphabet not in ALPHABETS:
        raise ValueError(f"alphabet must be 'dna', 'rna' or 'protein', got {alphabet!r}")
    return alphabet


def alphabet_columns(alphabet: str) -> str:
    """The column letters of ``alphabet`` in order: ``"ACGT"``, ``"ACGU"`` or the 20 amino acids."""
    return _COLUMNS[alphabet]


def alphabet_codes(alphabet: str) -> dict[str, int]:
    """Upper-case letter -> id of ``alphabet`` (dna: U counts as T)."""
    codes = {letter: i for i, letter in enumerate(_COLUMNS[alphabet])}
    if alphabet == "dna":
        codes["U"] = codes["T"]
    return codes


@functools.cache
def _code_table_cpu(alphabet: str = "dna") -> torch.Tensor:
    table = torch.full((256,), len(_COLUMNS[alphabet]), dtype=torch.uint8)
    for base, code in alphabet_codes(alphabet).items():
        table[ord(base)] = code
        table[ord(base.lower())] = code
    return table


@functools.cache
def code_table(device: torch.device, alphabet: str = "dna") -> torch.Tensor:
    """``uint8 [256]``: byte -> id in ``alphabet`` (either case), else the number of columns.

    dna: A=0 C=1 G=2 T/U=3, else 4; rna: A=0 C=1 G=2 U=3, else (T too) 4;
    protein: ``ACDEFGHIKLMNPQRSTVWY`` = 0..19, else 20.
    """
    return _code_table_cpu(alphabet).to(device)


# --- reverse complement and mutate (issue 3) ---------------------------------

# IUPAC complements (upper case; lower case maps likewise).  U complements to
# A (its complement T has no U counterpart); S, W, N and every byte not
# listed are their own complement.
COMPLEMENT = {
    "A": "T", "T": "A", "U": "A", "C": "G", "G": "C",
    "R": "Y", "Y": "R", "K": "M", "M": "K", "B": "V", "V": "B", "D": "H", "H": "D",
}  # fmt: skip
ACGT = b"ACGT"


@functools.cache
def _complement_table_cpu() -> torch.Tensor:
    table = torch.arange(256, dtype=torch.int32)
    for base, comp in COMPLEMENT.items():
        table[ord(base)] = ord(comp)
        table[ord(base.lower())] = ord(comp.lower())
    return table.to(torch.uint8)


@functools.cache
def complement_table(device: torch.device) -> torch.Tensor:
    """``uint8 [256]``: byte -> its IUPAC complement, case kept (other bytes: itself)."""
    return _complement_table_cpu().to(device)


@functools.cache
def _acgt_table_cpu() -> torch.Tensor:
    table = torch.full((256,), UNKNOWN_CODE, dtype=torch.uint8)
    for code, base in enumerate("ACGT"):
        table[ord(base)] = code
        table[ord(base.lower())] = code
    return table


@functools.cache
def acgt_table(device: torch.device) -> torch.Tensor:
    """``uint8 [256]``: A=0 C=1 G=2 T=3 (either case), every other byte (U too) 4."""
    return _acgt_table_cpu().to(device)


__all__ += ["ACGT", "COMPLEMENT", "acgt_table", "complement_table"]
