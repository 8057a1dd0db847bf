"""STUB: to be written (issue 3)."""

import torch


def mutate(seqs, lengths, rate, seed, index, epoch=0):
    raise NotImplementedError("mutate is not written yet")
