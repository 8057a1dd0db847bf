"""End-to-end loader throughput: FASTQ -> augmented one-hot batches, against a user's own loader.

Both pipelines deliver, for every read of a 1M x 150 bp FASTQ (plain and
gzip), once per epoch in a shuffled order, batches of 256 with the read
reverse-complemented with probability 0.5 (qualities reversed with it),
1% substitutions and a ``float32 [B, L, 4]`` one-hot encoding:

* ``deepbiop_gpu``: ``Dataset(path)`` then ``DataLoader(ds, batch_size=256,
  shuffle=True, num_workers=w, transform=Compose([ReverseComplement(p=0.5),
  Mutator(0.01), OneHotEncoder()]))`` on the CPU (with workers the transform
  runs in them);
* ``baseline``, what a user writes today: dnaio records into a list of
  ``(sequence, qualities)`` strings in a ``torch.utils.data.Dataset``, and a
  ``torch.utils.data.DataLoader`` (same batch size, shuffle and workers)
  whose ``collate_fn`` packs the strings into numpy arrays, reverse-
  complements reads picked with ``random.Random`` (p=0.5), mutates with
  ``np.random`` (dense mask + replacement on the codes) and one-hot encodes
  with a numpy table.

"load" = parsing the file into the dataset (``Dataset(path)`` / dnaio into
the list); "epoch" = one full pass of the loader, worker start-up included
(workers are not persistent, as by default), after a warm-up: the transform
(and the baseline's collate) runs once on one batch in the main process
before the clock starts, which compiles the numba loops before the workers
fork.  Each epoch is run ``--epochs`` times; the best time counts (the
machine is shared), all times are listed.

``--profile`` adds a cProfile of one ``num_workers=0`` epoch of each
pipeline (top functions by own time) to the report.

``--feed`` measures instead what a CUDA loader's CPU side does per batch
(no GPU needed): the padded collate (what crosses PCIe today) against the
ragged gather into the staging ring (what crosses with the ragged feed), on
the bundled ONT file and a 150 bp file, and the bytes each ships per real
base (``benchmarks/results/feed.md``).

Usage::

    python benchmarks/bench_loader.py                 # writes benchmarks/results/loader.md
    python benchmarks/bench_loader.py --reads 100000 --epochs 1   # quick, prints only
    python benchmarks/bench_loader.py --feed          # writes benchmarks/results/feed.md
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, load_average, machine_info, markdown_table, short_fastq  # noqa: E402

BATCH = 256
RATE = 0.01
P_RC = 0.5
FEED_OURS = "deepbiop_gpu, bytes only (GPU feed)"
FEED_BASE = "baseline, packing only (GPU feed)"


# ------------------------------------------------------------------ ours
def ours_transform():
    from deepbiop_gpu import Compose, Mutator, OneHotEncoder, ReverseComplement

    return Compose([ReverseComplement(p=P_RC), Mutator(RATE), OneHotEncoder()])


def ours_load(path: Path):
    from deepbiop_gpu import Dataset

    return Dataset(path)


def ours_loader(ds, workers: int, epoch: int = 0, threads: int | None = None,
                transform: bool = True):
    """Our DataLoader; ``threads``: its ``num_threads`` (collate threads), default if None."""
    from deepbiop_gpu import DataLoader

    extra = {} if threads is None else {"num_threads": threads}
    loader = DataLoader(
        ds, batch_size=BATCH, shuffle=True, num_workers=workers,
        transform=ours_transform() if transform else None, seed=0, **extra,
    )  # fmt: skip
    loader.set_epoch(epoch)
    return loader


def ours_warm_up(ds) -> None:
    from deepbiop_gpu import default_collate

    batch = default_collate(ds.__getitems__(list(range(BATCH))))
    batch["epoch"] = 0
    ours_transform()(batch)


# -------------------------------------------------------------- baseline
def baseline_load(path: Path) -> BaselineDataset:
    import dnaio

    threads = 1 if str(path).endswith(".gz") else 0
    with dnaio.open(path, open_threads=threads) as fh:
        records = [(r.sequence, r.qualities) for r in fh]
    return BaselineDataset(records)


class BaselineDataset(torch.utils.data.Dataset):
    """(sequence, qualities) strings, one pair per read."""

    def __init__(self, records: list[tuple[str, str]]) -> None:
        self.records = records

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> tuple[str, str]:
        return self.records[i]


def _tables():
    code = np.full(256, 4, np.uint8)
    for i, c in enumerate(b"ACGT"):
        code[c] = code[c + 32] = i
    comp = np.arange(256, dtype=np.uint8)
    for a, b in (b"AT", b"CG", b"at", b"cg"):
        comp[a], comp[b] = b, a
    onehot = np.zeros((6, 4), np.float32)  # code 4 (N) and 5 (padding): zeros
    onehot[np.arange(4), np.arange(4)] = 1
    return code, comp, onehot


CODE, COMP, ONEHOT = _tables()
PAD_CODE = 5


class NumpyCollate:
    """Pack, reverse-complement (p=0.5), mutate (1%) and one-hot encode a list of reads.

    ``augment=False`` only packs (bases, qualities, lengths): the batch a GPU
    training loop would then encode on the device.
    """

    def __init__(self, seed: int = 0, augment: bool = True) -> None:
        self.seed = seed
        self.augment = augment
        self._pid = -1

    def _rngs(self):
        if self._pid != os.getpid():  # a fresh stream in each worker process
            info = torch.utils.data.get_worker_info()
            wid = info.id if info is not None else -1
            self._coin = random.Random(self.seed * 1000 + wid)
            self._np = np.random.default_rng([self.seed, wid + 1])
            self._pid = os.getpid()
        return self._coin, self._np

    def __call__(self, samples: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
        coin, rng = self._rngs()
        seqs = [s for s, _ in samples]
        quals = [q for _, q in samples]
        lens = np.fromiter(map(len, seqs), np.int64, len(seqs))
        B, L = len(seqs), int(lens.max())
        if (lens == L).all():  # the common case: one join, one reshape
            s = np.frombuffer("".join(seqs).encode(), np.uint8).reshape(B, L).copy()
            q = np.frombuffer("".join(quals).encode(), np.uint8).reshape(B, L).copy()
        else:
            s = np.zeros((B, L), np.uint8)
            q = np.zeros((B, L), np.uint8)
            for i, (a, b) in enumerate(samples):
                s[i, : len(a)] = np.frombuffer(a.encode(), np.uint8)
                q[i, : len(b)] = np.frombuffer(b.encode(), np.uint8)
        if not self.augment:
            return {
                "sequences": torch.from_numpy(s),
                "qualities": torch.from_numpy(q),
                "lengths": torch.from_numpy(lens.astype(np.int32)),
            }
        flip = [i for i in range(B) if coin.random() < P_RC]
        for i in flip:  # ragged-safe reverse complement of the picked reads
            n = lens[i]
            s[i, :n] = COMP[s[i, n - 1 :: -1]]
            q[i, :n] = q[i, n - 1 :: -1]
        codes = CODE[s]
        codes[np.arange(L)[None, :] >= lens[:, None]] = PAD_CODE
        hit = (rng.random((B, L)) < RATE) & (codes < 4)
        shift = rng.integers(1, 4, (B, L), dtype=np.uint8)
        codes = np.where(hit, (codes + shift) & 3, codes)
        return {
            "sequences": torch.from_numpy(np.take(ONEHOT, codes, axis=0)),
            "qualities": torch.from_numpy(q),
            "lengths": torch.from_numpy(lens.astype(np.int32)),
        }


def baseline_loader(ds: BaselineDataset, workers: int, epoch: int = 0, augment: bool = True):
    gen = torch.Generator().manual_seed(epoch)
    return torch.utils.data.DataLoader(
        ds,
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        collate_fn=NumpyCollate(augment=augment),
        generator=gen,
    )


def ours_feed_loader(ds, workers: int, epoch: int = 0, threads: int | None = None):
    return ours_loader(ds, workers, epoch, threads, transform=False)


def baseline_feed_loader(ds, workers: int, epoch: int = 0):
    return baseline_loader(ds, workers, epoch, augment=False)


def baseline_warm_up(ds) -> None:
    NumpyCollate()([ds[i] for i in range(BATCH)])


# ----------------------------------------------------------------- timing
def run_epoch(loader) -> tuple[float, int]:
    n = 0
    t = time.perf_counter()
    for batch in loader:
        n += batch["sequences"].shape[0]
    return time.perf_counter() - t, n


def profile_epoch(loader, top: int = 18) -> str:
    prof = cProfile.Profile()
    prof.enable()
    run_epoch(loader)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    keep = []
    started = False
    for line in text.splitlines():
        if line.strip().startswith("ncalls"):
            started = True
        if started and line.strip():
            keep.append(line.rstrip())
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    return f"total own time {total:.2f} s\n" + _relative_paths("\n".join(keep))


def _relative_paths(text: str) -> str:
    """File names in a profile, relative to the repository or to site-packages."""
    import re

    text = text.replace(str(Path(__file__).resolve().parents[1]) + "/", "")
    return re.sub(r"\S*/site-packages/", "site-packages/", text)


class _IndexOnly(torch.utils.data.Dataset):
    """``n`` items; a batch is just its indices (the collate makes the tensors)."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, idx):
        return idx


class _FakeBatch:
    """Returns a batch shaped like ours after the transform: 4 tensors + 256 names.

    ``packed``: the same bytes in one tensor (one shared-memory segment per batch);
    None: only the batch's indices, a list of 256 ints (the machinery's own cost).
    """

    def __init__(self, packed: bool | None) -> None:
        self.packed = packed

    def __call__(self, idx):
        if self.packed is None:
            return list(idx)
        B = len(idx)
        names = [f"A00129:183:H77K2DMXX:1:1101:{i}:{i}" for i in idx]
        if self.packed:
            nbytes = B * 152 * 16 + B * 152 + B * 4 + B * 8
            return {"buffer": torch.zeros(nbytes, dtype=torch.uint8), "names": names}
        return {
            "sequences": torch.zeros(B, 152, 4),
            "qualities": torch.zeros(B, 152, dtype=torch.uint8),
            "lengths": torch.zeros(B, dtype=torch.int32),
            "index": torch.tensor(idx),
            "names": names,
        }


def ipc_floor(n: int, workers: int, packed: bool | None) -> float:
    """Seconds for an epoch of ``n`` reads of ready-made batches (no data work at all)."""
    sampler = torch.utils.data.BatchSampler(torch.utils.data.RandomSampler(range(n)), BATCH, False)
    loader = torch.utils.data.DataLoader(
        _IndexOnly(n), batch_sampler=sampler, num_workers=workers, collate_fn=_FakeBatch(packed)
    )
    t = time.perf_counter()
    for _ in loader:
        pass
    return time.perf_counter() - t


def stage_breakdown(ds, rounds: int = 5) -> list[tuple[str, float, float]]:
    """Median us per batch of 256 of each stage of our pipeline, on fresh random batches.

    Each call draws new random indices (as a shuffled epoch does), so cache
    misses into the read buffer are counted.  Returns (stage, p50 us, p20 us).
    """
    from _common import Provider, measure

    from deepbiop_gpu import default_collate, ops
    from deepbiop_gpu.data.loader import _collate_transform
    from deepbiop_gpu.data.prefetch import batch_to_device, iter_tensors

    rng = np.random.default_rng(0)
    n = len(ds)
    draw = lambda: rng.integers(0, n, BATCH)  # noqa: E731

    batch = default_collate(ds.__getitems__(draw().tolist()))
    batch["epoch"] = 0
    s, ln, q, i = batch["sequences"], batch["lengths"], batch["qualities"], batch["index"]
    gate = ops.bernoulli_gate(P_RC, 0, i)
    tiny_s, tiny_n = s[:1, :1].clone(), ln[:1].clamp(max=1)
    transform = ours_transform()
    cpu = torch.device("cpu")
    steps = list(transform)

    def one_by_one(b):
        for t in steps:
            b = t(b)
        return b

    provs = [
        Provider("collate + transform, fused (what the loader runs)", lambda: _collate_transform(
            default_collate, ds.__getitems__(draw().tolist()), transform, 0)),
        Provider("collate only: ds.__getitems__ + default_collate", lambda: default_collate(
            ds.__getitems__(draw().tolist()))),
        Provider("transform only: Compose([...]) on a padded batch (fused)",
                 lambda: transform(dict(batch))),
        Provider("transform step by step (5 op calls, not fused)", lambda: one_by_one(dict(batch))),
        Provider("↳ bernoulli_gate (p=0.5, 256 reads)", lambda: ops.bernoulli_gate(P_RC, 0, i)),
        Provider("↳ reverse_complement (bases)", lambda: ops.reverse_complement(s, ln, gate)),
        Provider("↳ reverse_complement (qualities)", lambda: ops.reverse_complement(
            q, ln, gate, complement=False)),
        Provider("↳ mutate (0.01)", lambda: ops.mutate(s, ln, RATE, 0, i, 0)),
        Provider("↳ one_hot (float32 NLC)", lambda: ops.one_hot(s, ln)),
        Provider("↳ op call overhead: encode on a 1x1 batch", lambda: ops.encode(tiny_s, tiny_n)),
        Provider("prefetch: batch_to_device(cpu) + iter_tensors", lambda: (
            batch_to_device(batch, cpu, False), list(iter_tensors(batch)))),
    ]  # fmt: skip
    res = measure(provs, rounds=rounds, round_s=0.1)
    return [(p.name, res[p.name].p50 * 1e3, res[p.name].p20 * 1e3) for p in provs]


# ------------------------------------------------------------------ feed
FEED_BATCHES = {"ont": (32, 236), "short": (256, 4096)}


def _feed_cost(ds, batch: int, rounds: int = 5) -> dict[str, float]:
    """Best-of-``rounds`` CPU ms per batch (padded collate / ragged gather) and bytes per base."""
    from deepbiop_gpu.data.dataset import collate_rows
    from deepbiop_gpu.data.staging import StagingRing, gather_ragged

    reads = ds.reads
    n = len(ds)
    order = np.random.default_rng(0).permutation(n)
    batches = [order[i : i + batch] for i in range(0, n - batch + 1, batch)] or [order]
    ring = StagingRing(4, pin=False)
    padded_s, ragged_s = [], []
    padded_bytes = ragged_bytes = bases = 0
    for r in range(rounds):
        t = time.perf_counter()
        for rows in batches:
            b = collate_rows(reads, rows, torch.from_numpy(rows), None, 0, None, None, 8)
            if r == 0:
                padded_bytes += sum(v.numel() * v.element_size() for v in b.values()
                                    if isinstance(v, torch.Tensor))  # fmt: skip
        padded_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        for rows in batches:
            rb = gather_ragged(reads, rows, torch.from_numpy(rows), None, 0, ring, None, 8)
            if r == 0:
                ragged_bytes += rb.nbytes
                bases += rb.bases
        ragged_s.append(time.perf_counter() - t)
    k = len(batches)
    return {
        "batches": k,
        "padded_ms": min(padded_s) / k * 1e3,
        "ragged_ms": min(ragged_s) / k * 1e3,
        "padded_bpb": padded_bytes / bases,
        "ragged_bpb": ragged_bytes / bases,
        "allocations": ring.allocations,
    }


def feed_table(out: Path | None) -> None:
    """The feed table (see the module docstring): ``--feed``."""
    from deepbiop_gpu import Dataset
    from deepbiop_gpu.example_data import __file__ as examples

    ont = Path(examples).parent / "lambda_phage_ont.fastq.gz"
    short = short_fastq(100_000)
    info = machine_info(["numba"])
    rows = []
    for key, name, path in (("ont", "ONT lambda (bundled)", ont), ("short", "150 bp x 100k", short)):
        ds = Dataset(path)
        lengths = ds.reads.lengths.numpy()
        for batch in FEED_BATCHES[key]:
            _feed_cost(ds, batch, rounds=1)  # compile / warm the loops
            c = _feed_cost(ds, batch)
            rows.append((
                name, f"{len(ds):,}", f"{lengths.mean():.0f} (max {lengths.max():,})", batch,
                c["batches"], f"{c['padded_ms']:.3f}", f"{c['ragged_ms']:.3f}",
                f"{c['padded_bpb']:.2f}", f"{c['ragged_bpb']:.3f}", c["allocations"],
            ))  # fmt: skip
            print(rows[-1], flush=True)
    lines = [
        "# Feeding a CUDA loader: padded batches against ragged reads",
        "",
        f"Command: `python benchmarks/bench_loader.py --feed` ({info['date']}, git {info['git']}, "
        f"{info['host_cpu']}, {info['nproc']} CPUs, torch {info['torch']}, numba "
        f"{info.get('numba', '-')}, load {info['load']}).  No GPU is involved: this is the CPU "
        "side of each batch and what it hands to the host-to-device copy.",
        "",
        "* **padded**: the batch collated and padded on the CPU (`sequences` and `qualities` "
        "`uint8 [B, Lmax]`, `lengths`, `index`), what crossed PCIe before the ragged feed;",
        "* **ragged**: the batch's reads gathered back to back into a reused staging slot "
        "(offsets, index, bases, qualities: `deepbiop_gpu/data/staging.py`), what crosses now; "
        "the fused kernel pads on the device.",
        "",
        "CPU ms per batch: best of 5 passes over shuffled batches (one thread).  Bytes per real "
        "base: every byte handed to the copy, divided by the bases of the reads (qualities "
        "included, so 2 is the floor for FASTQ).  Slots allocated: buffers the 4-slot ring "
        "allocated over all passes (the rest reused them).",
        "",
        markdown_table(
            ["file", "reads", "mean length", "B", "batches", "padded CPU ms/batch",
             "ragged CPU ms/batch", "padded bytes/base", "ragged bytes/base", "slots allocated"],
            rows, align="lrrrrrrrrr",
        ),  # fmt: skip
        "",
    ]
    text = "\n".join(lines)
    print(text)
    target = out or RESULTS / "feed.md"
    target.write_text(text)
    print(f"written to {target}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reads", type=int, default=1_000_000)
    ap.add_argument("--workers", default="0,2")
    ap.add_argument("--epochs", type=int, default=2, help="timed epochs per configuration")
    ap.add_argument("--files", default="plain,gzip")
    ap.add_argument("--profile", action="store_true", help="cProfile a workers=0 epoch of each")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--feed", action="store_true", help="the feed table only (feed.md)")
    args = ap.parse_args()
    if args.feed:
        feed_table(args.out)
        return
    write = args.reads == 1_000_000 or args.out is not None
    out_md = args.out or RESULTS / "loader.md"
    workers = [int(w) for w in args.workers.split(",")]
    info = machine_info(["numba", "dnaio", "isal"])
    torch.manual_seed(0)

    rows = []
    raw = {}
    profiles: dict[str, str] = {}
    stages: list[tuple[str, float, float]] = []
    has_threads = False
    t_all = time.perf_counter()
    for kind in args.files.split(","):
        path = short_fastq(args.reads, gz=kind == "gzip")
        size = path.stat().st_size / 2**20
        print(f"{kind}: {path} ({size:.0f} MiB)", flush=True)
        for name, load, make, warm in (
            ("deepbiop_gpu", ours_load, ours_loader, ours_warm_up),
            ("baseline (dnaio + numpy collate)", baseline_load, baseline_loader, baseline_warm_up),
            (FEED_OURS, ours_load, ours_feed_loader, ours_warm_up),
            (FEED_BASE, baseline_load, baseline_feed_loader, baseline_warm_up),
        ):
            t = time.perf_counter()
            ds = load(path)
            load_s = time.perf_counter() - t
            n_reads = len(ds)
            warm(ds)
            print(f"  {name}: load {load_s:.2f} s ({n_reads} reads)", flush=True)
            if name == "deepbiop_gpu":
                info["collate_threads"] = str(getattr(make(ds, 0), "num_threads", "n/a"))
                has_threads = info["collate_threads"] != "n/a"
            for w in workers:
                times = []
                for e in range(args.epochs):
                    sec, n = run_epoch(make(ds, w, e))
                    if n != n_reads:
                        raise SystemExit(f"{name}: epoch delivered {n} reads, not {n_reads}")
                    times.append(sec)
                    print(f"    workers={w} epoch {e}: {sec:.2f} s", flush=True)
                best = min(times)
                raw[(kind, name, w)] = (load_s, best, times, n_reads)
                rows.append(
                    (
                        kind,
                        name,
                        w,
                        f"{load_s:.2f}",
                        f"{best:.2f}",
                        " / ".join(f"{x:.2f}" for x in times),
                        f"{n_reads / best / 1e6:.3f} M",
                        f"{n_reads / (load_s + best) / 1e6:.3f} M",
                    )
                )
            if args.profile and kind == args.files.split(",")[0] and name not in (FEED_OURS, FEED_BASE):
                print(f"  profiling {name} (workers=0) ...", flush=True)
                # ours: no collate threads, so that the work runs in the profiled thread
                single = {"threads": 0} if name == "deepbiop_gpu" and has_threads else {}
                profiles[name] = profile_epoch(make(ds, 0, 0, **single))
                if name == "deepbiop_gpu":
                    stages = stage_breakdown(ds)
                    epoch_w0 = raw.get((kind, name, 0))
                    batches = -(-len(ds) // BATCH)
                    if epoch_w0:
                        per_batch = epoch_w0[1] / batches * 1e6
                        stages.append(("whole loader, workers=0 (epoch / batches)", per_batch, 0))
                    from deepbiop_gpu import DataLoader

                    sec, _ = run_epoch(DataLoader(ds, batch_size=BATCH, shuffle=True))
                    stages.append(
                        ("loader without transform, workers=0 (epoch / batches)",
                         sec / batches * 1e6, 0)
                    )  # fmt: skip
                    if has_threads:
                        sec, _ = run_epoch(ours_loader(ds, 0, 0, threads=0))
                        stages.append(
                            ("whole loader, workers=0, num_threads=0 (epoch / batches)",
                             sec / batches * 1e6, 0)
                        )  # fmt: skip
            del ds
    ipc: dict[tuple[str, int], float] = {}
    if args.profile:
        for w in sorted(set(workers) | {0}):
            for packed in (False, True, None) if w else (False,):
                kind = {False: "4 tensors + names", True: "one buffer + names",
                        None: "indices only (no tensors)"}[packed]  # fmt: skip
                ipc[(kind, w)] = ipc_floor(args.reads, w, packed)
                print(f"  hand-off only, {kind}, workers={w}: {ipc[(kind, w)]:.2f} s", flush=True)
    elapsed = time.perf_counter() - t_all
    info["load_end"] = load_average()

    cmd = " ".join(["python", "benchmarks/bench_loader.py", *sys.argv[1:]])
    lines = [
        "# Loader throughput: FASTQ -> augmented one-hot batches (CPU)",
        "",
        f"Generated by `benchmarks/bench_loader.py` on {info['date']} (git {info['git']}), "
        f"measured in {elapsed:.0f} s.",
        "",
        f"Command (repository root): `{cmd}`",
        "",
        f"Machine: {info['nproc']} CPUs ({info['host_cpu']}), {info.get('memory_gib', '?')} GiB; "
        f"load average {info['load']} at the start, {info['load_end']} at the end (shared with "
        "other jobs).",
        "",
        "Versions: "
        + ", ".join(
            f"{k} {info[k]}" for k in ("python", "torch", "numpy", "numba", "dnaio", "isal", "git")
        ),
        "",
        f"Data: {args.reads:,} reads x 150 bp (`benchmarks/_data/short_1M.fastq[.gz]`, made by "
        "`bench_io.py`'s generator).  Batches of 256, shuffled; transform "
        "`Compose([ReverseComplement(p=0.5), Mutator(0.01), OneHotEncoder()])` vs the numpy "
        "`collate_fn` described in the script's docstring.  With `num_workers=0`, "
        "deepbiop_gpu's DataLoader collates and transforms in the iterating thread "
        f"(`num_threads={info.get('collate_threads', 'n/a')}`, its default), padding and "
        "transforming each batch in one compiled pass (numba) from the dataset's buffers.  "
        "With workers, each worker does the same.  Epoch = best of "
        f"{args.epochs} full passes (all listed), after a warm-up; reads/s = reads / epoch "
        "time; 'with load' adds the parse time (one epoch).",
        "",
        markdown_table(
            [
                "file",
                "pipeline",
                "workers",
                "load s",
                "epoch s (best)",
                "epochs s",
                "reads/s (epoch)",
                "reads/s incl. load",
            ],
            rows,
            align="llrrrlrr",
        ),
        "",
        "Ratios (baseline epoch time / ours):",
        "",
    ]
    for kind in args.files.split(","):
        for w in workers:
            ours = raw.get((kind, "deepbiop_gpu", w))
            base = raw.get((kind, "baseline (dnaio + numpy collate)", w))
            if ours and base:
                speed = base[1] / ours[1]
                rate = ours[3] / ours[1]
                lines.append(
                    f"* {kind}, {w} workers: {speed:.2f}x the baseline's epoch rate "
                    f"({'met' if speed >= 3 else '**missed**'} target >= 3x); "
                    f"{rate / 1e6:.2f} M reads/s ({'met' if rate >= 1e6 else '**missed**'} "
                    f"target >= 1 M/s); load {ours[0]:.2f} s vs {base[0]:.2f} s"
                )
    for kind in args.files.split(","):
        for w in workers:
            ours = raw.get((kind, FEED_OURS, w))
            base = raw.get((kind, FEED_BASE, w))
            if ours and base:
                lines.append(
                    f"* GPU feed (bytes only, transforms left to the GPU), {kind}, {w} workers: "
                    f"{base[1] / ours[1]:.2f}x the baseline's packing; "
                    f"{ours[3] / ours[1] / 1e6:.2f} M reads/s"
                )
    if stages:
        lines += [
            "",
            "## Where the time goes (deepbiop_gpu, per batch of 256, no profiler)",
            "",
            "Median (p20) microseconds per call over interleaved rounds; every call draws "
            "a fresh random batch from the dataset.  The last rows are whole epochs divided "
            "by the number of batches.  The loader runs the first row: padding and the "
            "transform's steps in one compiled pass per read, straight from the dataset's "
            "buffers.  The ↳ rows are the op calls of the step-by-step transform; 'op call "
            "overhead' is the cost of one public op call on a 1 x 1 batch (argument checks + "
            "dispatch).",
            "",
            markdown_table(
                ["stage", "us / batch (p50)", "p20"],
                [(a, f"{b:.0f}", f"{c:.0f}" if c else "") for a, b, c in stages],
                align="lrr",
            ),
        ]
    if ipc:
        lines += [
            "",
            "## Worker hand-off cost on this machine",
            "",
            "A `torch.utils.data.DataLoader` over ready-made batches shaped like ours after "
            "the transform (float32 one-hot [256, 152, 4], uint8 qualities, int32 lengths, "
            "int64 index, 256 names): no parsing, no encoding, only the hand-off from the "
            "worker processes (one shared-memory segment per tensor, fd passing).  'one "
            "buffer' sends the same bytes as a single tensor; 'indices only' sends a list "
            "of 256 ints: what torch's worker machinery (index and result queues, pickling) "
            "costs per batch before any data moves.",
            "",
            markdown_table(
                ["batches", "workers", "epoch s", "reads/s", "ms / batch"],
                [
                    (
                        kind,
                        w,
                        f"{sec:.2f}",
                        f"{args.reads / sec / 1e6:.3f} M",
                        f"{sec / -(-args.reads // BATCH) * 1e3:.2f}",
                    )
                    for (kind, w), sec in ipc.items()
                ],
                align="lrrrr",
            ),  # fmt: skip
        ]
    if profiles:
        lines += [
            "",
            "## Profiles (cProfile, one workers=0 epoch, top functions by own time)",
            "",
            "deepbiop_gpu is profiled with `num_threads=0`, so that its collate and transform "
            "run in the profiled thread.",
            "",
        ]
        for name, text in profiles.items():
            lines += [f"### {name}", "", "```", text, "```", ""]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if write:
        out_md.parent.mkdir(parents=True, exist_ok=True)
        out_md.write_text(text)
        print(f"written to {out_md}")


if __name__ == "__main__":
    main()
