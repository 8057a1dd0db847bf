"""Run a script on two CPU ranks with ``torchrun`` (gloo) and read what each rank wrote."""

import json
import socket
import subprocess
import sys
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_two_ranks(script: Path, out_dir: Path, *args: str) -> list[dict]:
    """``script out_dir *args`` under ``torchrun --nproc-per-node=2``; each rank writes
    ``out_dir/rank{r}.json``.  Asserts the run succeeded (its output in the message)."""
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
        "--master-addr=127.0.0.1", f"--master-port={_free_port()}",
        str(script), str(out_dir), *map(str, args),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((out_dir / f"rank{r}.json").read_text()) for r in range(2)]
