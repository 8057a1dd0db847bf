"""Filter / dedup / subsample / convert throughput against fastp, seqkit, samtools and dnaio.

Every case reads the 1M x 150 bp gzip FASTQ of ``bench_io.py`` and writes
gzip at compression level 1 on every side (ISA-L for deepbiop_gpu and dnaio
via xopen, zlib level 1 for fastp / seqkit / samtools), with 2 threads where
a tool takes a thread count.  Each run is its own process: wall seconds,
reads in per second, and the peak RSS of that process (``wait4``).

The external tools come from the system package manager::

    apt-get install -y fastp seqkit samtools     # Debian / Ubuntu
    pip install dnaio                            # the Python baseline (with isal)

and are skipped with a note when absent.  The in-memory ``Dataset.filter``
rate is measured in this process on the loaded reads.

Usage: ``python benchmarks/bench_filters.py [--reads 1000000] [--repeats 1]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

LEVEL = 1
THREADS = 2

OURS = """
import sys
from deepbiop_gpu import filter_file
crit = {crit}
filter_file(sys.argv[1], sys.argv[2], level={level}, **crit)
"""

DNAIO = """
import sys, random
import dnaio
mode = {mode!r}
seen = set()
rng = random.Random(11)
out = dnaio.open(sys.argv[2], mode="w", compression_level={level})
with dnaio.open(sys.argv[1]) as reader, out as writer:
    for rec in reader:
        if mode == "lenqual":
            q = rec.qualities
            if len(rec.sequence) < 100 or sum(q.encode()) / max(len(q), 1) - 33 < 20:
                continue
        elif mode == "dedup":
            if rec.sequence in seen:
                continue
            seen.add(rec.sequence)
        elif mode == "subsample":
            if rng.random() >= 0.1:
                continue
        writer.write(rec)
"""


def run(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    err = proc.stderr.read().decode() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def count_reads(path: Path) -> int:
    from deepbiop_gpu import iter_chunks

    return sum(len(c) for c in iter_chunks(path, 200_000))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=1, help="runs per case (the best counts)")
    ap.add_argument("--out", type=Path, default=_common.RESULTS / "filters.md")
    args = ap.parse_args()

    src = _common.short_fastq(args.reads, gz=True)
    n = args.reads
    tmp = Path(tempfile.mkdtemp(prefix="bench_filters_"))
    py = sys.executable
    have = {t: shutil.which(t) for t in ("fastp", "seqkit", "samtools")}
    try:
        import dnaio  # noqa: F401

        have["dnaio"] = "dnaio"
    except ImportError:
        have["dnaio"] = None
    notes = [f"{t} not installed: skipped" for t, p in have.items() if p is None]

    def ours(crit: str) -> list[str]:
        return [py, "-c", OURS.format(crit=crit, level=LEVEL), str(src), str(tmp / "ours.fq.gz")]

    def dnaio_cmd(mode: str) -> list[str]:
        return [py, "-c", DNAIO.format(mode=mode, level=LEVEL), str(src), str(tmp / "dnaio.fq.gz")]

    fastp_base = [
        "fastp",
        "-i",
        str(src),
        "-o",
        str(tmp / "fastp.fq.gz"),
        "-w",
        str(THREADS),
        "-z",
        str(LEVEL),
        "-A",
        "-G",
        "-j",
        "/dev/null",
        "-h",
        "/dev/null",
    ]
    cases: list[tuple[str, str, list[str] | None, Path]] = [
        (
            "length >= 100 + mean quality >= 20",
            "deepbiop_gpu filter_file",
            ours("dict(min_length=100, min_quality=20, quality_mean='arithmetic')"),
            tmp / "ours.fq.gz",
        ),
        (
            "length >= 100 + mean quality >= 20",
            "fastp -l 100 -e 20",
            fastp_base + ["-l", "100", "-e", "20", "-n", "50", "-u", "100"]
            if have["fastp"]
            else None,
            tmp / "fastp.fq.gz",
        ),
        (
            "length >= 100 + mean quality >= 20",
            "seqkit seq -m 100 -Q 20",
            [
                "seqkit",
                "seq",
                "-j",
                str(THREADS),
                "-m",
                "100",
                "-Q",
                "20",
                str(src),
                "-o",
                str(tmp / "seqkit.fq.gz"),
            ]
            if have["seqkit"]
            else None,
            tmp / "seqkit.fq.gz",
        ),
        (
            "length >= 100 + mean quality >= 20",
            "dnaio + isal script",
            dnaio_cmd("lenqual") if have["dnaio"] else None,
            tmp / "dnaio.fq.gz",
        ),
        (
            "dedup (exact sequence)",
            "deepbiop_gpu filter_file",
            ours("dict(dedup='exact')"),
            tmp / "ours.fq.gz",
        ),
        (
            "dedup (exact sequence)",
            "fastp --dedup",
            fastp_base + ["--dedup", "-Q", "-L"] if have["fastp"] else None,
            tmp / "fastp.fq.gz",
        ),
        (
            "dedup (exact sequence)",
            "seqkit rmdup -s",
            ["seqkit", "rmdup", "-j", str(THREADS), "-s", str(src), "-o", str(tmp / "seqkit.fq.gz")]
            if have["seqkit"]
            else None,
            tmp / "seqkit.fq.gz",
        ),
        (
            "dedup (exact sequence)",
            "dnaio + isal script",
            dnaio_cmd("dedup") if have["dnaio"] else None,
            tmp / "dnaio.fq.gz",
        ),
        (
            "subsample p = 0.1",
            "deepbiop_gpu filter_file",
            ours("dict(subsample=0.1, seed=11)"),
            tmp / "ours.fq.gz",
        ),
        (
            "subsample p = 0.1",
            "seqkit sample -p 0.1",
            [
                "seqkit",
                "sample",
                "-j",
                str(THREADS),
                "-p",
                "0.1",
                "-s",
                "11",
                str(src),
                "-o",
                str(tmp / "seqkit.fq.gz"),
            ]
            if have["seqkit"]
            else None,
            tmp / "seqkit.fq.gz",
        ),
        (
            "subsample p = 0.1",
            "dnaio + isal script",
            dnaio_cmd("subsample") if have["dnaio"] else None,
            tmp / "dnaio.fq.gz",
        ),
    ]
    bam = tmp / "reads.bam"
    if have["samtools"]:
        subprocess.run(
            ["samtools", "import", "-@", str(THREADS), "-0", str(src), "-o", str(bam)], check=True
        )
        cases += [
            (
                "convert BAM -> FASTQ.gz",
                "deepbiop-gpu convert",
                [
                    py,
                    "-m",
                    "deepbiop_gpu.cli",
                    "convert",
                    str(bam),
                    "-o",
                    str(tmp / "ours.fq.gz"),
                    "--level",
                    str(LEVEL),
                    "-q",
                ],
                tmp / "ours.fq.gz",
            ),
            (
                "convert BAM -> FASTQ.gz",
                "samtools fastq",
                [
                    "samtools",
                    "fastq",
                    "-@",
                    str(THREADS),
                    "-c",
                    str(LEVEL),
                    "-0",
                    str(tmp / "sam.fq.gz"),
                    str(bam),
                ],
                tmp / "sam.fq.gz",
            ),
        ]
    else:
        notes.append(
            "convert BAM -> FASTQ.gz needs samtools (to make the BAM and to compare): skipped"
        )

    info = _common.machine_info(["isal", "dnaio", "numba"])
    start = time.perf_counter()
    rows = []
    ours_rate: dict[str, float] = {}
    for what, tool, cmd, out in cases:
        if cmd is None:
            continue
        best = min((run(cmd) for _ in range(args.repeats)), key=lambda x: x[0])
        kept = count_reads(out)
        wall, rss, cpu = best
        rate = n / wall
        if tool.startswith("deepbiop"):
            ours_rate[what] = rate
        speed = (
            f"{ours_rate[what] / rate:.2f}x"
            if what in ours_rate and not tool.startswith("deepbiop")
            else ""
        )
        rows.append(
            (
                what,
                tool,
                f"{wall:.2f}",
                f"{rate / 1e6:.2f} M",
                f"{cpu:.2f}",
                f"{rss:.0f}",
                f"{kept:,}",
                speed,
            )
        )
        print(rows[-1], flush=True)
        for p in tmp.glob("*.fq.gz"):
            p.unlink()

    # the same tasks in this process, after a warm-up: throughput without the start-up
    from deepbiop_gpu import Dataset, filter_file, read

    warm_rows = []
    filter_file(src, tmp / "warm.fq.gz", min_quality=20, dedup="exact", subsample=0.5, level=LEVEL)
    for what, crit in (
        (
            "length >= 100 + mean quality >= 20",
            dict(min_length=100, min_quality=20, quality_mean="arithmetic"),
        ),
        ("dedup (exact sequence)", dict(dedup="exact")),
        ("subsample p = 0.1", dict(subsample=0.1, seed=11)),
        ("convert BAM -> FASTQ.gz", None),
    ):
        if crit is None and not bam.exists():
            continue
        t, c = time.perf_counter(), time.process_time()
        if crit is None:
            report = filter_file(bam, tmp / "warm.fq.gz", level=LEVEL)
        else:
            report = filter_file(src, tmp / "warm.fq.gz", level=LEVEL, **crit)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        warm_rows.append(
            (what, f"{wall:.2f}", f"{n / wall / 1e6:.2f} M", f"{cpu:.2f}", f"{report.kept:,}")
        )
        print(warm_rows[-1], flush=True)

    # in-memory Dataset.filter on loaded reads

    reads = read(src)
    ds = Dataset.from_reads(reads)
    mem_rows = []
    for label, crit in (
        ("min_length=100", {"min_length": 100}),
        ("min_length=100, max_length=200", {"min_length": 100, "max_length": 200}),
        ("min_quality=20 (error mean)", {"min_quality": 20}),
        ("max_n=0", {"max_n": 0}),
        ("dedup='exact'", {"dedup": "exact"}),
        ("subsample=0.1", {"subsample": 0.1}),
    ):
        ds.filter(**crit)  # warm-up (numba loops load)
        times = []
        for _ in range(3):
            t = time.perf_counter()
            view = ds.filter(**crit)
            times.append(time.perf_counter() - t)
        dt = min(times)
        mem_rows.append((label, f"{dt * 1e3:.1f}", f"{len(ds) / dt / 1e6:.1f} M", f"{len(view):,}"))
        print(mem_rows[-1], flush=True)
    elapsed = time.perf_counter() - start
    shutil.rmtree(tmp, ignore_errors=True)

    vers = _common.versions_string(info, ["python", "numpy", "torch", "isal", "dnaio", "numba"])
    tools = []
    for cmd in (["fastp", "--version"], ["seqkit", "version"], ["samtools", "--version"]):
        if shutil.which(cmd[0]):
            p = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
            tools.append((p.stdout + p.stderr).strip().splitlines()[0])
    text = f"""# Filtering, dedup, subsampling and conversion

`{n:,}` reads x 150 bp (`benchmarks/_data/short_1M.fastq.gz`, made by `_common.short_fastq`),
gzip in, gzip **level {LEVEL}** out on every side, {THREADS} threads where a tool takes a count.
One process per run (best of {args.repeats}), start-up included (Python + torch import for
deepbiop_gpu and dnaio); peak RSS and CPU seconds (user + system, all threads) are that
process's (`wait4`).  The machine is shared, so wall times carry the other jobs' load; CPU
seconds are the steadier figure.
The `vs` column is (deepbiop_gpu reads/s) / (that tool's reads/s): above 1 means deepbiop_gpu is faster.

Command: `python benchmarks/bench_filters.py --repeats {args.repeats}` ({elapsed:.0f} s)

Machine: {info["nproc"]} CPUs ({info["host_cpu"]}), shared with other jobs: load average {info["load"]} at the start, {_common.load_average()} at the end.

Versions: {vers}; {"; ".join(tools) or "no external tools"}

{_common.markdown_table(["task", "tool", "wall s", "reads/s", "CPU s", "peak RSS MiB", "reads kept", "vs"], rows, "llrrrrrr")}

Notes:
- fastp runs with adapter and polyG trimming off (`-A -G`), `-n 50 -u 100` so only the length and
  mean-quality criteria act; its `-e` is the arithmetic mean of Phred values, so deepbiop_gpu runs
  with `quality_mean='arithmetic'` here.  seqkit's `-Q` averages the error probabilities, so
  it keeps a different number of reads.
- fastp's `--dedup` compares hashes of read sequences with its own (probabilistic) table; seqkit
  `rmdup -s` and deepbiop_gpu keep the first read of each exact sequence.
- seqkit 2.3.0 has no compression-level option: it writes gzip at its own default level
  (larger files, more CPU), so its rows are not at level 1.
- The subsample draws differ between tools (each has its own generator); the kept counts are ~10%.
- The BAM is the FASTQ imported unaligned (`samtools import`): no reverse-strand reads.
{"".join(f"- {note}{chr(10)}" for note in notes)}
## deepbiop_gpu without its start-up

The same tasks run by `filter_file` in the benchmark's process after a warm-up
(torch imported, numba loops loaded): what each further file costs.

{_common.markdown_table(["task", "wall s", "reads/s", "CPU s", "reads kept"], warm_rows, "lrrrr")}

## In-memory `Dataset.filter` on the loaded reads

A view (index array) over a `Dataset` of the same {n:,} reads already in memory; best of 3.

{_common.markdown_table(["criteria", "ms", "reads/s", "reads kept"], mem_rows, "lrrr")}
"""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
