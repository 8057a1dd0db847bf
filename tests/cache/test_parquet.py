"""Parquet export / import: exact round trips, the column layout, foreign files, no pyarrow."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pysam
import pytest
import torch
from cache_files import READABLE

import deepbiop_gpu as dbg
from deepbiop_gpu.data import Dataset
from deepbiop_gpu.parquet import export_parquet, read_parquet

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.mark.parametrize("path", READABLE, ids=[p.name for p in READABLE])
def test_round_trip_of_every_bundled_file(path, tmp_path):
    reads = dbg.read(path)
    ds = Dataset.from_reads(reads, paths=[str(path)])
    export_parquet(ds, tmp_path / "x.parquet", row_group_size=97)  # several row groups
    back = read_parquet(tmp_path / "x.parquet")
    assert back.reads.equals(reads)
    assert (back.reads.qualities is None) == (reads.qualities is None)
    assert back.paths == [str(path)] and back.labels is None


def test_columns_hold_what_pysam_reads(tmp_path, data_dir):
    path = data_dir / "fastq" / "zero_length_records.fastq"  # record 3 has an empty sequence
    export_parquet(Dataset(path), tmp_path / "z.parquet")
    table = pq.read_table(tmp_path / "z.parquet")
    assert table.column_names == ["name", "description", "sequence", "quality", "label"]
    with pysam.FastxFile(str(path)) as fh:
        records = list(fh)
    assert table.column("name").to_pylist() == [r.name for r in records]
    assert table.column("sequence").to_pylist() == [r.sequence for r in records]
    assert table.column("quality").to_pylist() == [r.quality or "" for r in records]
    assert "" in table.column("sequence").to_pylist()
    assert table.column("label").null_count == len(records)


def test_fasta_has_null_qualities(tmp_path, data_dir):
    path = data_dir / "fasta" / "empty_ids_and_sequences.fasta"
    export_parquet(Dataset(path), tmp_path / "f.parquet")
    table = pq.read_table(tmp_path / "f.parquet")
    assert table.column("quality").null_count == table.num_rows == 11
    back = read_parquet(tmp_path / "f.parquet")
    assert back.reads.qualities is None and back.reads.equals(dbg.read(path))


def test_class_labels_round_trip_with_unused_classes(tmp_path, data_dir):
    reads = dbg.read(data_dir / "fastq" / "illumina_novaseq_800reads.fastq")
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, 2, len(reads)))
    classes = ["E. coli", "phage", "never used"]
    ds = Dataset.from_reads(reads, labels=labels, classes=classes)
    export_parquet(ds, tmp_path / "l.parquet")
    table = pq.read_table(tmp_path / "l.parquet")
    assert table.column("label").to_pylist() == [classes[i] for i in labels.tolist()]
    back = read_parquet(tmp_path / "l.parquet")
    assert back.classes == classes and torch.equal(back.labels, labels)


def test_integer_labels_round_trip(tmp_path):
    reads = dbg.PackedReads.from_records(
        [("a", b"ACGT", b"IIII"), ("b", b"", b""), ("c", b"GG", b"#I")]
    )
    labels = torch.tensor([3, -1, 7], dtype=torch.int64)
    export_parquet(Dataset.from_reads(reads, labels=labels), tmp_path / "n.parquet")
    back = read_parquet(tmp_path / "n.parquet")
    assert back.labels.dtype == torch.int64 and back.classes is None
    assert torch.equal(back.labels, labels) and back.reads.equals(reads)


def test_float_labels_round_trip_including_nan(tmp_path):
    reads = dbg.PackedReads.from_records(
        [("a", b"ACGT", b"IIII"), ("b", b"", b""), ("c", b"GG", b"#I")]
    )
    labels = torch.tensor([0.25, float("nan"), 2.0])
    export_parquet(Dataset.from_reads(reads, labels=labels), tmp_path / "n.parquet")
    back = read_parquet(tmp_path / "n.parquet").labels
    assert back.dtype == torch.float32
    assert back.isnan().tolist() == [False, True, False]
    assert back[0].item() == 0.25 and back[2].item() == 2.0


def test_files_written_by_other_tools(tmp_path):
    table = pa.table(
        {
            "sequence": pa.array(["ACGT", "", "NNa"], type=pa.string()),
            "quality": pa.array(["IIII", "", "#5I"], type=pa.string()),
            "label": pa.array(["dog", "cat", "dog"]),
        }
    )
    pq.write_table(table, tmp_path / "foreign.parquet")
    ds = read_parquet(tmp_path / "foreign.parquet")
    assert [ds.reads[i].sequence for i in range(3)] == [b"ACGT", b"", b"NNa"]
    assert ds.classes == ["cat", "dog"] and ds.labels.tolist() == [1, 0, 1]
    assert ds.reads.names.tolist() == ["", "", ""]
    pq.write_table(pa.table({"seq": ["A"]}), tmp_path / "bad.parquet")
    with pytest.raises(ValueError, match="no 'sequence' column"):
        read_parquet(tmp_path / "bad.parquet")
    pq.write_table(
        pa.table({"sequence": ["AC", "G"], "quality": ["II", None]}), tmp_path / "q.parquet"
    )
    with pytest.raises(ValueError, match="1 of 2 reads have no quality"):
        read_parquet(tmp_path / "q.parquet")


def test_cached_dataset_exports(tmp_path, data_dir):
    from deepbiop_gpu.cache import Cache

    path = data_dir / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz"
    Cache.build(path, tmp_path / "c")
    export_parquet(Cache.load(tmp_path / "c"), tmp_path / "o.parquet")
    assert read_parquet(tmp_path / "o.parquet").reads.equals(dbg.read(path))


def test_clear_error_without_pyarrow(tmp_path):
    code = (
        "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
        "from deepbiop_gpu.parquet import export_parquet\n"
        "from deepbiop_gpu import PackedReads\n"
        "try:\n"
        "    export_parquet(PackedReads.from_records([('a', b'A', b'I')]), 'x.parquet')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "pip install 'deepbiop-gpu[parquet]'" in out.stdout
