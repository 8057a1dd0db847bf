"""The ``deepbiop-gpu`` command line.

::

    deepbiop-gpu inspect FILE... [--json] [--plot out.png] [--paired]
    deepbiop-gpu cache FILE... -o DIR
    deepbiop-gpu export FILE... -o out.parquet | out.h5 | out.npz [--format F] [--encoded E]
    deepbiop-gpu encode FILE -o out.npy (--onehot | --kmer K) [--dtype D] [--alphabet A]
    deepbiop-gpu bench FILE
    deepbiop-gpu filter FILE... -o OUT [criteria] [--json]
    deepbiop-gpu convert FILE -o OUT [--bgzf]

Inputs are FASTQ / FASTA / SAM / BAM / CRAM files (any compression); ``inspect``
and ``encode`` also take a cache directory or a ``.parquet`` export.

Exit status: 0 on success; 1 when ``inspect`` finds an error-level problem;
2 when a command fails (one line on stderr naming the file and the problem;
``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._progress import Progress, human_bytes, human_count
from ._version import __version__

__all__ = ["main", "build_parser"]

PROG = "deepbiop-gpu"


class CommandError(Exception):
    """A failure to report as one line (``path: message``), exit status 2."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class _Current:
    """The file a command is working on, named in error messages."""

    path: str | None = None


@contextlib.contextmanager
def _working_on(path: str | os.PathLike) -> Iterator[None]:
    previous = _Current.path
    _Current.path = os.fspath(path)
    yield  # on an exception the path stays set, for the error message
    _Current.path = previous


# ------------------------------------------------------------------ loading
def _require(paths: Sequence[str], *, dirs: bool = True) -> None:
    """Fail with ``path: no such file`` before any work starts."""
    for p in paths:
        if not (os.path.isfile(p) or (dirs and os.path.isdir(p))):
            raise CommandError("no such file" + (" or directory" if dirs else ""), p)


def _is_parquet(path: str) -> bool:
    if not os.path.isfile(path):
        return False
    with open(path, "rb") as fh:
        return fh.read(4) == b"PAR1"


def _open_dataset(path: str, quality_offset: int, labels: Any = None):
    """A Dataset from a reads file, a cache directory or a Parquet export."""
    from .data.dataset import Dataset

    with _working_on(path):
        if os.path.isdir(path):
            from .cache import Cache

            return Cache.load(path)
        if _is_parquet(path):
            from .parquet import read_parquet

            return read_parquet(path)
        return Dataset(path, quality_offset=quality_offset, labels=labels)


def _open_many(paths: Sequence[str], quality_offset: int):
    from .data.dataset import Dataset
    from .packed import PackedReads

    parts = [_open_dataset(p, quality_offset) for p in paths]
    if len(parts) == 1:
        return parts[0]
    reads = [d.reads for d in parts]
    try:
        packed = PackedReads.concat(reads)
    except ValueError as exc:
        raise CommandError(f"cannot inspect these files together: {exc}", paths[0]) from None
    return Dataset.from_reads(
        packed,
        paths=[p for d in parts for p in d.paths],
        file_sizes=[n for d in parts for n in d.file_sizes],
    )


# ------------------------------------------------------------------ inspect
def _cmd_inspect(args: argparse.Namespace) -> int:
    from .summary import summarize
    from .validation import validate

    _require(args.files)
    if args.paired:
        if len(args.files) != 2:
            raise CommandError(f"--paired takes exactly two files (R1 R2), got {len(args.files)}")
        import types

        r1 = _open_dataset(args.files[0], args.quality_offset)
        r2 = _open_dataset(args.files[1], args.quality_offset)
        dataset: Any = types.SimpleNamespace(r1=r1, r2=r2)
    else:
        dataset = _open_many(args.files, args.quality_offset)
    summary = summarize(dataset)
    with _working_on(args.labels or args.files[0]):
        findings = validate(
            dataset,
            min_length=args.min_length,
            max_n_fraction=args.max_n_fraction,
            labels=args.labels,
        )
    if args.plot:
        with _working_on(args.plot):
            summary.plot(args.plot)
    if args.json:
        out = {"summary": summary.to_dict(), "findings": [f.to_dict() for f in findings]}
        print(json.dumps(out, indent=1))
    else:
        print(summary)
        print()
        if findings:
            print(f"Findings ({len(findings)}):")
            for f in findings:
                print(f"  {f}")
        else:
            print("No problems found.")
        if args.plot:
            print(f"\nPlot written to {args.plot}")
    return 1 if any(f.severity == "error" for f in findings) else 0


# -------------------------------------------------------------------- cache
def _cmd_cache(args: argparse.Namespace) -> int:
    from .cache import Cache

    _require(args.files, dirs=False)
    start = time.perf_counter()
    progress = Progress("caching", enabled=not args.quiet)
    with progress:
        with _working_on(args.files[0]):
            target = Cache.build(
                args.files,
                args.output,
                quality_offset=args.quality_offset,
                reads_per_chunk=args.reads_per_chunk,
                progress=progress.update,
            )
    meta = Cache.info(target)
    size = sum(f.stat().st_size for f in Path(target).iterdir())
    elapsed = time.perf_counter() - start
    print(
        f"cached {meta['n_records']:,} reads ({meta['total_bases']:,} bases) from "
        f"{len(args.files)} file{'s' if len(args.files) != 1 else ''} into {target} "
        f"({human_bytes(size)}) in {elapsed:.2f} s"
    )
    return 0


# ------------------------------------------------------------------- export
_EXPORT_SUFFIXES = {".parquet": "parquet", ".h5": "hdf5", ".hdf5": "hdf5", ".npz": "numpy",
                    ".npy": "numpy"}  # fmt: skip


def _export_format(args: argparse.Namespace) -> str:
    """``--format``, or the one the output's suffix names (Parquet otherwise)."""
    if args.format:
        return args.format
    return _EXPORT_SUFFIXES.get(Path(args.output).suffix.lower(), "parquet")


def _cmd_export(args: argparse.Namespace) -> int:
    from .io import iter_chunks
    from .parquet import export_chunks, export_parquet

    _require(args.files)
    start = time.perf_counter()
    fmt = _export_format(args)
    if fmt != "parquet":
        return _export_arrays(args, fmt, start)
    if args.encoded or args.length or args.compression:
        raise CommandError("--encoded / --length / --compression apply to hdf5 and numpy exports")
    if len(args.files) == 1 and os.path.isfile(args.files[0]) and not _is_parquet(args.files[0]):
        path = args.files[0]
        with _working_on(path):
            n = export_chunks(
                iter_chunks(path, args.reads_per_chunk, quality_offset=args.quality_offset),
                args.output,
                paths=[os.path.abspath(path)],
            )
    else:
        dataset = _open_many(args.files, args.quality_offset)
        with _working_on(args.output):
            export_parquet(dataset, args.output)
        n = len(dataset)
    size = os.path.getsize(args.output)
    print(
        f"exported {n:,} reads to {args.output} ({human_bytes(size)}) "
        f"in {time.perf_counter() - start:.2f} s"
    )
    return 0


def _export_arrays(args: argparse.Namespace, fmt: str, start: float) -> int:
    """``export --format hdf5 | numpy``: the whole dataset through export_hdf5 / export_numpy."""
    from .hdf5 import export_hdf5
    from .numpy_export import export_numpy

    dataset = _open_many(args.files, args.quality_offset)
    with _working_on(args.output):
        if fmt == "hdf5":
            compression = {"none": None, None: "gzip"}.get(args.compression, args.compression)
            export_hdf5(dataset, args.output, compression=compression, encoded=args.encoded,
                        length=args.length, crop=args.crop)  # fmt: skip
        else:
            if args.compression not in (None, "none", "gzip"):
                raise CommandError("numpy exports take --compression gzip (deflate) or none")
            export_numpy(dataset, args.output, encoded=args.encoded or "one_hot",
                         length=args.length, crop=args.crop,
                         compress=args.compression == "gzip")  # fmt: skip
    size = os.path.getsize(args.output)
    what = f"{args.encoded or 'one_hot'} arrays" if fmt == "numpy" or args.encoded else "reads"
    print(
        f"exported {len(dataset):,} reads ({what}, {fmt}) to {args.output} ({human_bytes(size)}) "
        f"in {time.perf_counter() - start:.2f} s"
    )
    return 0


# ------------------------------------------------------------------- encode
_ONEHOT_DTYPES = ("float32", "float16", "uint8")
_KMER_DTYPES = ("float32", "int32", "int64")


def _chunks_of(path: str, reads_per_chunk: int, quality_offset: int):
    """Chunks of a reads file, or of a cache / Parquet dataset (already in hand)."""
    if os.path.isdir(path) or _is_parquet(path):
        reads = _open_dataset(path, quality_offset).reads
        for a in range(0, len(reads), reads_per_chunk):
            yield reads[a : a + reads_per_chunk]
        return
    from .io import iter_chunks

    yield from iter_chunks(path, reads_per_chunk, quality_offset=quality_offset)


def _cmd_encode(args: argparse.Namespace) -> int:
    import torch

    from . import ops

    path = args.file
    onehot = args.onehot
    dtype = args.dtype or "float32"
    allowed = _ONEHOT_DTYPES if onehot else _KMER_DTYPES
    if dtype not in allowed:
        raise CommandError(
            f"--dtype {dtype} is not available for this encoding (choose from {', '.join(allowed)})"
        )
    alphabet = args.alphabet
    if not onehot and alphabet == "protein":
        raise CommandError("--kmer counts nucleotide k-mers: --alphabet protein needs --onehot")
    columns = 20 if alphabet == "protein" else 4
    _require([path])
    start = time.perf_counter()
    with _working_on(path):
        # pass 1: how many reads, how long the longest
        n, longest = 0, 0
        for chunk in _chunks_of(path, 100_000, args.quality_offset):
            n += len(chunk)
            if len(chunk):
                longest = max(longest, int(chunk.lengths.max()))
        width = args.max_len if args.max_len is not None else longest
        np_dtype = np.dtype(dtype)
        if onehot:
            shape: tuple[int, ...] = (n, width, columns)
            row_bytes = max(width * columns * 4, 1)  # the op computes in float32 / dtype
        else:
            k = args.kmer
            if not 1 <= k <= 12:
                raise CommandError(f"--kmer must be between 1 and 12, got {k}")
            shape = (n, 4**k)
            row_bytes = 4**k * 4 + max(longest, 1) * 8
        rows = int(max(1, min(65_536, (64 << 20) // row_bytes)))
        out = np.lib.format.open_memmap(args.output, mode="w+", dtype=np_dtype, shape=shape)
        lengths_out = None
        if args.lengths:
            lengths_out = np.lib.format.open_memmap(
                args.lengths, mode="w+", dtype=np.int32, shape=(n,)
            )
        # pass 2: encode chunk by chunk straight into the memory-mapped .npy
        done = 0
        progress = Progress("encoding", enabled=not args.quiet)
        with progress:
            for chunk in _chunks_of(path, rows, args.quality_offset):
                m = len(chunk)
                if m == 0:
                    continue
                seqs, lens = chunk.pad(max_len=width)
                if onehot:
                    t_dtype = {
                        "float32": torch.float32,
                        "float16": torch.float16,
                        "uint8": torch.uint8,
                    }[dtype]
                    enc = ops.one_hot(seqs, lens, dtype=t_dtype, alphabet=alphabet)
                else:
                    enc = ops.kmer_counts(seqs, lens, args.kmer)
                out[done : done + m] = enc.numpy().astype(np_dtype, copy=False)
                if lengths_out is not None:
                    lengths_out[done : done + m] = lens.numpy()
                done += m
                progress.update(done, int(chunk.offsets[-1]))
        out.flush()
        del out
        if lengths_out is not None:
            lengths_out.flush()
            del lengths_out
    what = (
        f"one-hot {dtype} [{n}, {width}, 4]"
        if onehot
        else f"{args.kmer}-mer counts {dtype} [{n}, {4**args.kmer}]"
    )
    print(
        f"wrote {args.output}: {what} ({human_bytes(os.path.getsize(args.output))}) "
        f"in {time.perf_counter() - start:.2f} s"
    )
    return 0


# -------------------------------------------------------------------- bench
def _cmd_bench(args: argparse.Namespace) -> int:
    import torch

    from .data import DataLoader
    from .data.dataset import Dataset
    from .io import read
    from .transforms import OneHotEncoder

    path = args.file
    _require([path], dirs=False)
    size = os.path.getsize(path)
    rows: list[tuple[str, str, float, float]] = []
    with _working_on(path):
        t = time.perf_counter()
        reads = read(path, quality_offset=args.quality_offset)
        parse = time.perf_counter() - t
    n = len(reads)
    rows.append(("parse (read file)", "cpu", n / parse, size / parse))
    dataset = Dataset.from_reads(reads, paths=[path])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() and not args.cpu_only else [])
    for device in devices:
        loader = DataLoader(
            dataset,
            batch_size=args.batch_size,
            shuffle=True,
            num_workers=args.workers,
            device=device,
            transform=OneHotEncoder(),
        )
        for _ in zip(
            range(2), loader, strict=False
        ):  # warm-up: op registration, kernel compilation, workers
            pass
        if device == "cuda":
            torch.cuda.synchronize()
        seen = 0
        t = time.perf_counter()
        for batch in loader:
            seen += int(batch["lengths"].numel())
            if args.max_batches and seen >= args.max_batches * args.batch_size:
                break
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        rows.append(
            (
                f"batches + one-hot (bs {args.batch_size}, {args.workers} workers)",
                device,
                seen / dt,
                float("nan"),
            )
        )
    if args.json:
        print(
            json.dumps(
                {
                    "file": path,
                    "reads": n,
                    "bytes": size,
                    "results": [
                        {
                            "stage": s,
                            "device": d,
                            "reads_per_s": r,
                            "bytes_per_s": None if b != b else b,
                        }
                        for s, d, r, b in rows
                    ],
                },
                indent=1,
            )
        )
        return 0
    print(
        f"{path}: {n:,} reads, {human_bytes(size)} on disk; "
        f"torch {torch.__version__}, deepbiop_gpu {__version__}"
    )
    width = max(len(s) for s, *_ in rows)
    print(f"  {'stage':<{width}}  {'device':<6}  {'reads/s':>10}  {'MB/s':>8}")
    for stage, device, rate, bps in rows:
        mbs = "" if bps != bps else f"{bps / 1e6:8.1f}"
        print(f"  {stage:<{width}}  {device:<6}  {human_count(rate):>10}  {mbs:>8}")
    return 0


# ----------------------------------------------------------- filter, convert
def _subsample_arg(text: str) -> float | int:
    """``0.1`` -> a probability; ``1000`` -> a read count."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--subsample takes a probability (0.25) or a read count (1000), not {text!r}"
        ) from None


def _output_options(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "compression": "bgzf" if args.bgzf else None,
        "level": args.level,
        "line_width": args.line_width,
        "output_quality_offset": args.output_quality_offset,
        "fill_quality": args.fill_quality,
    }


def _run_filter(args: argparse.Namespace, files: Sequence[str], desc: str, **criteria: Any):
    from .filters import filter_file

    _require(files, dirs=False)
    with Progress(desc, enabled=not args.quiet) as progress:
        with _working_on(files[0]):
            return filter_file(
                files,
                args.output,
                reads_per_chunk=args.reads_per_chunk,
                quality_offset=args.quality_offset,
                reference=args.reference,
                progress=progress.update,
                **_output_options(args),
                **criteria,
            )


def _cmd_filter(args: argparse.Namespace) -> int:
    criteria = {
        "min_length": args.min_length,
        "max_length": args.max_length,
        "min_quality": args.min_quality,
        "low_quality_threshold": args.low_quality_threshold,
        "max_low_quality_fraction": args.max_low_quality_fraction,
        "max_n": args.max_n,
        "max_n_fraction": args.max_n_fraction,
        "gc_range": tuple(args.gc_range) if args.gc_range else None,
        "names": args.names,
        "exclude_names": args.exclude_names,
        "dedup": args.dedup,
        "subsample": args.subsample,
    }
    criteria = {k: v for k, v in criteria.items() if v is not None}
    start = time.perf_counter()
    report = _run_filter(args, args.files, "filtering", quality_mean=args.quality_mean,
                         seed=args.seed, **criteria)  # fmt: skip
    elapsed = time.perf_counter() - start
    if args.json:
        out = {"output": args.output, "seconds": round(elapsed, 3), **report.to_dict()}
        print(json.dumps(out, indent=1))
    else:
        print(report)
        print(f"\nwrote {report.kept:,} reads to {args.output} in {elapsed:.2f} s")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    report = _run_filter(args, [args.file], "converting")
    size = os.path.getsize(args.output)
    print(
        f"converted {report.kept:,} reads ({report.bases_kept:,} bases) to {args.output} "
        f"({human_bytes(size)}) in {time.perf_counter() - start:.2f} s"
    )
    return 0


# ------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``deepbiop-gpu`` (for documentation tools and tests)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Inspect, cache, export, encode, filter, convert and benchmark FASTQ / FASTA / BAM reads."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def reads_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--quality-offset",
            type=int,
            choices=(33, 64),
            default=33,
            help="FASTQ quality encoding (64 for Illumina 1.3-1.7); default 33",
        )

    p = sub.add_parser("inspect", help="summary statistics and problems of reads files")
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="reads files, cache directories or .parquet exports",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="PNG", help="also write a plot (needs matplotlib)")
    p.add_argument(
        "--paired", action="store_true", help="the two FILEs are R1 and R2 of paired-end reads"
    )
    p.add_argument(
        "--min-length", type=int, default=20, help="report reads shorter than this (default 20)"
    )
    p.add_argument(
        "--max-n-fraction", type=float, default=0.1, help="report reads with more N (default 0.1)"
    )
    p.add_argument(
        "--labels", metavar="TSV", help="name<TAB>label table: report reads without a label"
    )
    reads_options(p)
    p.set_defaults(func=_cmd_inspect)

    p = sub.add_parser("cache", help="build a memory-mapped cache of reads files")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "-o", "--output", required=True, metavar="DIR", help="cache directory to create or replace"
    )
    p.add_argument("--reads-per-chunk", type=int, default=100_000, help="reads in memory at a time")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    reads_options(p)
    p.set_defaults(func=_cmd_cache)

    p = sub.add_parser(
        "export",
        help="write reads to Parquet (pyarrow), HDF5 (h5py) or NumPy arrays",
        description="Formats: parquet (one row per read), hdf5 (ragged reads, or fixed-length "
        "X/lengths/y with --encoded), numpy (.npz / .npy fixed-length X, lengths, y). Fixed "
        "length L (--length, default the longest read): longer reads keep their first L bases "
        "(--crop center: the middle ones), shorter ones are right-padded.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="reads files or cache directories")
    p.add_argument("-o", "--output", required=True, metavar="OUT")
    p.add_argument(
        "--format",
        choices=("parquet", "hdf5", "numpy"),
        help="default: from the output suffix (.parquet, .h5/.hdf5, .npz/.npy), else parquet",
    )
    p.add_argument(
        "--compression",
        choices=("gzip", "lzf", "none"),
        help="hdf5: gzip (default), lzf or none; numpy .npz: gzip (deflate) or none (default)",
    )
    p.add_argument(
        "--encoded",
        choices=("one_hot", "integer"),
        help="fixed-length arrays: one-hot uint8 [N, L, 4] or integer int8 [N, L] "
        "(numpy default: one_hot; hdf5 default: the ragged reads)",
    )
    p.add_argument("--length", type=int, metavar="L", help="fixed length (default: longest read)")
    p.add_argument("--crop", choices=("start", "center"), default="start",
                   help="which L bases a longer read keeps (default: its first L)")  # fmt: skip
    p.add_argument("--reads-per-chunk", type=int, default=100_000, help="reads in memory at a time")
    reads_options(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("encode", help="write one-hot or k-mer count arrays to a .npy file")
    p.add_argument("file", metavar="FILE", help="a reads file, cache directory or .parquet export")
    p.add_argument("-o", "--output", required=True, metavar="NPY")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--onehot", action="store_true",
                     help="padded one-hot [N, Lmax, 4] (protein: [N, Lmax, 20])")  # fmt: skip
    how.add_argument("--kmer", type=int, metavar="K", help="k-mer counts [N, 4**K]")
    p.add_argument(
        "--dtype", help="one-hot: float32 (default), float16, uint8; k-mer: float32, int32, int64"
    )
    p.add_argument(
        "--max-len",
        type=int,
        help="one-hot width (longer reads are truncated); default: longest read",
    )
    p.add_argument("--lengths", metavar="NPY", help="also write the read lengths (int32 [N]) here")
    p.add_argument(
        "--alphabet", choices=("dna", "rna", "protein"), default="dna",
        help="one-hot columns: dna A C G T (U as T; default), rna A C G U (T unknown), "
        "protein the 20 amino acids ACDEFGHIKLMNPQRSTVWY (other letters unknown: all zeros)",
    )  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    reads_options(p)
    p.set_defaults(func=_cmd_encode)

    p = sub.add_parser("bench", help="measure read -> batch throughput on this machine")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=0, help="DataLoader worker processes (default 0)")
    p.add_argument(
        "--max-batches", type=int, default=0, help="stop each pass after this many batches"
    )
    p.add_argument("--cpu-only", action="store_true", help="skip CUDA even when present")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    reads_options(p)
    p.set_defaults(func=_cmd_bench)

    def output_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "-o",
            "--output",
            required=True,
            metavar="OUT",
            help="FASTQ or FASTA (.fq/.fastq/.fa/.fasta), plain, gzip (.gz) or BGZF (.bgz)",
        )
        p.add_argument(
            "--bgzf",
            action="store_true",
            help="write BGZF (blocked gzip, indexable by samtools/tabix) even for a .gz name",
        )
        p.add_argument("--level", type=int, help="compression level (gzip: 0-3 ISA-L, 4-9 zlib)")
        p.add_argument("--line-width", type=int, help="wrap sequence lines (default: no wrapping)")
        p.add_argument(
            "--output-quality-offset",
            type=int,
            choices=(33, 64),
            default=33,
            help="quality encoding written (default 33)",
        )
        p.add_argument(
            "--fill-quality",
            type=int,
            metavar="Q",
            help="FASTQ output from reads without qualities: give every base this Phred score",
        )
        p.add_argument("--reads-per-chunk", type=int, default=100_000, help="reads in memory at a time")
        p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
        p.add_argument("--reference", metavar="FASTA", help="reference of CRAM input")
        reads_options(p)

    p = sub.add_parser("filter", help="filter, deduplicate and subsample reads into a new file")
    p.add_argument("files", nargs="+", metavar="FILE", help="FASTQ / FASTA / SAM / BAM / CRAM files")
    p.add_argument("--min-length", type=int, help="drop reads shorter than this")
    p.add_argument("--max-length", type=int, help="drop reads longer than this")
    p.add_argument("--min-quality", type=float, help="drop reads with a lower mean quality (Phred)")
    p.add_argument(
        "--quality-mean",
        choices=("error", "arithmetic"),
        default="error",
        help="mean of error probabilities (default) or of Phred values",
    )
    p.add_argument(
        "--low-quality-threshold", type=int, help="a base below this Phred is low quality (fastp -q)"
    )
    p.add_argument(
        "--max-low-quality-fraction",
        type=float,
        help="drop reads with a larger fraction of low-quality bases (fastp -u, as a fraction)",
    )
    p.add_argument("--max-n", type=int, help="drop reads with more N bases")
    p.add_argument("--max-n-fraction", type=float, help="drop reads with a larger fraction of N")
    p.add_argument(
        "--gc-range", type=float, nargs=2, metavar=("LO", "HI"), help="keep G+C fractions in [LO, HI]"
    )
    p.add_argument("--names", metavar="FILE", help="keep only reads named in FILE (one per line)")
    p.add_argument("--exclude-names", metavar="FILE", help="drop reads named in FILE")
    p.add_argument(
        "--dedup", choices=("exact", "canonical"), help="keep the first read of each sequence"
    )
    p.add_argument(
        "--subsample",
        type=_subsample_arg,
        metavar="P|K",
        help="keep each read with probability P (0.1), or exactly K reads (1000)",
    )
    p.add_argument("--seed", type=int, default=0, help="subsample seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    output_options(p)
    p.set_defaults(func=_cmd_filter)

    p = sub.add_parser(
        "convert", help="convert BAM / SAM / CRAM / FASTQ / FASTA to FASTQ or FASTA"
    )
    p.add_argument("file", metavar="FILE")
    output_options(p)
    p.set_defaults(func=_cmd_convert)
    return parser


def _one_line(exc: BaseException) -> str:
    """``path: problem`` on one line, naming the file the command was working on."""
    if isinstance(exc, OSError) and exc.filename is not None:
        message = f"{exc.filename}: {exc.strerror or exc}"
    else:
        message = str(exc) or type(exc).__name__
        path = getattr(exc, "path", None) or _Current.path
        if isinstance(exc, CommandError) and exc.path is None:
            path = None
        if path and path not in message:
            message = f"{path}: {message}"
    return " ".join(message.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Examples
    --------
    >>> main(["inspect", "tests/data/fastq/crlf_dos_3reads.fastq", "--json"])  # doctest: +SKIP
    0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except BrokenPipeError:  # output piped into e.g. `head`, which exited
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - every failure becomes one line
        if args.debug:
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    finally:
        _Current.path = None


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
