"""``Dataset(paths, num_workers=N)`` and ``Cache.build(..., num_workers=N)`` parse in worker
processes (files in parallel, large plain / BGZF files cut into byte ranges) and give
exactly the serial result."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dg
from deepbiop_gpu import parallel_build
from deepbiop_gpu.cache import Cache

DATA = Path(__file__).resolve().parents[1] / "data"

FILES = ["fastq/illumina_novaseq_800reads.fastq", "fastq/sanger_454_wrapped_quality.fastq",
         "fastq/illumina_hiseq2500_pe_R1.fastq.gz", "fastq/bgzf_example_3reads.fastq.bgz"]


@pytest.fixture()
def small_pieces(monkeypatch):
    """Cut every plain / BGZF file into ~8 KB pieces, so byte ranges are exercised."""
    monkeypatch.setattr(parallel_build, "PIECE_BYTES", 8 << 10)


def test_pieces_cover_large_plain_files_and_keep_gzip_whole(data_dir, small_pieces):
    paths = [str(data_dir / f) for f in FILES]
    pieces = parallel_build.plan_pieces(paths)
    per_file = [sum(1 for p in pieces if p[0] == i) for i in range(len(paths))]
    assert per_file[0] > 10 and per_file[2] == 1 and per_file[3] == 1
    assert [p[0] for p in pieces] == sorted(p[0] for p in pieces)


def test_a_parallel_dataset_equals_the_serial_one(data_dir, small_pieces):
    paths = [data_dir / f for f in FILES] + [data_dir / "fasta/ncbi_28S_rRNA_570seqs_iupac.fasta"]
    serial = dg.Dataset(paths[:4], labels=["a", "b", "c", "d"])
    parallel = dg.Dataset(paths[:4], labels=["a", "b", "c", "d"], num_workers=2)
    assert parallel.reads.equals(serial.reads)
    assert parallel.file_sizes == serial.file_sizes
    assert parallel.labels.tolist() == serial.labels.tolist()
    mixed = dg.Dataset(paths, num_workers=2)  # FASTQ + FASTA: no qualities, as serially
    assert mixed.reads.equals(dg.Dataset(paths).reads)


def test_a_parallel_cache_build_writes_the_serial_arrays(tmp_path, data_dir, small_pieces):
    paths = [data_dir / f for f in FILES]
    calls = []
    a = Cache.build(paths, tmp_path / "serial")
    b = Cache.build(paths, tmp_path / "parallel", num_workers=2, progress=lambda r, n: calls.append(r))
    meta_a, meta_b = Cache.info(a), Cache.info(b)
    assert meta_a["n_records"] == meta_b["n_records"] == calls[-1]
    assert [s["records"] for s in meta_a["sources"]] == [s["records"] for s in meta_b["sources"]]
    for name, info in meta_a["arrays"].items():
        assert (a / info["file"]).read_bytes() == (b / info["file"]).read_bytes() or (
            info.get("codec") == "zlib"
            and zlib.decompress((a / info["file"]).read_bytes()) == zlib.decompress((b / info["file"]).read_bytes())
        ), name
    assert Cache.load(b).reads.equals(dg.Dataset(paths).reads)


def test_a_malformed_file_raises_reads_error_from_a_worker(data_dir, small_pieces):
    bad = data_dir / "fastq_malformed" / "qual_longer_than_seq.fastq"
    with pytest.raises(dg.FormatError) as expected:
        dg.read(bad)
    with pytest.raises(dg.FormatError) as got:
        dg.Dataset([data_dir / FILES[0], bad], num_workers=2)
    assert str(got.value) == str(expected.value)


# ---------------------------------------------------------------- workers write the cache files
FASTX = sorted(
    p.relative_to(DATA).as_posix()
    for sub in ("fastq", "fasta")
    for p in (DATA / sub).iterdir()
    if not p.name.endswith((".fai", ".gzi"))
)


def assert_same_cache(serial, parallel) -> None:
    """Same reads, strings, labels and meta; the raw arrays byte for byte, the zlib ones decompressed."""
    ma, mb = Cache.info(serial), Cache.info(parallel)
    skip = {"created", "arrays"}
    assert {k: v for k, v in ma.items() if k not in skip} == {k: v for k, v in mb.items() if k not in skip}
    assert list(ma["arrays"]) == list(mb["arrays"])
    for name, info in ma["arrays"].items():
        got = mb["arrays"][name]
        a, b = (serial / info["file"]).read_bytes(), (parallel / got["file"]).read_bytes()
        if info.get("codec") == "zlib":
            assert got["codec"] == "zlib" and zlib.decompress(b) == zlib.decompress(a), name
            assert got["length"] == info["length"] and got["nbytes"] == len(b) and got["crc32"] == zlib.crc32(b)
        else:
            assert got == info and a == b, name
    loaded = Cache.load(parallel, full_check=True)
    reference = Cache.load(serial)
    assert loaded.reads.equals(reference.reads)
    assert list(loaded.reads.names) == list(reference.reads.names)
    assert list(loaded.reads.descriptions) == list(reference.reads.descriptions)
    assert loaded.file_sizes == reference.file_sizes


@pytest.mark.parametrize("compress_strings", [True, False])
def test_every_bundled_file_caches_in_parallel_as_serially(tmp_path, monkeypatch, compress_strings):
    monkeypatch.setattr(parallel_build, "BUFFER_BYTES", 0 if compress_strings else 1 << 30)  # spill / hold
    for i, name in enumerate(FASTX):
        path = DATA / name
        monkeypatch.setattr(parallel_build, "PIECE_BYTES", max(256, path.stat().st_size // 5))
        split = len(parallel_build.plan_pieces([str(path)]))
        assert split > 1 or name.endswith(".gz") or path.stat().st_size < 256, name
        serial = Cache.build(path, tmp_path / f"s{i}", compress_strings=compress_strings)
        parallel = Cache.build(path, tmp_path / f"p{i}", compress_strings=compress_strings, num_workers=2)
        assert_same_cache(serial, parallel)


def test_many_files_in_parallel_keep_order_labels_and_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel_build, "PIECE_BYTES", 16 << 10)
    fastq = [DATA / n for n in FASTX if n.startswith("fastq/") and "phred64" not in n and "solexa" not in n]
    serial = Cache.build(fastq, tmp_path / "s")
    calls = []
    parallel = Cache.build(fastq, tmp_path / "p", num_workers=3, progress=lambda r, b: calls.append((r, b)))
    assert_same_cache(serial, parallel)
    assert calls == sorted(calls) and calls[-1][0] == Cache.info(serial)["n_records"]
    ds = dg.Dataset(fastq, cache_dir=tmp_path / "dir", num_workers=2, labels=[str(i) for i in range(len(fastq))])
    assert ds.reads.equals(Cache.load(serial).reads) and ds.labels.tolist() == dg.Dataset(
        fastq, labels=[str(i) for i in range(len(fastq))]).labels.tolist()


def _fastq_records(draw_ids, seqs, quals) -> bytes:
    return b"".join(b"@%s\n%s\n+\n%s\n" % (i, s, q) for i, s, q in zip(draw_ids, seqs, quals, strict=True))


@st.composite
def fastq_text(draw):
    n = draw(st.integers(0, 60))
    lengths = draw(st.lists(st.integers(0, 120), min_size=n, max_size=n))
    seqs = [bytes(draw(st.lists(st.sampled_from(b"ACGTN"), min_size=k, max_size=k))) for k in lengths]
    # qualities full of '@' and '+': the characters that look like the start of a record
    quals = [bytes(draw(st.lists(st.sampled_from(b"@+I#5"), min_size=k, max_size=k))) for k in lengths]
    ids = [b"r%d %s" % (i, b"x" * draw(st.integers(0, 30))) for i in range(n)]
    return _fastq_records(ids, seqs, quals)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=fastq_text(), piece=st.integers(16, 4096), spill=st.booleans(), workers=st.integers(1, 3))
def test_byte_ranges_cutting_anywhere_give_the_serial_cache(tmp_path_factory, monkeypatch, text, piece, spill, workers):
    tmp = tmp_path_factory.mktemp("cut")
    src = tmp / "r.fastq"
    src.write_bytes(text)
    monkeypatch.setattr(parallel_build, "PIECE_BYTES", piece)
    monkeypatch.setattr(parallel_build, "BUFFER_BYTES", 0 if spill else 1 << 30)
    serial = Cache.build(src, tmp / "s")
    assert_same_cache(serial, Cache.build(src, tmp / "p", num_workers=workers))


def _no_leftovers(directory) -> None:
    assert not (directory / "out").exists()
    assert [p.name for p in directory.iterdir() if ".tmp-" in p.name] == []


def test_a_truncated_file_cut_in_pieces_raises_the_serial_builds_error(tmp_path, small_pieces):
    text = (DATA / FILES[0]).read_bytes()
    bad = tmp_path / "truncated.fastq"
    bad.write_bytes(text[: len(text) - 50])
    assert len(parallel_build.plan_pieces([str(bad)])) > 5
    with pytest.raises(dg.FormatError) as serial:
        Cache.build(bad, tmp_path / "s")
    with pytest.raises(dg.FormatError) as parallel:
        Cache.build([DATA / FILES[0], bad], tmp_path / "out", num_workers=2)
    assert str(parallel.value) == str(serial.value) and "truncated.fastq" in str(serial.value)
    assert "record" in str(serial.value)
    _no_leftovers(tmp_path)


def test_the_first_bad_file_in_input_order_is_reported(tmp_path):
    early = DATA / "fastq_malformed" / "qual_longer_than_seq.fastq"
    late = DATA / "fastq_malformed" / "missing_plus_line.fastq"
    with pytest.raises(dg.FormatError) as serial:
        Cache.build([DATA / FILES[0], early, late], tmp_path / "s")
    for _ in range(3):
        with pytest.raises(dg.FormatError) as parallel:
            Cache.build([DATA / FILES[0], early, late], tmp_path / "out", num_workers=2)
        assert str(parallel.value) == str(serial.value)
    _no_leftovers(tmp_path)


def test_fastq_and_fasta_mixed_raise_as_serially(tmp_path):
    paths = [DATA / FILES[0], DATA / "fasta/ncbi_28S_rRNA_570seqs_iupac.fasta"]
    with pytest.raises(ValueError, match="with and without qualities") as serial:
        Cache.build(paths, tmp_path / "s")
    with pytest.raises(ValueError) as parallel:
        Cache.build(paths, tmp_path / "out", num_workers=2)
    assert str(parallel.value) == str(serial.value)
    _no_leftovers(tmp_path)


def test_a_truncated_bgzf_piece_raises_reads_error(tmp_path, small_pieces):
    pysam = pytest.importorskip("pysam")
    plain = tmp_path / "r.fastq"
    plain.write_bytes((DATA / FILES[0]).read_bytes() * 4)
    bgz = tmp_path / "r.fastq.bgz"
    pysam.tabix_compress(str(plain), str(bgz), force=True)
    assert_same_cache(Cache.build(bgz, tmp_path / "s"), Cache.build(bgz, tmp_path / "p", num_workers=2))
    data = bgz.read_bytes()
    bgz.write_bytes(data[: len(data) // 2])
    with pytest.raises(dg.DeepBiopError) as expected:
        dg.read(bgz)
    with pytest.raises(dg.DeepBiopError) as got:
        Cache.build(bgz, tmp_path / "out", num_workers=2)
    assert str(got.value) == str(expected.value)


@pytest.mark.slow
def test_spawned_workers_build_the_same_cache(tmp_path, monkeypatch):
    import multiprocessing

    monkeypatch.setattr(parallel_build, "_context", lambda: multiprocessing.get_context("spawn"))
    monkeypatch.setattr(parallel_build, "PIECE_BYTES", 64 << 10)
    paths = [DATA / FILES[0], DATA / FILES[3]]
    assert len(parallel_build.plan_pieces([str(p) for p in paths])) == 6
    assert_same_cache(Cache.build(paths, tmp_path / "s"), Cache.build(paths, tmp_path / "p", num_workers=2))


@pytest.mark.parametrize("spill", [False, True])
def test_a_parallel_dataset_of_every_bundled_file_equals_the_serial_one(monkeypatch, spill):
    monkeypatch.setattr(parallel_build, "PIECE_BYTES", 4 << 10)
    monkeypatch.setattr(parallel_build, "BUFFER_BYTES", 0 if spill else 1 << 30)
    paths = [DATA / n for n in FASTX]
    for chosen in (paths, [p for p in paths if "fastq/" in p.as_posix()], paths[::-1][:3]):
        serial, parallel = dg.Dataset(chosen), dg.Dataset(chosen, num_workers=2)
        assert parallel.reads.equals(serial.reads)  # bases, qualities (dropped when mixed), names, descriptions
        assert (parallel.reads.qualities is None) == (serial.reads.qualities is None)
        assert parallel.file_sizes == serial.file_sizes
    empty = DATA / "fastq" / "zero_length_records.fastq"
    assert dg.Dataset([empty], num_workers=2).reads.equals(dg.Dataset([empty]).reads)
