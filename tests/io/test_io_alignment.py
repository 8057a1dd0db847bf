"""SAM / BAM / CRAM: strands, secondary / supplementary, missing sequence and qualities."""

from __future__ import annotations

from pathlib import Path

import pysam
import pytest

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads

DATA = Path(__file__).resolve().parents[1] / "data"
REF = "ACGTTGCAAGGCTTAACCGGTATATCCGGAATTCCGGAAT" * 3


def _aln(header, name, seq, qual, flag, pos=0, cigar=None):
    a = pysam.AlignedSegment(header)
    a.query_name = name
    a.query_sequence = seq
    a.flag = flag
    if not flag & 4:
        a.reference_id = 0
        a.reference_start = pos
        a.cigarstring = cigar or f"{len(seq)}M"
        a.mapping_quality = 60
    if qual is not None:
        a.query_qualities = pysam.qualitystring_to_array(qual)
    return a


@pytest.fixture
def reference(tmp_path):
    path = tmp_path / "ref.fa"
    path.write_text(">chr\n" + REF + "\n")
    pysam.faidx(str(path))
    return path


def write(path: Path, mode: str, segments, reference=None, header=None):
    header = header or pysam.AlignmentHeader.from_dict(
        {"HD": {"VN": "1.6"}, "SQ": [{"SN": "chr", "LN": len(REF)}]}
    )
    kw = {"reference_filename": str(reference)} if reference else {}
    with pysam.AlignmentFile(str(path), mode, header=header, **kw) as fh:
        for seg in segments(header):
            fh.write(seg)
    return path


def mixed(header):
    return [
        _aln(header, "fwd", "ACGTTGCAAG", "ABCDEFGHIJ", 0, 0),
        _aln(header, "rev", "GGCTTAACCGGTA", "0123456789:;<", 16, 10),
        _aln(header, "sec", "ACGTT", "IIIII", 0x100, 0),
        _aln(header, "sup", "TTAAC", "#####", 0x800 | 16, 14),
        _aln(header, "unmapped_rev_iupac", "RYKMSWBDHVN", "!!!!!!!!!!!", 4 | 16),
        _aln(header, "noseq", None, None, 4),
    ]


@pytest.mark.parametrize("mode, suffix", [("wb", "bam"), ("wh", "sam")])
@pytest.mark.parametrize("as_sequenced", [True, False])
@pytest.mark.parametrize("keep", [(False, False), (True, False), (True, True)])
def test_flags_and_strands(tmp_path, oracle, mode, suffix, as_sequenced, keep):
    path = write(tmp_path / f"x.{suffix}", mode, mixed)
    kw = dict(as_sequenced=as_sequenced, keep_secondary=keep[0], keep_supplementary=keep[1])
    expected = oracle.alignments(path, **kw)
    reads = dbg.read(path, **kw)
    assert [(r.name, r.sequence, r.quality) for r in reads] == [
        (n, s, q if q is not None else b"!" * len(s)) for n, s, q in expected
    ]
    names = reads.names.tolist()
    assert ("sec" in names) == keep[0] and ("sup" in names) == keep[1]
    assert reads[names.index("noseq")].sequence == b""


def test_reverse_read_is_reverse_complemented_back(tmp_path):
    path = write(tmp_path / "x.bam", "wb", mixed)
    stored = {r.name: r for r in dbg.read(path, as_sequenced=False)}
    forward = {r.name: r for r in dbg.read(path)}
    table = bytes.maketrans(b"ACGTRYKMSWBDHVN", b"TGCAYRMKSWVHDBN")
    for name in ("rev", "unmapped_rev_iupac"):
        assert forward[name].sequence == stored[name].sequence.translate(table)[::-1]
        assert forward[name].quality == stored[name].quality[::-1]
    assert forward["fwd"] == stored["fwd"]


def test_missing_qualities_mix_is_filled_and_reported(tmp_path):
    def segs(header):
        return [
            _aln(header, "q", "ACGT", "IIII", 4),
            _aln(header, "noq", "GGG", None, 4),
        ]

    path = write(tmp_path / "x.bam", "wb", segs)
    with pytest.warns(UserWarning, match=r"1 of 2 reads have no base qualities.*filled with '!'"):
        reads = dbg.read(path)
    assert [r.quality for r in reads] == [b"IIII", b"!!!"]


def test_no_qualities_anywhere_gives_none(tmp_path):
    def segs(header):
        return [_aln(header, "a", "ACGT", None, 4), _aln(header, "b", None, None, 4)]

    path = write(tmp_path / "x.bam", "wb", segs)
    reads = dbg.read(path)
    assert reads.qualities is None
    assert [r.sequence for r in reads] == [b"ACGT", b""]


def test_cram_with_reference(tmp_path, oracle, reference):
    path = write(tmp_path / "x.cram", "wc", mixed, reference=reference)
    assert dbg.detect_format(path).format == "cram"
    expected = oracle.alignments(path, reference=str(reference))
    reads = dbg.read(path, reference=reference)
    assert [(r.name, r.sequence, r.quality) for r in reads] == [
        (n, s, q if q is not None else b"!" * len(s)) for n, s, q in expected
    ]
    assert dbg.read_bam(path, reference=reference).equals(reads)


def test_unaligned_cram_from_the_ubam(tmp_path, oracle):
    src = DATA / "sam_bam" / "ont_unaligned_30reads.bam"
    with pysam.AlignmentFile(str(src), check_sq=False) as fh:
        header = fh.header
        segments = list(fh)
    path = tmp_path / "ubam.cram"
    with pysam.AlignmentFile(str(path), "wc", header=header) as out:
        for seg in segments:
            out.write(seg)
    reads = dbg.read(path)
    assert [(r.name, r.sequence, r.quality) for r in reads] == oracle.alignments(src)


def test_chunks_of_a_bam_equal_the_whole(oracle):
    path = DATA / "sam_bam" / "hg00100_chr17_569reads.bam"
    n = len(oracle.alignments(path))
    whole = dbg.read(path)
    chunks = list(dbg.iter_chunks(path, 100))
    assert [len(c) for c in chunks] == [100] * (n // 100) + ([n % 100] if n % 100 else [])
    assert PackedReads.concat(chunks).equals(whole)
    assert len(whole) == n


def test_sam_parse_error_names_record_and_line(tmp_path):
    lines = (DATA / "sam_bam" / "mapped_unmapped_24reads.sam").read_text().splitlines()
    header = sum(1 for line in lines if line.startswith("@"))
    lines.insert(header + 5, "broken\tline")
    path = tmp_path / "bad.sam"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(dbg.AlignmentFormatError, match="cannot decode SAM record 6") as info:
        dbg.read(path)
    assert (info.value.record, info.value.line) == (6, header + 6)


def test_headerless_sam(tmp_path, oracle):
    lines = (DATA / "sam_bam" / "mapped_unmapped_24reads.sam").read_text().splitlines()
    body = [line for line in lines if not line.startswith("@")]
    path = tmp_path / "noheader.sam"
    path.write_text("\n".join(body) + "\n")
    assert dbg.detect_format(path).format == "sam"
    # aligned records need their @SQ lines: the error says so
    with pytest.raises(
        dbg.AlignmentFormatError, match=r"record 1: .*the file has no header"
    ) as info:
        dbg.read(path)
    assert (info.value.record, info.value.line) == (1, 1)
    # unaligned records (RNAME '*') need no header
    unaligned = [
        "\t".join([f[0], "4", "*", "0", "0", "*", "*", "0", "0", f[9], f[10]])
        for f in (line.split("\t") for line in body)
    ]
    path.write_text("\n".join(unaligned) + "\n")
    reads = dbg.read(path)
    assert [(r.name, r.sequence, r.quality) for r in reads] == oracle.alignments(path)


def test_unaligned_sam_without_sq_lines(tmp_path, oracle):
    src = DATA / "sam_bam" / "ont_unaligned_30reads.bam"
    with pysam.AlignmentFile(str(src), check_sq=False) as fh:
        header = fh.header
        segments = list(fh)
    path = tmp_path / "ubam.sam"
    with pysam.AlignmentFile(str(path), "wh", header=header) as out:
        for seg in segments:
            out.write(seg)
    reads = dbg.read(path)
    assert [(r.name, r.sequence, r.quality) for r in reads] == oracle.alignments(src)
