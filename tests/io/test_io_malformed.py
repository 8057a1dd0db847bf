"""Malformed input raises FormatError naming the file, the record, the line and the problem."""

from __future__ import annotations

import bz2
import gzip
import pickle
import shutil
import zlib
from pathlib import Path

import pytest

import deepbiop_gpu as dbg
from deepbiop_gpu import FormatError, UnknownFormatError

DATA = Path(__file__).resolve().parents[1] / "data"
BAD = DATA / "fastq_malformed"

# (file, record, line, message pattern): positions as described in tests/data/SOURCES.md
MALFORMED = [
    ("qual_longer_than_seq.fastq", 4, 16, r"quality length 26 differs from sequence length 25"),
    (
        "truncated_after_plus_line.fastq",
        5,
        19,
        r"file ends inside record 5: its quality has 0 of 25",
    ),
    ("plus_line_id_mismatch.fastq", 3, 11, r"'\+' line does not repeat the header.*_850_124"),
    ("qual_contains_nul_byte.fastq", 1, 4, r"unexpected NUL byte in quality at position 4"),
    (
        "missing_plus_line.fastq",
        1,
        3,
        r"file ends inside record 1: no '\+' line after its sequence",
    ),
    ("fasta_header_instead_of_at.fastq", 2, 5, r"expected '@' .*found '>' \(a FASTA header"),
]


def test_every_malformed_file_is_covered():
    assert sorted(p.name for p in BAD.iterdir()) == sorted(m[0] for m in MALFORMED)


@pytest.mark.parametrize("name, record, line, pattern", MALFORMED, ids=[m[0] for m in MALFORMED])
@pytest.mark.parametrize("threads", [0, 1])
def test_malformed_fastq(name, record, line, pattern, threads):
    path = BAD / name
    with pytest.raises(dbg.FastqFormatError, match=pattern) as info:
        dbg.read(path, threads=threads)
    err = info.value
    assert isinstance(err, FormatError) and isinstance(err, ValueError)
    assert (err.path, err.record, err.line) == (str(path), record, line)
    assert str(err).startswith(f"{path}: record {record}, line {line}: ")


@pytest.mark.parametrize("name, record, line, pattern", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_fastq_in_chunks_and_tiny_blocks(name, record, line, pattern):
    with pytest.raises(FormatError, match=pattern) as info:
        for _ in dbg.iter_chunks(BAD / name, reads_per_chunk=1, block_size=3):
            pass
    assert (info.value.record, info.value.line) == (record, line)


@pytest.mark.parametrize("name, record, line, pattern", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_fastq_gzipped(tmp_path, name, record, line, pattern, oracle):
    path = oracle.write(tmp_path / "reads.gz", (BAD / name).read_bytes(), "gzip")
    with pytest.raises(FormatError, match=pattern) as info:
        dbg.read(path)
    assert (info.value.record, info.value.line) == (record, line)


def test_format_error_pickles():
    with pytest.raises(FormatError) as info:
        dbg.read(BAD / "qual_longer_than_seq.fastq")
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is type(info.value)
    assert (again.path, again.record, again.line, str(again)) == (
        info.value.path,
        info.value.record,
        info.value.line,
        str(info.value),
    )


def test_corrupt_bgzf_eof_bam_is_an_error():
    path = DATA / "sam_bam" / "malformed_corrupt_bgzf_eof.bam"
    with pytest.raises(
        FormatError, match=r"end-of-file marker .* missing or corrupt.*truncated"
    ) as info:
        dbg.read(path)
    assert info.value.path == str(path)
    assert info.value.record is None  # the marker follows the last record
    with pytest.raises(FormatError, match="end-of-file marker"):
        dbg.read_bam(path)
    with pytest.raises(FormatError, match="end-of-file marker"):
        next(dbg.iter_chunks(path, 10))


def test_truncated_bam_names_the_record(tmp_path, oracle):
    src = DATA / "sam_bam" / "hg00100_chr17_569reads.bam"
    data = src.read_bytes()
    # drop the EOF block and cut inside the data: the EOF check catches it first
    cut = tmp_path / "cut.bam"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(FormatError, match="end-of-file marker"):
        dbg.read(cut)
    # keep the EOF marker but cut a block in the middle: htslib fails inside a record
    bad = tmp_path / "bad.bam"
    bad.write_bytes(data[: len(data) // 2] + data[-28:])
    with pytest.raises(dbg.AlignmentFormatError, match=r"cannot decode BAM record \d+") as info:
        dbg.read(bad)
    assert 1 <= info.value.record <= len(oracle.alignments(src))


def test_truncated_gzip_is_an_error(tmp_path):
    src = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    data = src.read_bytes()
    path = tmp_path / "cut.fastq.gz"
    path.write_bytes(data[: len(data) * 2 // 3])
    # records wholly inside the kept part of the stream (decompressed independently)
    complete = zlib.decompressobj(31).decompress(data[: len(data) * 2 // 3]).count(b"\n") // 4
    for threads in (0, 1):
        with pytest.raises(
            dbg.CompressionError, match=r"gzip data ends unexpectedly: the file is truncated"
        ) as info:
            dbg.read(path, threads=threads)
        assert info.value.path == str(path)
        assert info.value.record == complete + 1
        assert f"stops after {complete} complete records" in str(info.value)
        with pytest.raises(dbg.CompressionError, match=r"truncated") as info:
            for _ in dbg.iter_chunks(path, 100, block_size=1000, threads=threads):
                pass
        assert info.value.record == complete + 1


def test_gzip_with_garbage_after_the_data_is_an_error(tmp_path):
    path = tmp_path / "x.fastq.gz"
    path.write_bytes(gzip.compress(b"@r\nACGT\n+\nIIII\n") + b"trailing junk")
    with pytest.raises(dbg.CompressionError, match="garbage after the compressed data"):
        dbg.read(path)


def test_corrupt_gzip_crc_is_an_error(tmp_path):
    data = bytearray(gzip.compress(b"@r\nACGT\n+\nIIII\n" * 10))
    data[-8] ^= 0xFF  # CRC32 of the member
    path = tmp_path / "x.fastq.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(dbg.CompressionError, match="corrupt"):
        dbg.read(path)


def test_bgzf_fastq_without_eof_marker_is_an_error(tmp_path):
    data = (DATA / "fastq" / "bgzf_example_3reads.fastq.bgz").read_bytes()
    path = tmp_path / "x.bgz"
    path.write_bytes(data[:-28])
    with pytest.raises(dbg.CompressionError, match="end-of-file marker"):
        dbg.read(path)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        dbg.read(DATA / "no_such_file.fastq")
    with pytest.raises(FileNotFoundError):
        dbg.iter_chunks(DATA / "no_such_file.fastq")  # raised at the call, not at iteration


def test_unknown_format_quotes_the_bytes(tmp_path):
    path = tmp_path / "reads.fastq"
    path.write_bytes(b"hello world\nthis is not a read file\n")
    with pytest.raises(UnknownFormatError, match=r"starts with b'hello world") as info:
        dbg.read(path)
    assert isinstance(info.value, FormatError) and info.value.path == str(path)


def test_unknown_format_inside_gzip(tmp_path):
    path = tmp_path / "reads.fastq.gz"
    path.write_bytes(gzip.compress(b"comment\n"))
    with pytest.raises(UnknownFormatError, match=r"gzip-compressed data starts with b'comment"):
        dbg.read(path)


def test_unknown_format_inside_bzip2_names_the_compression(tmp_path):
    path = tmp_path / "reads.fastq.bz2"
    path.write_bytes(bz2.compress(b"hello\n"))
    with pytest.raises(UnknownFormatError, match=r"bzip2-compressed data starts with b'hello"):
        dbg.read(path)


def test_explicit_format_mismatch():
    path = DATA / "fasta" / "softmasked_with_N_4seqs.fasta"
    with pytest.raises(
        FormatError, match=r"format='fastq' was requested but the file's content is FASTA"
    ):
        dbg.read(path, format="fastq")
    with pytest.raises(FormatError, match="use deepbiop_gpu.read"):
        dbg.read_bam(path)
    with pytest.raises(FormatError, match="use deepbiop_gpu.read"):
        dbg.read_fastx(DATA / "sam_bam" / "ont_unaligned_30reads.bam")
    with pytest.raises(ValueError, match="format must be one of"):
        dbg.read(path, format="genbank")


def test_explicit_format_on_unrecognised_bytes_gets_the_parser_error(tmp_path):
    path = tmp_path / "reads.fq"
    path.write_bytes(b"ACGT\n+\nIIII\n")
    with pytest.raises(dbg.FastqFormatError, match="expected '@'") as info:
        dbg.read(path, format="fastq")
    assert (info.value.record, info.value.line) == (1, 1)


def test_fasta_text_before_first_header(tmp_path):
    path = tmp_path / "x.fa"
    path.write_bytes(b">ok\nACGT\n")
    assert len(dbg.read(path)) == 1
    path.write_bytes(b"\n>ok\nACGT\n>bad\x01name\nAC\n")
    with pytest.raises(
        dbg.FastaFormatError, match="unexpected control byte 0x01 in the header"
    ) as info:
        dbg.read(path)
    assert (info.value.record, info.value.line) == (2, 4)
    path.write_bytes(b">a\nAC\x00GT\n")
    with pytest.raises(
        dbg.FastaFormatError, match="unexpected NUL byte in sequence at column 3"
    ) as info:
        dbg.read(path)
    assert (info.value.record, info.value.line) == (1, 2)


def test_fastq_bad_bytes(tmp_path):
    path = tmp_path / "x.fq"
    cases = [
        (b"@a\nACGT\n+\nII I\n", 1, 4, r"unexpected space in quality at position 3"),
        (b"@a\nAC\xffT\n+\nIIII\n", 1, 2, r"non-ASCII byte 0xff in sequence at position 3"),
        (b"@a\nACGT\n+\nIIII\n@b\xff\nA\n+\nI\n", 2, 5, r"header line is not valid UTF-8"),
        (
            b"@a\nACGT\n+\nIII\n@b\nA\n+\nI\n",
            1,
            4,
            r"quality length 3 differs from sequence length 4",
        ),
        (b"@a\nACGT\n@b\nA\n+\nI\n", 1, 3, r"expected '\+' at line 3, found '@'"),
    ]
    for data, record, line, pattern in cases:
        path.write_bytes(data)
        with pytest.raises(dbg.FastqFormatError, match=pattern) as info:
            dbg.read(path)
        assert (info.value.record, info.value.line) == (record, line), data


def test_content_not_name_decides(tmp_path, oracle):
    src = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    renamed = tmp_path / "reads.fasta"
    shutil.copy(src, renamed)
    assert dbg.detect_format(renamed) == dbg.Detected("fastq", "gzip")
    assert oracle.records(dbg.read(renamed)) == oracle.fastx(src)
    bam = tmp_path / "reads.fq"
    shutil.copy(DATA / "sam_bam" / "ont_unaligned_30reads.bam", bam)
    assert dbg.detect_format(bam) == dbg.Detected("bam", "bgzf")
    assert len(dbg.read(bam)) == len(oracle.alignments(bam))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.fastq"
    path.write_bytes(b"")
    reads = dbg.read(path)
    assert len(reads) == 0
    assert list(dbg.iter_chunks(path, 10)) == []
    assert dbg.read(path, format="fastq").qualities is not None
    assert dbg.read(path, format="fasta").qualities is None
    gz = tmp_path / "empty.fastq.gz"
    gz.write_bytes(gzip.compress(b""))
    assert len(dbg.read(gz)) == 0


def test_argument_checks(tmp_path):
    path = DATA / "fastq" / "crlf_dos_3reads.fastq"
    with pytest.raises(ValueError, match="quality_offset"):
        dbg.read(path, quality_offset=50)
    with pytest.raises(ValueError, match="on_error"):
        dbg.read(path, on_error="ignore")
    with pytest.raises(ValueError, match="reads_per_chunk"):
        dbg.iter_chunks(path, 0)
    with pytest.raises(ValueError, match="block_size"):
        dbg.read(path, block_size=0)
