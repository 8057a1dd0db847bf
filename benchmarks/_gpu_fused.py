"""The fused CUDA path, measured on a GPU (issue 9): one prepared run, or a part of gpu_check.

What it measures (each guarded; a failure is reported and the next one runs):

1. the fused kernel's GB/s (bytes read + written) at >= 1 GB of output, for
   several plans (one-hot only; reverse-complement + mutate + one-hot;
   crop + reverse-complement + mutate + one-hot; bytes out with qualities),
   against a device-to-device copy of the same number of bytes;
2. loaders over 1M x 150 bp reads (B = 4096, one-hot float32, and with
   Compose([ReverseComplement, Mutator, OneHotEncoder])): reads/s of the
   resident dataset (``Dataset.to("cuda")``), the ragged feed (the CUDA
   default) and the padded feed (pinned CPU collate, the previous path),
   and the same three over the bundled ONT file;
3. CPU == CUDA bit identity of the fused op on random ragged batches for
   fused plans in every encoding, and of the three CUDA loaders against the
   CPU loader (the CPU side with numba and with the torch code);
4. ``torch.cuda.set_sync_debug_mode("error")`` around a resident and a ragged
   epoch: any host synchronisation in the loop raises.

A table is printed last.  ``part_fused(part, lane)`` is the entry point for
``gpu_check.py`` (its ``Part`` and ``Lane``); ``--dry-run`` runs everything on
the CPU under Triton's interpreter with tiny sizes (no GPU needed).

Usage::

    python benchmarks/_gpu_fused.py [--out FILE]     # on the CUDA machine (~2-3 min)
    python benchmarks/_gpu_fused.py --dry-run         # anywhere
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

if __name__ == "__main__" and "--dry-run" in sys.argv:  # before triton is imported
    os.environ["TRITON_INTERPRET"] = "1"

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

FORCE = "DEEPBIOP_GPU_FORCE_TRITON"
NUMBA = "DEEPBIOP_GPU_NUMBA"


class Lane:
    """Where the kernels run: CUDA, or (dry run) CPU tensors forced to the interpreter."""

    def __init__(self, dry: bool) -> None:
        self.dry = dry
        self.device = torch.device("cpu" if dry else "cuda")

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize()


class Part:
    def __init__(self) -> None:
        self.status, self.summary, self.body = "not run", "", []


def _env(**values):
    """Set environment variables for a ``with`` block."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        old = {k: os.environ.get(k) for k in values}
        os.environ.update({k: v for k, v in values.items()})
        try:
            yield
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    return ctx()


def _kernel_side(lane: Lane):
    """The environment that sends ``lane`` 's tensors to the Triton kernels."""
    return _env(**{FORCE: "1"}) if lane.dry else _env()


def _cpu_side(numba: bool):
    return _env(**{FORCE: "0", NUMBA: "1" if numba else "0"})


def time_ms(fn, lane: Lane, reps: int = 10) -> float:
    """Median milliseconds of ``fn()`` (CUDA events on the GPU), after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(reps if not lane.dry else 1):
        if lane.device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return float(np.median(times))


def random_ragged(n: int, L: int, device, seed: int = 0, ragged: bool = False):
    """``n`` reads of ``L`` (or 1..L when ``ragged``) random ACGT / N bases, flat, on ``device``."""
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, L + 1, (n,), generator=gen) if ragged else torch.full((n,), L)
    starts = torch.cumsum(lengths, 0) - lengths
    total = int(lengths.sum())
    alphabet = torch.tensor(list(b"ACGTACGTACGTNacgtRY"), dtype=torch.uint8)
    seqs = alphabet[torch.randint(0, len(alphabet), (total,), generator=gen)]
    quals = torch.randint(33, 75, (total,), generator=gen, dtype=torch.uint8)
    index = torch.randperm(n, generator=gen).to(torch.int64) * 3 + 11
    to = lambda t: t.to(device)  # noqa: E731
    return to(seqs), to(quals), to(starts.to(torch.int64)), to(lengths), to(index)


def _plans():
    from deepbiop_gpu import IntegerEncoder, Mutator, OneHotEncoder, ReverseComplement, Sampler

    return {
        "one-hot f32": ([], OneHotEncoder()),
        "rc + mutate + one-hot f32": ([ReverseComplement(p=0.5), Mutator(0.01)], OneHotEncoder()),
        "crop 100 + rc + mutate + one-hot f32": (
            [Sampler(100), ReverseComplement(p=0.5), Mutator(0.01)], OneHotEncoder()),
        "rc + mutate, bytes + qualities": ([ReverseComplement(p=0.5), Mutator(0.01)], None),
        "rc + integer": ([ReverseComplement(p=0.5)], IntegerEncoder()),
        "one-hot bf16 NCL uniform": ([], OneHotEncoder(torch.bfloat16, "NCL", "uniform")),
    }


def _run_plan(plan, seqs, quals, starts, lengths, index, width, epoch=1):
    from deepbiop_gpu.ops._fused import fused

    steps, encoder = plan
    return fused(seqs, starts, lengths, width, [t.fused_step() for t in steps],
                 encoder and encoder.fused_step(), qualities=quals, index=index, epoch=epoch)  # fmt: skip


# ------------------------------------------------------------ 1. bandwidth
def fused_bandwidth(lane: Lane, out_gb: float = 1.0) -> list[tuple]:
    L = 150
    n = 16 if lane.dry else int(out_gb * 1e9 / (L * 16)) + 1  # one-hot f32: 16 B per base
    seqs, quals, starts, lengths, index = random_ragged(n, L, lane.device)
    rows = []
    with _kernel_side(lane):
        for name, plan in _plans().items():
            keep_quals = "qualities" in name
            q = quals if keep_quals else None
            out = _run_plan(plan, seqs, q, starts, lengths, index, L)
            written = sum(t.numel() * t.element_size() for t in out if t is not None)
            read = seqs.numel() * (2 if keep_quals else 1) + 8 * 3 * n
            ms = time_ms(lambda: _run_plan(plan, seqs, q, starts, lengths, index, L), lane)
            src = torch.empty(written, dtype=torch.uint8, device=lane.device)
            dst = torch.empty_like(src)
            copy = time_ms(lambda: dst.copy_(src), lane)
            gbs, copy_gbs = (read + written) / ms / 1e6, 2 * written / copy / 1e6
            rows.append((name, n, f"{written / 1e9:.2f}", f"{ms:.2f}", f"{gbs:.0f}",
                         f"{copy_gbs:.0f}", f"{100 * gbs / copy_gbs:.0f}%"))  # fmt: skip
            del out, src, dst
    return rows


# ------------------------------------------------------------ 2. loaders
def synthetic_dataset(n: int, L: int = 150):
    import deepbiop_gpu as dg
    from deepbiop_gpu.packed import PackedReads

    seqs, quals, _, _, _ = random_ragged(n, L, "cpu", seed=5)
    offsets = torch.arange(n + 1, dtype=torch.int64) * L
    reads = PackedReads(seqs, offsets, quals, [f"r{i}" for i in range(n)], validate=False)
    return dg.Dataset.from_reads(reads)


def make_loader(ds, feed: str, lane: Lane, transform, batch: int):
    import deepbiop_gpu as dg

    device = lane.device
    data = ds
    if feed == "resident":
        if isinstance(ds, dg.data.dataset.Subset):
            data = dg.data.dataset.Subset(ds.dataset.to(device), ds.indices)
        else:
            data = ds.to(device)
    loader = dg.DataLoader(data, batch_size=batch, shuffle=True, seed=1, device=device,
                           transform=transform)  # fmt: skip
    if feed == "ragged" and loader.feed != "ragged":
        loader._use_ragged_feed(pin=loader.pin_memory)
    if feed == "padded" and loader.feed == "ragged":
        loader._in_process.ring = None
        loader._in_process.pin = loader.pin_memory
    assert loader.feed == feed or (feed == "padded" and loader.feed == "cpu"), loader.feed
    return loader


def epoch_reads_per_s(loader, lane: Lane, n: int, epochs: int = 1) -> float:
    for _ in loader:  # warm-up epoch: compiles, fills the ring
        pass
    lane.sync()
    t = time.perf_counter()
    for _ in range(epochs):
        for _batch in loader:
            pass
    lane.sync()
    return n * epochs / (time.perf_counter() - t)


def _ont(lane: Lane):
    """The bundled ONT reads (2 of them in the dry run: the interpreter is slow)."""
    import deepbiop_gpu as dg

    ont = dg.Dataset(Path(dg.__file__).parent / "example_data" / "lambda_phage_ont.fastq.gz")
    return ont if not lane.dry else dg.data.dataset.Subset(ont, np.arange(2))


def loader_rates(lane: Lane) -> list[tuple]:
    from deepbiop_gpu import Compose, Mutator, OneHotEncoder, ReverseComplement

    rows = []
    n = 300 if lane.dry else 1_000_000
    short = synthetic_dataset(n)
    ont = _ont(lane)
    transforms = {
        "one-hot f32": OneHotEncoder(),
        "rc + mutate + one-hot f32": Compose([ReverseComplement(p=0.5), Mutator(0.01), OneHotEncoder()]),
    }
    cases = [("150 bp", short, 4096 if not lane.dry else 64, 1)]
    cases.append(("ONT lambda", ont, 32 if not lane.dry else 2, 1 if lane.dry else 20))
    with _kernel_side(lane):
        for data_name, ds, batch, epochs in cases:
            for t_name, transform in transforms.items():
                rates = {}
                for feed in ("resident", "ragged", "padded"):
                    loader = make_loader(ds, feed, lane, transform, batch)
                    rates[feed] = epoch_reads_per_s(loader, lane, len(ds), epochs)
                rows.append((data_name, t_name, batch,
                             *(f"{rates[f] / 1e6:.3f} M" for f in ("resident", "ragged", "padded")),
                             f"{rates['resident'] / rates['padded']:.1f}x",
                             f"{rates['ragged'] / rates['padded']:.1f}x"))  # fmt: skip
    return rows


# ------------------------------------------------------------ 3. identity
def identity(lane: Lane) -> list[tuple]:
    import deepbiop_gpu as dg
    from deepbiop_gpu import Compose, Mutator, OneHotEncoder, ReverseComplement, Sampler

    rows = []
    n = 16 if lane.dry else 20_000
    for seed, L in ((0, 40), (1, 300), (2, 5000)):
        if lane.dry and L > 40:
            continue
        data = random_ragged(n if L < 1000 else n // 20, L, "cpu", seed=seed, ragged=True)
        width = L - 3  # some reads truncated
        for name, plan in _plans().items():
            for quals in (True, False):
                args = (data[0], data[1] if quals else None, *data[2:])
                results = {}
                for numba in (True, False):
                    if not numba and L > 1000:
                        continue
                    with _cpu_side(numba):
                        results[numba] = _run_plan(plan, args[0], args[1], args[2], args[3], args[4], width)
                on = [None if t is None else t.to(lane.device) for t in args]
                with _kernel_side(lane):
                    got = _run_plan(plan, on[0], on[1], on[2], on[3], on[4], width)
                ok = all(
                    all((g is None and w is None) or torch.equal(g.cpu(), w) for g, w in zip(got, want))
                    for want in results.values()
                )
                rows.append((f"fused op, L<={L}", f"{name}{', qualities' if quals else ''}",
                             "ok" if ok else "DIFFERENT"))  # fmt: skip
    # the loaders: resident / ragged / padded on the device against the CPU loader
    ds = dg.data.dataset.Subset(synthetic_dataset(3000, 150), np.arange(0, 3000, 3 if not lane.dry else 100))
    ont = _ont(lane)
    transform = Compose([Sampler(120), ReverseComplement(p=0.5), Mutator(0.05), OneHotEncoder()])
    for data_name, data in (("150 bp subset", ds), ("ONT lambda", ont)):
        with _cpu_side(True):
            want = list(dg.DataLoader(data, batch_size=64 if not lane.dry else 8, shuffle=True, seed=1, transform=transform))
        for feed in ("resident", "ragged", "padded"):
            base = data.dataset if isinstance(data, dg.data.dataset.Subset) else data
            on = (dg.data.dataset.Subset(base.to(lane.device), data.indices)
                  if feed == "resident" and base is not data else data)  # fmt: skip
            with _kernel_side(lane):
                if feed == "resident" and base is data:
                    on = data.to(lane.device)
                loader = dg.DataLoader(on, batch_size=64 if not lane.dry else 8, shuffle=True, seed=1, device=lane.device,
                                       transform=transform)  # fmt: skip
                if feed == "ragged" and loader.feed != "ragged":
                    loader._use_ragged_feed(pin=False)
                if feed == "padded" and loader.feed == "ragged":
                    loader._in_process.ring = None
                got = list(loader)
            ok = len(got) == len(want) and all(
                torch.equal(g[k].cpu(), w[k]) for g, w in zip(got, want)
                for k in ("sequences", "qualities", "lengths", "index") if k in w
            )
            rows.append((f"loader, {data_name}", f"{feed} vs CPU loader", "ok" if ok else "DIFFERENT"))
    return rows


# ------------------------------------------------------------ 4. sync debug
def sync_debug(lane: Lane) -> list[tuple]:
    from deepbiop_gpu import Compose, Mutator, OneHotEncoder, ReverseComplement

    if lane.device.type != "cuda":
        return [("sync debug", "needs CUDA", "skipped")]
    rows = []
    ds = synthetic_dataset(200_000)
    transform = Compose([ReverseComplement(p=0.5), Mutator(0.01), OneHotEncoder()])
    for feed in ("resident", "ragged"):
        loader = make_loader(ds, feed, lane, transform, 4096)
        for _ in loader:  # warm-up: compiles, first allocations
            pass
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            for batch in loader:
                pass
            status = "clean"
        except RuntimeError as e:
            status = f"SYNC: {str(e).splitlines()[0][:100]}"
        finally:
            torch.cuda.set_sync_debug_mode(0)
        rows.append(("sync debug (error mode)", f"{feed} loader, one epoch", status))
    return rows


# ------------------------------------------------------------ the report
def _table(header, rows) -> str:
    from _common import markdown_table

    return markdown_table(header, rows)


def part_fused(part, lane) -> None:
    """Run everything into ``part`` (gpu_check's ``Part``: status, summary, body)."""
    sections = [
        ("Fused kernel bandwidth (>= 1 GB out) vs device copy",
         ["plan", "reads", "out GB", "ms", "GB/s", "copy GB/s", "% of copy"], fused_bandwidth),
        ("Loaders: reads/s (resident / ragged / padded)",
         ["data", "transform", "B", "resident", "ragged", "padded", "resident/padded",
          "ragged/padded"], loader_rates),
        ("CPU == CUDA identity", ["what", "case", "result"], identity),
        ("Host syncs in the loop", ["check", "case", "result"], sync_debug),
    ]  # fmt: skip
    failures, body, summary = [], [], []
    for title, header, fn in sections:
        t = time.perf_counter()
        try:
            rows = fn(lane)
            bad = [r for r in rows if any(str(c).startswith(("DIFFERENT", "SYNC")) for c in r)]
            if bad:
                failures.append(title)
            body += [f"### {title} ({time.perf_counter() - t:.0f} s)", "", _table(header, rows), ""]
            summary.append(f"{title.split(':')[0].split(' (')[0]}: {len(rows)} rows, {len(bad)} bad")
        except Exception:  # noqa: BLE001 - report and go on
            failures.append(title)
            body += [f"### {title}: FAILED", "", "```", traceback.format_exc(), "```", ""]
            summary.append(f"{title}: FAILED")
        print(body[-2] if body[-1] == "" else body[-1], flush=True)
    part.body = body
    part.summary = "; ".join(summary)
    part.status = "ok" if not failures else f"FAILED: {', '.join(failures)}"


def main() -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry-run", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    lane = Lane(args.dry_run)
    if not args.dry_run and not torch.cuda.is_available():
        print("no CUDA device: use --dry-run", file=sys.stderr)
        return 2
    part = Part()
    part_fused(part, lane)
    from _common import machine_info

    info = machine_info(["triton", "numba"])
    text = "\n".join([
        "# The fused CUDA path (issue 9)", "",
        f"Command: `python benchmarks/_gpu_fused.py{' --dry-run' if args.dry_run else ''}` "
        f"({info['date']}, git {info['git']}, {info.get('gpu', 'no GPU')}, torch {info['torch']}, "
        f"triton {info.get('triton', '-')})", "", f"Status: {part.status}", "", *part.body,
    ])  # fmt: skip
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0 if part.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
