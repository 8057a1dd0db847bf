"""Vectorised FASTA parser.

Every line of a buffer is classified at once (header: first byte ``>``;
anything else: sequence), the sequence lines are copied back to back with
:func:`~deepbiop_gpu.io.ragged.gather` (so a record's lines are joined for
free: they are adjacent in the output) and record lengths come from one
``np.bincount`` over the line-to-record map.  A record may span any number
of input blocks: its bases go into the sink as they arrive and the record is
closed at the next header or at the end of the file, so memory stays
bounded by the block size plus the output.

Conventions (they match ``pysam.FastxFile``): a trailing ``\\r`` is removed
from every line; blank lines contribute nothing; lines starting with ``#``
are comments, skipped and counted (:attr:`FastaParser.comment_lines`)
wherever they are, as dnaio does (pysam skips them before the first header
only); bases are kept byte for
byte (soft-masked lower case kept) and must be printable ASCII (32-126);
the id is the header up to the first space or tab and the description the
rest after that one separator; a header with no sequence is an empty record.
"""

from __future__ import annotations

import os

import numpy as np

from ..errors import FastaFormatError, FormatError
from .fastq import _show
from .ragged import first_true, gather, split_headers
from .sink import ReadSink

__all__ = ["FastaParser"]

_EMPTY = np.zeros(0, dtype=np.uint8)
_MAX_ERRORS_KEPT = 10


class FastaParser:
    """Incremental FASTA parser that appends to a :class:`ReadSink`.

    Parameters
    ----------
    path : str
        For error messages.
    sink : ReadSink
        Receives the records (``with_qualities=False``).
    on_error : {"raise", "skip"}
        ``"skip"`` drops records with invalid bytes, counting them in
        :attr:`skipped` and keeping the first errors in :attr:`errors`.

    Examples
    --------
    >>> from deepbiop_gpu.io.ragged import PAD
    >>> data = b">s1 first\\nACGT\\nac\\n>s2\\n\\n>s3\\nN"
    >>> buf = np.zeros(len(data) + PAD, np.uint8); buf[:len(data)] = list(data)
    >>> sink = ReadSink(with_qualities=False)
    >>> FastaParser("mem", sink).parse(buf, len(data), final=True) == len(data)
    True
    >>> reads = sink.packed(); reads.names.tolist(), reads.lengths.tolist(), reads[0].sequence
    (['s1', 's2', 's3'], [6, 0, 1], b'ACGTac')
    """

    def __init__(
        self, path: str | os.PathLike[str], sink: ReadSink, *, on_error: str = "raise"
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.path = os.fspath(path)
        self.sink = sink
        self.skip = on_error == "skip"
        self.lines_done = 0
        self.records_done = 0  # closed or skipped
        self.skipped = 0
        self.errors: list[FormatError] = []
        self.comment_lines = 0  # '#' lines skipped
        self.first_comment_line = 0  # 1-based line of the first one (0: none)
        self.open = False  # a header was seen, its record is not closed yet
        self.open_bad = False  # ... and it is being skipped
        self.open_name = _EMPTY
        self.open_desc = _EMPTY

    def _fail(self, message: str, record: int, line_index: int) -> FastaFormatError:
        return FastaFormatError(
            message, path=self.path, record=record, line=self.lines_done + line_index + 1
        )

    def _note(self, err: FormatError) -> None:
        if not self.skip:
            raise err
        self.skipped += 1
        if len(self.errors) < _MAX_ERRORS_KEPT:
            self.errors.append(err)

    def parse(self, buf: np.ndarray, n: int, final: bool) -> int:
        """Parse every complete line of ``buf[:n]``; return the bytes consumed.

        Parameters
        ----------
        buf : ndarray, ``uint8 [>= n + PAD]``
        n : int
            Valid bytes in ``buf``.
        final : bool
            No more data follows: the last line may lack its newline and the
            open record is closed.

        Returns
        -------
        int
            Bytes consumed (the rest is a partial line; ``n`` when ``final``).
        """
        nl = np.flatnonzero(buf[:n] == 10)
        if final and n and buf[n - 1] != 10:
            nl = np.append(nl, n)
        count = len(nl)
        consumed = n if final else (int(nl[-1]) + 1 if count else 0)
        if count == 0:
            if final:
                self._close_open()
            return consumed
        starts = np.empty(count, dtype=np.int64)
        starts[0] = 0
        np.add(nl[:-1], 1, out=starts[1:])
        lens = nl - (buf[np.maximum(nl - 1, 0)] == 13) - starts
        first = buf[starts]
        is_hdr = (first == 62) & (lens > 0)
        is_cmt = (first == 35) & (lens > 0)
        n_cmt = int(is_cmt.sum())
        if n_cmt:
            if not self.comment_lines:
                self.first_comment_line = self.lines_done + first_true(is_cmt) + 1
            self.comment_lines += n_cmt
        seg = np.cumsum(is_hdr)  # 0: continues the open record; h: after the h-th header
        n_seg = int(seg[-1])
        done = self.records_done

        def record_of(s: int) -> int:
            return done + 1 if s == 0 else done + s + (1 if self.open else 0)

        bad_seg = np.zeros(n_seg + 1, dtype=bool)
        if self.open:
            bad_seg[0] = self.open_bad
        else:
            # text before the first header of the file
            j = first_true((seg == 0) & (lens > 0) & ~is_cmt)
            if j >= 0:
                self._note(
                    self._fail(
                        f"expected '>' at line {self.lines_done + j + 1}, found "
                        f"{_show(int(buf[starts[j]]))}: a FASTA file starts with a '>' "
                        "header line (after any '#' comment lines)",
                        done + 1,
                        j,
                    )
                )
            bad_seg[0] = True
        # byte checks: bases 32..126, header text without control bytes and UTF-8
        while True:
            found = self._bad_lines(buf, starts, lens, is_hdr, ~bad_seg[seg] & ~is_cmt)
            if found is None:
                break
            j, what = found
            s = int(seg[j])
            self._note(self._fail(what, record_of(s), j))
            bad_seg[s] = True
            if s == 0:
                self.sink.discard_pending()

        keep = ~bad_seg[seg]
        seq_lines = keep & ~is_hdr & ~is_cmt
        bases = gather(buf, starts[seq_lines], lens[seq_lines])
        seglen = np.bincount(seg[seq_lines], weights=lens[seq_lines], minlength=n_seg + 1).astype(
            np.int64
        )
        good = np.flatnonzero(keep & is_hdr)  # headers of good records, in order
        good_seg = seg[good]
        names, name_lens, descs, desc_lens = split_headers(buf, starts[good] + 1, lens[good] - 1)
        # the last header's record stays open unless the file ends here
        n_close = len(good) - (1 if (not final and len(good) and good_seg[-1] == n_seg) else 0)
        name_end = int(name_lens[:n_close].sum())
        desc_end = int(desc_lens[:n_close].sum())
        lengths = seglen[good_seg[:n_close]]
        pending = self.sink.pending_bases
        self.sink.add_bases(bases)
        first_closes = self.open and (n_seg > 0 or final)
        if first_closes and not bad_seg[0]:
            lengths = np.concatenate([[pending + seglen[0]], lengths]).astype(np.int64)
            names_c = np.concatenate([self.open_name, names[:name_end]])
            name_lens_c = np.concatenate([[len(self.open_name)], name_lens[:n_close]])
            descs_c = np.concatenate([self.open_desc, descs[:desc_end]])
            desc_lens_c = np.concatenate([[len(self.open_desc)], desc_lens[:n_close]])
        else:
            names_c, name_lens_c = names[:name_end], name_lens[:n_close]
            descs_c, desc_lens_c = descs[:desc_end], desc_lens[:n_close]
        if len(lengths):
            self.sink.close_records(
                lengths,
                names_c,
                name_lens_c.astype(np.int64),
                descs_c,
                desc_lens_c.astype(np.int64),
            )
        # every record that ended here, good or bad
        self.records_done += (1 if first_closes else 0) + (n_seg if final else max(n_seg - 1, 0))
        if final:
            self.open = False
        elif n_seg:
            self.open = True
            self.open_bad = bool(bad_seg[n_seg])
            if not self.open_bad:
                self.open_name = names[name_end:].copy()
                self.open_desc = descs[desc_end:].copy()
        elif self.open:
            self.open_bad = bool(bad_seg[0])
        self.lines_done += count
        return consumed

    def _close_open(self) -> None:
        if self.open:
            if not self.open_bad:
                self.sink.close_records(
                    np.array([self.sink.pending_bases], dtype=np.int64),
                    self.open_name,
                    np.array([len(self.open_name)], dtype=np.int64),
                    self.open_desc,
                    np.array([len(self.open_desc)], dtype=np.int64),
                )
            self.records_done += 1
            self.open = False

    @staticmethod
    def _bad_lines(
        buf: np.ndarray,
        starts: np.ndarray,
        lens: np.ndarray,
        is_hdr: np.ndarray,
        keep: np.ndarray | None = None,
    ) -> tuple[int, str] | None:
        """First line (index) with an invalid byte, and what is wrong with it."""
        sel = np.ones(len(starts), dtype=bool) if keep is None else keep
        found: list[tuple[int, str]] = []
        for header in (False, True):
            rows = np.flatnonzero(sel & (is_hdr if header else ~is_hdr))
            if not len(rows):
                continue
            # headers: skip the '>'
            s = starts[rows] + (1 if header else 0)
            ln = lens[rows] - (1 if header else 0)
            data = gather(buf, s, ln)
            if not len(data):
                continue
            lo, hi = int(data.min()), int(data.max())
            if header:
                if lo >= 32 and hi <= 126:
                    continue
                bad = ((data < 32) & (data != 9)) | (data == 127)
                if hi > 127:
                    try:
                        data.tobytes().decode("utf-8")
                    except UnicodeDecodeError as exc:
                        bad[exc.start] = True
            else:
                if lo >= 32 and hi <= 126:
                    continue
                bad = (data < 32) | (data > 126)
            pos = first_true(bad)
            if pos < 0:
                continue
            offs = np.zeros(len(rows) + 1, dtype=np.int64)
            np.cumsum(ln, out=offs[1:])
            r = int(np.searchsorted(offs, pos, side="right")) - 1
            byte = int(data[pos])
            col = pos - int(offs[r])
            if header:
                what = (
                    "the header line is not valid UTF-8 text"
                    if byte > 127
                    else f"unexpected {_show(byte)} in the header line"
                )
            else:
                what = (
                    f"unexpected {_show(byte)} in sequence at column {col + 1}: bases must "
                    "be printable ASCII letters"
                )
            found.append((int(rows[r]), what))
        return min(found) if found else None
