"""HDF5 export / import: exact round trips, lazy chunked reads, the fixed layout, workers."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from cache_files import READABLE
from fixed_reference import reference_integer as _reference_integer
from fixed_reference import reference_one_hot as _reference_one_hot

import deepbiop_gpu as dbg
from deepbiop_gpu import hdf5 as hdf5_module
from deepbiop_gpu.cache import fingerprint
from deepbiop_gpu.data import DataLoader, Dataset
from deepbiop_gpu.hdf5 import export_hdf5, read_hdf5

h5py = pytest.importorskip("h5py")

NOVASEQ = "illumina_novaseq_800reads.fastq"


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of a few bytes / rows, so even the small test files span many chunks."""
    monkeypatch.setattr(hdf5_module, "CHUNK_BYTES", 97)
    monkeypatch.setattr(hdf5_module, "CHUNK_ROWS", 13)


@pytest.mark.parametrize("path", READABLE, ids=[p.name for p in READABLE])
def test_round_trip_of_every_bundled_file(path, tmp_path, small_chunks):
    reads = dbg.read(path)
    ds = Dataset.from_reads(reads, paths=[str(path)])
    export_hdf5(ds, tmp_path / "x.h5")
    back = read_hdf5(tmp_path / "x.h5")
    assert len(back) == len(reads)
    assert back.reads.equals(reads)  # names, descriptions, bases, qualities
    assert back.paths == [str(path)] and back.labels is None
    # lazy reads of random rows (repeats, any order) give the same reads
    rows = np.random.default_rng(0).integers(0, max(len(reads), 1), min(len(reads), 40))
    if len(reads):
        assert back.read_rows(rows, descriptions=True).equals(reads[rows])


@pytest.mark.parametrize("compression", ["gzip", "lzf", None])
def test_compressions_round_trip_and_are_recorded(compression, tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ
    ds = Dataset(path)
    export_hdf5(ds, tmp_path / "c.h5", compression=compression)
    with h5py.File(tmp_path / "c.h5", "r") as h5:
        assert h5["sequences"].compression == compression
        assert h5["sequences"].chunks is not None
        assert json.loads(h5.attrs["compression"]) == compression
    assert read_hdf5(tmp_path / "c.h5").reads.equals(ds.reads)


def test_gzip_is_smaller_than_uncompressed(tmp_path, data_dir):
    ds = Dataset(data_dir / "fastq" / NOVASEQ)
    export_hdf5(ds, tmp_path / "g.h5", compression="gzip")
    export_hdf5(ds, tmp_path / "u.h5", compression=None)
    assert (tmp_path / "g.h5").stat().st_size < 0.6 * (tmp_path / "u.h5").stat().st_size


def test_file_describes_itself(tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ
    export_hdf5(Dataset(path, labels=["novaseq"]), tmp_path / "a.h5")
    with h5py.File(tmp_path / "a.h5", "r") as h5:
        attrs = dict(h5.attrs)
        assert attrs["format"] == "deepbiop_gpu" and attrs["format_version"] == 1
        assert attrs["layout"] == "ragged" and attrs["phred_offset"] == 33
        assert attrs["n_reads"] == 800 and bool(attrs["has_qualities"])
        (source,) = json.loads(attrs["sources"])
        expected = fingerprint(path)
        assert {k: source[k] for k in expected} == expected and source["records"] == 800
        assert json.loads(attrs["classes"]) == ["novaseq"]
        assert h5["offsets"].dtype == np.int64 and h5["sequences"].dtype == np.uint8


def test_phred64_input_is_stored_as_phred33(tmp_path, data_dir):
    path = data_dir / "fastq" / "illumina13_phred64_20reads.fastq"
    ds = Dataset(path, quality_offset=64)
    export_hdf5(ds, tmp_path / "p.h5")
    back = read_hdf5(tmp_path / "p.h5")
    assert torch.equal(back.reads.qualities, ds.reads.qualities)
    assert int(back.attrs["phred_offset"]) == 33


def test_labels_and_classes_round_trip(tmp_path, data_dir):
    reads = dbg.read(data_dir / "fastq" / NOVASEQ)
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, 3, len(reads)))
    ds = Dataset.from_reads(reads, labels=labels, classes=["a", "b", "c"])
    export_hdf5(ds, tmp_path / "l.h5")
    back = read_hdf5(tmp_path / "l.h5")
    assert back.classes == ["a", "b", "c"] and torch.equal(back.labels, labels)
    floats = torch.tensor([0.5, float("nan"), -2.0])
    small = dbg.PackedReads.from_records(
        [("a", b"ACGT", b"IIII"), ("b", b"", b""), ("c", b"G", b"#")]
    )
    export_hdf5(Dataset.from_reads(small, labels=floats), tmp_path / "f.h5")
    got = read_hdf5(tmp_path / "f.h5").labels
    assert got.dtype == torch.float32 and torch.equal(got.isnan(), floats.isnan())
    assert torch.equal(got[~got.isnan()], floats[~floats.isnan()])


def test_samples_and_batches_match_the_in_memory_dataset(tmp_path, data_dir, small_chunks):
    path = data_dir / "fastq" / NOVASEQ
    transform = dbg.Compose([dbg.Sampler(64), dbg.Mutator(0.05, seed=2), dbg.OneHotEncoder()])
    plain = Dataset(path, labels=["x"])
    export_hdf5(plain, tmp_path / "b.h5")
    lazy = read_hdf5(tmp_path / "b.h5")
    for i in (0, 17, 799, -1):
        a, b = lazy[i], plain[i]
        assert a["name"] == b["name"] and a["index"] == b["index"] and a["label"] == b["label"]
        assert torch.equal(a["sequence"], b["sequence"]) and torch.equal(a["quality"], b["quality"])
    with pytest.raises(IndexError, match="out of range"):
        lazy[800]
    a = list(DataLoader(lazy, batch_size=96, shuffle=True, seed=5, transform=transform))
    b = list(DataLoader(plain, batch_size=96, shuffle=True, seed=5, transform=transform))
    assert len(a) == len(b) == 9
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["sequences"], y["sequences"]) and x["names"] == y["names"]
        assert torch.equal(x["index"], y["index"]) and torch.equal(x["labels"], y["labels"])


def test_chunk_cache_stays_bounded(tmp_path, data_dir, small_chunks, monkeypatch):
    monkeypatch.setattr(hdf5_module, "CACHE_BYTES", 97 * 5)
    reads = dbg.read(data_dir / "fastq" / NOVASEQ)
    export_hdf5(Dataset.from_reads(reads), tmp_path / "k.h5")
    lazy = read_hdf5(tmp_path / "k.h5")
    rows = np.random.default_rng(3).permutation(len(reads))[:300]
    for part in np.array_split(rows, 10):
        got, want = lazy.read_rows(part), reads[part]
        assert torch.equal(got.sequences, want.sequences) and torch.equal(got.offsets, want.offsets)
        assert torch.equal(got.qualities, want.qualities) and got.names == want.names
    reader = lazy._readers()["sequences"]
    assert len(reader.cache) <= 5 and reader.chunk == 97


def test_pickles_without_a_handle_and_reopens(tmp_path, data_dir):
    export_hdf5(Dataset(data_dir / "fastq" / NOVASEQ), tmp_path / "p.h5")
    lazy = read_hdf5(tmp_path / "p.h5")
    first = lazy[5]
    clone = pickle.loads(pickle.dumps(lazy))
    assert clone._handle is None
    assert torch.equal(clone[5]["sequence"], first["sequence"])
    lazy.close()
    assert torch.equal(lazy[5]["sequence"], first["sequence"])


def test_dataloader_workers_open_their_own_handles(tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ
    plain = Dataset(path)
    export_hdf5(plain, tmp_path / "w.h5")
    lazy = read_hdf5(tmp_path / "w.h5")
    lazy[0]  # the parent holds an open handle before the workers fork
    a = list(DataLoader(lazy, batch_size=128, num_workers=2, shuffle=True, seed=3))
    b = list(DataLoader(plain, batch_size=128, num_workers=0, shuffle=True, seed=3))
    assert len(a) == len(b) == 7
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["sequences"], y["sequences"]) and x["names"] == y["names"]
        assert torch.equal(x["qualities"], y["qualities"])


@pytest.mark.parametrize("crop", ["start", "center"])
@pytest.mark.parametrize("encoded", ["one_hot", "integer"])
def test_fixed_layout_crops_and_pads_by_the_rule(encoded, crop, tmp_path, data_dir):
    path = data_dir / "fastq" / "iupac_misc_dna.fastq"
    reads = dbg.read(path)
    lengths = reads.lengths.tolist()
    L = sorted(lengths)[len(lengths) // 2]  # some reads cropped, some padded
    labels = torch.arange(len(reads))
    export_hdf5(Dataset.from_reads(reads, labels=labels), tmp_path / "f.h5",
                encoded=encoded, length=L, crop=crop, compression="lzf")  # fmt: skip
    ref = _reference_one_hot if encoded == "one_hot" else _reference_integer
    with h5py.File(tmp_path / "f.h5", "r") as h5:
        X = h5["X"][:]
        assert X.shape == ((len(reads), L, 4) if encoded == "one_hot" else (len(reads), L))
        assert X.dtype == (np.uint8 if encoded == "one_hot" else np.int8)
        for i, rec in enumerate(reads):
            np.testing.assert_array_equal(X[i], ref(rec.sequence, L, crop))
        np.testing.assert_array_equal(h5["lengths"][:], np.minimum(lengths, L))
        np.testing.assert_array_equal(h5["y"][:], labels.numpy())
        assert h5.attrs["layout"] == "fixed" and h5.attrs["length"] == L
        assert h5.attrs["encoding"] == encoded and h5.attrs["crop"] == crop
        assert h5["names/offsets"].shape == (len(reads) + 1,)
    with pytest.raises(ValueError, match="fixed-length layout"):
        read_hdf5(tmp_path / "f.h5")


def test_fixed_one_hot_as_bool(tmp_path, data_dir):
    reads = dbg.read(data_dir / "fasta" / "softmasked_with_N_4seqs.fasta")
    export_hdf5(reads, tmp_path / "b.h5", encoded="one_hot", dtype="bool")
    with h5py.File(tmp_path / "b.h5", "r") as h5:
        X = h5["X"][:]
    assert X.dtype == np.bool_ and X.shape == (4, int(reads.lengths.max()), 4)
    for i, rec in enumerate(reads):
        np.testing.assert_array_equal(X[i], _reference_one_hot(rec.sequence, X.shape[1], "start"))


def test_writes_are_atomic(tmp_path, data_dir, monkeypatch):
    ds = Dataset(data_dir / "fastq" / NOVASEQ)
    target = tmp_path / "a.h5"
    export_hdf5(ds, target)
    before = target.read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(hdf5_module, "_write_strings", boom)
    with pytest.raises(OSError, match="disk full"):
        export_hdf5(ds, target, compression=None)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.h5"]


def test_bad_arguments_and_foreign_files(tmp_path, data_dir):
    ds = Dataset(data_dir / "fastq" / NOVASEQ)
    with pytest.raises(ValueError, match="compression"):
        export_hdf5(ds, tmp_path / "x.h5", compression="zstd")
    with pytest.raises(ValueError, match="encoded"):
        export_hdf5(ds, tmp_path / "x.h5", length=10)
    with pytest.raises(ValueError, match="encoded must be one of"):
        export_hdf5(ds, tmp_path / "x.h5", encoded="kmer", length=10)
    with h5py.File(tmp_path / "foreign.h5", "w") as h5:
        h5["X"] = np.zeros(3)
    with pytest.raises(ValueError, match="foreign.h5: not a deepbiop_gpu HDF5 file"):
        read_hdf5(tmp_path / "foreign.h5")
    assert not (tmp_path / "x.h5").exists()


def test_empty_dataset_round_trips(tmp_path):
    empty = dbg.PackedReads.empty(with_qualities=True)
    export_hdf5(empty, tmp_path / "e.h5")
    back = read_hdf5(tmp_path / "e.h5")
    assert len(back) == 0 and back.reads.equals(empty)


def test_clear_error_without_h5py(tmp_path):
    code = (
        "import sys; sys.modules['h5py'] = None\n"
        "from deepbiop_gpu.hdf5 import export_hdf5\n"
        "from deepbiop_gpu import PackedReads\n"
        "try:\n"
        "    export_hdf5(PackedReads.from_records([('a', b'A', b'I')]), 'x.h5')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "pip install 'deepbiop-gpu[hdf5]'" in out.stdout


def test_split_subsets_stay_lazy(tmp_path, data_dir):
    path = data_dir / "fastq" / NOVASEQ
    plain = Dataset(path)
    export_hdf5(plain, tmp_path / "s.h5")
    lazy = read_hdf5(tmp_path / "s.h5")
    train, val = lazy.split(0.75, seed=4)
    want_train, _ = plain.split(0.75, seed=4)
    assert len(train) == 600 and len(val) == 200
    np.testing.assert_array_equal(train.indices, want_train.indices)
    a = next(iter(DataLoader(train, batch_size=64, shuffle=True, seed=1)))
    b = next(iter(DataLoader(want_train, batch_size=64, shuffle=True, seed=1)))
    assert torch.equal(a["sequences"], b["sequences"]) and torch.equal(a["index"], b["index"])
    assert lazy._reads is None  # nothing loaded the whole file


def test_collate_threads_share_one_reader(tmp_path, data_dir, small_chunks):
    path = data_dir / "fastq" / NOVASEQ
    plain = Dataset(path)
    export_hdf5(plain, tmp_path / "t.h5")
    lazy = read_hdf5(tmp_path / "t.h5")
    a = list(DataLoader(lazy, batch_size=50, shuffle=True, seed=8, num_threads=2))
    b = list(DataLoader(plain, batch_size=50, shuffle=True, seed=8))
    assert len(a) == len(b) == 16
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["sequences"], y["sequences"]) and x["names"] == y["names"]
        assert torch.equal(x["qualities"], y["qualities"])
