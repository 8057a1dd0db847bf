"""Test batches for the ops: random reads, hypothesis strategies and the edge cases.

Every batch is padded with *garbage* bytes past each read's length (not
zeros), so a test also proves that an op reads no meaning from padding.
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

IUPAC = b"RYSWKMBDHVN"
BASES = b"ACGTU"
COMMON = BASES + BASES.lower() + IUPAC + IUPAC.lower() + b".-*"
PAD_GARBAGE = b"AcGt"
# issue 12: the alphabets, and protein bytes (the 20 amino acids and the usual unknowns)
ALPHABETS = ("dna", "rna", "protein")
AMINO_ACIDS = b"ACDEFGHIKLMNPQRSTVWY"
PROTEIN = AMINO_ACIDS + AMINO_ACIDS.lower() + b"XBZJUOxbzjuo*-."


def pack(reads: list[bytes], width: int | None = None, garbage: bytes = PAD_GARBAGE):
    """Reads -> (``uint8 [B, width]``, ``int64 [B]``), padding filled with ``garbage``."""
    width = max((len(r) for r in reads), default=0) if width is None else width
    rows = []
    for r in reads:
        fill = (garbage * (width // max(len(garbage), 1) + 1))[: width - len(r)] if garbage else b""
        rows.append(list(r + fill.ljust(width - len(r), b"\0")))
    seqs = torch.tensor(rows, dtype=torch.uint8).reshape(len(reads), width)
    lengths = torch.tensor([len(r) for r in reads], dtype=torch.int64)
    return seqs, lengths


def random_reads(gen: torch.Generator, batch: int, max_len: int, alphabet: bytes = COMMON,
                 min_len: int = 0) -> list[bytes]:
    """``batch`` reads of random lengths in ``[min_len, max_len]`` over ``alphabet``."""
    table = torch.tensor(list(alphabet), dtype=torch.uint8)
    lens = torch.randint(min_len, max_len + 1, (batch,), generator=gen).tolist()
    return [
        bytes(table[torch.randint(0, len(alphabet), (n,), generator=gen)].tolist()) for n in lens
    ]


def edge_cases(long: int = 1500) -> list[tuple[str, list[bytes], int | None]]:
    """``(id, reads, width)``: the shapes every op must handle."""
    iupac_all = IUPAC + IUPAC.lower() + b"acgtuACGTU.-*\x00\x7f\xff@"
    return [
        ("empty-batch", [], None),
        ("empty-batch-wide", [], 7),
        ("all-length-0", [b"", b"", b""], 4),
        ("length-1", [b"A", b"t", b"N"], None),
        ("all-N", [b"N" * 37, b"n" * 5], None),
        ("lowercase", [b"acgtacgtnu", b"gattaca"], None),
        ("iupac-and-odd-bytes", [iupac_all, iupac_all[::-1]], None),
        ("ragged", [b"", b"C", b"ACGTN" * 60, b"GT" * (long // 2)], None),
        ("not-multiple-of-block", [b"ACGT" * (long // 4) + b"A", b"TTG"], None),
        ("width-beyond-reads", [b"ACG", b"T"], 9),
    ]


def alphabet_cases(long: int = 1500) -> list[tuple[str, list[bytes], int | None]]:
    """``(id, reads, width)``: the alphabets' own edge cases (protein letters, every byte)."""
    every_byte = bytes(range(256))
    return [
        ("all-X", [b"X" * 41, b"x" * 3, b"*"], None),
        ("protein-lowercase", [AMINO_ACIDS.lower(), b"mkwvtfisll"], None),
        ("protein-unknowns", [b"XBZJUO*-.", b"xbzjuo"], None),
        ("every-byte", [every_byte, every_byte[::-1]], None),
        ("protein-ragged", [b"", b"M", AMINO_ACIDS * 40, b"GT" * (long // 2)], None),
        ("protein-not-multiple-of-block", [AMINO_ACIDS * (long // 20) + b"W", b"MK"], None),
        ("rna-and-t", [b"ACGUacgu", b"TtTt"], None),
    ]


base_byte = st.one_of(st.sampled_from(list(COMMON)), st.integers(0, 255))
read_st = st.lists(base_byte, max_size=40).map(bytes)


protein_byte = st.one_of(st.sampled_from(list(PROTEIN)), st.integers(0, 255))


def batches(max_reads: int = 8, max_len: int = 40, alphabet: str = "dna"):
    """Hypothesis strategy of ``(seqs, lengths)`` with garbage padding (protein: amino acids)."""
    byte = protein_byte if alphabet == "protein" else base_byte
    reads = st.lists(st.lists(byte, max_size=max_len).map(bytes), max_size=max_reads)
    extra = st.integers(0, 5)
    return st.builds(
        lambda rs, e: pack(rs, max((len(r) for r in rs), default=0) + e), reads, extra
    )


# Hypothesis settings for kernel tests: few examples (the interpreter is slow).
# The ``kdevice`` fixture's monkeypatched variable is the same for every
# example, so sharing the function-scoped fixture across examples is safe.
kernel_settings = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
