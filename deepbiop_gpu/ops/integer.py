"""STUB: to be written (issue 3)."""

import torch


def integer(seqs, lengths, pad_value=-1):
    raise NotImplementedError("integer is not written yet")
