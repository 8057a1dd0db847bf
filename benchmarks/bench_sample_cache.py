"""Processed-sample cache vs DeepBioP's format (``np.savez_compressed``): save and load.

DeepBioP's ``pytorch.save_cache(samples, "x.npz")`` writes every sample's
encoded sequence as its own array (``seq_0``, ``seq_1``, ...) with
``np.savez_compressed``; ``load_cache`` opens the archive with ``np.load``
and reads each array back.  Ours, :meth:`deepbiop_gpu.cache.Cache.save` of
the same samples, writes one ragged memory-mapped column per key, and
:meth:`Cache.load` maps them.

Measured on the same samples (one-hot ``float32 [150, 4]`` and integer
``int64 [150]`` encodings of synthetic NovaSeq-like 150 bp reads), best of
``--repeat`` runs, page cache warm for both formats:

* ``save``: write the cache;
* ``open``: ``np.load`` / ``Cache.load`` (what a training script does first);
* ``open + read all``: the above, then every sample's sequence read and
  summed (what one epoch touches).

Usage::

    python benchmarks/bench_sample_cache.py                 # -> benchmarks/results/sample_cache.md
    python benchmarks/bench_sample_cache.py --reads 2000 --out -   # quick, print only
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import machine_info, markdown_table, write_short_reads  # noqa: E402


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.iterdir())


def _compare(name: str, samples: list, fastq: Path, workdir: Path, repeat: int) -> list[list[str]]:
    """Save, open and read ``samples`` in DeepBioP's format and in ours: two table rows."""
    from deepbiop_gpu.cache import Cache

    npz = workdir / "deepbiop.npz"
    ours = workdir / "ours.samples"

    def save_npz():
        arrays = {f"seq_{i}": s["sequence"].numpy() for i, s in enumerate(samples)}
        np.savez_compressed(npz, **arrays, num_samples=len(samples))

    def save_ours():
        Cache.save(samples, ours, sources=[fastq])

    def open_npz():
        return np.load(npz)

    def read_npz():
        with np.load(npz) as z:
            return sum(float(z[f"seq_{i}"].sum()) for i in range(int(z["num_samples"])))

    def open_ours():
        return Cache.load(ours, [fastq])

    def read_ours():
        loaded = Cache.load(ours, [fastq])
        return sum(float(loaded[i]["sequence"].sum()) for i in range(len(loaded)))

    t_save_npz, t_save_ours = _best(save_npz, repeat), _best(save_ours, repeat)
    assert abs(read_npz() - read_ours()) < 1e-6  # the same samples in both
    t_open_npz, t_open_ours = _best(open_npz, repeat), _best(open_ours, repeat)
    t_read_npz, t_read_ours = _best(read_npz, repeat), _best(read_ours, repeat)

    def mib(p: Path) -> str:
        return f"{_dir_bytes(p) / 2**20:.1f}"

    return [
        [name, "np.savez_compressed (DeepBioP)", f"{t_save_npz:.2f}", f"{t_open_npz * 1e3:.1f}",
         f"{t_read_npz:.2f}", mib(npz), "1.0x"],
        [name, "Cache.save / Cache.load (ours)", f"{t_save_ours:.2f}", f"{t_open_ours * 1e3:.1f}",
         f"{t_read_ours:.2f}", mib(ours), f"{t_read_npz / t_read_ours:.1f}x"],
    ]  # fmt: skip


def run(n_reads: int, repeat: int, workdir: Path) -> tuple[list[list[str]], dict[str, str]]:
    import deepbiop_gpu as dg

    fastq = workdir / "reads.fastq"
    write_short_reads(fastq, n_reads)
    rows = []
    for name, encoder in (
        ("one-hot float32 [150, 4]", dg.OneHotEncoder()),
        ("integer int64 [150]", dg.IntegerEncoder()),
    ):
        ds = dg.Dataset(fastq, transform=encoder)
        rows += _compare(name, [ds[i] for i in range(len(ds))], fastq, workdir, repeat)
    return rows, machine_info(["torch", "numpy"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reads", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--out", default=str(HERE / "results" / "sample_cache.md"), help="'-' to print only"
    )
    args = ap.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench_sample_cache-"))
    try:
        rows, info = run(args.reads, args.repeat, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    table = markdown_table(
        ["samples", "format", "save (s)", "open (ms)", "open + read all (s)", "size (MiB)", "read-all speed-up"],
        rows, "llrrrrr",
    )  # fmt: skip
    command = f"python benchmarks/bench_sample_cache.py --reads {args.reads} --repeat {args.repeat}"
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    machine = "\n".join(f"- {k}: {v}" for k, v in info.items())
    text = (
        f"# Processed-sample cache vs np.savez_compressed\n\nGenerated by `benchmarks/bench_sample_cache.py` "
        f"on {stamp}.\n\nCommand (from the repository root):\n\n```\n{command}\n```\n\n"
        f"{args.reads:,} synthetic NovaSeq-like reads of 150 bp, each encoded per sample "
        "(`Dataset(..., transform=encoder)[i]`); the same list of samples saved in both formats. "
        f"Best of {args.repeat} runs; the page cache is warm for both.  `open + read all` opens "
        "the cache and reads (sums) every sample's sequence.\n\n"
        f"{table}\n\n## Machine\n\n{machine}\n"
    )
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
        print(text)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
