"""Eager calls run an op's body directly; the registered op (what compiled graphs call) agrees."""

import subprocess
import sys

import torch
from batches import pack, random_reads

from deepbiop_gpu import ops


def test_eager_calls_skip_the_dispatcher():
    """An eager CPU call never enters the dispatcher (which imports torch._dynamo, ~1 s)."""
    code = (
        "import sys, torch\n"
        "from deepbiop_gpu import ops\n"
        "s = torch.tensor([list(b'ACGTN')], dtype=torch.uint8); n = torch.tensor([5])\n"
        "ops.one_hot(s, n); ops.mutate(s, n, 0.5, 1, torch.tensor([0])); ops.kmer_ids(s, n, 2)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_registered_ops_equal_the_eager_path():
    gen = torch.Generator().manual_seed(3)
    seqs, lengths = pack(random_reads(gen, 12, 50))
    index = torch.arange(12) * 7
    starts = torch.randint(0, 5, (12,), generator=gen)
    lengths32 = lengths.to(torch.int32)
    d = torch.ops.deepbiop_gpu
    pairs = [
        (ops.encode(seqs, lengths), d.encode(seqs, lengths)),
        (ops.integer(seqs, lengths, pad_value=-3), d.integer(seqs, lengths, -3)),
        (ops.one_hot(seqs, lengths, layout="NCL"), d.one_hot(seqs, lengths, torch.float32, "NCL", "zeros")),
        (ops.kmer_ids(seqs, lengths, 3, stride=2), d.kmer_ids(seqs, lengths, 3, 2, False, None)),
        (ops.kmer_counts(seqs, lengths, 2, canonical=True), d.kmer_counts(seqs, lengths, 2, True)),
        (ops.reverse_complement(seqs, lengths32), d.reverse_complement(seqs, lengths32, None, True)),
        (ops.take_windows(seqs, starts, lengths.clamp(max=20) - 0, 20),
         d.take_windows(seqs, starts, lengths.clamp(max=20), 20)),
    ]
    mutated = ops.mutate(seqs, lengths, 0.3, 5, index, 2)
    threshold = int(0.3 * 2**32)
    pairs.append((mutated, d.mutate(seqs, lengths, index, threshold, 5, 2)))
    for eager, registered in pairs:
        assert torch.equal(eager, registered)
    cropped = ops.crop(seqs, lengths, 10, mode="random", seed=1, index=index, epoch=4)
    for a, b in zip(cropped, d.crop(seqs, lengths, index, 10, "random", 1, 4)):
        assert torch.equal(a, b)
