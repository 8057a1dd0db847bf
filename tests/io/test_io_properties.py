"""Property tests: random records written in every layout and compression read back identically."""

from __future__ import annotations

import gzip
import os
import warnings

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dbg
from deepbiop_gpu import PackedReads
from deepbiop_gpu.io.chunks import iter_fastx_chunks
from deepbiop_gpu.io.sniff import detect

# DEEPBIOP_IO_EXAMPLES=500 for a longer search than the default CI budget
EXAMPLES = int(os.environ.get("DEEPBIOP_IO_EXAMPLES", "40"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COMPRESSIONS = ["none", "gzip", "multigzip", "bgzf", "bzip2", "xz"]
try:
    import zstandard  # noqa: F401  (the [test] extra installs it)

    COMPRESSIONS.append("zstd")
except ImportError:  # pragma: no cover
    pass

name_chars = st.characters(min_codepoint=33, max_codepoint=126)
desc_chars = st.sampled_from("abcXYZ019 _-:=/|\t")
base_chars = st.sampled_from("ACGTNacgtnRYKMSWBDHV-*.")
names = st.text(name_chars, max_size=12)
descriptions = st.text(desc_chars, max_size=20)


@st.composite
def fastq_records(draw, max_len=120):
    seq = draw(st.text(base_chars, max_size=max_len))
    qual = draw(
        st.text(
            st.characters(min_codepoint=33, max_codepoint=126), min_size=len(seq), max_size=len(seq)
        )
    )
    return (draw(names), draw(descriptions), seq.encode(), qual.encode())


@st.composite
def fasta_records(draw, max_len=300):
    return (
        draw(names),
        draw(descriptions),
        draw(st.text(base_chars, max_size=max_len)).encode(),
        None,
    )


def header(name: str, desc: str) -> bytes:
    return (name + (" " + desc if desc else "")).encode()


def wrap(data: bytes, width: int | None) -> list[bytes]:
    if width is None or not data:
        return [data]
    return [data[i : i + width] for i in range(0, len(data), width)]


def write_fastq(records, width=None, plus_repeats_header=False) -> bytes:
    out = []
    for name, desc, seq, qual in records:
        h = header(name, desc)
        out.append(b"@" + h)
        out.extend(wrap(seq, width))
        out.append(b"+" + (h if plus_repeats_header else b""))
        out.extend(wrap(qual, width))
    return b"".join(line + b"\n" for line in out)


def write_fasta(records, width=None, blank_every=0) -> bytes:
    out = []
    for i, (name, desc, seq, _) in enumerate(records):
        out.append(b">" + header(name, desc))
        out.extend(wrap(seq, width) if seq else [])
        if blank_every and i % blank_every == 0:
            out.append(b"")
    return b"".join(line + b"\n" for line in out)


def layout(data: bytes, crlf: bool, final_newline: bool) -> bytes:
    if crlf:
        data = data.replace(b"\n", b"\r\n")
    if not final_newline:
        data = data.rstrip(b"\r\n")
    return data


def as_records(reads: PackedReads):
    return [(r.name, r.description, r.sequence, r.quality) for r in reads]


@SETTINGS
@given(
    records=st.lists(fastq_records(), min_size=1, max_size=25),
    width=st.one_of(st.none(), st.integers(1, 40)),
    plus_repeats_header=st.booleans(),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    compression=st.sampled_from(COMPRESSIONS),
)
def test_fastq_roundtrip(
    tmp_path_factory, oracle, records, width, plus_repeats_header, crlf, final_newline, compression
):
    data = layout(write_fastq(records, width, plus_repeats_header), crlf, final_newline)
    path = oracle.write(tmp_path_factory.mktemp("fq") / "reads", data, compression)
    reads = dbg.read(path)
    assert as_records(reads) == records
    assert dbg.read(path, threads=0).equals(reads)


@SETTINGS
@given(
    records=st.lists(fasta_records(), min_size=1, max_size=20),
    width=st.one_of(st.none(), st.integers(1, 70)),
    blank_every=st.integers(0, 3),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    compression=st.sampled_from(COMPRESSIONS),
)
def test_fasta_roundtrip(
    tmp_path_factory, oracle, records, width, blank_every, crlf, final_newline, compression
):
    data = layout(write_fasta(records, width, blank_every), crlf, final_newline)
    path = oracle.write(tmp_path_factory.mktemp("fa") / "reads", data, compression)
    reads = dbg.read(path)
    assert reads.qualities is None
    assert as_records(reads) == records


@SETTINGS
@given(
    records=st.lists(fastq_records(max_len=60), min_size=1, max_size=30),
    width=st.one_of(st.none(), st.integers(1, 30)),
    crlf=st.booleans(),
    compression=st.sampled_from(COMPRESSIONS),
    reads_per_chunk=st.integers(1, 12),
    block_size=st.integers(1, 200),
)
def test_fastq_chunk_boundaries_anywhere(
    tmp_path_factory, oracle, records, width, crlf, compression, reads_per_chunk, block_size
):
    data = layout(write_fastq(records, width), crlf, True)
    path = oracle.write(tmp_path_factory.mktemp("fq") / "reads", data, compression)
    whole = dbg.read(path)
    chunks = list(dbg.iter_chunks(path, reads_per_chunk, block_size=block_size))
    assert [len(c) for c in chunks[:-1]] == [reads_per_chunk] * (len(chunks) - 1)
    assert 1 <= len(chunks[-1]) <= reads_per_chunk
    assert PackedReads.concat(chunks).equals(whole)
    assert as_records(whole) == records


@SETTINGS
@given(
    records=st.lists(fasta_records(max_len=200), min_size=1, max_size=15),
    width=st.one_of(st.none(), st.integers(1, 50)),
    crlf=st.booleans(),
    compression=st.sampled_from(COMPRESSIONS),
    reads_per_chunk=st.integers(1, 6),
    block_size=st.integers(1, 100),
)
def test_fasta_chunk_boundaries_anywhere(
    tmp_path_factory, oracle, records, width, crlf, compression, reads_per_chunk, block_size
):
    data = layout(write_fasta(records, width, 2), crlf, True)
    path = oracle.write(tmp_path_factory.mktemp("fa") / "reads", data, compression)
    chunks = list(dbg.iter_chunks(path, reads_per_chunk, block_size=block_size))
    assert PackedReads.concat(chunks).equals(dbg.read(path))
    assert as_records(PackedReads.concat(chunks)) == records


@SETTINGS
@given(
    records=st.lists(fastq_records(max_len=80), min_size=1, max_size=40),
    block_size=st.integers(16, 400),
)
def test_fast_and_per_record_paths_agree(tmp_path_factory, records, block_size):
    path = tmp_path_factory.mktemp("fq") / "reads.fastq"
    path.write_bytes(write_fastq(records))
    det = detect(path)
    fast = PackedReads.concat(list(iter_fastx_chunks(str(path), det, 7, block_size=block_size)))
    slow = PackedReads.concat(
        list(iter_fastx_chunks(str(path), det, 7, block_size=block_size, force_slow=True))
    )
    assert fast.equals(slow)
    assert as_records(fast) == records


@settings(
    max_examples=max(10, EXAMPLES * 3 // 4),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(records=st.lists(fastq_records(max_len=80), min_size=3, max_size=40), data=st.data())
def test_truncated_gzip_is_never_shorter_output(tmp_path_factory, records, data):
    raw = write_fastq(records)
    blob = gzip.compress(raw)
    cut = data.draw(st.integers(1, len(blob) - 1), label="cut")
    path = tmp_path_factory.mktemp("gz") / "reads.fastq.gz"
    path.write_bytes(blob[:cut])
    with pytest.raises(dbg.FormatError):
        dbg.read(path)


@st.composite
def corrupted(draw):
    records = draw(st.lists(fastq_records(max_len=50), min_size=2, max_size=30))
    bad = sorted(draw(st.sets(st.integers(0, len(records) - 1), min_size=1, max_size=len(records))))
    kinds = [draw(st.sampled_from(["longer", "nul", "control", "badplus"])) for _ in bad]
    return records, dict(zip(bad, kinds, strict=True))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=corrupted(), block_size=st.sampled_from([1 << 20, 64]))
def test_on_error_skip_counts_and_keeps_the_rest(tmp_path_factory, case, block_size):
    records, bad = case
    lines = []
    for i, (name, desc, seq, qual) in enumerate(records):
        h = header(name, desc)
        plus = b"+"
        kind = bad.get(i)
        if kind == "longer":
            qual = qual + b"I"
        elif kind == "nul":
            qual = b"\x00" + qual[1:] if qual else b"\x00"
            seq = seq if seq else b"A"
        elif kind == "control":
            h = h + b"\x01"
        elif kind == "badplus":
            plus = b"+" + h + b"x"
        lines += [b"@" + h, seq, plus, qual]
    path = tmp_path_factory.mktemp("fq") / "reads.fastq"
    path.write_bytes(b"".join(line + b"\n" for line in lines))
    with pytest.raises(dbg.FormatError) as info:
        dbg.read(path)
    assert info.value.record == min(bad) + 1
    line_in_record = {"control": 1, "badplus": 3, "nul": 4, "longer": 4}[bad[min(bad)]]
    assert info.value.line == 4 * min(bad) + line_in_record
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reads = dbg.read(path, on_error="skip", block_size=block_size)
    skipped = [w.message for w in caught if isinstance(w.message, dbg.SkippedRecordsWarning)]
    assert len(skipped) == 1
    assert skipped[0].count == len(bad)
    assert [e.record for e in skipped[0].errors] == [i + 1 for i in sorted(bad)][:10]
    assert as_records(reads) == [r for i, r in enumerate(records) if i not in bad]
