"""``shard_by="chunks"``: streaming shards skip the other shards' FASTQ chunks without decoding them, and lose nothing.

(Byte-range shards, the default with several shards: test_byte_range_shards.py.)

Each shard of an ``IterableDataset`` reads the whole stream but decodes only
its own chunks; the others' records are counted as placeholders.  The union
of the shards must still be exactly what ``read`` returns, with the same
indices, and bad input must raise what ``read`` raises.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dg
from deepbiop_gpu.data import iterable
from deepbiop_gpu.io.fastq import FastqParser
from deepbiop_gpu.io.ragged import PAD
from deepbiop_gpu.io.sink import ReadSink


def _shard_union(monkeypatch, path, shards: int, reads_per_chunk: int, **kwargs) -> dict:
    """index -> (name, sequence, quality) over all shards, checking that no index repeats."""
    seen: dict[int, tuple] = {}
    for shard in range(shards):
        monkeypatch.setattr(iterable, "shard_of_this_process", lambda s=shard: (s, shards))
        ds = dg.IterableDataset(path, reads_per_chunk=reads_per_chunk, shard_by="chunks", **kwargs)
        for reads, index, _ in ds._my_chunks():
            assert len(reads) == len(index)
            for i, k in enumerate(index.tolist()):
                assert k not in seen, f"read {k} in two shards"
                r = reads[i]
                seen[k] = (r.name, r.sequence, r.quality)
    return seen


def _expected(reads) -> dict:
    return {i: (reads[i].name, reads[i].sequence, reads[i].quality) for i in range(len(reads))}


FASTQ = [
    "bgzf_example_3reads.fastq.bgz",
    "crlf_dos_3reads.fastq",
    "illumina13_phred64_20reads.fastq",
    "illumina_novaseq_800reads.fastq",
    "iupac_misc_dna.fastq",
    "multimember_gzip_3reads.fastq.gz",
    "ont_lambda_236reads_wrapped80.fastq.gz",
    "sanger_454_wrapped_quality.fastq",
    "zero_length_records.fastq",
]


@pytest.mark.parametrize("name", FASTQ)
@pytest.mark.parametrize("shards", [2, 3])
@pytest.mark.parametrize("reads_per_chunk", [1, 3, 64])
def test_shards_together_are_the_file(monkeypatch, data_dir, name, shards, reads_per_chunk):
    path = data_dir / "fastq" / name
    got = _shard_union(monkeypatch, path, shards, reads_per_chunk)
    assert got == _expected(dg.read(path))


def test_fasta_and_bam_shards_are_unchanged(monkeypatch, data_dir):
    for path in (data_dir / "fasta" / "softmasked_with_N_4seqs.fasta",
                 data_dir / "sam_bam" / "ont_unaligned_30reads.bam"):  # fmt: skip
        assert _shard_union(monkeypatch, path, 2, 3) == _expected(dg.read(path))


def test_malformed_files_raise_what_read_raises(monkeypatch, data_dir):
    for path in sorted((data_dir / "fastq_malformed").glob("*.fastq")):
        with pytest.raises(dg.FormatError) as expected:
            dg.read(path)
        for reads_per_chunk in (1, 2, 5):
            messages = []
            for shard in range(2):
                monkeypatch.setattr(iterable, "shard_of_this_process", lambda s=shard: (s, 2))
                try:
                    list(dg.IterableDataset(path, reads_per_chunk=reads_per_chunk, shard_by="chunks")._my_chunks())
                except dg.FormatError as exc:
                    messages.append(str(exc))
            assert messages, f"{path.name}: no shard raised"
            assert set(messages) == {str(expected.value)}, path.name


def test_skip_mode_decodes_everything_and_agrees(monkeypatch, data_dir):
    for path in sorted((data_dir / "fastq_malformed").glob("*.fastq")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = _expected(dg.read(path, on_error="skip"))
            got = _shard_union(monkeypatch, path, 2, 2, on_error="skip")
        assert got == want, path.name


def _parse_all(data: bytes, **kwargs) -> ReadSink:
    buf = np.zeros(len(data) + PAD, np.uint8)
    buf[: len(data)] = np.frombuffer(data, np.uint8)
    sink = ReadSink(with_qualities=True)
    FastqParser("mem", sink, **kwargs).parse(buf, len(data), final=True)
    return sink


@settings(max_examples=40, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 12), max_size=30),
    chunk=st.integers(1, 6),
    keep=st.sets(st.integers(0, 30)),
)
def test_unwanted_chunks_become_placeholders(lengths, chunk, keep):
    rng = np.random.default_rng(len(lengths))
    records = []
    for i, n in enumerate(lengths):
        seq = bytes(rng.choice(list(b"ACGTN"), n).tolist())
        records.append(b"@r%d d\n%s\n+\n%s\n" % (i, seq, b"I" * n))
    data = b"".join(records)
    full = _parse_all(data).packed()
    sink = _parse_all(data, wanted=lambda c: c in keep, reads_per_chunk=chunk)
    assert len(sink) == len(full)
    got = sink.packed()
    for i in range(len(full)):
        if i // chunk in keep:
            assert got[i] == full[i]
        else:
            assert got[i].sequence == b"" and got[i].name == ""
