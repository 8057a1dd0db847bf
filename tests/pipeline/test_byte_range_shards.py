"""Byte-range shards (``deepbiop_gpu/io/byte_range.py``): each shard reads its own bytes.

* for every FASTQ / FASTA file in tests/data (and plain and BGZF copies of
  the gzip ones) and 1-5 shards, the shards together are ``read()``, every
  read once, each shard in file order, and their byte ranges tile the file;
* the resynchronisation rule finds the first true record start after any
  cut, on generated FASTQ whose quality lines start with ``@`` and ``+``
  and whose records are wrapped (hypothesis draws the cuts);
* malformed and truncated files raise ``read()``'s error and record number;
* plain gzip stays whole-stream with one warning; several files shard by file.
"""

from __future__ import annotations

import gzip
import shutil
import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dg
from deepbiop_gpu.data import iterable
from deepbiop_gpu.io.byte_range import ByteRangeReader, find_start
from deepbiop_gpu.io.chunks import resolve_format


@pytest.fixture(scope="module")
def all_files(data_dir, tmp_path_factory) -> list[Path]:
    """Every FASTQ / FASTA in tests/data, plus plain and BGZF copies of the gzip ones."""
    tmp = tmp_path_factory.mktemp("byte_range")
    files = sorted(p for sub in ("fastq", "fasta") for p in (data_dir / sub).iterdir()
                   if not p.name.endswith((".fai", ".gzi")))  # fmt: skip
    extra = []
    for p in files:
        if resolve_format(str(p), None).compression == "gzip":
            plain = tmp / p.name[:-3]
            with gzip.open(p) as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
            pytest.importorskip("pysam").tabix_compress(str(plain), str(plain) + ".bgz", force=True)
            extra += [plain, Path(str(plain) + ".bgz")]
    return files + extra


def _shards(monkeypatch, paths, n: int, **kwargs) -> list[list[tuple]]:
    """Per shard: the (name, sequence, quality, index) of its reads, in its order."""
    out = []
    for shard in range(n):
        monkeypatch.setattr(iterable, "shard_of_this_process", lambda s=shard: (s, n))
        ds = dg.IterableDataset(paths, reads_per_chunk=kwargs.pop("reads_per_chunk", 64), **{"shard_by": "bytes", **kwargs})
        rows = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gzip's whole-stream warning
            for reads, index, _ in ds._my_chunks():
                rows += [(r.name, r.sequence, r.quality, int(i)) for r, i in zip(reads, index)]
        out.append(rows)
    return out


def test_shards_together_are_read_exactly_once_in_order(monkeypatch, all_files):
    kinds = {resolve_format(str(p), None).compression for p in all_files}
    assert kinds == {"none", "gzip", "bgzf"}
    for path in all_files:
        want = [(r.name, r.sequence, r.quality) for r in dg.read(path)]
        for n in range(1, 6):
            shards = _shards(monkeypatch, path, n)
            det = resolve_format(str(path), None)
            if det.compression != "gzip":  # byte ranges: the shards are consecutive pieces
                assert [row[:3] for s in shards for row in s] == want, (path.name, n)
            else:  # whole-stream chunk dealing: each shard in order, together everything
                got = sorted((row[3], row[:3]) for s in shards for row in s)
                assert [g for _, g in got] == want, (path.name, n)
                for s in shards:
                    assert [row[3] for row in s] == sorted(row[3] for row in s)
            ids = [row[3] for s in shards for row in s]
            assert len(set(ids)) == len(ids), (path.name, n)


def test_byte_ranges_tile_the_file(all_files):
    for path in all_files:
        det = resolve_format(str(path), None)
        if det.compression != "none" or det.format not in ("fastq", "fasta"):
            continue
        size = path.stat().st_size
        for n in range(1, 6):
            spans = []
            for k in range(n):
                with ByteRangeReader(str(path), det, k, n) as r:
                    spans.append((r.start_anchor + r.start_offset, r.stop_anchor + r.stop_offset))
            assert spans[0][0] == 0 and spans[-1][1] == size
            assert all(a[1] == b[0] for a, b in zip(spans, spans[1:])), spans
            # each shard's own bytes: its 1/n of the file, moved to record boundaries
            longest = max(len(r.sequence) for r in dg.read(path)) * 2 + 400
            for k, (a, b) in enumerate(spans):
                assert b - a <= size // n + longest + 1, (path.name, n, k)


def test_bgzf_shards_start_at_block_boundaries(data_dir, all_files):
    path = next(p for p in all_files if p.name == "illumina_hiseq2500_pe_R1.fastq.bgz")
    det = resolve_format(str(path), None)
    blocks = set()
    with open(path, "rb") as fh:  # every block start, walked along the BSIZE chain
        pos, data = 0, fh.read()
        while pos < len(data):
            blocks.add(pos)
            pos += int.from_bytes(data[pos + 16 : pos + 18], "little") + 1
    for n in (2, 3, 5):
        for k in range(n):
            r = ByteRangeReader(str(path), det, k, n)
            assert r.start_anchor in blocks or r.start_anchor == len(data)
            r.close()


# ------------------------------------------------------------ the rule, proved on generated text
_QUAL = st.text(alphabet="@+I#!5F", min_size=1, max_size=9)


@st.composite
def fastq_texts(draw):
    """FASTQ with qualities full of '@' and '+', optionally wrapped; the record starts."""
    text, starts = b"", []
    for i in range(draw(st.integers(1, 12))):
        seq = draw(st.text(alphabet="ACGTN", min_size=0, max_size=20))
        qual = list(draw(st.text(alphabet="@+I#!5F", min_size=len(seq), max_size=len(seq))))
        width = draw(st.integers(1, 25)) if draw(st.booleans()) else max(len(seq), 1)
        seq_lines = [seq[j : j + width] for j in range(0, len(seq), width)] or [""]
        qual_lines = ["".join(qual[j : j + width]) for j in range(0, len(qual), width)] or [""]
        # assumption (B): no quality line starting with '@' followed by one starting with '+'
        at = False
        for j, line in enumerate(qual_lines):
            if at and line.startswith("+"):
                qual_lines[j] = "I" + line[1:]
            at = at or line.startswith("@")
        plus = draw(st.sampled_from(["+", f"+r{i} d"]))
        eol = draw(st.sampled_from(["\n", "\r\n"]))
        starts.append(len(text))
        text += eol.join([f"@r{i} d", *seq_lines, plus, *qual_lines]).encode() + eol.encode()
    return text, starts


@settings(max_examples=150, deadline=None)
@given(data=fastq_texts(), cut=st.floats(0, 1))
def test_resync_rule_finds_the_next_true_record_start(data, cut):
    text, starts = data
    s = int(cut * len(text))
    want = next((p for p in starts if p > s), len(text)) if s > 0 else 0
    found = 0 if s == 0 else s + find_start(text[s:], fasta=False, final=True)
    assert found == want


@settings(max_examples=25, deadline=None)
@given(data=fastq_texts(), n=st.integers(1, 7))
def test_shards_of_generated_fastq_are_the_file(tmp_path_factory, data, n):
    text, starts = data
    path = tmp_path_factory.mktemp("gen") / "g.fastq"
    path.write_bytes(text)
    det = resolve_format(str(path), None)
    want = [(r.name, r.sequence, r.quality) for r in dg.read(path)]
    assert len(want) == len(starts)
    got = []
    for k in range(n):
        from deepbiop_gpu.io.byte_range import iter_shard_chunks

        for chunk, _ in iter_shard_chunks(str(path), det, k, n, 3):
            got += [(r.name, r.sequence, r.quality) for r in chunk]
    assert got == want


# ------------------------------------------------------------ bad input
def test_malformed_files_raise_reads_error_with_its_record_number(monkeypatch, data_dir):
    for path in sorted((data_dir / "fastq_malformed").glob("*.fastq")):
        with pytest.raises(dg.FormatError) as expected:
            dg.read(path)
        for n in (2, 3):
            messages = []
            for shard in range(n):
                monkeypatch.setattr(iterable, "shard_of_this_process", lambda s=shard: (s, n))
                try:
                    list(dg.IterableDataset(path, reads_per_chunk=2, shard_by="bytes")._my_chunks())
                except dg.FormatError as exc:
                    messages.append(str(exc))
                    assert exc.record == expected.value.record
            assert messages, f"{path.name}: no shard raised"
            assert set(messages) == {str(expected.value)}, path.name


@pytest.mark.parametrize("kind", ["plain", "bgzf"])
def test_a_truncated_file_raises_reads_error_in_its_shard(monkeypatch, tmp_path, all_files, kind):
    source = next(p for p in all_files if p.name == "illumina_hiseq2500_pe_R1.fastq" + (".bgz" if kind == "bgzf" else ""))
    data = source.read_bytes()
    path = tmp_path / ("cut.fastq" + (".bgz" if kind == "bgzf" else ""))
    path.write_bytes(data[: int(len(data) * 0.7) + 3])
    with pytest.raises(dg.DeepBiopError) as expected:
        dg.read(path)
    raised = []
    for shard in range(3):
        monkeypatch.setattr(iterable, "shard_of_this_process", lambda s=shard: (s, 3))
        try:
            list(dg.IterableDataset(path, shard_by="bytes")._my_chunks())
        except dg.DeepBiopError as exc:
            raised.append((type(exc), str(exc)))
    assert raised and set(raised) == {(type(expected.value), str(expected.value))}


def test_gzip_stays_whole_stream_with_one_warning(monkeypatch, data_dir):
    path = data_dir / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz"
    iterable._WARNED_WHOLE_STREAM.discard(str(path))
    monkeypatch.setattr(iterable, "shard_of_this_process", lambda: (0, 2))
    ds = dg.IterableDataset(path, reads_per_chunk=100, shard_by="bytes")
    with pytest.warns(UserWarning, match="BGZF") as record:
        list(ds._my_chunks())
        list(ds._my_chunks())
    assert len([w for w in record if "BGZF" in str(w.message)]) == 1


def test_several_files_shard_by_file(monkeypatch, data_dir, all_files):
    paths = [data_dir / "fastq" / n for n in ("illumina_novaseq_800reads.fastq", "crlf_dos_3reads.fastq",
                                              "iupac_misc_dna.fastq", "zero_length_records.fastq")]
    names = [{r.name for r in dg.read(p)} for p in paths]
    for n in (2, 3, 4):
        shards = _shards(monkeypatch, paths, n)
        for k, rows in enumerate(shards):
            mine = set().union(*(names[f] for f in range(k, len(paths), n)))
            assert {row[0] for row in rows} == mine
        got = sorted((row[3], row[:3]) for s in shards for row in s)
        assert [g for _, g in got] == [(r.name, r.sequence, r.quality) for p in paths for r in dg.read(p)]
