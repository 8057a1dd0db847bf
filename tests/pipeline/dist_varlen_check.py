"""Run under torchrun: each rank writes what it saw of one epoch of token-budget batches.

    torchrun --nproc-per-node=2 tests/pipeline/dist_varlen_check.py OUT_DIR FILE
"""

import json
import sys
from pathlib import Path

import torch.distributed as dist

from deepbiop_gpu import DataLoader, Dataset, Mutator


def main() -> None:
    out_dir, path = Path(sys.argv[1]), sys.argv[2]
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = {}
    ds = Dataset(path)
    cases = {
        "padded": (ds, dict(max_tokens=4000)),
        "packed": (ds, dict(max_tokens=4000, layout="packed", batch_size=40)),
        "windows": (ds.windows(50, stride=40, min_length=10), dict(max_tokens=2000)),
    }
    for name, (data, kw) in cases.items():
        loader = DataLoader(data, shuffle=True, seed=7, transform=Mutator(0.05, seed=1), **kw)
        loader.set_epoch(2)
        seen, steps, mutated = [], 0, {}
        for batch in loader:
            steps += 1
            seen += batch["index"].tolist()
            if name == "padded":
                for i, row, n in zip(batch["index"].tolist(), batch["sequences"], batch["lengths"].tolist()):
                    mutated[i] = bytes(row[:n].tolist()).decode()
        result[name] = {"seen": seen, "steps": steps, "len": len(loader), "mutated": mutated}
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
