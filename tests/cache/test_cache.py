"""Cache: round trips, zero-copy loading, invalidation, atomic writes, Dataset(cache_dir=)."""

from __future__ import annotations

import json
import os
import pickle
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cache_files import READABLE

import deepbiop_gpu as dbg
import deepbiop_gpu.cache as cache_mod
from deepbiop_gpu.cache import Cache, CacheError, CacheWarning, load_or_build
from deepbiop_gpu.data import DataLoader, Dataset

NOVASEQ = "illumina_novaseq_800reads.fastq"
PHRED64 = "illumina13_phred64_20reads.fastq"


def _ids(paths):
    return [p.name for p in paths]


def test_the_bundled_files_are_covered():
    # guards against a reader regression silently emptying the parametrisation below
    kinds = {p.parent.name for p in READABLE}
    assert len(READABLE) >= 20 and kinds == {"fastq", "fasta", "sam_bam"}


@pytest.mark.parametrize("path", READABLE, ids=_ids(READABLE))
def test_build_then_load_round_trips(path, tmp_path):
    expected = dbg.read(path)
    Cache.build(path, tmp_path / "c", reads_per_chunk=7)  # many chunks: offsets are shifted
    ds = Cache.load(tmp_path / "c")
    assert ds.reads.equals(expected)
    assert ds.paths == [os.path.abspath(path)] and ds.file_sizes == [len(expected)]
    assert ds.labels is None
    meta = Cache.info(tmp_path / "c")
    assert meta["n_records"] == len(expected) and meta["total_bases"] == expected.total_bases


@pytest.mark.parametrize("path", READABLE, ids=_ids(READABLE))
def test_save_then_load_round_trips_with_labels(path, tmp_path):
    reads = dbg.read(path)
    labels = torch.arange(len(reads), dtype=torch.int64) % 3
    ds = Dataset.from_reads(reads, labels=labels, classes=["a", "b", "c"], paths=[str(path)])
    Cache.save(ds, tmp_path / "c")
    back = Cache.load(tmp_path / "c")
    assert back.reads.equals(reads)
    assert torch.equal(back.labels, labels) and back.classes == ["a", "b", "c"]
    assert len(back) == len(reads)


@pytest.mark.parametrize("compress", [True, False])
def test_both_string_layouts_round_trip(tmp_path, data_dir, compress):
    path = data_dir / "fasta" / "empty_ids_and_sequences.fasta"  # empty names and sequences
    reads = dbg.read(path)
    Cache.save(Dataset(path), tmp_path / "c", compress_strings=compress)
    files = {p.name for p in (tmp_path / "c").iterdir()}
    assert ("names.zz" in files) == compress and ("names.bin" in files) == (not compress)
    back = Cache.load(tmp_path / "c").reads
    assert back.equals(reads) and back.names.tolist() == reads.names.tolist()
    assert pickle.loads(pickle.dumps(back.names)) == reads.names


def test_names_are_decompressed_only_when_used(tmp_path, data_dir, monkeypatch):
    path = data_dir / "fastq" / NOVASEQ
    Cache.build(path, tmp_path / "c")

    def refuse(*args):
        raise AssertionError("names decompressed")

    monkeypatch.setattr(cache_mod, "_inflate", refuse)
    ds = Cache.load(tmp_path / "c")
    assert len(ds.reads.names) == 800 and ds.reads.pad()[0].shape == (800, 150)
    assert ds.reads.nbytes == dbg.read(path).nbytes  # known without decompressing
    with pytest.raises(AssertionError, match="names decompressed"):
        ds.reads.names[0]
    monkeypatch.undo()
    assert ds.reads.names[0] == dbg.read(path).names[0]


def test_compressed_cache_is_smaller_than_bases_and_qualities_plus_5_percent(tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ  # 150 bp Illumina reads with long ids
    reads = dbg.read(path)
    Cache.build(path, tmp_path / "c")
    Cache.build(path, tmp_path / "raw", compress_strings=False)
    # the arrays; meta.json is ~1.5 kB whatever the size (benchmarks/bench_cache.py: 1M reads)
    size = sum(p.stat().st_size for p in (tmp_path / "c").iterdir() if p.name != "meta.json")
    raw = sum(p.stat().st_size for p in (tmp_path / "raw").iterdir() if p.name != "meta.json")
    payload = 2 * reads.total_bases
    assert size <= 1.05 * payload < raw, (size, raw, payload)


def test_save_keeps_files_labels_and_float_labels(tmp_path, data_dir):
    files = [
        data_dir / "fastq" / "crlf_dos_3reads.fastq",
        data_dir / "fastq" / "bgzf_example_3reads.fastq.bgz",
    ]
    ds = Dataset(files, labels=["dos", "bgzf"])
    Cache.save(ds, tmp_path / "c")
    back = Cache.load(tmp_path / "c")
    assert back.file_sizes == [3, 3] and back.classes == ["bgzf", "dos"]
    assert back.labels.tolist() == [1, 1, 1, 0, 0, 0]
    assert [back[i]["label"] for i in range(6)] == [ds[i]["label"] for i in range(6)]
    floats = Dataset.from_reads(ds.reads, labels=torch.tensor([0.5, 1.5, float("nan"), 2, 3, 4.25]))
    Cache.save(floats, tmp_path / "f")
    got = Cache.load(tmp_path / "f").labels
    assert got.dtype == torch.float32 and torch.equal(got.isnan(), floats.labels.isnan())
    assert torch.equal(got[~got.isnan()], floats.labels[~floats.labels.isnan()])


def test_load_is_zero_copy_and_never_writes_back(tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ
    Cache.build(path, tmp_path / "c")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "non-writable NumPy array" warning
        ds = Cache.load(tmp_path / "c")
    seq = ds.reads.sequences
    if Path("/proc/self/maps").exists():  # the tensor's memory is the file's mapping
        for name, tensor in (("sequences.bin", seq), ("offsets.bin", ds.reads.offsets)):
            ranges = [
                [int(x, 16) for x in line.split()[0].split("-")]
                for line in Path("/proc/self/maps").read_text().splitlines()
                if line.endswith(str(tmp_path / "c" / name))
            ]
            assert any(lo <= tensor.data_ptr() < hi for lo, hi in ranges), name
    before = (tmp_path / "c" / "sequences.bin").read_bytes()
    seq[:10] = ord("X")  # copy-on-write: private to this process
    assert (tmp_path / "c" / "sequences.bin").read_bytes() == before
    assert Cache.load(tmp_path / "c").reads.equals(dbg.read(path))


def test_cached_dataset_feeds_dataloader_workers(tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ
    Cache.build(path, tmp_path / "c")
    cached = Cache.load(tmp_path / "c")
    plain = Dataset(path)
    a = list(DataLoader(cached, batch_size=128, num_workers=2, shuffle=True, seed=3))
    b = list(DataLoader(plain, batch_size=128, num_workers=0, shuffle=True, seed=3))
    assert len(a) == len(b) == 7
    for x, y in zip(a, b, strict=False):
        assert torch.equal(x["sequences"], y["sequences"]) and x["names"] == y["names"]


def test_dataset_cache_dir_builds_once_then_reuses(tmp_path, data_dir, monkeypatch):
    path = data_dir / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    first = Dataset(path, cache_dir=tmp_path / "cache", labels=["R1"])
    assert first.reads.equals(dbg.read(path)) and first.classes == ["R1"]

    def no_reading(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(dbg.io, "iter_chunks", no_reading)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = Dataset(path, cache_dir=tmp_path / "cache")
    assert second.reads.equals(first.reads) and second.labels is None  # labels resolved anew


def test_cache_key_includes_read_options(tmp_path, data_dir):
    path = data_dir / "fastq" / PHRED64
    as33 = Dataset(path, cache_dir=tmp_path / "cache")
    as64 = Dataset(path, cache_dir=tmp_path / "cache", quality_offset=64)
    assert as33.reads.equals(dbg.read(path))
    assert as64.reads.equals(dbg.read(path, quality_offset=64))
    assert not torch.equal(as33.reads.qualities, as64.reads.qualities)
    assert len([p for p in (tmp_path / "cache").iterdir() if p.is_dir()]) == 2


def test_cache_dir_may_be_a_cache_built_by_hand(tmp_path, data_dir, monkeypatch):
    path = data_dir / "fastq" / NOVASEQ
    Cache.build(path, tmp_path / "c")
    monkeypatch.setattr(
        dbg.io, "iter_chunks", lambda *a, **k: (_ for _ in ()).throw(AssertionError)
    )
    assert Dataset(path, cache_dir=tmp_path / "c").reads.equals(dbg.read(path))


def _peak_build_memory(sources, target) -> int:
    tracemalloc.start()
    try:
        Cache.build(sources, target, reads_per_chunk=2_000, block_size=1 << 20)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_building_streams_in_constant_memory(tmp_path):
    rng = np.random.default_rng(0)
    n, length = 40_000, 200
    bases = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, (n, length))]
    quals = rng.integers(35, 74, (n, length), dtype=np.uint8)
    src = tmp_path / "big.fastq"
    with open(src, "wb") as fh:
        for i in range(n):
            fh.write(b"@r%d\n%s\n+\n%s\n" % (i, bases[i].tobytes(), quals[i].tobytes()))
    size = src.stat().st_size
    del bases, quals
    one = _peak_build_memory([src], tmp_path / "one")
    three = _peak_build_memory([src, src, src], tmp_path / "three")  # 3x the data
    assert three < 1.25 * one + (1 << 20), (one, three)
    assert three < size, f"peak {three / 1e6:.1f} MB caching 3 x {size / 1e6:.1f} MB"
    ds = Cache.load(tmp_path / "three")
    assert len(ds) == 3 * n and ds.reads.total_bases == 3 * n * length
    assert ds.file_sizes == [n, n, n]


# ------------------------------------------------------------ invalidation
def test_touched_changed_or_truncated_source_invalidates(tmp_path, copy_data):
    src = copy_data(NOVASEQ)
    Cache.build(src, tmp_path / "c")
    assert Cache.is_valid(tmp_path / "c", [src])

    st = src.stat()
    os.utime(src, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # touch
    status = Cache.check(tmp_path / "c", [src])
    assert not status and "modified" in status.reason and str(src) in status.reason

    Cache.build(src, tmp_path / "c")
    data = bytearray(src.read_bytes())
    data[1000] = ord("A") if data[1000] != ord("A") else ord("C")  # same size, new content
    src.write_bytes(bytes(data))
    os.utime(src, ns=(st.st_atime_ns, Cache.info(tmp_path / "c")["sources"][0]["mtime_ns"]))
    status = Cache.check(tmp_path / "c", [src])
    assert not status and "content" in status.reason

    Cache.build(src, tmp_path / "c")
    with open(src, "r+b") as fh:
        fh.truncate(src.stat().st_size - 100)
    status = Cache.check(tmp_path / "c", [src])
    assert not status and "size" in status.reason
    with pytest.raises(CacheError, match="size"):
        Cache.load(tmp_path / "c")  # recorded sources are checked by default
    assert Cache.check(tmp_path / "c", [src, src]).reason.startswith("cache was built from 1")


def test_cache_dir_rebuilds_a_stale_cache_with_a_warning(tmp_path, copy_data):
    src = copy_data("crlf_dos_3reads.fastq")
    Dataset(src, cache_dir=tmp_path / "cache")
    src.write_bytes(_drop_last_record(src.read_bytes()))
    with pytest.warns(CacheWarning, match="changed"):
        ds = Dataset(src, cache_dir=tmp_path / "cache")
    assert len(ds) == 2 and ds.reads.equals(dbg.read(src))


def _drop_last_record(text: bytes) -> bytes:
    lines = text.splitlines(keepends=True)
    return b"".join(lines[:-4])


def _corrupt(directory: Path, how: str) -> None:
    if how == "truncated sequences":
        with open(directory / "sequences.bin", "r+b") as fh:
            fh.truncate(10)
    elif how == "offsets checksum":
        data = bytearray((directory / "offsets.bin").read_bytes())
        data[12] ^= 0xFF
        (directory / "offsets.bin").write_bytes(bytes(data))
    elif how == "missing names":
        (directory / "names.zz").unlink()
    elif how == "corrupt names":
        data = bytearray((directory / "names.zz").read_bytes())
        data[len(data) // 2] ^= 0x55
        (directory / "names.zz").write_bytes(bytes(data))
    elif how == "unknown version":
        meta = json.loads((directory / "meta.json").read_text())
        meta["format_version"] = 99
        (directory / "meta.json").write_text(json.dumps(meta))
    elif how == "no meta":
        (directory / "meta.json").unlink()
    elif how == "garbage meta":
        (directory / "meta.json").write_text("{not json")
    elif how == "extra bytes":
        with open(directory / "qualities.bin", "ab") as fh:
            fh.write(b"!!")


CORRUPTIONS = {
    "truncated sequences": "truncated",
    "offsets checksum": "checksum",
    "missing names": "missing",
    "corrupt names": "names.zz is corrupt",
    "unknown version": "version 99",
    "no meta": "meta.json",
    "garbage meta": "cannot be parsed",
    "extra bytes": "too large",
}


@pytest.mark.parametrize("how", list(CORRUPTIONS))
def test_corrupt_cache_is_reported_never_read_and_rebuilt(tmp_path, data_dir, how):
    path = data_dir / "fastq" / NOVASEQ
    Dataset(path, cache_dir=tmp_path / "cache")
    (target,) = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    _corrupt(target, how)
    status = Cache.check(target)
    assert not status.valid and CORRUPTIONS[how] in status.reason
    with pytest.raises(CacheError, match="cannot load cache"):
        Cache.load(target)
    with pytest.warns(CacheWarning, match="invalid"):
        ds = Dataset(path, cache_dir=tmp_path / "cache")
    assert ds.reads.equals(dbg.read(path))
    assert Cache.is_valid(target, [path], full=True)


def test_full_check_catches_a_flipped_base(tmp_path, data_dir):
    Cache.build(data_dir / "fastq" / NOVASEQ, tmp_path / "c")
    data = bytearray((tmp_path / "c" / "sequences.bin").read_bytes())
    data[5] = ord("N") if data[5] != ord("N") else ord("A")
    (tmp_path / "c" / "sequences.bin").write_bytes(bytes(data))
    assert Cache.is_valid(tmp_path / "c")  # the fast check covers offsets only
    status = Cache.check(tmp_path / "c", full=True)
    assert not status and "sequences.bin is corrupt" in status.reason


# ----------------------------------------------------------- atomic writes
class _Boom(RuntimeError):
    pass


def _fail_after(monkeypatch, calls: int, exc: type[BaseException] = _Boom) -> None:
    real = cache_mod._ArrayFile.write
    count = {"n": 0}

    def write(self, values):
        count["n"] += 1
        if count["n"] > calls:
            raise exc("killed mid-save")
        return real(self, values)

    monkeypatch.setattr(cache_mod._ArrayFile, "write", write)


@pytest.mark.parametrize("exc", [_Boom, KeyboardInterrupt])
def test_interrupted_save_keeps_the_old_cache(tmp_path, data_dir, monkeypatch, exc):
    old = Dataset(data_dir / "fastq" / "crlf_dos_3reads.fastq")
    new = Dataset(data_dir / "fastq" / NOVASEQ)
    Cache.save(old, tmp_path / "c")
    _fail_after(monkeypatch, 5, exc)
    with pytest.raises(exc):
        Cache.save(new, tmp_path / "c")
    assert Cache.load(tmp_path / "c").reads.equals(old.reads)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]  # no temporary left behind


def test_interrupted_first_save_leaves_nothing_valid(tmp_path, data_dir, monkeypatch):
    _fail_after(monkeypatch, 3)
    with pytest.raises(_Boom):
        Cache.build(data_dir / "fastq" / NOVASEQ, tmp_path / "c", reads_per_chunk=100)
    assert not (tmp_path / "c").exists()
    assert list(tmp_path.iterdir()) == []
    assert not Cache.is_valid(tmp_path / "c")


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path, data_dir):
    dead = tmp_path / ".c.tmp-999999999-deadbeef"
    dead.mkdir()
    (dead / "sequences.bin").write_bytes(b"ACGT")
    Cache.build(data_dir / "fastq" / "crlf_dos_3reads.fastq", tmp_path / "c")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c"]


def test_save_refuses_to_replace_a_directory_that_is_no_cache(tmp_path, data_dir):
    precious = tmp_path / "results"
    precious.mkdir()
    (precious / "thesis.tex").write_text("do not delete")
    with pytest.raises(FileExistsError, match="not a deepbiop_gpu cache"):
        Cache.save(Dataset(data_dir / "fastq" / "crlf_dos_3reads.fastq"), precious)
    assert (precious / "thesis.tex").read_text() == "do not delete"


def test_empty_source_and_mixed_sources(tmp_path, data_dir):
    empty = tmp_path / "empty.fastq"
    empty.write_bytes(b"")
    Cache.build(empty, tmp_path / "e")
    ds = Cache.load(tmp_path / "e")
    assert len(ds) == 0 and ds.reads.total_bases == 0
    with pytest.raises(ValueError, match="with and without qualities"):
        Cache.build(
            [
                data_dir / "fastq" / "crlf_dos_3reads.fastq",
                data_dir / "fasta" / "softmasked_with_N_4seqs.fasta",
            ],
            tmp_path / "m",
        )
    assert not (tmp_path / "m").exists()


def test_load_or_build_reports_file_sizes(tmp_path, data_dir):
    files = [data_dir / "fastq" / "crlf_dos_3reads.fastq", data_dir / "fastq" / NOVASEQ]
    reads, sizes = load_or_build(files, tmp_path / "cache")
    assert sizes == [3, 800]
    assert reads.equals(dbg.PackedReads.concat([dbg.read(f) for f in files]))


def _build_in_child(path: str, cache_dir: str, queue) -> None:
    reads, sizes = load_or_build([path], cache_dir)
    queue.put((len(reads), sizes, bytes(reads.sequences[:50].numpy())))


def test_concurrent_builders_share_one_cache(tmp_path, data_dir, monkeypatch):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    builds = ctx.Value("i", 0)
    real_build = cache_mod._build

    def counting_build(*args, **kwargs):
        with builds.get_lock():
            builds.value += 1
        time.sleep(0.3)  # widen the race window
        return real_build(*args, **kwargs)

    monkeypatch.setattr(cache_mod, "_build", counting_build)  # inherited by the forked children
    path = str(data_dir / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz")
    procs = [
        ctx.Process(target=_build_in_child, args=(path, str(tmp_path / "cache"), queue))
        for _ in range(3)
    ]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    expected = dbg.read(path)
    assert all(
        r == (len(expected), [len(expected)], bytes(expected.sequences[:50].numpy()))
        for r in results
    )
    entries = sorted(p.name for p in (tmp_path / "cache").iterdir() if not p.name.endswith(".lock"))
    assert len(entries) == 1 and entries[0].startswith("reads-")  # one cache, no leftovers
    assert builds.value == 1  # the others waited on the lock and reused it
