"""STUB: to be written (issue 3)."""

import torch


def one_hot(seqs, lengths, dtype=torch.float32, layout="NLC", unknown="zeros"):
    raise NotImplementedError("one_hot is not written yet")
