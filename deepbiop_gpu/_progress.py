"""A progress display for long command-line jobs: tqdm when installed, plain lines otherwise.

Both show the reads done, the reads per second and the bytes read so far.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any

__all__ = ["Progress", "human_bytes", "human_count"]


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 KiB'``.

    Examples
    --------
    >>> human_bytes(0), human_bytes(1536), human_bytes(3 * 2**30)
    ('0 B', '1.5 KiB', '3.0 GiB')
    """
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def human_count(n: float) -> str:
    """``1234567`` -> ``'1.23M'``.

    Examples
    --------
    >>> human_count(999), human_count(1234567)
    ('999', '1.23M')
    """
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.3g}{suffix}"
    return f"{n:.0f}"


class Progress:
    """``with Progress("caching") as p: p.update(reads_done, bytes_done)``.

    Parameters
    ----------
    desc : str
        Shown before the counts.
    enabled : bool
        ``False``: show nothing.
    stream : file, optional
        Where to write (default ``sys.stderr``).
    use_tqdm : bool, optional
        Default: when tqdm can be imported.
    interval : float
        Seconds between two plain-text lines.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress("caching", stream=out, use_tqdm=False, interval=0) as p:
    ...     p.update(1000, 2048)
    >>> "1000 reads" in out.getvalue() and "2.0 KiB read" in out.getvalue()
    True
    """

    def __init__(
        self,
        desc: str,
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        use_tqdm: bool | None = None,
        interval: float = 1.0,
    ) -> None:
        self.desc = desc
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.reads = 0
        self.bytes = 0
        self._bar: Any = None
        self._start = time.perf_counter()
        self._last = 0.0
        if use_tqdm is None:
            try:
                import tqdm  # noqa: F401

                use_tqdm = True
            except ImportError:
                use_tqdm = False
        self.use_tqdm = use_tqdm

    def __enter__(self) -> Progress:
        self._start = time.perf_counter()
        if self.enabled and self.use_tqdm:
            from tqdm import tqdm

            self._bar = tqdm(
                desc=self.desc, unit=" reads", unit_scale=True, file=self.stream, dynamic_ncols=True
            )
        return self

    def update(self, reads: int, nbytes: int) -> None:
        """Report the totals so far (not increments)."""
        if not self.enabled:
            return
        step = reads - self.reads
        self.reads, self.bytes = reads, nbytes
        if self._bar is not None:
            self._bar.update(step)
            self._bar.set_postfix_str(f"{human_bytes(nbytes)} read", refresh=False)
            return
        now = time.perf_counter()
        if now - self._last >= self.interval:
            self._last = now
            self._line()

    def _line(self, final: bool = False) -> None:
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        rate = self.reads / elapsed
        done = " (done)" if final else ""
        self.stream.write(
            f"{self.desc}: {self.reads} reads, {human_bytes(self.bytes)} read, "
            f"{human_count(rate)} reads/s{done}\n"
        )
        self.stream.flush()

    def __exit__(self, *exc: Any) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(f"{human_bytes(self.bytes)} read", refresh=True)
            self._bar.close()
        else:
            self._line(final=True)
