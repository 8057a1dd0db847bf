"""Building a cache streams the input chunk by chunk: its peak memory does not grow with the file.

A subprocess measures ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after a
warm-up build (imports, compiled loops), then builds a cache of a 500k-read
file and of a 2M-read file (56 MiB of FASTQ; held whole, its reads and names
would take ~90 MB more).  Stated bound: the peak stays under 96 MiB above
the baseline (the parse buffers: two 4 MiB blocks, the chunk of 100,000
reads, the parser's per-line index arrays), and the 2M-read build adds less
than 8 MiB to the 500k-read build's peak.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

N_SMALL = 500_000


def _write_fastq(path, n: int, repeat: int = 1) -> None:
    """``n`` 8-base reads named ``@r0000000``..., written ``repeat`` times (30 bytes a record)."""
    rec = np.empty((n, 30), np.uint8)
    rec[:, 0:2] = np.frombuffer(b"@r", np.uint8)
    idx = np.arange(n)
    for d in range(7):
        rec[:, 8 - d] = 48 + (idx // 10**d) % 10
    rec[:, 9] = 10
    rec[:, 10:18] = np.frombuffer(b"ACGT", np.uint8)[np.random.default_rng(0).integers(0, 4, (n, 8))]
    rec[:, 18:21] = np.frombuffer(b"\n+\n", np.uint8)
    rec[:, 21:29] = ord("I")
    rec[:, 29] = 10
    with open(path, "wb") as fh:
        for _ in range(repeat):
            rec.tofile(fh)


@pytest.mark.slow
def test_peak_memory_of_a_cache_build_does_not_grow_with_the_input(tmp_path, data_dir):
    small, big = tmp_path / "500k.fastq", tmp_path / "2M.fastq"
    _write_fastq(small, N_SMALL)
    _write_fastq(big, N_SMALL, repeat=4)
    script = textwrap.dedent("""
        import resource, sys
        from deepbiop_gpu.cache import Cache
        warm, small, big, out = sys.argv[1:5]
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB on Linux
        Cache.build([warm], out + "/warm")
        base = peak()
        Cache.build([small], out + "/small")
        after_small = peak()
        Cache.build([big], out + "/big")
        print(base, after_small, peak(), Cache.info(out + "/big")["n_records"])
    """)
    warm = data_dir / "fastq" / "illumina_novaseq_800reads.fastq"
    proc = subprocess.run([sys.executable, "-c", script, str(warm), str(small), str(big), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    base, after_small, after_big, n = proc.stdout.split()
    base, after_small, after_big = float(base), float(after_small), float(after_big)
    assert int(n) == 4 * N_SMALL
    assert after_big - base < 96, (base, after_small, after_big)
    assert after_big - after_small < 8, (base, after_small, after_big)


@pytest.mark.slow
def test_peak_memory_of_a_parallel_build_does_not_grow_with_the_input(tmp_path, data_dir):
    """Two files, two workers: the second file's worker waits for the first's turn, holding at
    most BUFFER_BYTES (4 MiB here, counted in parsed bytes, plus a chunk) and spilling the rest;
    the parent holds no reads at all.  A worker starts with the parent's pages (fork), so its
    peak above the parent's baseline is what it allocated.  Stated bounds: that stays under the
    serial bound plus the buffer, the 4x larger input adds less than 48 MiB (holding the
    second 2M-read file would take ~75 MB), and the parent grows by less than 8 MiB."""
    small, big = tmp_path / "500k.fastq", tmp_path / "2M.fastq"
    _write_fastq(small, N_SMALL)
    _write_fastq(big, N_SMALL, repeat=4)
    script = textwrap.dedent("""
        import resource, sys
        from deepbiop_gpu import parallel_build
        from deepbiop_gpu.cache import Cache
        parallel_build.PIECE_BYTES = 1 << 40  # whole files: the second one waits for its turn
        parallel_build.BUFFER_BYTES = 4 << 20
        warm, small, big, out = sys.argv[1:5]
        peak = lambda who: resource.getrusage(who).ru_maxrss / 1024  # MiB on Linux
        Cache.build([warm, warm], out + "/warm", num_workers=2)
        base = peak(resource.RUSAGE_SELF)  # what a forked worker starts with
        Cache.build([small, small], out + "/small", num_workers=2)
        after_small = peak(resource.RUSAGE_CHILDREN)
        Cache.build([big, big], out + "/big", num_workers=2)
        print(base, after_small, peak(resource.RUSAGE_CHILDREN), peak(resource.RUSAGE_SELF) - base,
              Cache.info(out + "/big")["n_records"])
    """)
    warm = data_dir / "fastq" / "illumina_novaseq_800reads.fastq"
    proc = subprocess.run([sys.executable, "-c", script, str(warm), str(small), str(big), str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    base, after_small, after_big, parent_growth, n = proc.stdout.split()
    base, after_small, after_big, parent_growth = map(float, (base, after_small, after_big, parent_growth))
    assert int(n) == 8 * N_SMALL
    assert after_big - base < 96 + 4, (base, after_small, after_big)  # the serial bound + the buffer
    assert after_big - after_small < 48, (base, after_small, after_big)
    assert parent_growth < 8, parent_growth
