"""Every registered op with inputs in unusual layouts, for ``torch.library.opcheck``.

Column-major ``[B, L]`` batches and slices (row steps, column windows of a
wider buffer, strided lengths and indices) are valid inputs; the fake
implementations must give the real implementations' shapes *and* strides
(issue 17, finding 7).  Used by the CPU lane (tests/ops) and the Triton
interpreter lane (tests/kernels).
"""

from __future__ import annotations

import torch
from batches import pack, random_reads

LAYOUTS = ("contiguous", "column-major", "sliced")


def layout_batch(layout: str, device: torch.device | str = "cpu"):
    """``(seqs uint8 [6, 21], lengths int64 [6], index int64 [6])`` in the given layout."""
    gen = torch.Generator().manual_seed(71)
    wide, wide_lengths = pack(random_reads(gen, 12, 25, min_len=18), 25)
    index = torch.arange(12) * 5 + 1
    if layout == "sliced":  # every other row, columns 2..22 of a wider buffer
        seqs = wide[::2, 2:23]
        lengths = (wide_lengths[::2] - 2).clamp(0, 21)
        index = index[::2]
    else:
        seqs = wide[:6, :21].contiguous()
        lengths = wide_lengths[:6].clamp(max=21)
        index = index[:6].contiguous()
        if layout == "column-major":
            seqs = seqs.t().contiguous().t()
    return seqs.to(device), lengths.to(device), index.to(device)


def op_cases(seqs: torch.Tensor, lengths: torch.Tensor, index: torch.Tensor):
    """``(name, op overload, args)`` for every registered op."""
    d = torch.ops.deepbiop_gpu
    lengths32 = lengths.to(torch.int32)
    starts = index % 3
    apply = (index % 2) == 0
    threshold = int(0.3 * 2**32)
    return [
        ("encode", d.encode.default, (seqs, lengths)),
        ("integer", d.integer.default, (seqs, lengths, -3)),
        ("one_hot NCL", d.one_hot.default, (seqs, lengths, torch.float32, "NCL", "zeros")),
        ("one_hot NLC", d.one_hot.default, (seqs, lengths, torch.float16, "NLC", "uniform")),
        ("kmer_ids", d.kmer_ids.default, (seqs, lengths, 3, 2, True, 50)),
        ("kmer_counts", d.kmer_counts.default, (seqs, lengths, 2, False)),
        ("reverse_complement", d.reverse_complement.default, (seqs, lengths32, apply, True)),
        ("mutate", d.mutate.default, (seqs, lengths, index, threshold, 5, 2)),
        ("crop", d.crop.default, (seqs, lengths, index, 9, "random", 1, 3)),
        ("take_windows", d.take_windows.default, (seqs, starts, lengths.clamp(max=8), 8)),
        ("take_windows float", d.take_windows.default,
         (seqs.float(), starts, lengths.clamp(max=8), 8)),
        ("bernoulli_gate", d.bernoulli_gate.default, (index, threshold, 7, 1, 3)),
    ]
