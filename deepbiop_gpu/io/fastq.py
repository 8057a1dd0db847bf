"""Vectorised FASTQ parser.

The fast path handles the common 4-line layout with whole-buffer numpy
operations: one ``np.flatnonzero`` finds every newline of a decompressed
block, the lines are grouped by four, and the structure of every record is
checked at once (``@`` and ``+`` first bytes, equal sequence and quality
lengths, a ``+`` line that is empty or repeats the header, quality bytes in
range).  Sequences, qualities, ids and descriptions are then copied into the
packed output with :func:`~deepbiop_gpu.io.ragged.gather`, never one record
at a time.

Anything the fast path does not accept — wrapped (multi-line) records, blank
lines, and every malformed record — goes to a per-record parser
(:meth:`FastqParser._slow`) that follows the kseq / ``pysam.FastxFile`` rules
(sequence lines up to the ``+`` line, then quality lines until the quality is
as long as the sequence) and raises :class:`FastqFormatError` naming the
record, the line and the problem.  Once a wrapped record is seen the rest of
the file stays on that path.

Conventions (they match ``pysam.FastxFile``):

* a trailing ``\\r`` is removed from every line (CRLF files); a missing final
  newline is accepted;
* the id is the header up to the first space or tab, the description the
  rest of the header after that one separator;
* a record may be empty (empty sequence and quality lines);
* blank lines between records are ignored (they hold no record);
* sequence bytes are kept as they are (case kept) and must be printable
  ASCII (32-126); quality bytes must lie in ``quality_offset``..126 (59..126
  for Solexa, whose scores start at -5) and are returned as phred+33.

Quality encodings (``quality_format``): ``"phred33"`` (Sanger, Illumina
1.8+), ``"phred64"`` (Illumina 1.3-1.7) and ``"solexa"`` (Solexa / Illumina
1.0-1.2: offset 64, log-odds scores from -5), converted to Phred with
``Q = round(10 * log10(10 ** (S / 10) + 1))`` (:data:`SOLEXA_TO_PHRED`).
For Solexa scores of 10 and more that formula gives back the same integer,
so a Solexa file whose scores are all >= 10 reads identically as phred+64;
one whose scores are all >= 0 cannot be told from phred+64 by its bytes
at all: only negative scores (``;`` to ``?``) give Solexa away, and the
phred+64 error for them says so.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable

import numpy as np

from ..errors import FastqFormatError, FormatError
from .ragged import first_true, gather, ranges_equal, split_headers
from .sink import ReadSink

__all__ = ["FastqParser", "QUALITY_FORMATS", "SOLEXA_TO_PHRED", "quality_encoding"]

_SEP = re.compile(rb"[ \t]")
_MAX_ERRORS_KEPT = 10

#: Accepted ``quality_format`` values.
QUALITY_FORMATS = ("phred33", "phred64", "solexa")

#: Phred score of every Solexa score from -5 to 62 (index ``S + 5``):
#: ``round(10 * log10(10 ** (S / 10) + 1))`` (Cock et al. 2010).
SOLEXA_TO_PHRED = tuple(round(10 * math.log10(10 ** (s / 10) + 1)) for s in range(-5, 63))

#: Other spellings accepted for ``quality_format``.
_ALIASES = {"sanger": "phred33", "phred+33": "phred33", "phred+64": "phred64"}

#: Lowest valid quality byte of each encoding (Solexa: ';' is score -5).
_LOWEST = {"phred33": 33, "phred64": 64, "solexa": 59}


def quality_encoding(quality_offset: int = 33, quality_format: str | None = None) -> str:
    """The quality encoding named by ``quality_offset`` / ``quality_format``.

    ``quality_format`` (``"phred33"``, ``"phred64"`` or ``"solexa"``) wins
    when given; it must not contradict an explicit ``quality_offset=64``
    (``"solexa"`` is offset 64 too).

    Examples
    --------
    >>> quality_encoding(64), quality_encoding(quality_format="solexa")
    ('phred64', 'solexa')
    """
    if quality_offset not in (33, 64):
        raise ValueError(f"quality_offset must be 33 or 64, got {quality_offset}")
    if quality_format is None:
        return f"phred{quality_offset}"
    fmt = str(quality_format).lower()
    fmt = _ALIASES.get(fmt, fmt)
    if fmt not in QUALITY_FORMATS:
        hint = ""
        if "illumina" in fmt:
            hint = (
                " ('illumina' is ambiguous: Illumina 1.8+ is phred33, 1.3-1.7 phred64, "
                "1.0-1.2 solexa)"
            )
        raise ValueError(
            f"quality_format must be one of {', '.join(QUALITY_FORMATS)} or None, "
            f"got {quality_format!r}{hint}"
        )
    if quality_offset == 64 and fmt == "phred33":
        raise ValueError("quality_offset=64 contradicts quality_format='phred33'")
    return fmt


def _show(byte: int) -> str:
    """A byte as a user reads it in an editor."""
    if byte == 0:
        return "NUL byte"
    if byte == 9:
        return "tab"
    if byte == 32:
        return "space"
    if byte < 32 or byte == 127:
        return f"control byte 0x{byte:02x}"
    if byte > 127:
        return f"non-ASCII byte 0x{byte:02x}"
    return repr(chr(byte))


class _RecordError(Exception):
    """A FormatError plus the line (index in the slow buffer) to resume at."""

    def __init__(self, error: FormatError, resume: int | None) -> None:
        self.error = error
        self.resume = resume


def _first_bad_record(bad_bytes: np.ndarray, offsets: np.ndarray) -> tuple[int, int]:
    """Record index and in-record position of the first ``True`` in ``bad_bytes``."""
    pos = first_true(bad_bytes)
    rec = int(np.searchsorted(offsets, pos, side="right")) - 1
    return rec, pos - int(offsets[rec])


class FastqParser:
    """Incremental FASTQ parser that appends to a :class:`ReadSink`.

    Feed it buffers that start at a record boundary; it parses every
    complete record and says how many bytes it consumed (the caller keeps
    the rest and prepends it to the next block).

    Parameters
    ----------
    path : str
        For error messages.
    sink : ReadSink
        Receives the records (``with_qualities=True``).
    quality_offset : int
        33 (Sanger / Illumina 1.8+) or 64 (Illumina 1.3-1.7); qualities are
        returned as phred+33 either way.
    quality_format : {"phred33", "phred64", "solexa"}, optional
        Overrides ``quality_offset``; ``"solexa"`` converts Solexa scores to
        Phred (see the module docstring).
    on_error : {"raise", "skip"}
        ``"skip"`` drops malformed records, counting them in :attr:`skipped`
        and keeping the first errors in :attr:`errors`.
    force_slow : bool
        Use the per-record parser for everything (tests compare both paths).
    wanted, reads_per_chunk : optional
        ``wanted(c)`` says whether chunk ``c`` (records ``c * reads_per_chunk``
        onwards) will be kept by the caller.  Records of unwanted chunks that
        are structurally sound (4 lines, ``@``/``+``, equal lengths) go to the
        sink as empty placeholders instead of being decoded, which is what
        lets each shard of a stream skip the others' chunks cheaply.  Ignored
        with ``on_error="skip"`` (which must decode a record to know whether
        it counts).

    Examples
    --------
    >>> from deepbiop_gpu.io.ragged import PAD
    >>> data = b"@r1 x\\nACGT\\n+\\nIIII\\n@r2\\nGG\\n+\\n##\\n"
    >>> buf = np.zeros(len(data) + PAD, np.uint8); buf[:len(data)] = list(data)
    >>> sink = ReadSink(with_qualities=True)
    >>> FastqParser("mem", sink).parse(buf, len(data), final=True) == len(data)
    True
    >>> sink.packed().names.tolist(), sink.packed().descriptions.tolist()
    (['r1', 'r2'], ['x', ''])
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sink: ReadSink,
        *,
        quality_offset: int = 33,
        quality_format: str | None = None,
        on_error: str = "raise",
        force_slow: bool = False,
        wanted: Callable[[int], bool] | None = None,
        reads_per_chunk: int | None = None,
    ) -> None:
        self.encoding = quality_encoding(quality_offset, quality_format)
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.path = os.fspath(path)
        self.sink = sink
        self.offset = 33 if self.encoding == "phred33" else 64
        self.lowest = _LOWEST[self.encoding]
        self.skip = on_error == "skip"
        self.slow = force_slow
        # chunks the caller will throw away (another shard's): their well-formed
        # records are counted, not decoded (only with on_error="raise", where a
        # bad record anywhere raises, so every shard still numbers records alike)
        self.wanted = wanted if (wanted is not None and reads_per_chunk and not self.skip) else None
        self.chunk = reads_per_chunk or 0
        self.lines_done = 0
        self.records_done = 0
        self.unterminated = False
        self.skipped = 0
        self.errors: list[FormatError] = []
        # bytes.translate(None, delete) leaves only the invalid bytes
        self._valid_qual = bytes(range(self.lowest, 127))
        self._valid_seq = bytes(range(32, 127))
        if self.encoding == "solexa":
            phred = {b: SOLEXA_TO_PHRED[b - 59] + 33 for b in range(59, 127)}
        else:
            phred = {b: b - self.offset + 33 for b in range(self.lowest, 127)}
        self._qual_shift = bytes(phred.get(b, b) for b in range(256))
        self._qual_lut = np.frombuffer(self._qual_shift, dtype=np.uint8)

    # ------------------------------------------------------------------ api
    def parse(self, buf: np.ndarray, n: int, final: bool) -> int:
        """Parse the complete records of ``buf[:n]``.

        Parameters
        ----------
        buf : ndarray, ``uint8 [>= n + PAD]``
            Starts at a record boundary (or blank lines before one).
        n : int
            Valid bytes in ``buf``.
        final : bool
            No more data follows: the last line may lack its newline, and an
            incomplete record is an error.

        Returns
        -------
        int
            Bytes consumed; ``buf[consumed:n]`` is an incomplete record
            (always ``n`` when ``final``).
        """
        nl = np.flatnonzero(buf[:n] == 10)
        # the last line has no newline: the file may have been cut inside it
        self.unterminated = bool(final and n and buf[n - 1] != 10)
        if self.unterminated:
            nl = np.append(nl, n)  # virtual newline after an unterminated last line
        done = 0
        if not self.slow:
            done, failed = self._fast(buf, nl)
            if not failed and not final:
                return self._consumed(nl, done)
        if done < len(nl):
            done += self._slow(buf, n, nl, done, final)
        return self._consumed(nl, done) if not final else n

    @staticmethod
    def _consumed(nl: np.ndarray, lines: int) -> int:
        return int(nl[lines - 1]) + 1 if lines else 0

    # ------------------------------------------------------------ fast path
    def _fast(self, buf: np.ndarray, nl: np.ndarray) -> tuple[int, bool]:
        """Parse leading 4-line records; return (lines consumed, whether one failed)."""
        m = len(nl) // 4
        if m == 0:
            return 0, False
        nl4 = nl[: 4 * m]
        starts = np.empty(4 * m, dtype=np.int64)
        starts[0] = 0
        np.add(nl4[:-1], 1, out=starts[1:])
        cr = buf[nl4 - 1] == 13
        if nl4[0] == 0:
            cr[0] = False  # empty first line: nothing before it
        ends = nl4 - cr if cr.any() else nl4
        S = starts.reshape(m, 4)
        L = (ends - starts).reshape(m, 4)
        seq_len = L[:, 1]
        s0 = buf[S[:, 1]]
        bad = (buf[S[:, 0]] != 64) | (buf[S[:, 2]] != 43) | (seq_len != L[:, 3])
        bad |= (seq_len > 0) & ((s0 == 64) | (s0 == 43))
        plus_len = L[:, 2] - 1
        if plus_len.any():
            has = plus_len > 0
            same = (plus_len == L[:, 0] - 1) & ranges_equal(buf, S[:, 0] + 1, S[:, 2] + 1, plus_len)
            bad |= has & ~same
        failed = False
        f = first_true(bad)
        if f >= 0:  # records from f on go to the slow path, which reports the error
            m, failed = f, True
            if m == 0:
                return 0, True
        done = 0
        for a, b, keep in self._runs(m):
            if not keep:  # another shard's chunk: placeholders, nothing decoded
                self.sink.add_placeholders(b - a)
                done = b
                continue
            added = self._add(buf, S[a:b], L[a:b], seq_len[a:b])
            done = a + added
            if added < b - a:
                failed = True
                break
        self.records_done += done
        self.lines_done += 4 * done
        return 4 * done, failed

    def _runs(self, m: int) -> list[tuple[int, int, bool]]:
        """The next ``m`` records as ``(start, end, wanted)`` runs, split at chunk boundaries."""
        if self.wanted is None:
            return [(0, m, True)]
        runs = []
        a = 0
        while a < m:
            record = self.records_done + a
            b = min(m, a + self.chunk - record % self.chunk)
            runs.append((a, b, self.wanted(record // self.chunk)))
            a = b
        return runs

    def _add(self, buf: np.ndarray, S: np.ndarray, L: np.ndarray, seq_len: np.ndarray) -> int:
        """Decode and add structurally sound records; how many (stops before a bad one)."""
        m = len(seq_len)
        offsets = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(seq_len, out=offsets[1:])
        seqs = gather(buf, S[:, 1], seq_len)
        quals = gather(buf, S[:, 3], seq_len)
        cut = m
        if len(quals) and (int(quals.min()) < self.lowest or int(quals.max()) > 126):
            cut = min(cut, _first_bad_record((quals < self.lowest) | (quals > 126), offsets)[0])
        if len(seqs) and (int(seqs.min()) < 32 or int(seqs.max()) > 126):
            cut = min(cut, _first_bad_record((seqs < 32) | (seqs > 126), offsets)[0])
        names, name_lens, descs, desc_lens = split_headers(buf, S[:, 0] + 1, L[:, 0] - 1)
        cut = min(cut, self._check_headers(names, name_lens, descs, desc_lens))
        if cut == 0:
            return 0
        if cut < m:
            # keep the records before the first bad one; the slow path reports it
            end = int(offsets[cut])
            seqs, quals, seq_len = seqs[:end], quals[:end], seq_len[:cut]
            names = names[: int(name_lens[:cut].sum())]
            descs = descs[: int(desc_lens[:cut].sum())]
            name_lens, desc_lens = name_lens[:cut], desc_lens[:cut]
        if self.encoding == "phred64":
            quals -= 31
        elif self.encoding == "solexa":
            quals = self._qual_lut[quals]
        self.sink.add(seqs, quals, seq_len, names, name_lens, descs, desc_lens)
        return cut

    @staticmethod
    def _check_headers(
        names: np.ndarray, name_lens: np.ndarray, descs: np.ndarray, desc_lens: np.ndarray
    ) -> int:
        """Index of the first record whose header has a control byte or bad UTF-8
        (``len(name_lens)`` if none)."""
        m = len(name_lens)
        cut = m
        for data, lens in ((names, name_lens), (descs, desc_lens)):
            if not len(data) or (int(data.min()) >= 32 and int(data.max()) <= 126):
                continue
            bad = ((data < 32) & (data != 9)) | (data == 127)
            if data.max() > 127:
                try:
                    data.tobytes().decode("utf-8")
                except UnicodeDecodeError as exc:
                    bad[exc.start] = True
            if bad.any():
                offs = np.zeros(m + 1, dtype=np.int64)
                np.cumsum(lens, out=offs[1:])
                cut = min(cut, _first_bad_record(bad, offs)[0])
        return cut

    # ------------------------------------------------------------ slow path
    def _slow(self, buf: np.ndarray, n: int, nl: np.ndarray, first: int, final: bool) -> int:
        """Parse records one by one from line ``first``; return lines consumed."""
        base = self._consumed(nl, first)
        data = buf[base:n].tobytes()
        line_ends = (nl[first:] - base).tolist()
        count = len(line_ends)
        starts = [0] + [e + 1 for e in line_ends[:-1]]
        ends = [
            e - 1 if e > s and data[e - 1] == 13 else e
            for s, e in zip(starts, line_ends, strict=True)
        ]
        out: list[tuple[bytes, bytes, bytes, bytes]] = []
        i = 0
        while True:
            while i < count and starts[i] == ends[i]:
                i += 1  # blank line between records
            if i >= count:
                break
            try:
                rec, nxt = self._record(data, starts, ends, i, count, final)
            except _RecordError as err:
                if not self.skip:
                    self.sink.add_records(out)
                    raise err.error from None
                self.records_done += 1
                self.skipped += 1
                if len(self.errors) < _MAX_ERRORS_KEPT:
                    self.errors.append(err.error)
                i = self._resync(data, starts, ends, i, count) if err.resume is None else err.resume
                continue
            if rec is None:
                break  # incomplete record: wait for more data
            out.append(rec)
            self.records_done += 1
            i = nxt
        self.sink.add_records(out)
        self.lines_done += i
        return i

    @staticmethod
    def _resync(data: bytes, starts: list[int], ends: list[int], i: int, count: int) -> int:
        """Next line after ``i`` that starts with '@' (where a record may begin)."""
        for j in range(i + 1, count):
            if ends[j] > starts[j] and data[starts[j]] == 64:
                return j
        return count

    def _error(self, message: str, line_index: int, resume: int | None) -> _RecordError:
        err = FastqFormatError(
            message,
            path=self.path,
            record=self.records_done + 1,
            line=self.lines_done + line_index + 1,
        )
        return _RecordError(err, resume)

    def _record(
        self,
        data: bytes,
        starts: list[int],
        ends: list[int],
        i: int,
        count: int,
        final: bool,
    ) -> tuple[tuple[bytes, bytes, bytes, bytes] | None, int]:
        """Parse the record whose header is line ``i``.

        Returns ``(record, next line)``, or ``(None, i)`` when the buffer ends
        inside the record and more data may follow.
        """
        rec_no = self.records_done + 1
        hs, he = starts[i], ends[i]
        if data[hs] != 64:
            hint = ""
            if data[hs] == 62:
                hint = " (a FASTA header in a FASTQ file?)"
            elif data[hs] == 43 and rec_no > 1:
                hint = f" (a second '+' and quality after record {rec_no - 1}?)"
            raise self._error(
                f"expected '@' at the start of record {rec_no} (line "
                f"{self.lines_done + i + 1}), found {_show(data[hs])}{hint}",
                i,
                None,
            )
        header = data[hs + 1 : he]
        # sequence lines, up to the '+' line
        j = i + 1
        seq_parts = []
        while True:
            if j >= count:
                if not final:
                    return None, i
                raise self._error(self._ends_before_plus(rec_no, i, j, seq_parts), count - 1, count)
            s, e = starts[j], ends[j]
            c = data[s] if e > s else -1
            if c == 43:
                break
            if c == 64:
                raise self._error(
                    f"expected '+' at line {self.lines_done + j + 1}, found '@': record "
                    f"{rec_no} has no '+' line (or its sequence line starts with '@')",
                    j,
                    j,
                )
            seq_parts.append(data[s:e])
            j += 1
        seq = b"".join(seq_parts)
        # quality lines, until as long as the sequence
        k = j + 1
        qual_parts = []
        qlen = 0
        if not seq:
            if k < count:
                if starts[k] == ends[k] or data[starts[k]] != 64:
                    # the (empty) quality line of an empty record; anything but a
                    # header is taken as its quality, so a stray one is reported
                    qual_parts.append(data[starts[k] : ends[k]])
                    qlen = ends[k] - starts[k]
                    k += 1
            elif not final:
                return None, i
        while qlen < len(seq):
            if k >= count:
                if not final:
                    return None, i
                cut = ""
                if self.unterminated:
                    cut = (
                        " (the file stops inside its '+' line)"
                        if k == j + 1
                        else " (the file stops inside a quality line)"
                    )
                raise self._error(
                    f"file ends inside record {rec_no}: its quality has {qlen} of "
                    f"{len(seq)} characters{cut}",
                    count - 1,
                    count,
                )
            s, e = starts[k], ends[k]
            if qual_parts and data[s : s + 1] == b"@" and qlen + (e - s) > len(seq):
                # the next record's header, not more quality: the quality is short
                raise self._error(
                    f"quality length {qlen} differs from sequence length {len(seq)}",
                    k - 1,
                    k,
                )
            qual_parts.append(data[s:e])
            qlen += e - s
            k += 1
        qual = b"".join(qual_parts)
        # content checks, in file order
        self._check_text(header, "header", i, k)
        bad = seq.translate(None, self._valid_seq)
        if bad:
            pos = next(p for p, b in enumerate(seq) if b == bad[0])
            line = i + 1
            acc = 0
            for part in seq_parts:
                if pos < acc + len(part):
                    break
                acc += len(part)
                line += 1
            raise self._error(
                f"unexpected {_show(bad[0])} in sequence at position {pos + 1}: bases "
                "must be printable ASCII letters",
                line,
                k,
            )
        plus = data[starts[j] + 1 : ends[j]]
        if plus and plus != header:
            raise self._error(
                f"the '+' line does not repeat the header: header "
                f"'@{header.decode('utf-8', 'replace')}', '+' line "
                f"'+{plus.decode('utf-8', 'replace')}' (leave it as a bare '+' or repeat "
                "the header exactly)",
                j,
                k,
            )
        bad = qual.translate(None, self._valid_qual)
        if bad:
            pos = next(p for p, b in enumerate(qual) if b == bad[0])
            line = j + 1
            acc = 0
            for part in qual_parts:
                if pos < acc + len(part):
                    break
                acc += len(part)
                line += 1
            b = bad[0]
            if 33 <= b < self.lowest:
                msg = self._low_quality_message(b, pos, qual)
            else:
                msg = (
                    f"unexpected {_show(b)} in quality at position {pos + 1}: quality "
                    "characters must be printable ASCII ('!' to '~')"
                )
            raise self._error(msg, line, k)
        if qlen != len(seq):
            raise self._error(
                f"quality length {qlen} differs from sequence length {len(seq)}", k - 1, k
            )
        if self.encoding != "phred33":
            qual = qual.translate(self._qual_shift)
        if j - i > 2 or k - j > 2:
            self.slow = True  # wrapped records: stay on this path
        m = _SEP.search(header)
        if m is None:
            return (seq, qual, header, b""), k
        return (seq, qual, header[: m.start()], header[m.start() + 1 :]), k

    def _ends_before_plus(self, rec_no: int, i: int, j: int, seq_parts: list[bytes]) -> str:
        """What is missing when the file ends before record ``rec_no`` has a '+' line
        (its header is line ``i``; lines ``i + 1 .. j - 1`` came after it)."""
        layout = (
            "a FASTQ record is an '@' header line, the sequence, a '+' line and the quality"
        )
        if j == i + 1:
            if self.unterminated:
                return (
                    f"file ends inside the header line of record {rec_no} (no newline after "
                    f"it): the record has no sequence, '+' or quality line; the file is "
                    f"probably truncated ({layout})"
                )
            return (
                f"file ends after the header line of record {rec_no}: the record has no "
                f"sequence, '+' or quality line ({layout})"
            )
        if not any(seq_parts):
            return (
                f"file ends after the header line of record {rec_no} and a blank line: the "
                f"record has no sequence, '+' or quality line ({layout})"
            )
        where = " (the file stops inside a sequence line)" if self.unterminated else ""
        return (
            f"file ends inside record {rec_no}: no '+' line after its sequence{where} "
            f"({layout})"
        )

    def _low_quality_message(self, b: int, pos: int, qual: bytes) -> str:
        """Why quality byte ``b`` (printable, below the encoding's range) is wrong, and
        which encoding the record's qualities fit instead."""
        where = f"quality character {chr(b)!r} (ASCII {b}) at position {pos + 1}"
        lowest = min(c for c in qual if c >= 33)
        if self.encoding == "solexa":
            return (
                f"{where} is below the Solexa range (';' = -5 is the lowest Solexa score): "
                "is this phred+33 data? read it with quality_offset=33"
            )
        if lowest >= 59:
            # scores -5..-1 at offset 64: what Solexa files hold (phred+64 stops at 0)
            return (
                f"{where} is below the phred+64 offset (score {b - 64}): the file may be "
                "Solexa-encoded (Illumina 1.0-1.2, scores from -5 at ';'); read it with "
                "quality_format='solexa'"
            )
        return (
            f"{where} is below the phred+64 offset: is this phred+33 data? read it "
            "with quality_offset=33"
        )

    def _check_text(self, header: bytes, what: str, line: int, resume: int) -> None:
        bad = [b for b in header if (b < 32 and b != 9) or b == 127]
        if bad:
            raise self._error(f"unexpected {_show(bad[0])} in the {what} line", line, resume)
        if max(header, default=0) > 127:
            try:
                header.decode("utf-8")
            except UnicodeDecodeError:
                raise self._error(
                    f"the {what} line is not valid UTF-8 text", line, resume
                ) from None
