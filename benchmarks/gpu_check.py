"""One script for a CUDA machine: tests, CPU == CUDA bit identity, kernel bandwidth, loader.

Runs from a bare checkout: nothing is installed.  The repository root goes on
``sys.path`` and ``kernels/`` is aliased as ``deepbiop_gpu.kernels``
(``benchmarks/gpu_shim/``); pysam, isal and numba are optional (``import
deepbiop_gpu`` needs none of them; without numba the CPU side of the identity
check is the torch code only).

Before the parts, a preflight (``deepbiop_gpu.ops._dispatch.triton_preflight``):
without the C compiler, Python headers and libcuda that Triton needs to build
its launchers, the script stops with one line saying what is missing.

Parts, each guarded (a failure is reported and the next part runs), each with
its own time budget (the whole run is sized for < 8 minutes on an H200 with a
cold Triton cache; compiled kernels are kept in ``build/triton-cache``, so a
run that gets ``build/`` back starts warm).  Distinct kernel variants (compile
keys, counted without a GPU: ``--count-keys`` for b and c, the pytest plugin
``benchmarks/_compile_keys.py`` in the interpreter lane for a), at 0.13-2.2 s
per cold compile (measured with Triton 3.6 on a 2-vCPU host; k-mer k >= 24 the
slowest) plus a launcher build per new signature:

====  =====================================================  =====  ========
part  variants (per kernel)                                  total  budget
====  =====================================================  =====  ========
a     one_hot 95, crop 50, kmer_ids 29, rc 23, mutate 21,    260    180 s
      integer 15, kmer_counts 11, encode 9, bernoulli 7
      (tests/kernels; tests/ops and tests/pipeline add few)
b     one_hot 56, crop 30, kmer_ids 19, mutate 16, rc 9,     147    100 s
      kmer_counts 7, bernoulli 4, integer 3, encode 3
c     one_hot 8, crop 4, 2 each for the others, bernoulli 1  25     60 s
f     fused kernel: 16 encoder variants x a few plans        ~20    60 s
      (``benchmarks/_gpu_fused.py``: GB/s vs copy at >= 1 GB,
      resident / ragged / padded loaders, identity, sync debug)
d     the loader pipeline (bernoulli, rc, mutate, one_hot)   ~8     70 s
====  =====================================================  =====  ========

(``do_not_specialize`` on seed, epoch, B, thresholds took part b from 219 to
147 variants.)

a. ``pytest -m gpu -q tests/ops tests/kernels tests/pipeline`` in a
   subprocess, with the same import shim on ``PYTHONPATH``;
b. CPU == CUDA bit identity of every op on random data (ragged lengths,
   garbage in the padding, lowercase / N / IUPAC / other bytes), the random
   ops with several seeds and epochs; the CPU side with numba and with the
   torch code;
c. each kernel timed with ``triton.testing.do_bench`` (median, p20, p80) at
   sizes that fill the GPU (>= 1 GiB of output where the op allows), against a
   device-to-device copy of the same number of bytes: GB/s of bytes read +
   written, % of the copy's;
d. the loader pipeline of ``bench_loader.py`` on CUDA (``device="cuda"``,
   transforms on the GPU) over a generated 1M x 150 bp FASTQ (numpy, in
   /tmp), ``num_workers`` 0 and 4: reads/s; then a small 1-D CNN trains on the
   batches and CUDA events give the GPU's idle time per step (the gap between
   one model step's end and the next one's start), beside the same model on
   one pre-made batch (no loader: the idle time of launching alone);
e. a summary table printed last, and the whole report as markdown to
   ``--out`` (default ``benchmarks/results/gpu.md``), the logs to
   ``--log-dir`` (default: beside the report).

Part a is "ok" only if every test file was collected (a file that misses an
optional module, pysam or isal, is listed but tolerated; hypothesis is not
optional) and, on a GPU, GPU tests passed; the counts, the missing modules and
the versions are printed (``benchmarks/_gpu_check_status.py``).

``--dry-run`` runs on a machine without a GPU: tiny sizes, Triton kernels
under the interpreter (``TRITON_INTERPRET=1``, CPU tensors forced to them),
CPU timers instead of CUDA events, the editable install (if any) bypassed
and pysam, isal, pyarrow, matplotlib, tqdm and lightning blocked
(``DEEPBIOP_GPU_SHIM_BLOCK``; add numba to the list
to rehearse a machine without it), so the code paths the GPU run takes are
exercised end to end.

Usage::

    python benchmarks/gpu_check.py                 # on the CUDA machine
    python benchmarks/gpu_check.py --dry-run       # anywhere, ~30 s
    python benchmarks/gpu_check.py --count-keys    # anywhere: kernel variants of b and c
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SHIM = HERE / "gpu_shim"


def _early_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true", help="CPU only, tiny sizes, interpreter")
    ap.add_argument("--out", type=Path, default=None, help="markdown report path")
    ap.add_argument("--parts", default=None, help="subset of the parts to run, e.g. 'bc' (default all)")
    ap.add_argument("--reads", type=int, default=None, help="reads in the generated FASTQ")
    ap.add_argument("--pytest-timeout", type=float, default=None, help="seconds for part a")
    ap.add_argument("--log-dir", type=Path, default=None, help="logs (default: the report's folder)")
    ap.add_argument("--count-keys", action="store_true",
                    help="no GPU needed: count the kernel variants parts b and c compile, and exit")
    return ap.parse_args()


ARGS = _early_args()
DRY = ARGS.dry_run
if not DRY and not ARGS.count_keys:
    # compiled kernels persist between runs of this script (a fresh machine compiles
    # ~500 variants; pass build/ back to the next run to start warm)
    os.environ.setdefault("TRITON_CACHE_DIR", str(ROOT / "build" / "triton-cache"))
if DRY:
    # before triton is imported anywhere: kernels run under the interpreter on CPU tensors
    os.environ["TRITON_INTERPRET"] = "1"
    os.environ["DEEPBIOP_GPU_SHIM_STRICT"] = "1"  # prove the alias works without an install
    # not on the GPU machine (numba may be missing too: add it to rehearse that)
    os.environ.setdefault("DEEPBIOP_GPU_SHIM_BLOCK", "pysam,isal,pyarrow,matplotlib,tqdm,lightning")
os.environ.setdefault("PYTHONUNBUFFERED", "1")

sys.path.insert(0, str(SHIM))
import deepbiop_gpu_alias  # noqa: E402

deepbiop_gpu_alias.install()
sys.path.insert(1, str(HERE))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from _common import fmt_ms, machine_info, markdown_table  # noqa: E402
from _gpu_check_status import pytest_status  # noqa: E402

T0 = time.perf_counter()
FORCE = "DEEPBIOP_GPU_FORCE_TRITON"
NUMBA = "DEEPBIOP_GPU_NUMBA"


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:6.1f} s] {msg}", flush=True)


class Part:
    """Outcome of one part: status, one summary line, markdown body, elapsed seconds."""

    def __init__(self, key: str, title: str) -> None:
        self.key, self.title = key, title
        self.status = "not run"
        self.summary = ""
        self.body: list[str] = []
        self.seconds = 0.0


# ------------------------------------------------------------ devices
class Lane:
    """Where the kernels run: CUDA tensors, or (dry run) CPU tensors forced to the interpreter."""

    def __init__(self, dry: bool) -> None:
        self.dry = dry
        self.device = torch.device("cpu" if dry else "cuda")
        self.name = "Triton interpreter (CPU)" if dry else torch.cuda.get_device_name(0)

    def to(self, x):
        if isinstance(x, torch.Tensor):
            return x.to(self.device)
        return x

    def run(self, fn, *args):
        """``fn(*args)`` with the args on the kernel side; results back on the CPU."""
        old = os.environ.get(FORCE)
        if self.dry:
            os.environ[FORCE] = "1"
        try:
            out = fn(*(self.to(a) for a in args))
        finally:
            if self.dry:
                if old is None:
                    os.environ.pop(FORCE, None)
                else:
                    os.environ[FORCE] = old
        return tuple(o.cpu() for o in out) if isinstance(out, tuple) else out.cpu()

    def sync(self) -> None:
        if not self.dry:
            torch.cuda.synchronize()


def cpu_paths() -> list[str]:
    """The CPU implementations to compare: numba (when it imports) and the torch code."""
    try:
        from deepbiop_gpu.ops._numba import numba_module
    except ImportError:  # older layout
        from deepbiop_gpu.ops._philox import numba_philox as numba_module

    return (["numba"] if numba_module() is not None else []) + ["torch"]


def run_cpu(path: str, fn, *args):
    old = os.environ.get(NUMBA)
    os.environ[NUMBA] = "1" if path == "numba" else "0"
    try:
        return fn(*args)
    finally:
        if old is None:
            os.environ.pop(NUMBA, None)
        else:
            os.environ[NUMBA] = old


# ------------------------------------------------------------ part a
DEADLINE_S = 150.0 if DRY else 460.0  # the whole script, startup included
# seconds kept for the parts after each one (scaled down with the dry run's deadline)
RESERVE_S = {k: v * DEADLINE_S / 460.0 for k, v in {"a": 290.0, "b": 190.0, "c": 130.0}.items()}


def remaining() -> float:
    return DEADLINE_S - (time.perf_counter() - T0)


def part_a(part: Part, lane: Lane, log_dir: Path) -> None:
    timeout = ARGS.pytest_timeout or min(60 if DRY else 180, remaining() - RESERVE_S["a"])
    timeout = max(timeout, 20.0)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(SHIM), str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])
    )
    env.pop(FORCE, None)
    cmd = [
        sys.executable, "-m", "pytest", "-m", "gpu", "-q", "tests/ops", "tests/kernels",
        "tests/pipeline", "-p", "no:cacheprovider", "-rfE", "--durations=5", "--maxfail=25",
        "--continue-on-collection-errors",
    ]  # fmt: skip
    log_path = log_dir / "gpu_check_pytest.log"
    log(f"a: {' '.join(cmd[2:])} (timeout {timeout:.0f} s, log {log_path})")
    t = time.perf_counter()
    with open(log_path, "w") as fh:
        try:
            rc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout
            ).returncode
        except subprocess.TimeoutExpired:
            rc = None
    text = log_path.read_text(errors="replace")
    tail = [ln for ln in text.splitlines() if ln.strip()][-25:]
    dt = time.perf_counter() - t
    # every test file must be collected (unless it misses an optional module such as
    # pysam) and GPU tests must pass: "ok" never hides a lane that did not run
    part.status, part.summary = pytest_status(rc, text, dry=DRY, timeout=timeout)
    part.body += [f"`{' '.join(cmd[2:])}` in {dt:.0f} s, exit {rc}", "", "```", *tail, "```"]
    part.summary += f"; {versions('torch', 'triton', 'pytest', 'hypothesis')}"
    log(f"a: {part.status}: {part.summary}")


def versions(*names: str) -> str:
    """``name version`` of each distribution (``missing`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in names:
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} missing")
    return ", ".join(out)


# ------------------------------------------------------------ part b
def random_batch(B: int, L: int, seed: int):
    """Bytes with lowercase, N, U, IUPAC, '-', any byte; ragged lengths (0 and L included)."""
    g = np.random.default_rng(seed)
    common = np.frombuffer(b"ACGTACGTACGTacgtNnUuRYKMSWBDHVrykm-.", np.uint8)
    s = common[g.integers(0, common.size, (B, L))]
    wild = g.random((B, L)) < 0.01
    s[wild] = g.integers(0, 256, int(wild.sum()))
    lens = g.integers(0, L + 1, B)
    if B >= 2:
        lens[0], lens[1] = L, 0
    q = g.integers(33, 75, (B, L)).astype(np.uint8)
    index = g.integers(0, 2**40, B)  # > 2**32: the high counter word is used
    return (
        torch.from_numpy(s),  # padding left as garbage: the ops must ignore it
        torch.from_numpy(lens.astype(np.int32)),
        torch.from_numpy(q),
        torch.from_numpy(index.astype(np.int64)),
    )


def identity_cases(L: int):
    """(name, fn(seqs, lengths, quals, index)) of every op and its option combinations."""
    from deepbiop_gpu import ops

    cases = [("encode", lambda s, n, q, i: ops.encode(s, n))]
    for dtype in (torch.float32, torch.bfloat16, torch.float16, torch.uint8):
        for layout in ("NLC", "NCL"):
            for unknown in ("zeros", "uniform"):
                if dtype == torch.uint8 and unknown == "uniform":
                    continue
                cases.append(
                    (
                        f"one_hot {str(dtype)[6:]} {layout} {unknown}",
                        lambda s, n, q, i, d=dtype, la=layout, u=unknown: ops.one_hot(
                            s, n, dtype=d, layout=la, unknown=u
                        ),
                    )
                )
    for pad in (-1, -100):
        cases.append((f"integer pad={pad}", lambda s, n, q, i, p=pad: ops.integer(s, n, p)))
    for k, stride, canonical, buckets in (
        (1, 1, False, None), (3, 1, True, None), (6, 1, False, None), (6, 3, True, None),
        (12, 1, False, 1000), (15, 2, True, None), (31, 1, True, None), (32, 1, False, 1 << 20),
    ):  # fmt: skip
        cases.append(
            (
                f"kmer_ids k={k} s={stride} c={int(canonical)} b={buckets}",
                lambda s, n, q, i, a=(k, stride, canonical, buckets): ops.kmer_ids(
                    s, n, a[0], stride=a[1], canonical=a[2], buckets=a[3]
                ),
            )
        )
    for k, canonical in ((1, False), (3, True), (5, False)):
        cases.append(
            (
                f"kmer_counts k={k} c={int(canonical)}",
                lambda s, n, q, i, a=(k, canonical): ops.kmer_counts(s, n, a[0], canonical=a[1]),
            )
        )
    cases.append(("reverse_complement", lambda s, n, q, i: ops.reverse_complement(s, n)))
    cases.append(
        (
            "reverse_complement apply=(index odd), quals",
            lambda s, n, q, i: (
                ops.reverse_complement(s, n, apply=(i % 2) == 1),
                ops.reverse_complement(q, n, apply=(i % 2) == 1, complement=False),
            ),
        )
    )
    for rate in (0.01, 0.3, 1.0):
        for seed in (0, 2**62 + 12345):
            for epoch in (0, 3):
                cases.append(
                    (
                        f"mutate rate={rate} seed={seed} epoch={epoch}",
                        lambda s, n, q, i, a=(rate, seed, epoch): ops.mutate(
                            s, n, a[0], a[1], i, a[2]
                        ),
                    )
                )
    for mode in ("random", "start", "center", "end"):
        for length in (max(L // 3, 1), L + 5):
            seeds = ((0, 0), (99, 2)) if mode == "random" else ((0, 0),)
            for seed, epoch in seeds:

                def crop_case(s, n, q, i, a=(length, mode, seed, epoch)):
                    out, new_len, starts = ops.crop(
                        s, n, a[0], mode=a[1], seed=a[2], index=i, epoch=a[3]
                    )
                    return out, new_len, starts, ops.take_windows(q, starts, new_len, a[0])

                cases.append((f"crop+take_windows {mode} {length} s={seed} e={epoch}", crop_case))
    for p in (0.1, 0.5):
        for seed, epoch, stream in ((0, 0, 3), (7, 4, 200)):
            cases.append(
                (
                    f"bernoulli_gate p={p} seed={seed} epoch={epoch} stream={stream}",
                    lambda s, n, q, i, a=(p, seed, epoch, stream): ops.bernoulli_gate(
                        a[0], a[1], i, a[2], a[3]
                    ),
                )
            )
    return cases


def same_bits(a, b) -> bool:
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.dtype != y.dtype or x.shape != y.shape:
            return False
        if x.numel() and not torch.equal(
            x.contiguous().view(torch.uint8) if x.dtype != torch.bool else x,
            y.contiguous().view(torch.uint8) if y.dtype != torch.bool else y,
        ):
            return False
    return True


B_SHAPES = [(37, 151), (9, 10_003), (300, 1_000), (1, 1), (0, 8), (4096, 150)]


def part_b(part: Part, lane: Lane) -> None:
    budget = min(45 if DRY else 100, remaining() - RESERVE_S["b"])
    shapes = [(7, 67), (2, 300), (0, 8)] if DRY else B_SHAPES
    paths = cpu_paths()
    log(f"b: CPU paths {paths} vs {lane.name}; shapes {shapes}; budget {budget} s")
    t0 = time.perf_counter()
    done = failed = 0
    failures: list[str] = []
    skipped = 0
    for si, (B, L) in enumerate(shapes):
        batch = random_batch(B, L, seed=1000 + si)
        for name, fn in identity_cases(L):
            if time.perf_counter() - t0 > budget:
                skipped += 1
                continue
            try:
                got = lane.run(fn, *batch)
            except Exception as e:  # noqa: BLE001
                failed += 1
                failures.append(f"{name} [{B}x{L}] kernel raised {type(e).__name__}: {e}"[:300])
                continue
            for path in paths:
                try:
                    want = run_cpu(path, fn, *batch)
                    ok = same_bits(got, want)
                except Exception as e:  # noqa: BLE001
                    ok = False
                    failures.append(f"{name} [{B}x{L}] cpu {path} raised {type(e).__name__}: {e}")
                done += 1
                if not ok:
                    failed += 1
                    failures.append(f"{name} [{B}x{L}] differs from cpu ({path})")
        log(f"b: {B}x{L}: {done} comparisons so far, {failed} failed")
    dt = time.perf_counter() - t0
    part.status = "ok" if failed == 0 and skipped == 0 else ("FAILED" if failed else "partial")
    part.summary = (
        f"{done - failed}/{done} comparisons bit-identical (CPU {'+'.join(paths)} vs "
        f"{lane.name})" + (f"; {skipped} cases skipped (time budget)" if skipped else "")
    )
    part.body += [
        f"{len(identity_cases(8))} op/option cases x shapes {shapes} x CPU paths {paths}, "
        f"in {dt:.0f} s.",
        "",
    ]
    if failures:
        part.body += ["Failures (first 30):", "", *[f"* {f}" for f in failures[:30]]]
    log(f"b: {part.status}: {part.summary}")


# ------------------------------------------------------------ part c
def bench(fn, lane: Lane) -> tuple[float, float, float]:
    """(p50, p20, p80) ms of ``fn``."""
    if not lane.dry:
        import triton.testing

        q = triton.testing.do_bench(fn, warmup=10, rep=40, quantiles=[0.5, 0.2, 0.8])
        return float(q[0]), float(q[1]), float(q[2])
    old = os.environ.get(FORCE)
    os.environ[FORCE] = "1"
    try:
        fn()
        ts = []
        for _ in range(1):
            t = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t) * 1e3)
    finally:
        if old is None:
            os.environ.pop(FORCE, None)
    q = np.quantile(ts, [0.5, 0.2, 0.8])
    return float(q[0]), float(q[1]), float(q[2])


def copy_ms(nbytes: int, lane: Lane) -> float:
    """Median ms of a device-to-device copy of ``nbytes`` bytes (read once, written once)."""
    src = torch.empty(max(nbytes, 1), dtype=torch.uint8, device=lane.device).random_(0, 256)
    dst = torch.empty_like(src)
    return bench(lambda: dst.copy_(src), lane)[0]


def timing_cases(lane: Lane):
    """(name, L, make(B) -> (fn, in_bytes, out_bytes), bytes of output per read)."""
    from deepbiop_gpu import ops

    dev = lane.device

    def batch(B, L):
        # random A/C/G/T bytes without an int64 index tensor (8x the batch's memory)
        c = torch.randint(0, 4, (B, L), dtype=torch.uint8, device=dev)
        s = c * 2 + 65  # A=65 C=67 G=69 T=71 ...
        s += (c >= 2).to(torch.uint8) * 2  # ... G=71 T=73 ...
        s += (c == 3).to(torch.uint8) * 11  # ... T=84
        del c
        n = torch.full((B,), L, dtype=torch.int32, device=dev)
        i = torch.arange(B, dtype=torch.int64, device=dev)
        return s, n, i

    def simple(f, out_per_base, uses_index=False):
        def make(B, L):
            s, n, i = batch(B, L)
            fn = (lambda: f(s, n, i)) if uses_index else (lambda: f(s, n))
            extra = i.nbytes if uses_index else 0
            return fn, s.nbytes + n.nbytes + extra, B * L * out_per_base

        return make

    crop_w = {150: 100, 1_000: 300, 10_000: 1_000}
    cases = []
    for L in (150, 1_000) if lane.dry else (150, 10_000):
        w = crop_w[L]
        cases += [
            ("encode", L, simple(ops.encode, 1), L),
            ("one_hot f32 NLC", L, simple(ops.one_hot, 16), 16 * L),
            (
                "one_hot f32 NCL",
                L,
                simple(lambda s, n: ops.one_hot(s, n, layout="NCL"), 16),
                16 * L,
            ),
            (
                "one_hot bf16 NLC",
                L,
                simple(lambda s, n: ops.one_hot(s, n, dtype=torch.bfloat16), 8),
                8 * L,
            ),
            (
                "one_hot u8 NCL",
                L,
                simple(lambda s, n: ops.one_hot(s, n, dtype=torch.uint8, layout="NCL"), 4),
                4 * L,
            ),
            ("integer", L, simple(ops.integer, 8), 8 * L),
            (
                "kmer_ids k=6",
                L,
                simple(lambda s, n: ops.kmer_ids(s, n, 6), 8),
                8 * (L - 5),
            ),
            ("reverse_complement", L, simple(ops.reverse_complement, 1), L),
            (
                "mutate 0.01",
                L,
                simple(lambda s, n, i: ops.mutate(s, n, 0.01, 0, i), 1, uses_index=True),
                L,
            ),
        ]

        def crop_make(B, L, w=w):
            s, n, i = batch(B, L)
            return (
                lambda: ops.crop(s, n, w, seed=0, index=i),
                s.nbytes + n.nbytes + i.nbytes,
                B * (w + 4 + 8),
            )

        def take_make(B, L, w=w):
            s, n, i = batch(B, L)
            starts = ops.crop(s, n, w, seed=0, index=i)[2]
            nl = n.clamp(max=w)
            return (
                lambda: ops.take_windows(s, starts, nl, w),
                B * w + starts.nbytes + nl.nbytes,  # only the window is read
                B * w,
            )

        def counts_make(B, L):
            s, n, i = batch(B, L)
            return lambda: ops.kmer_counts(s, n, 4), s.nbytes + n.nbytes, B * 256 * 4

        def counts_poly_a_make(B, L):
            # every window adds to one counter: the worst case of kmer_counts' atomics
            # (issue 17, finding 11), next to the random reads above
            s = torch.full((B, L), 65, dtype=torch.uint8, device=dev)
            n = torch.full((B,), L, dtype=torch.int32, device=dev)
            return lambda: ops.kmer_counts(s, n, 4), s.nbytes + n.nbytes, B * 256 * 4

        cases += [
            (f"crop random {w}", L, crop_make, w + 12),
            (f"take_windows {w}", L, take_make, w),
            ("kmer_counts k=4", L, counts_make, 1024),
            ("kmer_counts k=4 poly-A", L, counts_poly_a_make, 1024),
        ]

    def gate_make(B, L):
        i = torch.arange(B, dtype=torch.int64, device=dev)
        return lambda: ops.bernoulli_gate(0.5, 0, i), i.nbytes, B

    cases.append(("bernoulli_gate", 1, gate_make, 1))
    return cases


def part_c(part: Part, lane: Lane) -> None:
    budget = min(40 if DRY else 60, remaining() - RESERVE_S["c"])
    target_out = 2**14 if DRY else 2**30  # bytes of output per case (>= 1 GiB on the GPU)
    max_in = 2**20 if DRY else 4 * 2**30  # ... unless the input would pass 4 GiB
    t0 = time.perf_counter()
    rows = []
    skipped = []
    copy_ref = None
    if not DRY:
        n = 2**31  # a 2 GiB copy: the device's copy bandwidth
        ms = copy_ms(n, lane)
        copy_ref = 2 * n / (ms * 1e-3) / 1e9
        torch.cuda.empty_cache()
        log(f"c: 2 GiB device copy: {ms:.3f} ms = {copy_ref:.0f} GB/s (read + write)")
    for name, L, make, out_per_read in timing_cases(lane):
        if time.perf_counter() - t0 > budget:
            skipped.append(f"{name} L={L}")
            continue
        try:
            B = max(1, -(-target_out // out_per_read))
            B = min(B, max(1, max_in // max(L, 8)))
            fn, in_bytes, out_bytes = make(B, L)
            lane.sync()
            p50, p20, p80 = bench(fn, lane)
            moved = in_bytes + out_bytes
            del fn
            half = max(moved // 2, 1)
            cp = copy_ms(half, lane)
            gbs = moved / (p50 * 1e-3) / 1e9
            cgbs = 2 * half / (cp * 1e-3) / 1e9
            rows.append(
                (
                    name, f"{B}x{L}", fmt_ms(p50), fmt_ms(p20), fmt_ms(p80),
                    f"{in_bytes / 2**20:.0f}", f"{out_bytes / 2**20:.0f}", f"{gbs:.0f}",
                    f"{cgbs:.0f}", f"{100 * gbs / cgbs:.0f}%",
                )
            )  # fmt: skip
            pct = 100 * gbs / cgbs
            log(f"c: {name} {B}x{L}: {p50:.3f} ms, {gbs:.0f} GB/s = {pct:.0f}% of copy")
        except Exception as e:  # noqa: BLE001
            err = f"{type(e).__name__}: {e}"[:80]
            rows.append((name, f"L={L}", "error", "", "", "", "", "", "", err))
        finally:
            if not DRY:
                torch.cuda.empty_cache()
    errors = sum(r[2] == "error" for r in rows)
    part.status = "ok" if not errors and not skipped else ("FAILED" if errors else "partial")
    pct = [float(r[-1].rstrip("%")) for r in rows if r[2] != "error"]
    part.summary = (
        f"{len(rows) - errors} kernels timed; % of copy bandwidth: median "
        f"{np.median(pct):.0f}%, min {min(pct):.0f}%"
        if pct
        else "no kernel timed"
    ) + (f"; skipped (budget): {', '.join(skipped)}" if skipped else "")
    part.body += [
        (
            f"Device copy bandwidth (2 GiB, read + write): {copy_ref:.0f} GB/s.  "
            if copy_ref
            else "Dry run: CPU wall-clock times of the interpreter (meaningless as speeds).  "
        )
        + "`GB/s` = (bytes read + bytes written) / median time; `copy GB/s` = a device-to-"
        "device copy moving the same number of bytes; all reads full length.",
        "",
        markdown_table(
            [
                "kernel",
                "B x L",
                "p50 ms",
                "p20 ms",
                "p80 ms",
                "in MiB",
                "out MiB",
                "GB/s",
                "copy GB/s",
                "% of copy",
            ],
            rows,
            align="llrrrrrrrr",
        ),  # fmt: skip
    ]
    log(f"c: {part.status}: {part.summary}")


# ------------------------------------------------------------ part d
def make_fastq(n: int) -> tuple[Path, subprocess.Popen | None]:
    """Start writing the FASTQ in a subprocess (numpy only); returns (path, process)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"deepbiop_gpu_check_{n}.fastq"
    if path.exists():
        return path, None
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); from _common import write_short_fastq; "
        f"from pathlib import Path; write_short_fastq(Path({str(path)!r}), {n})"
    )
    return path, subprocess.Popen([sys.executable, "-c", code])


def pipeline():
    from deepbiop_gpu import Compose, Mutator, OneHotEncoder, ReverseComplement

    return Compose([ReverseComplement(p=0.5), Mutator(0.01), OneHotEncoder()])


class CNN(torch.nn.Module):
    def __init__(self, channels: int = 64) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv1d(4, channels, 9, padding=4)
        self.conv2 = torch.nn.Conv1d(channels, channels, 9, padding=4)
        self.head = torch.nn.Linear(channels, 2)

    def forward(self, x):  # x: [B, L, 4]
        h = torch.relu(self.conv1(x.transpose(1, 2)))
        h = torch.relu(self.conv2(h))
        return self.head(h.amax(dim=2))


def train_steps(batches, lane: Lane, max_steps: int, max_s: float, warm: int = 10) -> dict:
    warm = min(warm, max_steps // 3)
    """Train the CNN; per step: wall time, model time and GPU idle gap (CUDA events)."""
    torch.manual_seed(0)
    model = CNN(8 if lane.dry else 64).to(lane.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    starts, ends, walls = [], [], []
    t_start = time.perf_counter()
    t_prev = None
    steps = 0
    for batch in batches:
        x = batch["sequences"]
        y = batch["index"] % 2
        if lane.dry:
            t = time.perf_counter()
        else:
            e0 = torch.cuda.Event(enable_timing=True)
            e0.record()
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if lane.dry:
            starts.append(t)
            ends.append(time.perf_counter())
        else:
            e1 = torch.cuda.Event(enable_timing=True)
            e1.record()
            starts.append(e0)
            ends.append(e1)
        now = time.perf_counter()
        if t_prev is not None:
            walls.append(now - t_prev)
        t_prev = now
        steps += 1
        if steps >= max_steps or now - t_start > max_s:
            break
    lane.sync()
    elapsed = time.perf_counter() - t_start
    model_ms, gap_ms = [], []
    for k in range(warm, len(starts) - 1):
        if lane.dry:
            model_ms.append((ends[k] - starts[k]) * 1e3)
            gap_ms.append((starts[k + 1] - ends[k]) * 1e3)
        else:
            model_ms.append(starts[k].elapsed_time(ends[k]))
            gap_ms.append(ends[k].elapsed_time(starts[k + 1]))
    n = max(len(model_ms), 1)
    return {
        "steps": steps,
        "seconds": elapsed,
        "model_ms": sum(model_ms) / n,
        "gap_ms": sum(gap_ms) / n,
        "gap_p50": float(np.median(gap_ms)) if gap_ms else 0.0,
        "wall_ms": 1e3 * float(np.mean(walls[warm:])) if len(walls) > warm else 0.0,
        "reads_s": steps * 256 / elapsed,
    }


def part_d(part: Part, lane: Lane, fastq: Path, proc) -> None:
    from deepbiop_gpu import DataLoader, Dataset

    if proc is not None:
        log("d: waiting for the FASTQ generator ...")
        if proc.wait(timeout=300) != 0:
            raise RuntimeError("FASTQ generation failed")
    budget = min(40 if DRY else 70, remaining() - 60)
    t0 = time.perf_counter()
    t = time.perf_counter()
    ds = Dataset(fastq)
    load_s = time.perf_counter() - t
    n = len(ds)
    log(f"d: Dataset({fastq.name}): {n} reads in {load_s:.2f} s")
    transform = pipeline()
    dev = "cpu" if DRY else "cuda"
    rows = []
    # warm-up: compile the kernels / loops once, outside the clock
    warm = DataLoader(ds, batch_size=256, shuffle=True, device=dev, transform=transform)
    for k, _ in enumerate(warm):
        if k == 3:
            break
    lane.sync()
    worker_counts = (0, 2) if DRY else (0, 4)
    for w in worker_counts:
        if time.perf_counter() - t0 > budget:
            rows.append((f"loader only, {w} workers", "skipped (budget)", "", "", "", ""))
            continue
        loader = DataLoader(
            ds, batch_size=256, shuffle=True, num_workers=w, device=dev, transform=transform
        )
        t = time.perf_counter()
        got = 0
        for batch in loader:
            got += batch["sequences"].shape[0]
        lane.sync()
        sec = time.perf_counter() - t
        if got != n:
            raise RuntimeError(f"epoch delivered {got} reads, not {n}")
        rate = f"{n / sec / 1e6:.3f} M"
        rows.append((f"loader only, {w} workers", rate, f"{sec:.2f}", "", "", ""))
        log(f"d: loader only, workers={w}: {sec:.2f} s = {n / sec / 1e6:.3f} M reads/s")
    train_rows = []
    max_steps, max_s = (12, 5.0) if DRY else (1000, 12.0)
    # reference: the model on one pre-made device batch (no loader): launch overhead alone
    one = next(iter(DataLoader(ds, batch_size=256, device=dev, transform=transform)))
    lane.sync()
    ref = train_steps((one for _ in range(max_steps)), lane, max_steps, max_s)
    train_rows.append(("model on one pre-made batch (no loader)", ref))
    for w in worker_counts:
        if time.perf_counter() - t0 > budget + 40:
            continue
        loader = DataLoader(
            ds, batch_size=256, shuffle=True, num_workers=w, device=dev, transform=transform
        )
        train_rows.append((f"training, {w} workers", train_steps(loader, lane, max_steps, max_s)))
        r = train_rows[-1][1]
        log(
            f"d: training, workers={w}: {r['steps']} steps, model {r['model_ms']:.3f} ms/step, "
            f"GPU idle {r['gap_ms']:.3f} ms/step, {r['reads_s'] / 1e6:.3f} M reads/s"
        )
    for name, r in train_rows:
        rows.append(
            (
                name, f"{r['reads_s'] / 1e6:.3f} M", f"{r['seconds']:.2f} ({r['steps']} steps)",
                f"{r['model_ms']:.3f}", f"{r['gap_ms']:.3f} (median {r['gap_p50']:.3f})",
                f"{r['wall_ms']:.3f}",
            )
        )  # fmt: skip
    part.status = "ok"
    loader_rates = [r[1] for r in rows if r[0].startswith("loader only")]
    tr = dict(train_rows)
    idle = "; ".join(
        f"{k.split(', ')[1]} idle {v['gap_ms']:.3f} ms/step vs model {v['model_ms']:.3f}"
        for k, v in tr.items()
        if k.startswith("training")
    )
    part.summary = (
        f"load {load_s:.1f} s; loader {', '.join(loader_rates)} reads/s "
        f"(workers {worker_counts}); {idle}; no-loader idle {ref['gap_ms']:.3f} ms/step"
    )
    part.body += [
        f"{n:,} reads x 150 bp generated with numpy in {fastq.parent}; `Dataset` load "
        f"{load_s:.2f} s; transform `Compose([ReverseComplement(p=0.5), Mutator(0.01), "
        f"OneHotEncoder()])` on `{dev}`; batch 256, shuffled.  Training: a 2-layer Conv1d "
        "(64 channels, kernel 9) + linear head, Adam; per step, CUDA events around the model "
        "step (model ms) and from one step's end to the next one's start (GPU idle ms: what "
        "the GPU waits for data or for the host); the first 10 steps are not counted.",
        "",
        markdown_table(
            ["run", "reads/s", "seconds", "model ms/step", "GPU idle ms/step", "host ms/step"],
            rows,
            align="lrrrrr",
        ),  # fmt: skip
    ]
    log(f"d: {part.summary}")


# ------------------------------------------------------------ main
# the parts, run in this order: key -> (title, runner(part, lane, context)); context holds
# "log_dir", "fastq" and "proc" (the FASTQ generator of part d).  One more part is one entry.
PARTS: dict[str, tuple[str, Any]] = {
    "a": ("CUDA-marked tests (pytest -m gpu)", lambda p, lane, ctx: part_a(p, lane, ctx["log_dir"])),
    "b": ("CPU == CUDA bit identity", lambda p, lane, ctx: part_b(p, lane)),
    "c": ("Kernel bandwidth vs device copy", lambda p, lane, ctx: part_c(p, lane)),
    "f": ("Fused pipeline: one launch per batch, resident / ragged / padded (issue 9)",
          lambda p, lane, ctx: __import__("_gpu_fused").part_fused(p, lane)),
    "d": ("Loader on CUDA + GPU idle per training step",
          lambda p, lane, ctx: part_d(p, lane, ctx["fastq"], ctx["proc"])),
}


def preflight() -> str | None:
    """Why Triton cannot launch here (None: it can).  The dry run only reports it."""
    from deepbiop_gpu.ops._dispatch import triton_preflight

    problem = triton_preflight()
    if DRY:
        log(f"preflight (not enforced in the dry run): {problem or 'ok'}")
        return None
    log(f"preflight: {problem or 'ok (C compiler, Python.h, libcuda found)'}")
    return problem


class MetaLane:
    """Part b / c cases on ``meta`` tensors: shapes only, nothing runs (``--count-keys``)."""

    dry = False
    device = torch.device("meta")
    name = "meta"

    def to(self, x):
        return torch.empty_like(x, device="meta") if isinstance(x, torch.Tensor) else x

    def run(self, fn, *args):
        return fn(*(self.to(a) for a in args))

    def sync(self) -> None:
        pass


def count_keys() -> int:
    """Print the distinct kernel variants (compile keys) parts b and c launch."""
    from _compile_keys import KeyCounter, counting

    os.environ[FORCE] = "1"  # meta tensors go to the Triton launchers, which only record
    lane = MetaLane()
    for key, cases in (("b", B_SHAPES), ("c", None)):
        counter = KeyCounter()
        with counting(counter, run=False):
            if key == "b":
                for si, (B, L) in enumerate(cases):
                    batch = random_batch(B, L, seed=1000 + si)
                    for _, fn in identity_cases(L):
                        lane.run(fn, *batch)
            else:
                for _, L, make, out_per_read in timing_cases(lane):
                    B = max(1, -(-2**30 // out_per_read))
                    B = min(B, max(1, 4 * 2**30 // max(L, 8)))
                    make(B, L)[0]()
        print(f"part {key}: {counter.table()}")
    return 0


def main() -> int:
    out = ARGS.out or (Path("/tmp/gpu_check_dry_run.md") if DRY else HERE / "results" / "gpu.md")
    log_dir = ARGS.log_dir or out.parent
    log_dir.mkdir(parents=True, exist_ok=True)
    if ARGS.count_keys:
        return count_keys()
    parts = {key: Part(key, title) for key, (title, _) in PARTS.items()}
    info: dict[str, str] = {}
    try:
        info = machine_info(["triton", "numba", "pysam", "isal", "pytest", "hypothesis"])
        info["imports"] = str(deepbiop_gpu_alias.check())
    except Exception as e:  # noqa: BLE001
        info["error"] = f"{type(e).__name__}: {e}"
    log(f"machine: {info}")
    if not DRY and not torch.cuda.is_available():
        log("no CUDA device: run with --dry-run on a machine without a GPU")
        return 2
    problem = preflight()
    if problem is not None:
        print(f"gpu_check: STOP: Triton cannot launch kernels on this machine: {problem}. "
              "Install a C compiler (apt-get install gcc) or set CC, and the Python headers "
              "(python3-dev); the ops would run their torch code instead.", flush=True)
        return 3
    lane = Lane(DRY)
    reads = ARGS.reads or (20_000 if DRY else 1_000_000)
    fastq, proc = (None, None)
    selected = ARGS.parts or "".join(PARTS)
    if "d" in selected:
        fastq, proc = make_fastq(reads)
    for key in PARTS:
        part = parts[key]
        if key not in selected:
            part.status = "skipped (--parts)"
            continue
        t = time.perf_counter()
        if remaining() < 25:
            part.status = "skipped (deadline)"
            part.summary = f"{DEADLINE_S:.0f} s deadline reached"
            log(f"{key}: skipped, deadline")
            continue
        try:
            PARTS[key][1](part, lane, {"log_dir": log_dir, "fastq": fastq, "proc": proc})
        except Exception as e:  # noqa: BLE001 - report and go on
            part.status = f"ERROR {type(e).__name__}"
            part.summary = str(e)[:200]
            part.body += ["```", traceback.format_exc()[-3000:], "```"]
            log(f"{key}: {part.status}: {e}")
            traceback.print_exc()
        part.seconds = time.perf_counter() - t
    if proc is not None and proc.poll() is None:
        proc.kill()

    total = time.perf_counter() - T0
    cmd = " ".join(["python", "benchmarks/gpu_check.py", *sys.argv[1:]])
    summary = markdown_table(
        ["part", "status", "s", "result"],
        [(f"{p.key}. {p.title}", p.status, f"{p.seconds:.0f}", p.summary) for p in parts.values()],
        align="llrl",
    )
    keys = ("gpu", "cuda", "host_cpu", "nproc", "python", "torch", "triton", "numpy", "numba",
            "pysam", "isal", "git", "date")  # fmt: skip
    lines = [
        "# GPU check" + (" (dry run on the CPU)" if DRY else ""),
        "",
        f"Command: `{cmd}` ({total:.0f} s)",
        "",
        "Machine: " + ", ".join(f"{k} {info[k]}" for k in keys if k in info),
        "",
        f"Imports: {info.get('imports', info.get('error', '?'))}",
        "",
        "## Summary",
        "",
        summary,
        "",
    ]
    for p in parts.values():
        if p.body:
            lines += [f"## {p.key}. {p.title}", "", *p.body, ""]
    text = "\n".join(lines) + "\n"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    except OSError as e:
        log(f"could not write {out}: {e}")
    print()
    print("\n".join(lines[: 11 + summary.count("\n") + 1]))
    print(f"\nreport: {out}")
    bad = [p for p in parts.values() if p.key in selected and p.status != "ok"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
