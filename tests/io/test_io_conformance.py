"""Conformance files: the FASTQ suite of Cock et al. (2010), as Biopython ships it, and
dnaio's examples (tests/data/conformance, provenance in tests/data/SOURCES.md).

Every valid file reads as the references read it (pysam for the characters; for
converted qualities Biopython's expected Phred values, which the suite ships as
the ``*_as_sanger`` twins), and every invalid one is rejected with its record,
line and a message that says what is wrong at that line.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pytest

import deepbiop_gpu as dbg
from deepbiop_gpu.io.chunks import iter_fastx_chunks
from deepbiop_gpu.io.sniff import detect

DATA = Path(__file__).resolve().parents[1] / "data"
COCK = DATA / "conformance" / "cock2010"
DNAIO = DATA / "conformance" / "dnaio"


def solexa_to_phred33(chars: bytes) -> bytes:
    """Naive reference: Solexa+64 characters to Phred+33 (Cock et al. 2010)."""
    return bytes(round(10 * math.log10(10 ** ((c - 64) / 10) + 1)) + 33 for c in chars)


def phred(reads) -> list[list[int]]:
    return [[c - 33 for c in r.quality] for r in reads]


# ------------------------------------------------------------------ valid files
# file -> read options; the characters are checked against pysam, the quality
# values against the encoding's formula
PHRED33 = [
    "sanger_faked.fastq",
    "sanger_93.fastq",
    "sanger_full_range_original_sanger.fastq",
    "solexa_full_range_as_sanger.fastq",
    "illumina_full_range_as_sanger.fastq",
    "misc_rna_original_sanger.fastq",
    "longreads_original_sanger.fastq",
    "wrapping_as_sanger.fastq",
    "tricky.fastq",
]
PHRED64 = [
    "illumina_faked.fastq",
    "illumina_full_range_original_illumina.fastq",
    "wrapping_as_illumina.fastq",
]
SOLEXA = [
    "solexa_faked.fastq",
    "solexa_example.fastq",
    "solexa_full_range_original_solexa.fastq",
    "sanger_full_range_as_solexa.fastq",
    "illumina_full_range_as_solexa.fastq",
    "misc_dna_as_solexa.fastq",
    "misc_rna_as_solexa.fastq",
    "longreads_as_solexa.fastq",
    "wrapping_as_solexa.fastq",
]


@pytest.mark.parametrize("name", PHRED33)
def test_phred33_files_match_pysam(name, oracle):
    path = COCK / name
    expected = oracle.fastx(path)
    reads = dbg.read(path)
    assert oracle.records(reads) == expected
    # the fast (4-line) and the per-record (wrapped) paths agree
    slow = next(iter_fastx_chunks(str(path), detect(path), None, force_slow=True))
    assert slow.equals(reads)


@pytest.mark.parametrize("name", PHRED64)
def test_phred64_files_convert_to_phred33(name, oracle):
    path = COCK / name
    expected = [(n, d, s, bytes(c - 31 for c in q)) for n, d, s, q in oracle.fastx(path)]
    for kw in ({"quality_offset": 64}, {"quality_format": "phred64"}):
        assert oracle.records(dbg.read(path, **kw)) == expected


@pytest.mark.parametrize("name", SOLEXA)
def test_solexa_files_convert_to_phred(name, oracle):
    path = COCK / name
    expected = [(n, d, s, solexa_to_phred33(q)) for n, d, s, q in oracle.fastx(path)]
    reads = dbg.read(path, quality_format="solexa")
    assert oracle.records(reads) == expected
    slow = next(
        iter_fastx_chunks(str(path), detect(path), None, quality_format="solexa", force_slow=True)
    )
    assert slow.equals(reads)
    chunks = list(dbg.iter_chunks(path, 1, block_size=7, quality_format="solexa"))
    assert dbg.PackedReads.concat(chunks).equals(reads)
    assert dbg.read(path, quality_offset=64, quality_format="solexa").equals(reads)


def test_solexa_full_range_gives_biopythons_phred_values():
    # the suite ships the expected Phred values of the Solexa file as its _as_sanger twin
    got = dbg.read(COCK / "solexa_full_range_original_solexa.fastq", quality_format="solexa")
    expected = dbg.read(COCK / "solexa_full_range_as_sanger.fastq")
    assert got.equals(expected)
    # Solexa -5..62 in order, and the formula's values at the bottom of the range
    scores = phred(got)[0]
    assert scores[:16] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 7, 8, 9, 10, 10]
    assert scores[16:] == list(range(11, 63))
    assert phred(got)[1] == scores[::-1]


@pytest.mark.parametrize(
    "solexa, original",
    [
        ("sanger_full_range_as_solexa.fastq", "sanger_full_range_original_sanger.fastq"),
        ("illumina_full_range_as_solexa.fastq", "illumina_full_range_as_sanger.fastq"),
        ("misc_rna_as_solexa.fastq", "misc_rna_original_sanger.fastq"),
        ("longreads_as_solexa.fastq", "longreads_original_sanger.fastq"),
        ("wrapping_as_solexa.fastq", "wrapping_as_sanger.fastq"),
        ("misc_dna_as_solexa.fastq", "../../fastq/iupac_misc_dna.fastq"),
    ],
)
def test_phred_to_solexa_and_back_loses_only_the_low_scores(solexa, original):
    """Phred -> Solexa (Biopython) -> Phred is exact from Q10 up to Solexa's top (62),
    off by at most one below Q10; higher scores are capped at 62."""
    got = dbg.read(COCK / solexa, quality_format="solexa")
    want = dbg.read(COCK / original)
    assert got.sequences.equal(want.sequences) and got.names == want.names
    for g, w in zip(phred(got), phred(want), strict=True):
        for a, b in zip(g, w, strict=True):
            if b >= 10:
                assert a == min(b, 62)
            else:
                assert abs(a - b) <= 1


def test_solexa_file_with_negative_scores_read_as_phred64_says_solexa():
    for name in SOLEXA:
        path = COCK / name
        if name == "solexa_example.fastq":
            continue  # no negative score: see the next test
        with pytest.raises(dbg.FastqFormatError) as info:
            dbg.read(path, quality_offset=64)
        msg = str(info.value)
        assert "below the phred+64 offset (score -" in msg, msg
        assert "may be Solexa-encoded" in msg and "quality_format='solexa'" in msg, msg
        assert "quality_offset=33" not in msg  # the wrong advice the issue reported
        assert info.value.path == str(path)


def test_solexa_faked_names_record_line_and_score():
    path = COCK / "solexa_faked.fastq"
    with pytest.raises(
        dbg.FastqFormatError,
        match=r"quality character '\?' \(ASCII 63\) at position 42 is below the phred\+64 "
        r"offset \(score -1\): the file may be Solexa-encoded",
    ) as info:
        dbg.read(path, quality_offset=64)
    assert (info.value.record, info.value.line) == (1, 4)


def test_solexa_file_without_negative_scores_reads_as_phred64_unchanged(oracle):
    """solexa_example.fastq holds only Solexa scores 17..25 ('Q'..'Y'): nothing in its
    bytes tells it from phred+64, so it loads without error either way; and since
    Solexa and Phred round to the same integer from 10 up, the values are the same."""
    path = COCK / "solexa_example.fastq"
    chars = b"".join(q for *_, q in oracle.fastx(path))
    assert min(chars) - 64 >= 10
    assert dbg.read(path, quality_offset=64).equals(dbg.read(path, quality_format="solexa"))
    # the copy kept in fastq/ is the same file
    assert (DATA / "fastq" / "solexa_scores_offset64_5reads.fastq").read_bytes() == path.read_bytes()


def test_phred33_file_read_as_phred64_keeps_the_phred33_hint():
    # first low character ';' (ASCII 59, Solexa's -5) but the record goes lower: not Solexa
    path = DATA / "fastq" / "sanger_454_wrapped_quality.fastq"
    with pytest.raises(dbg.FastqFormatError) as info:
        dbg.read(path, quality_offset=64)
    msg = str(info.value)
    assert "quality character ';' (ASCII 59) at position 1 is below the phred+64 offset" in msg
    assert "is this phred+33 data? read it with quality_offset=33" in msg
    assert "Solexa" not in msg


def test_phred33_file_read_as_solexa_says_phred33():
    path = COCK / "sanger_full_range_original_sanger.fastq"
    with pytest.raises(
        dbg.FastqFormatError,
        match=r"quality character '!' \(ASCII 33\) at position 1 is below the Solexa range "
        r"\(';' = -5 is the lowest Solexa score\): is this phred\+33 data\? read it with "
        r"quality_offset=33",
    ) as info:
        dbg.read(path, quality_format="solexa")
    assert (info.value.record, info.value.line) == (1, 4)


def test_quality_format_arguments():
    path = COCK / "sanger_faked.fastq"
    assert dbg.read(path, quality_format="phred33").equals(dbg.read(path))
    assert dbg.read(path, quality_format="PHRED33").equals(dbg.read(path))
    assert dbg.read(path, quality_format="sanger").equals(dbg.read(path))
    assert dbg.read(COCK / "illumina_faked.fastq", quality_format="phred+64").equals(
        dbg.read(COCK / "illumina_faked.fastq", quality_offset=64)
    )
    with pytest.raises(
        ValueError, match=r"quality_format must be one of phred33, phred64, solexa .*ambiguous"
    ):
        dbg.read(path, quality_format="illumina")
    with pytest.raises(ValueError, match="contradicts"):
        dbg.read(path, quality_offset=64, quality_format="phred33")
    with pytest.raises(ValueError, match="quality_offset must be 33 or 64"):
        dbg.iter_chunks(path, quality_offset=40, quality_format="solexa")


def test_solexa_through_the_dataset_and_cache(tmp_path):
    path = COCK / "solexa_faked.fastq"
    expected = dbg.read(path, quality_format="solexa")
    assert dbg.Dataset(path, quality_format="solexa").reads.equals(expected)
    cached = dbg.Dataset(path, cache_dir=tmp_path, quality_format="solexa").reads
    assert cached.equals(expected)
    # the option is part of the cache key: phred+64 is not served from the Solexa cache
    with pytest.raises(dbg.FormatError, match="may be Solexa-encoded"):
        dbg.Dataset(path, cache_dir=tmp_path, quality_offset=64)
    streamed = [s["quality"] for s in dbg.IterableDataset(path, quality_format="solexa")]
    assert bytes(streamed[0].tolist()) == expected[0].quality


# ------------------------------------------------------------------ dnaio files
@pytest.mark.parametrize(
    "name", ["simple.fasta", "simple.fastq", "dos.fastq", "small.fastq", "missingextension.gz"]
)
def test_dnaio_valid_files_match_pysam(name, oracle):
    assert oracle.records(dbg.read(DNAIO / name)) == oracle.fastx(DNAIO / name)


def test_fasta_comment_lines_are_skipped_and_counted(oracle):
    path = DNAIO / "with_comment.fasta"
    assert dbg.detect_format(path) == dbg.Detected("fasta", "none")
    with pytest.warns(dbg.SkippedCommentsWarning) as record:
        reads = dbg.read(path)
    (w,) = record
    assert (w.message.count, w.message.first_line, w.message.path) == (2, 1, str(path))
    assert "skipped 2 '#' comment lines (the first at line 1)" in str(w.message)
    # pysam skips the lines before the first header too
    assert oracle.records(reads) == oracle.fastx(path)
    assert [r.sequence for r in reads] == [b"SEQUENCE1", b"SEQUENCE2"]


def test_fasta_comment_lines_anywhere_and_in_any_block(tmp_path):
    """dnaio skips '#' lines wherever they are (its FastaReader); so do we, whatever the
    block boundaries, and they still count."""
    data = b"# c1\n\n#c2\n>a x\nAC\n# inside\nGT\n#between\n>b\nTT\n#end"
    path = tmp_path / "c.fa"
    path.write_bytes(data)
    expected = [("a", "x", b"ACGT", None), ("b", "", b"TT", None)]
    for block_size in (1, 3, 8, 1 << 20):
        with pytest.warns(dbg.SkippedCommentsWarning) as record:
            chunks = list(dbg.iter_chunks(path, 1, block_size=block_size))
        assert [(r.name, r.description, r.sequence, None) for c in chunks for r in c] == expected
        assert (record[0].message.count, record[0].message.first_line) == (5, 1)


def test_comment_only_and_text_after_comments(tmp_path):
    path = tmp_path / "c.fa"
    path.write_bytes(b"# just a comment\n")
    with pytest.warns(dbg.SkippedCommentsWarning):
        assert len(dbg.read(path)) == 0
    path.write_bytes(b"# a comment\nunexpected\n>a\nAC\n")
    with pytest.raises(dbg.FastaFormatError, match=r"expected '>' at line 2, found 'u'") as info:
        dbg.read(path, format="fasta")
    assert (info.value.record, info.value.line) == (1, 2)


def test_comment_lines_are_not_fastq(tmp_path):
    path = tmp_path / "c.fq"
    path.write_bytes(b"# a comment\n@r\nACGT\n+\nIIII\n")
    with pytest.raises(dbg.UnknownFormatError, match="cannot tell the format"):
        dbg.read(path)


# --------------------------------------------------------------- invalid files
# (file, record, line, message): record and line where the problem is seen
INVALID = [
    ("error_diff_ids.fastq", 3, 11, r"the '\+' line does not repeat the header: header "
     r"'@SLXA-B3_649_FC8437_R1_1_1_850_123', '\+' line '\+SLXA-B3_649_FC8437_R1_1_1_850_124'"),
    ("error_double_qual.fastq", 4, 13, r"expected '@' at the start of record 4 \(line 13\), "
     r"found '\+' \(a second '\+' and quality after record 3\?\)"),
    ("error_double_seq.fastq", 4, 15, r"expected '\+' at line 15, found '@': record 4 has no "
     r"'\+' line"),
    ("error_long_qual.fastq", 4, 16, r"quality length 26 differs from sequence length 25"),
    ("error_no_qual.fastq", 1, 4, r"quality length 0 differs from sequence length 25"),
    ("error_short_qual.fastq", 3, 12, r"quality length 24 differs from sequence length 25"),
    ("error_qual_del.fastq", 4, 16, r"unexpected control byte 0x7f in quality at position 13"),
    ("error_qual_escape.fastq", 5, 20, r"unexpected control byte 0x1b in quality at position 8"),
    ("error_qual_null.fastq", 1, 4, r"unexpected NUL byte in quality at position 4"),
    ("error_qual_space.fastq", 4, 16, r"unexpected space in quality at position 19"),
    ("error_qual_tab.fastq", 5, 20, r"unexpected tab in quality at position 11"),
    ("error_qual_unit_sep.fastq", 3, 12, r"unexpected control byte 0x1f in quality at position 6"),
    ("error_qual_vtab.fastq", 1, 4, r"unexpected control byte 0x0b in quality at position 11"),
    ("error_spaces.fastq", 1, 4, r"unexpected space in quality at position 10"),
    ("error_tabs.fastq", 1, 2, r"unexpected tab in sequence at position 10"),
    ("error_trunc_at_plus.fastq", 5, 19, r"^file ends inside record 5: no '\+' line after its "
     r"sequence \(a FASTQ record is"),
    ("error_trunc_at_qual.fastq", 5, 19, r"^file ends inside record 5: its quality has 0 of 25 "
     r"characters$"),
    ("error_trunc_at_seq.fastq", 5, 18, r"^file ends after the header line of record 5 and a "
     r"blank line: the record has no sequence, '\+' or quality line"),
    ("error_trunc_in_plus.fastq", 5, 19, r"^file ends inside record 5: its quality has 0 of 25 "
     r"characters \(the file stops inside its '\+' line\)$"),
    ("error_trunc_in_qual.fastq", 5, 20, r"^file ends inside record 5: its quality has 24 of 25 "
     r"characters$"),
    ("error_trunc_in_seq.fastq", 5, 18, r"^file ends inside record 5: no '\+' line after its "
     r"sequence \(the file stops inside a sequence line\)"),
    ("error_trunc_in_title.fastq", 5, 17, r"^file ends inside the header line of record 5 \(no "
     r"newline after it\): the record has no sequence, '\+' or quality line; the file is "
     r"probably truncated"),
    ("../dnaio/withplus.fastq", 1, 3, r"the '\+' line does not repeat the header: header "
     r"'@first_sequence', '\+' line '\+this is different'"),
]  # fmt: skip


def test_every_conformance_file_is_covered():
    listed = set(PHRED33 + PHRED64 + SOLEXA) | {Path(n).name for n, *_ in INVALID}
    assert {p.name for p in COCK.iterdir()} | {"withplus.fastq"} == listed | {"withplus.fastq"}
    dnaio_listed = {
        "simple.fasta", "simple.fastq", "dos.fastq", "small.fastq", "missingextension.gz",
        "with_comment.fasta", "withplus.fastq",
    } | {f"simple.{f}.{c}" for f in ("fasta", "fastq") for c in ("gz", "bz2", "xz")}  # fmt: skip
    assert {p.name for p in DNAIO.iterdir()} == dnaio_listed


@pytest.mark.parametrize("name, record, line, message", INVALID, ids=[m[0] for m in INVALID])
def test_invalid_files_name_record_line_and_problem(name, record, line, message):
    path = COCK / name
    for kwargs in ({}, {"threads": 0}, {"block_size": 5}, {"quality_offset": 64}):
        if kwargs.get("quality_offset") and "qual" in name and "trunc" not in name:
            continue  # their Solexa-range qualities would be checked first at offset 64
        with pytest.raises(dbg.FastqFormatError) as info:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                dbg.read(path, **kwargs)
        err = info.value
        assert (err.path, err.record, err.line) == (str(path), record, line), kwargs
        assert re.search(message, err.message), (err.message, message)
        assert str(err) == f"{path}: record {record}, line {line}: {err.message}"


@pytest.mark.parametrize("name, record, line, message", INVALID, ids=[m[0] for m in INVALID])
def test_invalid_files_skipped_record_by_record(name, record, line, message):
    """on_error='skip' drops the bad record (and reports the same error) instead."""
    path = COCK / name
    with pytest.warns(dbg.SkippedRecordsWarning) as record_warnings:
        dbg.read(path, on_error="skip")
    first = record_warnings[0].message.errors[0]
    assert (first.record, first.line) == (record, line)


def test_skipped_comments_warning_pickles():
    import pickle

    w = pickle.loads(pickle.dumps(dbg.SkippedCommentsWarning("a.fa", 3, 2)))
    assert (w.path, w.count, w.first_line, str(w)) == (
        "a.fa",
        3,
        2,
        "a.fa: skipped 3 '#' comment lines (the first at line 2)",
    )
