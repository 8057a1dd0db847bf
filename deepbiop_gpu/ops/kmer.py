"""STUB: to be written (issue 3)."""

import torch


def kmer_ids(seqs, lengths, k, stride=1, canonical=False, buckets=None):
    raise NotImplementedError("kmer_ids is not written yet")


def kmer_counts(seqs, lengths, k, canonical=False):
    raise NotImplementedError("kmer_counts is not written yet")
