"""Two ranks (torchrun, gloo, CPU) with max_tokens: disjoint reads, every read once, equal steps."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from deepbiop_gpu import DataLoader, Dataset, Mutator

HERE = Path(__file__).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_ranks_token_batches(tmp_path, data_dir):
    path = data_dir / "fastq" / "illumina_novaseq_800reads.fastq"
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
        "--master-addr=127.0.0.1", f"--master-port={_free_port()}",
        str(HERE / "dist_varlen_check.py"), str(tmp_path), str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    ds = Dataset(path)
    sizes = {"padded": len(ds), "packed": len(ds), "windows": len(ds.windows(50, stride=40, min_length=10))}
    for name, n in sizes.items():
        a, b = ranks[0][name], ranks[1][name]
        assert not set(a["seen"]) & set(b["seen"]), f"{name}: a read was seen by both ranks"
        assert sorted(a["seen"] + b["seen"]) == list(range(n)), name
        assert a["steps"] == b["steps"] == a["len"] == b["len"], name  # the same number of steps
    # the augmentations are those of one process with fixed batches
    single = DataLoader(ds, batch_size=100, transform=Mutator(0.05, seed=1))
    single.set_epoch(2)
    expected = {}
    for batch in single:
        for i, row, n_ in zip(batch["index"].tolist(), batch["sequences"], batch["lengths"].tolist()):
            expected[str(i)] = bytes(row[:n_].tolist()).decode()
    assert {**ranks[0]["padded"]["mutated"], **ranks[1]["padded"]["mutated"]} == expected
