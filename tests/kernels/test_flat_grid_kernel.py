"""Flat grids: tiles that span several row blocks *and* several column blocks (issue 17).

The grids are one-dimensional (axis 0 numbers the tiles row block by row
block; the kernels recover both block numbers with ``//`` and ``%``).  These
batches are the smallest that give every kernel more than one block in each
direction, so a wrong mapping shows up as wrong bytes.
"""

import torch
from batches import pack, random_reads

from deepbiop_gpu import ops


def test_several_row_and_column_blocks(kdevice, monkeypatch):
    gen = torch.Generator().manual_seed(6)
    # L = 1100 > 1024 columns per tile; 4 rows per tile: 3 row blocks x 2 column blocks
    seqs, lengths = pack(random_reads(gen, 9, 1100, min_len=900))
    index = torch.arange(9) * 5
    monkeypatch.setenv("DEEPBIOP_GPU_FORCE_TRITON", "0")  # the reference: CPU path
    want = {
        "encode": ops.encode(seqs, lengths),
        "integer": ops.integer(seqs, lengths, pad_value=-2),
        "one_hot": ops.one_hot(seqs, lengths, layout="NCL"),
        "rc": ops.reverse_complement(seqs, lengths),
        "kmer": ops.kmer_ids(seqs, lengths, 5),
        "crop": ops.crop(seqs, lengths, 1050, mode="random", seed=3, index=index, epoch=1),
    }
    monkeypatch.undo()
    if kdevice.type == "cpu":
        monkeypatch.setenv("DEEPBIOP_GPU_FORCE_TRITON", "1")
    s, n, i = seqs.to(kdevice), lengths.to(kdevice), index.to(kdevice)
    got = {
        "encode": ops.encode(s, n),
        "integer": ops.integer(s, n, pad_value=-2),
        "one_hot": ops.one_hot(s, n, layout="NCL"),
        "rc": ops.reverse_complement(s, n),
        "kmer": ops.kmer_ids(s, n, 5),
        "crop": ops.crop(s, n, 1050, mode="random", seed=3, index=i, epoch=1),
    }
    for name in want:
        w, g = want[name], got[name]
        for a, b in zip(g if isinstance(g, tuple) else (g,), w if isinstance(w, tuple) else (w,)):
            assert torch.equal(a.cpu(), b), name


def test_mutate_several_draw_blocks(kdevice, monkeypatch):
    gen = torch.Generator().manual_seed(7)
    # L = 4300: 1075 draws of 4 positions > 1024 per tile: 3 row blocks x 2 column blocks
    seqs, lengths = pack(random_reads(gen, 3, 4300, min_len=4200))
    index = torch.tensor([0, 9, 2**33])
    monkeypatch.setenv("DEEPBIOP_GPU_FORCE_TRITON", "0")
    want = ops.mutate(seqs, lengths, 0.3, 11, index, 2)
    monkeypatch.undo()
    if kdevice.type == "cpu":
        monkeypatch.setenv("DEEPBIOP_GPU_FORCE_TRITON", "1")
    got = ops.mutate(seqs.to(kdevice), lengths.to(kdevice), 0.3, 11, index.to(kdevice), 2)
    assert torch.equal(got.cpu(), want)
