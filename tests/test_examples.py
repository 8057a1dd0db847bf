"""The examples run end to end (short mode) and print real results."""

import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args, timeout=600):
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.slow
def test_quickstart_short_mode_with_compile():
    out = _run(["examples/quickstart.py", "--steps", "120", "--workers", "2"])
    assert re.search(r"read 4,675 reads \([\d,]+ bases\) from 5 files", out)
    accuracy = float(re.search(r"held-out accuracy ([\d.]+)", out).group(1))
    baseline = float(re.search(r"majority-class baseline ([\d.]+)", out).group(1))
    assert accuracy > baseline, out  # 120 steps already beat always answering "16S"
    assert re.search(r"[\d,]+ reads/s", out)


@pytest.mark.slow
def test_kmer_embedding_example():
    out = _run(["examples/kmer_embedding.py", "--steps", "60", "--k", "4"])
    accuracy = float(re.search(r"held-out accuracy ([\d.]+)", out).group(1))
    assert accuracy > 0.6, out


@pytest.mark.slow
def test_multi_gpu_example_on_cpu_with_two_ranks():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = _run(["-m", "torch.distributed.run", "--nproc-per-node=2", "--master-addr=127.0.0.1",
                f"--master-port={port}", "examples/multi_gpu.py", "--steps", "5"])
    assert "2 ranks, 5 steps each, 640 reads in all" in out
