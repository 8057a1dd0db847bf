"""Run in a fresh interpreter (one forkserver per program); prints one JSON line.

    python tests/pipeline/forkserver_check.py

What a forkserver DataLoader leaves behind: the preload list, what the server
process has mapped (torch, numba's llvmlite) and how many threads it runs,
whether the workers of two loaders are the server's children, and whether
their batches equal fork's.  It exits mid-epoch, leaving one loader's
persistent workers running, which must not hang or print errors.
"""

import json
import os
from multiprocessing import forkserver
from pathlib import Path

import torch

import deepbiop_gpu as dg
from deepbiop_gpu.data.worker_start import forkserver_running

DATA = Path(__file__).resolve().parents[1] / "data" / "fastq" / "illumina_novaseq_800reads.fastq"


def parent_of(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1])  # the field after the state


def batches(ds, context, epochs=2):
    transform = dg.Compose([dg.Mutator(0.05, seed=3), dg.OneHotEncoder()])
    loader = dg.DataLoader(ds, batch_size=96, shuffle=True, seed=5, num_workers=2,
                           multiprocessing_context=context, transform=transform)
    out = [list(loader) for _ in range(epochs)]
    it = loader._loader._iterator
    pids = [w.pid for w in it._workers] if it is not None else []
    return loader, out, pids


def same(a, b) -> bool:
    for x, y in zip(a, b, strict=True):
        for k in x:
            if isinstance(x[k], torch.Tensor):
                if not torch.equal(x[k], y[k]):
                    return False
            elif list(x[k]) != list(y[k]) if k == "names" else x[k] != y[k]:
                return False
    return len(a) == len(b)


def main() -> None:
    ds = dg.Dataset(DATA, labels=["a"])
    started_before = forkserver_running()  # False: the first forkserver loader below starts it
    _, want, _ = batches(ds, "fork")
    first, got, pids = batches(ds, "forkserver")
    second, got2, pids2 = batches(ds, "forkserver", epochs=1)
    server = forkserver._forkserver._forkserver_pid
    maps = Path(f"/proc/{server}/maps").read_text()
    result = {
        "started_before": started_before,
        "preload_list": list(forkserver._forkserver._preload_modules),
        "server_maps_torch": "libtorch" in maps,
        "server_maps_numba": "llvmlite" in maps,
        "server_threads": len(os.listdir(f"/proc/{server}/task")),
        "workers_are_server_children": bool(pids and pids2)
        and all(parent_of(p) == server for p in pids + pids2),
        "same_batches": all(same(g, w) for g, w in zip(got, want, strict=True))
        and same(got2[0], want[0]),
    }
    second.close()
    print(json.dumps(result), flush=True)
    it = iter(first)  # exit mid-epoch with the persistent workers running: shutdown.close_all
    next(it)


if __name__ == "__main__":
    main()
