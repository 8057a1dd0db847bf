"""``deepbiop-gpu filter`` and ``deepbiop-gpu convert``."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pysam
import pytest

from deepbiop_gpu import PackedReads, ReadFilter, read
from deepbiop_gpu.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
NOVASEQ = DATA / "fastq" / "illumina_novaseq_800reads.fastq"
R1 = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
BAM = DATA / "sam_bam" / "hg00100_chr17_569reads.bam"


def run_here(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_filter_matches_read_filter(capsys, tmp_path):
    names = tmp_path / "drop.txt"
    names.write_text("\n".join(read(NOVASEQ).names.tolist()[:50]) + "\n")
    out = tmp_path / "clean.fq.gz"
    code, stdout, _ = run_here(
        capsys,
        "filter",
        NOVASEQ,
        R1,
        "-o",
        out,
        "--min-length",
        "100",
        "--min-quality",
        "27.5",
        "--max-n",
        "1",
        "--exclude-names",
        names,
        "--dedup",
        "exact",
        "--subsample",
        "0.7",
        "--seed",
        "3",
        "-q",
    )
    assert code == 0
    f = ReadFilter(
        min_length=100,
        min_quality=27.5,
        max_n=1,
        exclude_names=names,
        dedup="exact",
        subsample=0.7,
        seed=3,
    )
    expected = f(PackedReads.concat([read(NOVASEQ), read(R1)]))
    assert read(out).equals(expected)
    assert str(f.report) in stdout and f"wrote {len(expected):,} reads" in stdout


def test_filter_json_report_and_count_subsample(capsys, tmp_path):
    out = tmp_path / "s.fa"
    code, stdout, _ = run_here(
        capsys,
        "filter",
        R1,
        "-o",
        out,
        "--subsample",
        "100",
        "--gc-range",
        "0.3",
        "0.7",
        "--json",
        "-q",
    )
    assert code == 0
    report = json.loads(stdout)
    f = ReadFilter(subsample=100, gc_range=(0.3, 0.7))
    f.mask(read(R1))
    assert {k: report[k] for k in ("reads_in", "removed", "kept")} == {
        k: v for k, v in f.report.to_dict().items() if k in ("reads_in", "removed", "kept")
    }
    assert report["kept"] == 100 == len(read(out)) and report["output"] == str(out)


def test_filter_quality_criterion_on_fasta_fails_cleanly(capsys, tmp_path):
    out = tmp_path / "o.fa"
    code, _, err = run_here(
        capsys,
        "filter",
        DATA / "fasta" / "softmasked_with_N_4seqs.fasta",
        "-o",
        out,
        "--min-quality",
        "20",
        "-q",
    )
    assert code == 2 and "no qualities" in err
    assert list(tmp_path.iterdir()) == []


def test_convert_bam_to_fastq_gz_as_sequenced(capsys, tmp_path):
    out = tmp_path / "reads.fq.gz"
    code, stdout, _ = run_here(capsys, "convert", BAM, "-o", out, "-q")
    assert code == 0 and "converted 569 reads" in stdout
    with pysam.AlignmentFile(str(BAM), "rb") as bam:
        records = [r for r in bam if not (r.is_secondary or r.is_supplementary)]
    with pysam.FastxFile(str(out)) as fh:
        got = [(e.name, e.sequence, e.quality) for e in fh]
    assert got == [
        (
            r.query_name,
            r.get_forward_sequence(),
            "".join(chr(q + 33) for q in r.get_forward_qualities()),
        )
        for r in records
    ]
    assert any(r.is_reverse for r in records)
    assert out.read_bytes()[:2] == b"\x1f\x8b" and b"BC" not in out.read_bytes()[12:14]


def test_convert_bgzf_flag_and_extension(capsys, tmp_path):
    for args, name in ((["--bgzf"], "a.fq.gz"), ([], "b.fastq.bgz")):
        out = tmp_path / name
        assert run_here(capsys, "convert", R1, "-o", out, "-q", *args)[0] == 0
        raw = out.read_bytes()
        assert raw[12:14] == b"BC"  # the BGZF extra field
        with pysam.BGZFile(str(out), "rb") as fh:
            assert fh.read() == gzip.decompress(raw)
        assert read(out).equals(read(R1))


def test_convert_fasta_and_sam(capsys, tmp_path):
    sam = DATA / "sam_bam" / "mapped_unmapped_24reads.sam"
    out = tmp_path / "x.fa"
    assert run_here(capsys, "convert", sam, "-o", out, "--line-width", "10", "-q")[0] == 0
    r = read(sam)
    assert read(out).equals(PackedReads(r.sequences, r.offsets, None, r.names, r.descriptions))
    fasta = DATA / "fasta" / "softmasked_with_N_4seqs.fasta"
    code, _, err = run_here(capsys, "convert", fasta, "-o", tmp_path / "y.fq", "-q")
    assert code == 2 and "fill_quality" in err and not (tmp_path / "y.fq").exists()
    assert (
        run_here(capsys, "convert", fasta, "-o", tmp_path / "y.fq", "--fill-quality", "30", "-q")[0]
        == 0
    )
    assert bool((read(tmp_path / "y.fq").qualities == ord("?")).all())


@pytest.mark.parametrize("bad", ["qual_longer_than_seq.fastq", "truncated_after_plus_line.fastq"])
def test_malformed_input_exits_2_with_record_and_no_output(capsys, tmp_path, bad):
    for command in ("convert", "filter"):
        code, _, err = run_here(
            capsys, command, DATA / "fastq_malformed" / bad, "-o", tmp_path / "out.fq.gz"
        )
        assert code == 2
        assert "record" in err and bad in err
        assert os.listdir(tmp_path) == []


def test_progress_goes_to_stderr(capsys, tmp_path):
    code, stdout, err = run_here(capsys, "filter", NOVASEQ, "-o", tmp_path / "o.fq", "--max-n", "0")
    assert code == 0 and "filtering" in err and "filtering" not in stdout


def test_convert_cram_with_reference(capsys, tmp_path):
    """A CRAM written here by pysam against a small reference, reverse-strand reads included."""
    rng = np.random.default_rng(7)
    ref = bytes(rng.choice(list(b"ACGT"), 3000).tolist()).decode()
    (tmp_path / "ref.fa").write_text(f">chrT\n{ref}\n")
    pysam.faidx(str(tmp_path / "ref.fa"))
    header = {"HD": {"VN": "1.6"}, "SQ": [{"SN": "chrT", "LN": len(ref)}]}
    cram = tmp_path / "x.cram"
    with pysam.AlignmentFile(
        str(cram), "wc", header=header, reference_filename=str(tmp_path / "ref.fa")
    ) as out:
        for i in range(12):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.reference_id, a.reference_start = f"r{i}", 0, 200 * i
            a.query_sequence, a.cigarstring = ref[200 * i : 200 * i + 60], "60M"
            a.flag, a.mapping_quality = (16 if i % 3 == 0 else 0), 60
            a.query_qualities = pysam.qualitystring_to_array(
                "".join(chr(33 + (j * 7 + i) % 41) for j in range(60))
            )
            out.write(a)
    out_fq = tmp_path / "x.fq.gz"
    code, stdout, _ = run_here(
        capsys, "convert", cram, "-o", out_fq, "--reference", tmp_path / "ref.fa", "-q"
    )
    assert code == 0 and "converted 12 reads" in stdout
    with pysam.AlignmentFile(str(cram), "rc", reference_filename=str(tmp_path / "ref.fa")) as fh:
        expected = [
            (
                r.query_name,
                r.get_forward_sequence(),
                pysam.qualities_to_qualitystring(r.get_forward_qualities()),
            )
            for r in fh
        ]
    with pysam.FastxFile(str(out_fq)) as fh:
        assert [(e.name, e.sequence, e.quality) for e in fh] == expected
    # reverse-strand reads come out reverse-complemented (as sequenced), not as stored
    stored = [ref[200 * i : 200 * i + 60] for i in range(12)]
    flipped = [i for i in range(12) if expected[i][1] != stored[i]]
    assert flipped == [i for i in range(12) if i % 3 == 0]


def test_corrupt_bam_exits_2_and_leaves_no_output(capsys, tmp_path):
    bad = DATA / "sam_bam" / "malformed_corrupt_bgzf_eof.bam"
    code, _, err = run_here(capsys, "convert", bad, "-o", tmp_path / "o.fq", "-q")
    assert code == 2 and bad.name in err
    assert os.listdir(tmp_path) == []
