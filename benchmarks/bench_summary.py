"""How long ``summarize`` takes on 1M x 150 bp reads in memory (best of N).

    python benchmarks/bench_summary.py [--reads 1000000] [--repeats 5]

Target (issue 5): under a second for a million reads.  This used to be a timed
test; speed belongs here, where a loaded machine cannot fail the suite.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import deepbiop_gpu as dbg
from deepbiop_gpu.summary import summarize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--length", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n, length = args.reads, args.length
    total = n * length
    seqs = torch.from_numpy(np.frombuffer(b"ACGTN", np.uint8)[rng.integers(0, 5, total)])
    quals = torch.from_numpy(rng.integers(35, 75, total, dtype=np.uint8))
    offsets = torch.arange(0, total + 1, length, dtype=torch.int64)
    reads = dbg.PackedReads(seqs, offsets, quals, validate=False)
    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        summarize(reads)
        times.append(time.perf_counter() - t)
    print(f"summarize: {n:,} x {length} bp in {min(times):.3f} s (best of {args.repeats}; "
          f"all: {', '.join(f'{x:.3f}' for x in times)}); target < 1 s")


if __name__ == "__main__":
    main()
