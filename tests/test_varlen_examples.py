"""The variable-length examples run end to end (short mode) and print real results."""

import re
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
@pytest.mark.parametrize("encoding", ["kmer", "onehot"])
def test_varlen_transformer_short(encoding):
    out = _run(["examples/varlen_transformer.py", "--steps", "2", "--timing-steps", "1", "--encoding", encoding,
                "--window", "96", "--max-tokens", "400", "--batch-size", "4", "--eval-windows", "8"])
    assert re.search(r"trained 2 steps on packed batches", out), out
    assert 0.0 <= float(re.search(r"held-out accuracy ([\d.]+)", out).group(1)) <= 1.0
    # packed ships one position per real token; the padded batches more
    padded = float(re.search(r"padded [\d.]+ ms \(([\d.]+) positions", out).group(1))
    assert re.search(r"packed [\d.]+ ms \(1\.00\)", out) and padded >= 1.0, out


@pytest.mark.slow
def test_ont_windows_cnn_short():
    out = _run(["examples/ont_windows_cnn.py", "--steps", "5", "--window", "800"])
    assert re.search(r"-> [\d,]+ training windows of 800 bases", out), out
    assert re.search(r"held-out accuracy [\d.]+ per window .* per read \(\d+ reads", out), out
