"""Worker start-up with fork, spawn and forkserver, and what the dataset adds to it.

For a cached dataset of ``--reads`` reads (20 bases; built once in a
temporary directory from packed tensors) and for the same reads in memory:

* the bytes a worker receives for the dataset (``ForkingPickler`` while a
  process is being spawned, as the DataLoader does) and the time to pickle
  and unpickle them;
* per start method, in a fresh interpreter each time (the forkserver and the
  compiled loops are once per program, so a fresh process is what a user's
  first loader sees), the time from ``iter(loader)`` to the first batch with
  2 workers for:

  - *first loader*: the program's first loader (fork: includes loading the
    numba loops in this process; forkserver: includes starting the server,
    which imports torch and this package once);
  - *later epoch*: the same loader's next epoch (spawn and forkserver keep
    their workers by default; fork starts new ones, as torch does);
  - *new loader*: a second loader over the same dataset (new workers: forked
    from the preloaded server with forkserver, fresh interpreters with spawn);

  best of ``--repeats`` fresh processes;
* the import time of this package on top of torch's (best of 3).

Usage::

    python benchmarks/bench_spawn.py                     # writes benchmarks/results/spawn.md
    python benchmarks/bench_spawn.py --reads 100000 --no-write
"""

from __future__ import annotations

import argparse
import json
import multiprocessing.context
import pickle
import subprocess
import sys
import tempfile
import time
from multiprocessing.reduction import ForkingPickler
from pathlib import Path

import numpy as np
import torch

import deepbiop_gpu as dg
from deepbiop_gpu.cache import Cache

RESULTS = Path(__file__).parent / "results" / "spawn.md"
METHODS = ("fork", "spawn", "forkserver")
COLUMNS = ("first", "later", "new")


def in_memory(n: int) -> dg.Dataset:
    rng = np.random.default_rng(0)
    seq = torch.from_numpy(rng.choice(np.frombuffer(b"ACGT", np.uint8), n * 20))
    reads = dg.PackedReads(seq, torch.arange(0, n * 20 + 1, 20), seq.clone(),
                           names=[f"r{i}" for i in range(n)])  # fmt: skip
    return dg.Dataset.from_reads(reads)


def as_sent_to_a_worker(ds) -> tuple[int, float, float]:
    multiprocessing.context.set_spawning_popen(object())
    try:
        t = time.perf_counter()
        data = bytes(ForkingPickler.dumps(ds))
        dump = time.perf_counter() - t
    finally:
        multiprocessing.context.set_spawning_popen(None)
    t = time.perf_counter()
    pickle.loads(data)
    return len(data), dump, time.perf_counter() - t


def first_batch(loader) -> float:
    t = time.perf_counter()
    it = iter(loader)
    next(it)
    elapsed = time.perf_counter() - t
    it.close()  # leave the pass early: the next pass starts at once
    return elapsed


def one_process(source: str, method: str, n: int) -> dict[str, float]:
    """Run in a fresh interpreter: the three start-up times of ``method`` for ``source``."""
    ds = Cache.load(source) if source != "memory" else in_memory(n)

    def loader():
        return dg.DataLoader(ds, batch_size=256, shuffle=True, num_workers=2,
                             multiprocessing_context=method)

    first = loader()
    out = {"first": first_batch(first)}
    first.set_epoch(1)
    out["later"] = first_batch(first)
    second = loader()
    out["new"] = first_batch(second)
    first.close()
    second.close()
    return out


def start_times(source: str, n: int, method: str, repeats: int) -> dict[str, float]:
    best = dict.fromkeys(COLUMNS, float("inf"))
    for _ in range(repeats):
        cmd = [sys.executable, __file__, "--one", method, "--source", source, "--n", str(n)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        got = json.loads(out.stdout.strip().splitlines()[-1])
        best = {k: min(best[k], got[k]) for k in COLUMNS}
    return best


def import_cost() -> tuple[float, float]:
    """Best of 3 fresh-interpreter import times: torch alone, this package (with torch)."""
    def best(code: str) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t)
        return min(times)

    return best("import torch"), best("import deepbiop_gpu")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reads", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--one", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_process(args.source, args.one, args.n)))
        return
    n = args.reads
    memory = in_memory(n)
    tmp = tempfile.mkdtemp(prefix="bench_spawn")
    cache_dir = Cache.save(memory, Path(tmp) / "reads.cache")
    cached = Cache.load(cache_dir)
    rows = []
    for label, ds, source in (("cache", cached, str(cache_dir)), ("memory", memory, "memory")):
        size, dump, load = as_sent_to_a_worker(ds)
        times = {m: start_times(source, n, m, args.repeats) for m in METHODS}
        rows.append((label, size, dump, load, times))
        print(label, size, f"dump {dump * 1e3:.1f} ms, load {load * 1e3:.1f} ms",
              {m: {k: round(v, 3) for k, v in t.items()} for m, t in times.items()}, flush=True)
    torch_s, package_s = import_cost()
    print(f"import torch {torch_s:.2f} s, import deepbiop_gpu {package_s:.2f} s", flush=True)
    if args.no_write:
        return
    fmt = "{:.3f}".format
    lines = [
        "# Worker start-up: fork, spawn, forkserver",
        "",
        f"`python benchmarks/bench_spawn.py --reads {n} --repeats {args.repeats}`",
        "",
        f"{n:,} reads x 20 bases; DataLoader(batch_size=256, shuffle=True, num_workers=2). "
        "'sent' = bytes of the dataset as pickled for a spawned worker. Times: from "
        "iter(loader) to the first batch, in seconds, each start method in a fresh "
        f"interpreter, best of {args.repeats}: 'first' = the program's first loader, "
        "'later' = that loader's next epoch, 'new' = a second loader over the same dataset. "
        "Machine: 2 CPU cores shared with other jobs.",
        "",
        "| dataset | sent (bytes) | unpickle (ms) | fork first | fork later | fork new "
        "| spawn first | spawn later | spawn new "
        "| forkserver first | forkserver later | forkserver new |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[f"| {label} | {size:,} | {load * 1e3:.1f} | "
          + " | ".join(fmt(t[m][k]) for m in METHODS for k in COLUMNS) + " |"
          for label, size, dump, load, t in rows],
        "",
        f"Import, fresh interpreter, best of 3: `import torch` {torch_s:.2f} s, "
        f"`import deepbiop_gpu` (torch included) {package_s:.2f} s.",
        "",
    ]
    RESULTS.write_text("\n".join(lines))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
