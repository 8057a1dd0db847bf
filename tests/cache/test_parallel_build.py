"""``Dataset(paths, num_workers=N)`` and ``Cache.build(..., num_workers=N)`` parse in worker
processes (files in parallel, large plain / BGZF files cut into byte ranges) and give
exactly the serial result."""

from __future__ import annotations

import zlib

import pytest

import deepbiop_gpu as dg
from deepbiop_gpu import parallel_build
from deepbiop_gpu.cache import Cache

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
