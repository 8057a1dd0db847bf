"""Run under torchrun: each rank writes the sample indices it saw in one epoch.

    torchrun --nproc-per-node=2 tests/pipeline/dist_check.py OUT_DIR FILE
"""

import json
import sys
from pathlib import Path

import torch.distributed as dist

from deepbiop_gpu import DataLoader, Dataset, IterableDataset, Mutator


def main() -> None:
    out_dir, path = Path(sys.argv[1]), sys.argv[2]
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    result = {}
    ds = Dataset(path)
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=32, shuffle=True, num_workers=workers, seed=7,
                            transform=Mutator(0.05, seed=1))
        loader.set_epoch(2)
        seen, mutated = [], {}
        for batch in loader:
            seen += batch["index"].tolist()
            for i, row, n in zip(batch["index"].tolist(), batch["sequences"], batch["lengths"].tolist()):
                mutated[i] = bytes(row[:n].tolist()).decode()
        result[f"map_w{workers}"] = seen
        result[f"map_w{workers}_len"] = len(loader)
        result[f"map_w{workers}_mutated"] = mutated
    stream = IterableDataset(path, reads_per_chunk=50, shard_by="chunks")  # global read numbers
    result["iterable_w2"] = [
        i for batch in DataLoader(stream, batch_size=16, num_workers=2) for i in batch["index"].tolist()
    ]
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
