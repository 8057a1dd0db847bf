"""Parallel cache builds: ``Cache.build(..., num_workers=N)`` against the serial build.

Two inputs, generated into a temporary directory (plain FASTQ, 150 bp reads,
NovaSeq-like 40-character names, 4-line records):

* 4 files of ``--reads`` reads each: the files are parsed in parallel;
* the same 4 files gzip-compressed (level 1): decompressed in parallel;
* 1 file of 4 x ``--reads`` reads: cut into byte ranges of ``--piece-mb`` MiB
  (the default piece size is 64 MiB; smaller here so a small file splits).

Each configuration runs ``--repeats`` times after one warm-up (page cache,
compiled loops); the best time counts.  The built caches are checked to be
identical to the serial one.  The speed-up is bounded by the cores the
machine really gives the workers.

Usage::

    python benchmarks/bench_build.py                      # writes benchmarks/results/build.md
    python benchmarks/bench_build.py --reads 50000 --no-write
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from deepbiop_gpu import parallel_build
from deepbiop_gpu.cache import Cache

RESULTS = Path(__file__).parent / "results" / "build.md"


def write_fastq(path: Path, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    L, H = 150, 40
    rec = np.empty((n, H + 1 + L + 3 + L + 1), np.uint8)
    rec[:, :H] = np.frombuffer(b"@A00123:8:H5KJ2DSXY:1:1101:", np.uint8).tolist() + [48] * (H - 27)
    idx = np.arange(n)
    for d in range(9):
        rec[:, H - 1 - d] = 48 + (idx // 10**d) % 10
    rec[:, H] = 10
    rec[:, H + 1 : H + 1 + L] = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, L))]
    q = H + 1 + L
    rec[:, q : q + 3] = np.frombuffer(b"\n+\n", np.uint8)
    rec[:, q + 3 : q + 3 + L] = np.frombuffer(b"F:,", np.uint8)[rng.integers(0, 3, (n, L))]
    rec[:, -1] = 10
    rec.tofile(path)


def best_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=200_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--piece-mb", type=float, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    parallel_build.PIECE_BYTES = int(args.piece_mb * (1 << 20))
    tmp = Path(tempfile.mkdtemp(prefix="bench_build"))
    try:
        four = [tmp / f"part{i}.fastq" for i in range(4)]
        for i, p in enumerate(four):
            write_fastq(p, args.reads, i)
        gz = []
        for p in four:  # gzip: decompression is the work workers share
            out = p.with_suffix(".fastq.gz")
            with gzip.open(out, "wb", compresslevel=1) as fh:
                fh.write(p.read_bytes())
            gz.append(out)
        big = tmp / "big.fastq"
        with open(big, "wb") as out:
            for p in four:
                out.write(p.read_bytes())
        size = sum(p.stat().st_size for p in four)
        rows = []
        for label, inputs in (("4 files", four), ("4 gzip files", gz), ("1 large file", [big])):
            reference = None
            serial = None
            for workers in [0, *args.workers]:
                target = tmp / f"cache-{workers}"
                t = best_time(lambda: Cache.build(inputs, target, num_workers=workers), args.repeats)
                reads = Cache.load(target).reads
                if reference is None:
                    reference, serial = reads, t
                assert reads.equals(reference), (label, workers)
                rows.append((label, workers, t, size / t / 1e6, serial / t))
                print(f"{label:>13}  num_workers={workers}  {t:6.2f} s  {size / t / 1e6:6.1f} MB/s  x{serial / t:.2f}",
                      flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.no_write:
        return
    lines = [
        "# Parallel cache builds",
        "",
        f"`python benchmarks/bench_build.py --reads {args.reads} --workers {' '.join(map(str, args.workers))} "
        f"--piece-mb {args.piece_mb:g} --repeats {args.repeats}`",
        "",
        f"{4 * args.reads:,} reads x 150 bp, {size / 1e6:.0f} MB of plain FASTQ, as 4 files, 4 gzip files or 1 file cut into "
        f"{args.piece_mb:g} MiB byte ranges; `Cache.build(..., num_workers=N)`, best of {args.repeats} after a "
        f"warm-up; every parallel cache checked equal to the serial one. Machine: {os.cpu_count()} CPU cores, "
        "mostly idle while this ran.",
        "",
        "| input | num_workers | time (s) | MB/s | speed-up |",
        "|---|---|---|---|---|",
        *[f"| {a} | {w} | {t:.2f} | {r:.1f} | {s:.2f}x |" for a, w, t, r, s in rows],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
