"""Variable-length batching: padding shipped and encoded, and throughput, per batching mode.

Two inputs: the bundled lambda phage ONT reads (236 reads, 443 b - 12 kb)
and a synthetic mix (``--long`` log-normal reads around 8 kb, sigma 0.5,
plus ``--short`` reads of 150 bp; random bases).  Three ways to batch one
shuffled epoch, each through ``Compose([Mutator(0.01), OneHotEncoder()])``
on the CPU (``num_workers=0``):

* fixed: ``batch_size=--batch-size``, padded to each batch's longest read;
* buckets: ``max_tokens=--max-tokens`` (padded, ``B x Lmax <= N``);
* packed: ``max_tokens=--max-tokens, layout="packed"``.

"shipped" = positions in the delivered ``sequences`` per real base;
"encoded" = positions the transform ran on per real base (the packed layout
encodes the padded, bucketed batch and then gathers the valid positions, so
its encoded figure is that of its buckets).  Throughput is the best of
``--epochs`` epochs (the machine is shared).

Usage::

    python benchmarks/bench_varlen.py            # appends to benchmarks/results/varlen.md
    python benchmarks/bench_varlen.py --quick    # small, prints only
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from deepbiop_gpu import Compose, DataLoader, Dataset, Mutator, OneHotEncoder, PackedReads
from deepbiop_gpu.example_data import example_files

RESULTS = Path(__file__).parent / "results" / "varlen.md"


def synthetic_mix(n_long: int, n_short: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    lengths = np.concatenate([rng.lognormal(np.log(8000), 0.5, n_long).astype(np.int64).clip(1),
                              np.full(n_short, 150, dtype=np.int64)])
    rng.shuffle(lengths)
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    seqs = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, int(offsets[-1]))]
    reads = PackedReads(torch.from_numpy(seqs.copy()), torch.from_numpy(offsets),
                        names=[f"r{i}" for i in range(len(lengths))])
    return Dataset.from_reads(reads)


def measure(ds: Dataset, mode: str, batch_size: int, max_tokens: int, epochs: int) -> dict:
    transform = Compose([Mutator(0.01, seed=1), OneHotEncoder()])
    kw = {"fixed": dict(batch_size=batch_size), "buckets": dict(max_tokens=max_tokens),
          "packed": dict(max_tokens=max_tokens, layout="packed")}[mode]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reads longer than max_tokens: batches of their own
        loader = DataLoader(ds, shuffle=True, seed=0, transform=transform, **kw)
    real = ds.reads.total_bases
    next(iter(loader))  # warm-up: numba compiles
    times, shipped, encoded, batches = [], 0, 0, 0
    for _ in range(epochs):
        shipped = encoded = batches = 0
        t = time.perf_counter()
        for batch in loader:
            seqs = batch["sequences"]
            batches += 1
            if "cu_seqlens" in batch:
                shipped += seqs.shape[0]
                n = batch["lengths"].to(torch.int64)
                encoded += len(n) * (-(-int(n.max()) // 8) * 8)  # the padded batch it was encoded in
            else:
                shipped += seqs.shape[0] * seqs.shape[1]
                encoded += seqs.shape[0] * seqs.shape[1]
        times.append(time.perf_counter() - t)
    best = min(times)
    return dict(mode=mode, batches=batches, shipped=shipped / real, encoded=encoded / real,
                reads_s=len(ds) / best, bases_s=real / best, times=times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--long", type=int, default=2000)
    parser.add_argument("--short", type=int, default=20000)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=131072)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.long, args.short, args.epochs = 200, 2000, 1
    inputs = {
        "lambda phage ONT (bundled)": Dataset(example_files()["lambda phage (ONT)"]),
        f"synthetic: {args.long:,} x log-normal ~8 kb + {args.short:,} x 150 bp": synthetic_mix(args.long, args.short),
    }
    lines = [
        "",
        f"## Variable-length batching ({time.strftime('%Y-%m-%d')})",
        "",
        f"`python benchmarks/bench_varlen.py{' --quick' if args.quick else ''}` on {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, Python {sys.version.split()[0]}, torch {torch.__version__}; "
        f"`Compose([Mutator(0.01), OneHotEncoder()])`, CPU, `num_workers=0`; fixed = `batch_size={args.batch_size}`, "
        f"buckets / packed = `max_tokens={args.max_tokens}`; best of {args.epochs} epoch(s).",
        "",
        "| input | batching | batches | positions shipped / real base | positions encoded / real base "
        "| reads/s | bases/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, ds in inputs.items():
        for mode in ("fixed", "buckets", "packed"):
            r = measure(ds, mode, args.batch_size, args.max_tokens, args.epochs)
            row = (f"| {name} ({len(ds):,} reads, {ds.reads.total_bases / 1e6:.1f} Mb) | {mode} | {r['batches']} "
                   f"| {r['shipped']:.3f} | {r['encoded']:.3f} | {r['reads_s']:,.0f} | {r['bases_s'] / 1e6:.1f} M |")
            print(row, "epochs (s):", ", ".join(f"{t:.2f}" for t in r["times"]), flush=True)
            lines.append(row)
    if not args.quick:
        with RESULTS.open("a") as f:
            f.write("\n".join(lines) + "\n")
        print(f"appended to {RESULTS}")


if __name__ == "__main__":
    main()
