"""Datasets and batches from the real files in tests/data: every batch key, every input kind,
labels in each accepted form."""

import pytest
import torch

from deepbiop_gpu import DataLoader, Dataset, IterableDataset, OneHotEncoder, PairedDataset

pysam = pytest.importorskip("pysam")  # the expectations are read with pysam (absent on a bare GPU box)

FILES = {
    "fastq": "fastq/illumina_novaseq_800reads.fastq",
    "fastq.gz": "fastq/illumina_hiseq2500_pe_R1.fastq.gz",
    "wrapped-ont.gz": "fastq/ont_lambda_236reads_wrapped80.fastq.gz",
    "bgzf": "fastq/bgzf_example_3reads.fastq.bgz",
    "fasta": "fasta/ncbi_28S_rRNA_570seqs_iupac.fasta",
    "fasta.bgzf": "fasta/hg18_chrM_chr20-1Mb_softmasked.fasta.gz",
    "bam": "sam_bam/hg00100_chr17_569reads.bam",
    "ubam": "sam_bam/ont_unaligned_30reads.bam",
    "sam": "sam_bam/mapped_unmapped_24reads.sam",
}


def _expected(path):
    """(name, sequence, quality or None) of every record, read with pysam."""
    if path.suffix in (".bam", ".sam"):
        with pysam.AlignmentFile(str(path), check_sq=False) as f:
            return [
                (r.query_name, r.get_forward_sequence() or "",
                 None if r.query_qualities is None else "".join(chr(q + 33) for q in r.get_forward_qualities()))
                for r in f if not (r.is_secondary or r.is_supplementary)
            ]  # fmt: skip
    with pysam.FastxFile(str(path)) as f:
        return [(r.name, r.sequence, r.quality) for r in f]


@pytest.mark.parametrize("kind", FILES)
def test_every_batch_key(kind, data_dir):
    path = data_dir / FILES[kind]
    expected = _expected(path)
    ds = Dataset(path)
    assert len(ds) == len(expected)
    has_q = all(q is not None for _, _, q in expected)
    loader = DataLoader(ds, batch_size=64, shuffle=True, seed=1)
    seen = 0
    for batch in loader:
        seqs, lengths, index = batch["sequences"], batch["lengths"], batch["index"]
        B, L = seqs.shape
        assert seqs.dtype == torch.uint8 and lengths.dtype == torch.int32 and index.dtype == torch.int64
        assert L == int(lengths.max()) and lengths.shape == index.shape == (B,)
        assert len(batch["names"]) == B and ("qualities" in batch) == has_q
        for b, (n, i, name) in enumerate(zip(lengths.tolist(), index.tolist(), batch["names"])):
            exp_name, exp_seq, exp_qual = expected[i]
            assert name == exp_name and bytes(seqs[b, :n].tolist()).decode() == exp_seq
            assert not seqs[b, n:].any()
            if has_q:
                qual = batch["qualities"][b]
                assert bytes(qual[:n].tolist()).decode() == exp_qual and not qual[n:].any()
        seen += B
    assert seen == len(expected)


@pytest.mark.parametrize("kind", ["fastq.gz", "fasta", "ubam"])
def test_iterable_dataset_streams_the_same_reads(kind, data_dir):
    path = data_dir / FILES[kind]
    expected = _expected(path)
    for workers, shard_by in ((0, "bytes"), (2, "chunks"), (2, "bytes")):
        stream = IterableDataset(path, reads_per_chunk=37, shard_by=shard_by)
        got = {}
        for batch in DataLoader(stream, batch_size=50, num_workers=workers):
            for row, n, i in zip(batch["sequences"], batch["lengths"].tolist(), batch["index"].tolist()):
                assert i not in got
                got[i] = bytes(row[:n].tolist()).decode()
        if workers == 0 or shard_by == "chunks":  # indices are global read numbers
            assert got == {i: seq for i, (_, seq, _) in enumerate(expected)}
        else:  # byte-range / chunk shards: every read once, ids unique (position-based)
            assert sorted(got.values()) == sorted(seq for _, seq, _ in expected)
    samples = list(stream)
    assert [s["name"] for s in samples] == [name for name, _, _ in expected]


def test_ds_getitem_and_one_hot_sample(data_dir):
    path = data_dir / FILES["fastq"]
    expected = _expected(path)
    ds = Dataset(path)
    sample = ds[5]
    assert sample["name"] == expected[5][0] and sample["index"] == 5
    assert bytes(sample["sequence"].tolist()).decode() == expected[5][1]
    assert bytes(sample["quality"].tolist()).decode() == expected[5][2]
    encoded = Dataset(path, transform=OneHotEncoder())[5]["sequence"]
    assert encoded.shape == (len(expected[5][1]), 4) and encoded.dtype == torch.float32
    assert ds[-1]["name"] == expected[-1][0]
    with pytest.raises(IndexError, match="out of range for a dataset of 800 reads"):
        ds[800]


def test_labels_in_every_form(tmp_path, data_dir):
    r1 = data_dir / FILES["fastq.gz"]
    r2 = data_dir / "fastq/illumina_hiseq2500_pe_R2.fastq.gz"
    names = [n for n, _, _ in _expected(r1)]
    # one label per file
    ds = Dataset([r1, data_dir / FILES["fasta"]], labels=["illumina", "rRNA"])
    assert ds.classes == ["illumina", "rRNA"]
    assert ds.labels.tolist() == [0] * 2500 + [1] * 570
    # a mapping, a TSV file, a CSV file and a callable
    mapping = {n: i % 3 for i, n in enumerate(names)}
    tsv = tmp_path / "labels.tsv"
    tsv.write_text("name\tlabel\n" + "".join(f"{n}\t{i % 3}\n" for i, n in enumerate(names)))
    csv = tmp_path / "labels.csv"
    csv.write_text("".join(f"{n},{'odd' if i % 2 else 'even'}\n" for i, n in enumerate(names)))
    by_mapping = Dataset(r1, labels=mapping).labels.tolist()
    assert by_mapping == [i % 3 for i in range(2500)]
    assert Dataset(r1, labels=tsv).labels.tolist() == by_mapping
    from_csv = Dataset(r1, labels=csv)
    assert from_csv.classes == ["even", "odd"] and from_csv.labels.tolist() == [i % 2 for i in range(2500)]
    by_gc = Dataset(r1, labels=lambda rec: rec.sequence.count(b"G") / max(len(rec.sequence), 1))
    assert by_gc.labels.dtype == torch.float32
    batch = next(iter(DataLoader(by_gc, batch_size=4)))
    assert batch["labels"].dtype == torch.float32 and batch["labels"].shape == (4,)
    # missing names are listed
    partial = dict(list(mapping.items())[:10])
    with pytest.raises(ValueError, match=r"no label for 2490 of 2500 reads \(first: 'HWI"):
        Dataset(r1, labels=partial)
    with pytest.raises(ValueError, match="labels has 3 entries but there are 1 input files"):
        Dataset(r1, labels=[0, 1, 2])
    # paired: both mates keep the label of the pair
    pairs = PairedDataset(r1, r2, labels=mapping)
    batch = next(iter(DataLoader(pairs, batch_size=8)))
    assert batch["labels"].tolist() == [mapping[n] for n in names[:8]]
    assert batch["r1"]["names"] == names[:8] and len(batch["r2"]["names"]) == 8


def test_missing_file_and_bad_argument_errors(data_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        Dataset(tmp_path / "missing.fastq")
    with pytest.raises(ValueError, match="paths must be a path or a non-empty list"):
        Dataset([])
    with pytest.raises(TypeError, match="transform must be callable"):
        Dataset(data_dir / FILES["fastq"], transform=5)
