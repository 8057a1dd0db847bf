"""Helpers shared by the benchmark scripts (ops, loader, GPU check).

* :func:`machine_info`: CPU / GPU, core count, load, library versions, git sha;
* :func:`measure`: interleaved CPU timing of several providers, per-call
  samples, quantiles (p50 / p20 / p80, as Liger-Kernel's benchmarks report);
* :func:`append_csv`: one row per (op, provider, shape) appended to a CSV;
* :func:`short_fastq`: the 1M x 150 bp FASTQ (plain / gzip) that
  ``bench_io.py`` generates under ``benchmarks/_data/`` (reused, or generated
  with the same generator when absent);
* :func:`markdown_table`.

Nothing here imports ``deepbiop_gpu``, pysam, isal or numba at module level,
so ``gpu_check.py`` can use it on a bare CUDA machine.
"""

from __future__ import annotations

import csv
import datetime as _dt
import gc
import gzip
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "_data"
RESULTS = HERE / "results"

QUANTILES = (0.5, 0.2, 0.8)  # p50, p20, p80 (Liger-Kernel's order)


# ------------------------------------------------------------------ machine
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"
    except Exception:  # noqa: BLE001
        return "?"


def git_sha() -> str:
    """Short sha of HEAD, ``+dirty`` when the library's files differ from it."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            [
                "git",
                "status",
                "--porcelain",
                "--untracked-files=no",
                "--",
                "deepbiop_gpu/ops",
                "deepbiop_gpu/data",
                "deepbiop_gpu/transforms",
                "kernels",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return (sha or "unknown") + ("+dirty" if dirty else "")
    except Exception:  # noqa: BLE001 - no git on the machine, or not a checkout
        return "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def machine_info(packages: Sequence[str] = ()) -> dict[str, str]:
    """Where and with what a benchmark ran (strings only: goes into CSV and markdown)."""
    import torch

    info = {
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "host_cpu": cpu_model(),
        "nproc": str(os.cpu_count()),
        "torch_threads": str(torch.get_num_threads()),
        "os": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "git": git_sha(),
        "load": load_average(),
    }
    try:
        mem = Path("/proc/meminfo").read_text().split("\n")[0].split()[1]
        info["memory_gib"] = f"{int(mem) / 2**20:.1f}"
    except Exception:  # noqa: BLE001
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = str(torch.version.cuda)
    for name in packages:
        info[name] = dist_version(name)
    return info


def versions_string(info: Mapping[str, str], keys: Iterable[str]) -> str:
    return ", ".join(f"{k} {info[k]}" for k in keys if k in info)


# ------------------------------------------------------------------- timing
@contextmanager
def env(**values: str | None):
    """Set (or, with None, remove) environment variables for the duration."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class Provider:
    """One implementation under test: ``fn()`` runs it once; ``environ`` is set around it."""

    name: str
    fn: Callable[[], object]
    environ: dict[str, str | None] = field(default_factory=dict)
    baseline: bool = False  # a user's alternative (vs. ours / a ceiling)
    note: str = ""


@dataclass
class Timing:
    samples_ms: list[float]

    def q(self, p: float) -> float:
        return float(np.quantile(np.asarray(self.samples_ms), p))

    @property
    def p50(self) -> float:
        return self.q(0.5)

    @property
    def p20(self) -> float:
        return self.q(0.2)

    @property
    def p80(self) -> float:
        return self.q(0.8)

    @property
    def n(self) -> int:
        return len(self.samples_ms)


def measure(
    providers: Sequence[Provider],
    *,
    rounds: int = 7,
    round_s: float = 0.15,
    max_reps: int = 200,
    warmup: int = 2,
) -> dict[str, Timing]:
    """Per-call CPU times (ms) of each provider, interleaved round-robin.

    Each provider is warmed up (``warmup`` calls), then ``rounds`` times in
    turn runs for about ``round_s`` seconds (at least one call, at most
    ``max_reps``), every call timed on its own; background load on a shared
    machine therefore hits every provider alike.  The garbage collector is
    paused while a provider runs (collected between rounds).
    """
    for p in providers:
        with env(**p.environ):
            for _ in range(warmup):
                p.fn()
    samples: dict[str, list[float]] = {p.name: [] for p in providers}
    clock = time.perf_counter
    for _ in range(rounds):
        for p in providers:
            gc.collect()
            gc.disable()
            try:
                with env(**p.environ):
                    fn, out = p.fn, samples[p.name]
                    start = clock()
                    reps = 0
                    while reps < max_reps and (reps == 0 or clock() - start < round_s):
                        t = clock()
                        fn()
                        out.append((clock() - t) * 1e3)
                        reps += 1
            finally:
                gc.enable()
    return {name: Timing(s) for name, s in samples.items()}


# ---------------------------------------------------------------------- CSV
CSV_FIELDS = (
    "op",
    "provider",
    "shape",
    "p50_ms",
    "p20_ms",
    "p80_ms",
    "n",
    "device",
    "versions",
    "git_sha",
    "timestamp",
)


def append_csv(path: Path, rows: Iterable[Mapping[str, object]]) -> None:
    """Append rows (keys :data:`CSV_FIELDS`) to ``path``, writing the header once."""
    path.parent.mkdir(parents=True, exist_ok=True)
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_FIELDS, extrasaction="ignore")
        if new:
            w.writeheader()
        for row in rows:
            w.writerow(row)


def markdown_table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> str:
    """A GitHub table; ``align`` is one letter per column (l or r), default l then r."""
    header = list(header)
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------- data
def write_short_reads(path: Path, n: int, length: int = 150, seed: int = 1) -> None:
    """``n`` NovaSeq-like reads of ``length`` bp (ids, ~0.2% N, binned qualities) into ``path``."""
    rng = np.random.default_rng(seed)
    bases = np.frombuffer(b"ACGT", dtype=np.uint8)
    qual_levels = np.frombuffer(b"F:,#", dtype=np.uint8)
    with open(path, "wb") as out:
        for start in range(0, n, 100_000):
            k = min(100_000, n - start)
            seq = bases[rng.integers(0, 4, (k, length))]
            seq[rng.random((k, length)) < 0.002] = ord("N")
            qual = qual_levels[rng.choice(4, (k, length), p=[0.86, 0.09, 0.04, 0.01])]
            tiles = rng.integers(1101, 2678, k)
            xs = rng.integers(1000, 32000, k)
            ys = rng.integers(1000, 37000, k)
            parts = []
            for i in range(k):
                parts.append(
                    b"@A00129:183:H77K2DMXX:1:%d:%d:%d 1:N:0:CAATGGAA+CGAGGCTG\n%s\n+\n%s\n"
                    % (tiles[i], xs[i], ys[i], seq[i].tobytes(), qual[i].tobytes())
                )
            out.write(b"".join(parts))


def write_short_fastq(path: Path, n: int, length: int = 150) -> None:
    """Generate ``n`` reads of ``length`` bp into ``path`` (plain), with numpy only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    write_short_reads(tmp, n, length)
    tmp.rename(path)


def gzip_file(src: Path, dst: Path, level: int = 6) -> None:
    tmp = dst.with_name(dst.name + ".tmp")
    with open(src, "rb") as fin, gzip.open(tmp, "wb", compresslevel=level) as fout:
        while block := fin.read(1 << 24):
            fout.write(block)
    tmp.rename(dst)


def short_fastq(n: int = 1_000_000, gz: bool = False, directory: Path = DATA) -> Path:
    """The ``n`` x 150 bp FASTQ of ``bench_io.py`` (``short_1M.fastq[.gz]``), made if absent."""
    tag = "1M" if n == 1_000_000 else str(n)
    plain = directory / f"short_{tag}.fastq"
    target = directory / f"short_{tag}.fastq.gz" if gz else plain
    if target.exists():
        return target
    if not plain.exists():
        print(f"generating {plain} ({n} reads) ...", file=sys.stderr, flush=True)
        write_short_fastq(plain, n)
    if gz:
        print(f"compressing {target} ...", file=sys.stderr, flush=True)
        gzip_file(plain, target)
    return target


def fmt_ms(x: float) -> str:
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    if x >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"
