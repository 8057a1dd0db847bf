"""NumPy export: fixed-length one-hot / integer arrays in .npz and .npy, by the stated rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from fixed_reference import reference_integer as _reference_integer
from fixed_reference import reference_one_hot as _reference_one_hot

import deepbiop_gpu as dbg
from deepbiop_gpu import numpy_export
from deepbiop_gpu.data import Dataset
from deepbiop_gpu.numpy_export import export_numpy


@pytest.fixture
def mixed(data_dir):
    """IUPAC, lowercase and N reads of several lengths."""
    return dbg.read(data_dir / "fastq" / "iupac_misc_dna.fastq")


@pytest.mark.parametrize("crop", ["start", "center"])
@pytest.mark.parametrize("encoded", ["one_hot", "integer"])
def test_npz_holds_the_encoded_reads_lengths_and_labels(
    encoded, crop, mixed, tmp_path, monkeypatch
):
    monkeypatch.setattr(numpy_export, "SLICE_READS", 3)  # several slices
    lengths = mixed.lengths.tolist()
    L = sorted(lengths)[len(lengths) // 2]
    labels = torch.tensor([i % 2 for i in range(len(mixed))])
    ds = Dataset.from_reads(mixed, labels=labels, classes=["even", "odd"])
    export_numpy(ds, tmp_path / "x.npz", encoded=encoded, length=L, crop=crop)
    z = np.load(tmp_path / "x.npz", allow_pickle=False)
    ref = _reference_one_hot if encoded == "one_hot" else _reference_integer
    assert z["X"].dtype == (np.uint8 if encoded == "one_hot" else np.int8)
    for i, rec in enumerate(mixed):
        np.testing.assert_array_equal(z["X"][i], ref(rec.sequence, L, crop))
    np.testing.assert_array_equal(z["lengths"], np.minimum(lengths, L))
    assert z["lengths"].dtype == np.int32
    np.testing.assert_array_equal(z["y"], labels.numpy())
    assert z["classes"].tolist() == ["even", "odd"] and str(z["encoding"]) == encoded


def test_npy_writes_siblings_and_defaults_to_the_longest_read(mixed, tmp_path):
    labels = torch.arange(len(mixed), dtype=torch.float32)
    export_numpy(Dataset.from_reads(mixed, labels=labels), tmp_path / "x.npy", encoded="integer")
    X = np.load(tmp_path / "x.npy")
    assert X.shape == (len(mixed), int(mixed.lengths.max()))
    np.testing.assert_array_equal(np.load(tmp_path / "x.lengths.npy"), mixed.lengths.numpy())
    np.testing.assert_array_equal(np.load(tmp_path / "x.labels.npy"), labels.numpy())
    for i, rec in enumerate(mixed):
        np.testing.assert_array_equal(X[i], _reference_integer(rec.sequence, X.shape[1], "start"))


def test_compressed_npz_and_empty_reads(tmp_path, data_dir):
    reads = dbg.read(data_dir / "fastq" / "zero_length_records.fastq")  # has an empty read
    export_numpy(reads, tmp_path / "c.npz", compress=True, length=5)
    z = np.load(tmp_path / "c.npz")
    empty = int(np.flatnonzero(reads.lengths.numpy() == 0)[0])
    assert z["lengths"][empty] == 0 and not z["X"][empty].any()
    assert "y" not in z.files and "classes" not in z.files


def test_empty_dataset(tmp_path):
    export_numpy(dbg.PackedReads.empty(), tmp_path / "e.npz", length=4)
    z = np.load(tmp_path / "e.npz")
    assert z["X"].shape == (0, 4, 4) and z["lengths"].shape == (0,)


def test_bad_arguments_write_nothing(mixed, tmp_path):
    with pytest.raises(ValueError, match=r"\.npz or \.npy"):
        export_numpy(mixed, tmp_path / "x.csv")
    with pytest.raises(ValueError, match="encoded must be one of"):
        export_numpy(mixed, tmp_path / "x.npz", encoded="kmer")
    with pytest.raises(ValueError, match="length must be"):
        export_numpy(mixed, tmp_path / "x.npz", length=0)
    with pytest.raises(ValueError, match="crop must be"):
        export_numpy(mixed, tmp_path / "x.npz", crop="end")
    with pytest.raises(ValueError, match="one-hot dtype"):
        export_numpy(mixed, tmp_path / "x.npz", dtype="float32")
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_the_old_file(mixed, tmp_path, monkeypatch):
    export_numpy(mixed, tmp_path / "a.npz", length=8)
    before = (tmp_path / "a.npz").read_bytes()

    def boom(*args, **kwargs):
        raise OSError("disk full")
        yield  # pragma: no cover

    monkeypatch.setattr(numpy_export, "fixed_length_slices", boom)
    with pytest.raises(OSError, match="disk full"):
        export_numpy(mixed, tmp_path / "a.npz", length=8)
    assert (tmp_path / "a.npz").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]
