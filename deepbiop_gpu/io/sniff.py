"""Tell a file's format and compression from its bytes, never from its name.

Compression: gzip (``1f 8b``), BGZF (gzip whose first member carries the
``BC`` extra subfield), bzip2 (``BZh``), xz (``fd 37 7a 58 5a 00``), zstd
(``28 b5 2f fd``; needs the optional ``zstandard`` package) or none.
Format, from the (decompressed) first bytes:

* ``BAM\\1`` → BAM; ``CRAM`` → CRAM;
* ``@HD\\t`` / ``@SQ\\t`` / ``@RG\\t`` / ``@PG\\t`` / ``@CO\\t``, or a first
  line of 11+ tab-separated fields with a numeric FLAG → SAM;
* ``@`` → FASTQ; ``>`` → FASTA (blank lines before are ignored, and so are
  ``#`` comment lines before a FASTA header);
* no bytes at all → ``"empty"``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import zlib

from ..errors import CompressionError, UnknownFormatError
from .compression import MAGIC, StreamReader, _describe

__all__ = ["Detected", "detect", "compression_of", "FORMATS", "BGZF_EOF", "check_bgzf_eof"]

FORMATS = ("fastq", "fasta", "sam", "bam", "cram")

#: The 28-byte empty BGZF block that ends every complete BGZF file (SAM spec 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

_SAM_HEADER = re.compile(rb"@(HD|SQ|RG|PG|CO)\t")
_SNIFF_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class Detected:
    """What :func:`detect` found.

    Attributes
    ----------
    format : str
        ``"fastq"``, ``"fasta"``, ``"sam"``, ``"bam"``, ``"cram"`` or ``"empty"``.
    compression : str
        ``"none"``, ``"gzip"``, ``"bgzf"``, ``"bzip2"``, ``"xz"`` or ``"zstd"``.
    """

    format: str
    compression: str


def _is_bgzf(head: bytes) -> bool:
    # gzip header with FEXTRA; first subfield id 'BC' (htslib writes it first)
    return len(head) >= 18 and head[3] & 4 != 0 and head[12:14] == b"BC"


def _looks_like_sam_record(text: bytes) -> bool:
    line = text.split(b"\n", 1)[0]
    fields = line.split(b"\t")
    return len(fields) >= 11 and fields[1].isdigit() and fields[3].isdigit()


def _content_format(content: bytes, path: str, compression: str) -> str:
    if content.startswith(b"BAM\x01"):
        return "bam"
    text = content.lstrip(b"\r\n")
    if text[:1] == b"#":  # FASTA comment lines (old FASTA files; dnaio and pysam skip them)
        rest = text
        while rest[:1] == b"#":
            nl = rest.find(b"\n")
            rest = rest[nl + 1 :].lstrip(b"\r\n") if nl >= 0 else b""
        if not rest or rest[:1] == b">":
            return "fasta"
    if not text:
        return "empty"
    if text[:1] == b"@":
        return "sam" if _SAM_HEADER.match(text) else "fastq"
    if text[:1] == b">":
        return "fasta"
    if _looks_like_sam_record(text):
        return "sam"
    name = "gzip" if compression == "bgzf" else compression
    what = f"{name}-compressed data" if compression != "none" else "it"
    raise UnknownFormatError(
        f"cannot tell the format: {what} starts with {text[:24]!r}; expected FASTQ "
        "('@' header), FASTA ('>' header), SAM, BAM or CRAM",
        path=path,
    )


def detect(path: str | os.PathLike[str]) -> Detected:
    """Detect the format and compression of a file from its first bytes.

    Parameters
    ----------
    path : str or PathLike
        The file (its name is ignored).

    Returns
    -------
    Detected

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UnknownFormatError
        The bytes match no supported format (the message quotes them).

    Examples
    --------
    >>> import tempfile, gzip, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "reads.txt"
    >>> _ = p.write_bytes(gzip.compress(b"@r1\\nACGT\\n+\\nIIII\\n"))
    >>> detect(p)
    Detected(format='fastq', compression='gzip')
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    if head[:2] == b"\x1f\x8b":
        compression = "bgzf" if _is_bgzf(head) else "gzip"
        try:
            d = zlib.decompressobj(31)
            content = d.decompress(head, _SNIFF_BYTES)
            if not content and len(head) < _SNIFF_BYTES:
                # the whole (small) file decompresses to nothing: all members must be whole
                while not d.eof or d.unused_data.lstrip(b"\0"):
                    if not d.eof:
                        raise CompressionError(
                            "gzip data ends unexpectedly: the file is truncated; "
                            "re-download or re-compress it (the data stops after 0 "
                            "complete records)",
                            path=path,
                            record=1,
                        )
                    rest = d.unused_data
                    d = zlib.decompressobj(31)
                    content = d.decompress(rest, _SNIFF_BYTES)
                    if content:
                        break
        except zlib.error as exc:
            raise CompressionError(
                f"gzip data is corrupt ({exc}); re-download or re-compress the file", path=path
            ) from None
        return Detected(_content_format(content, path, compression), compression)
    if head[:4] == b"CRAM":
        return Detected("cram", "none")
    compression = compression_of(head)
    if compression != "none":
        reader = StreamReader(path, compression)
        try:
            content = b"".join(reader.read_pieces(_SNIFF_BYTES))
        except (EOFError, OSError) as exc:
            # nothing could be decompressed: the data stops before the first record
            raise CompressionError(
                f"{_describe(exc, compression)} (the data stops after 0 complete records)",
                path=path,
                record=1,
            ) from None
        finally:
            reader.close()
        return Detected(_content_format(content, path, compression), compression)
    return Detected(_content_format(head, path, "none"), "none")


def compression_of(head: bytes) -> str:
    """The compression named by a file's first bytes (``"none"`` when none is).

    BGZF is reported as ``"gzip"`` here (:func:`detect` tells them apart).

    Examples
    --------
    >>> import bz2
    >>> compression_of(bz2.compress(b"@r")), compression_of(b"@r1\\n")
    ('bzip2', 'none')
    """
    for name, magic in MAGIC.items():
        if head.startswith(magic):
            return name
    return "none"


def check_bgzf_eof(path: str | os.PathLike[str], what: str = "BGZF") -> None:
    """Raise :class:`CompressionError` unless the file ends with the BGZF EOF block.

    htslib only warns about a missing end-of-file marker; a file cut at a
    block boundary would otherwise read back silently shorter.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.bgz"
    >>> _ = p.write_bytes(BGZF_EOF)
    >>> check_bgzf_eof(p)
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - len(BGZF_EOF)))
        tail = fh.read()
    if tail != BGZF_EOF:
        raise CompressionError(
            f"the {what} end-of-file marker (the last 28 bytes) is missing or corrupt: "
            "the file is truncated or damaged; re-download or regenerate it "
            "(`samtools quickcheck` rejects it too)",
            path=path,
        )
