"""The deepbiop-gpu command line, run as a subprocess on the bundled files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pysam
import pytest

import deepbiop_gpu as dbg
from deepbiop_gpu.cache import Cache
from deepbiop_gpu.cli import main

DATA = Path(__file__).resolve().parents[1] / "data"
NOVASEQ = DATA / "fastq" / "illumina_novaseq_800reads.fastq"
PHRED64 = DATA / "fastq" / "illumina13_phred64_20reads.fastq"
ZERO = DATA / "fastq" / "zero_length_records.fastq"
MALFORMED = DATA / "fastq_malformed" / "qual_longer_than_seq.fastq"


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "deepbiop_gpu.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def run_here(capsys, *args: str | Path) -> tuple[int, str, str]:
    """The same command in this process (cheaper: no interpreter and torch start-up)."""
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def pysam_records(path: Path) -> list[tuple[str, str, str | None]]:
    with pysam.FastxFile(str(path)) as fh:
        return [(r.name, r.sequence or "", r.quality) for r in fh]


def test_inspect_prints_summary_and_findings():
    out = run("inspect", NOVASEQ)
    assert out.returncode == 0, out.stderr
    recs = pysam_records(NOVASEQ)
    bases = sum(len(s) for _, s, _ in recs)
    assert f"Summary: {len(recs)} reads from 1 file" in out.stdout
    assert f"bases        {bases:,}" in out.stdout
    assert "No problems found." in out.stdout


def test_inspect_json_and_exit_status_on_error_findings(tmp_path, capsys):
    out = run("inspect", PHRED64, "--json", "--plot", tmp_path / "q.png")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    recs = pysam_records(PHRED64)
    assert doc["summary"]["n_records"] == len(recs)
    scores = [ord(c) - 33 for _, _, q in recs for c in q]
    assert doc["summary"]["mean_quality"] == pytest.approx(sum(scores) / len(scores))
    (finding,) = [f for f in doc["findings"] if f["code"] == "quality-encoding"]
    assert finding["severity"] == "error" and finding["count"] == len(recs)
    assert (tmp_path / "q.png").read_bytes()[:4] == b"\x89PNG"
    code, stdout, _ = run_here(capsys, "inspect", PHRED64, "--quality-offset", "64", "--json")
    assert code == 0 and json.loads(stdout)["findings"] == []


def test_inspect_paired_files_and_label_table(tmp_path, capsys):
    r1 = DATA / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    r2 = DATA / "fastq" / "illumina_hiseq2500_pe_R2.fastq.gz"
    code, stdout, _ = run_here(capsys, "inspect", "--paired", r1, r2, "--json")
    doc = json.loads(stdout)
    assert code == 0 and doc["summary"]["n_pairs"] == len(pysam_records(r1))
    assert not [f for f in doc["findings"] if f["code"].startswith("pair")]
    code, stdout, _ = run_here(capsys, "inspect", "--paired", r1, NOVASEQ, "--json")
    assert code == 1
    assert "pair-count" in {f["code"] for f in json.loads(stdout)["findings"]}
    names = [n for n, _, _ in pysam_records(NOVASEQ)]
    table = tmp_path / "labels.tsv"
    table.write_text("".join(f"{n}\tx\n" for n in names[:-2]))
    code, stdout, _ = run_here(capsys, "inspect", NOVASEQ, "--labels", table)
    assert code == 1 and "2 reads of 800 have no entry in the label table" in stdout


def test_errors_are_one_line_with_status_2(tmp_path):
    out = run("inspect", MALFORMED, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        f"deepbiop-gpu: error: {MALFORMED}: record 4, line 16: quality length 26 differs from "
        "sequence length 25"
    ]


@pytest.mark.parametrize(
    "args, where",
    [
        (["inspect", "/no/such/reads.fastq"], "/no/such/reads.fastq: no such file"),
        (["cache", MALFORMED, "-o", "CACHE", "-q"], f"{MALFORMED}: record 4"),
        (
            ["encode", NOVASEQ, "-o", "x.npy", "--onehot", "--dtype", "int64"],
            "--dtype int64 is not available",
        ),
        (["inspect", "--paired", NOVASEQ], "--paired takes exactly two files"),
        (
            [
                "cache",
                NOVASEQ,
                DATA / "fasta" / "softmasked_with_N_4seqs.fasta",
                "-o",
                "CACHE",
                "-q",
            ],
            f"{NOVASEQ}: cannot cache reads with and without qualities",
        ),
    ],
)
def test_more_errors_in_process(tmp_path, capsys, monkeypatch, args, where):
    monkeypatch.chdir(tmp_path)
    args = [str(a).replace("CACHE", str(tmp_path / "c")) for a in args]
    code, _, stderr = run_here(capsys, *args)
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepbiop-gpu: error: ") and where in lines[0]
    assert not (tmp_path / "c").exists()


def test_debug_shows_the_traceback():
    with pytest.raises(dbg.FormatError):
        main(["--debug", "inspect", str(MALFORMED)])


def test_cache_builds_a_loadable_cache_with_progress(tmp_path, capsys):
    files = [
        DATA / "fastq" / "crlf_dos_3reads.fastq",
        DATA / "fastq" / "ont_lambda_236reads_wrapped80.fastq.gz",
    ]
    out = run("cache", *files, "-o", tmp_path / "c", "--reads-per-chunk", "50")
    assert out.returncode == 0, out.stderr
    assert "reads/s" in out.stderr and "read" in out.stderr  # the progress display
    n = sum(len(pysam_records(f)) for f in files)
    assert f"cached {n:,} reads" in out.stdout
    ds = Cache.load(tmp_path / "c")
    assert ds.file_sizes == [len(pysam_records(f)) for f in files]
    seqs = [s.encode() for f in files for _, s, _ in pysam_records(f)]
    assert [ds.reads[i].sequence for i in range(len(ds))] == seqs
    code, stdout, _ = run_here(
        capsys, "inspect", tmp_path / "c", "--json"
    )  # caches are inspectable
    assert code == 0 and json.loads(stdout)["summary"]["n_records"] == n


def test_export_writes_parquet(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = run("export", ZERO, "-o", tmp_path / "z.parquet")
    assert out.returncode == 0, out.stderr
    table = pq.read_table(tmp_path / "z.parquet")
    recs = pysam_records(ZERO)
    assert table.column("name").to_pylist() == [r[0] for r in recs]
    assert table.column("sequence").to_pylist() == [r[1] for r in recs]
    assert table.column("quality").to_pylist() == [r[2] or "" for r in recs]


def _one_hot_reference(seq: str, width: int) -> np.ndarray:
    out = np.zeros((width, 4), dtype=np.float32)
    for i, c in enumerate(seq[:width].upper()):
        j = "ACGT".find("T" if c == "U" else c)
        if j >= 0:
            out[i, j] = 1
    return out


def test_encode_onehot_matches_a_python_reference(tmp_path, capsys):
    out = run(
        "encode", ZERO, "-o", tmp_path / "x.npy", "--onehot", "--lengths", tmp_path / "l.npy", "-q"
    )
    assert out.returncode == 0, out.stderr
    recs = pysam_records(ZERO)
    width = max(len(s) for _, s, _ in recs)
    got = np.load(tmp_path / "x.npy")
    assert got.shape == (len(recs), width, 4) and got.dtype == np.float32
    expected = np.stack([_one_hot_reference(s, width) for _, s, _ in recs])
    np.testing.assert_array_equal(got, expected)
    assert np.load(tmp_path / "l.npy").tolist() == [len(s) for _, s, _ in recs]
    code, _, stderr = run_here(
        capsys,
        "encode",
        ZERO,
        "-o",
        tmp_path / "u.npy",
        "--onehot",
        "--dtype",
        "uint8",
        "--max-len",
        "30",
        "-q",
    )
    assert code == 0, stderr
    u8 = np.load(tmp_path / "u.npy")
    assert u8.dtype == np.uint8 and u8.shape == (len(recs), 30, 4)
    np.testing.assert_array_equal(u8, expected[:, :30].astype(np.uint8))


PROTEIN = DATA / "fasta" / "yersinia_pPCP1_10proteins.fasta"


@pytest.mark.parametrize("alphabet", ["protein", "rna"])
def test_encode_alphabet_matches_a_python_reference(tmp_path, capsys, alphabet):
    """``encode --onehot --alphabet``: protein [N, Lmax, 20] (ACDEFGHIKLMNPQRSTVWY), rna's T unknown."""
    path = PROTEIN if alphabet == "protein" else ZERO
    columns = "ACDEFGHIKLMNPQRSTVWY" if alphabet == "protein" else "ACGU"
    code, _, stderr = run_here(capsys, "encode", path, "-o", tmp_path / "p.npy", "--onehot",
                               "--dtype", "uint8", "--alphabet", alphabet, "-q")  # fmt: skip
    assert code == 0, stderr
    recs = pysam_records(path)
    width = max(len(s) for _, s, _ in recs)
    got = np.load(tmp_path / "p.npy")
    assert got.shape == (len(recs), width, len(columns)) and got.dtype == np.uint8
    expected = np.zeros(got.shape, np.uint8)
    for r, (_, seq, _) in enumerate(recs):
        for i, c in enumerate(seq.upper()):
            if c in columns:
                expected[r, i, columns.index(c)] = 1
    np.testing.assert_array_equal(got, expected)


def test_encode_kmer_refuses_protein(tmp_path, capsys):
    code, _, stderr = run_here(capsys, "encode", PROTEIN, "-o", tmp_path / "k.npy", "--kmer", "2",
                               "--alphabet", "protein")  # fmt: skip
    assert code != 0 and "--alphabet protein needs --onehot" in stderr


def test_encode_kmer_counts_match_a_python_count(tmp_path, capsys):
    code, _, stderr = run_here(
        capsys, "encode", NOVASEQ, "-o", tmp_path / "k.npy", "--kmer", "2", "-q"
    )
    assert code == 0, stderr
    got = np.load(tmp_path / "k.npy")
    recs = pysam_records(NOVASEQ)
    expected = np.zeros((len(recs), 16), dtype=np.float32)
    for r, (_, seq, _) in enumerate(recs):
        seq = seq.upper()
        for i in range(len(seq) - 1):
            a, b = "ACGT".find(seq[i]), "ACGT".find(seq[i + 1])
            if a >= 0 and b >= 0:
                expected[r, 4 * a + b] += 1
    np.testing.assert_array_equal(got, expected)


def test_bench_reports_throughput(capsys):
    code, stdout, stderr = run_here(
        capsys, "bench", DATA / "fastq" / "crlf_dos_3reads.fastq", "--batch-size", "2", "--json"
    )
    assert code == 0, stderr
    doc = json.loads(stdout)
    stages = {(r["stage"].split(" ")[0], r["device"]) for r in doc["results"]}
    assert ("parse", "cpu") in stages and ("batches", "cpu") in stages
    assert all(r["reads_per_s"] > 0 for r in doc["results"]) and doc["reads"] == 3


def test_console_script_is_installed():
    import shutil

    exe = shutil.which("deepbiop-gpu")
    if exe is None:
        pytest.skip("deepbiop-gpu is not on PATH (package not installed with its scripts)")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and dbg.__version__ in out.stdout


def test_plain_progress_without_tqdm(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` now fails
    files = [DATA / "fastq" / "illumina_novaseq_800reads.fastq"]
    code, stdout, stderr = run_here(
        capsys, "cache", *files, "-o", tmp_path / "c", "--reads-per-chunk", "100"
    )
    assert code == 0 and "cached 800 reads" in stdout
    last = stderr.strip().splitlines()[-1]
    assert (
        last.startswith("caching: 800 reads, ")
        and "read, " in last
        and last.endswith("reads/s (done)")
    )


def test_export_writes_hdf5_ragged_and_fixed(tmp_path, capsys):
    pytest.importorskip("h5py")
    from deepbiop_gpu.hdf5 import read_hdf5

    code, stdout, _ = run_here(capsys, "export", NOVASEQ, "-o", tmp_path / "r.h5",
                               "--compression", "lzf")  # fmt: skip
    assert code == 0 and "800 reads" in stdout and "hdf5" in stdout
    assert read_hdf5(tmp_path / "r.h5").reads.equals(dbg.read(NOVASEQ))
    code, _, _ = run_here(capsys, "export", NOVASEQ, "-o", tmp_path / "x.data",
                          "--format", "hdf5", "--encoded", "integer", "--length", "50")  # fmt: skip
    import h5py

    with h5py.File(tmp_path / "x.data", "r") as h5:
        assert code == 0 and h5["X"].shape == (800, 50) and h5.attrs["encoding"] == "integer"


def test_export_writes_numpy(tmp_path, capsys):
    code, _, _ = run_here(capsys, "export", ZERO, "-o", tmp_path / "z.npz", "--length", "6",
                          "--crop", "center")  # fmt: skip
    assert code == 0
    z = np.load(tmp_path / "z.npz")
    recs = pysam_records(ZERO)
    assert z["X"].shape == (len(recs), 6, 4) and z["X"].dtype == np.uint8
    assert z["lengths"].tolist() == [min(len(r[1]), 6) for r in recs]


def test_export_rejects_array_options_for_parquet(tmp_path, capsys):
    code, _, err = run_here(capsys, "export", ZERO, "-o", tmp_path / "z.parquet", "--length", "5")
    assert code == 2 and "apply to hdf5 and numpy" in err
    assert not (tmp_path / "z.parquet").exists()
