"""Parallel cache builds: ``Cache.build(..., num_workers=N)`` against the serial build.

Two inputs, generated into a temporary directory (plain FASTQ, 150 bp reads,
NovaSeq-like 40-character names, 4-line records):

* 4 files of ``--reads`` reads each: the files are parsed in parallel;
* the same 4 files gzip-compressed (level 1): decompressed in parallel;
* 1 file of 4 x ``--reads`` reads: cut into byte ranges of ``--piece-mb`` MiB
  (the default piece size is 64 MiB; smaller here so a small file splits);
* the same file BGZF-compressed (pysam), cut at block boundaries.

Besides the wall time, the CPU seconds of the build process and of its
workers are measured (``getrusage``): they show how the work is split, and
what a machine whose cores are busy with other jobs cannot give back.

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
import resource
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


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def best_time(fn, repeats: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, CPU seconds of its workers) of the fastest run."""
    fn()
    runs = []
    for _ in range(repeats):
        own, kids = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - t, _cpu(resource.RUSAGE_SELF) - own,
                     _cpu(resource.RUSAGE_CHILDREN) - kids))  # fmt: skip
    return min(runs)


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
        inputs_by_label = [("4 files", four), ("4 gzip files", gz), ("1 large file", [big])]
        try:
            import pysam

            pysam.tabix_compress(str(big), str(big) + ".bgz", force=True)
            inputs_by_label.append(("1 large BGZF file", [Path(str(big) + ".bgz")]))
        except ImportError:  # pragma: no cover
            pass
        load_before = os.getloadavg()[0]
        rows = []
        for label, inputs in inputs_by_label:
            reference = None
            serial = None
            for workers in [0, *args.workers]:
                target = tmp / f"cache-{workers}"
                t, own, kids = best_time(lambda: Cache.build(inputs, target, num_workers=workers), args.repeats)
                reads = Cache.load(target).reads
                if reference is None:
                    reference, serial = reads, t
                assert reads.equals(reference), (label, workers)
                rows.append((label, workers, t, size / t / 1e6, serial / t, own, kids))
                print(f"{label:>17}  num_workers={workers}  {t:6.2f} s  {size / t / 1e6:6.1f} MB/s  x{serial / t:.2f}"
                      f"  cpu {own:.2f} + {kids:.2f} s", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()[0]
    if args.no_write:
        return
    lines = [
        "# Parallel cache builds",
        "",
        f"`python benchmarks/bench_build.py --reads {args.reads} --workers {' '.join(map(str, args.workers))} "
        f"--piece-mb {args.piece_mb:g} --repeats {args.repeats}`",
        "",
        f"{4 * args.reads:,} reads x 150 bp, {size / 1e6:.0f} MB of plain FASTQ, as 4 files, 4 gzip files, 1 file "
        f"or 1 BGZF file (both cut into {args.piece_mb:g} MiB byte ranges); `Cache.build(..., num_workers=N)`, "
        f"best of {args.repeats} after a warm-up; every parallel cache checked equal to the serial one. "
        f"Machine: {os.cpu_count()} CPU cores, shared with other jobs (load average {load_before:.1f} before, "
        f"{load_after:.1f} after). CPU: seconds used by the build process + by its worker processes.",
        "",
        "| input | num_workers | time (s) | MB/s | speed-up | CPU (s) |",
        "|---|---|---|---|---|---|",
        *[f"| {a} | {w} | {t:.2f} | {r:.1f} | {s:.2f}x | {o:.2f} + {k:.2f} |" for a, w, t, r, s, o, k in rows],
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
