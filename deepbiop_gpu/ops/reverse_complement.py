"""STUB: to be written (issue 3)."""

import torch


def reverse_complement(seqs, lengths, apply=None, complement=True):
    raise NotImplementedError("reverse_complement is not written yet")
