import torch

CODES = {"A": 0, "C": 1, "G": 2, "T": 3, "U": 3}
# issue 12: the other alphabets, written out letter by letter
RNA_CODES = {"A": 0, "C": 1, "G": 2, "U": 3}
PROTEIN_CODES = {aa: i for i, aa in enumerate("ACDEFGHIKLMNPQRSTVWY")}
ALPHABET_CODES = {"dna": CODES, "rna": RNA_CODES, "protein": PROTEIN_CODES}
COLUMNS = {"dna": 4, "rna": 4, "protein": 20}


def base_code(byte: int, alphabet: str = "dna") -> int:
    """The id of a byte in ``alphabet`` (either case); unknown is the number of columns."""
    ch = chr(byte)
    unknown = COLUMNS[alphabet]
    return ALPHABET_CODES[alphabet].get(ch.upper(), unknown) if ch.isascii() else unknown


def encode(seqs: torch.Tensor, lengths: torch.Tensor, alphabet: str = "dna") -> torch.Tensor:
    B, L = seqs.shape
    pad = COLUMNS[alphabet] + 1
    out = []
    for row, n in zip(seqs.tolist(), lengths.tolist()):
        out.append([base_code(b, alphabet) for b in row[:n]] + [pad] * (L - n))
    return torch.tensor(out, dtype=torch.uint8).reshape(B, L)
