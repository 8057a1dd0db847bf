"""Data-parallel training with ``torchrun``: every rank reads its own shard.

    torchrun --nproc-per-node=NUM_GPUS examples/multi_gpu.py      # CUDA, NCCL
    torchrun --nproc-per-node=2 examples/multi_gpu.py --steps 20  # CPU, gloo

With ``torch.distributed`` initialised, ``DataLoader`` shards each epoch's
seeded order by rank: the ranks together see every read exactly once per
epoch.  ``drop_last=True`` keeps the number of steps equal on every rank, as
DDP needs.  Augmentations are keyed on (seed, epoch, read index), so they do
not depend on the number of ranks.
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from deepbiop_gpu import Compose, DataLoader, Dataset, Mutator, OneHotEncoder, ReverseComplement, Sampler
from deepbiop_gpu.example_data import example_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(0)

    files = example_files()
    ds = Dataset(list(files.values()), labels=list(files))
    loader = DataLoader(
        ds, batch_size=64, shuffle=True, seed=0, drop_last=True, device=device,
        transform=Compose([Sampler(96, seed=1), ReverseComplement(p=0.5, seed=2), Mutator(0.01, seed=3),
                           OneHotEncoder(layout="NCL")]),
    )
    model = nn.Sequential(
        nn.Conv1d(4, 32, 9, padding=4), nn.ReLU(), nn.AdaptiveMaxPool1d(1), nn.Flatten(),
        nn.Linear(32, len(ds.classes)),
    ).to(device)
    model = DistributedDataParallel(model, device_ids=[device.index] if cuda else None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    step, seen = 0, 0
    while step < args.steps:
        for batch in loader:
            loss = nn.functional.cross_entropy(model(batch["sequences"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            seen += len(batch["labels"])
            if step == args.steps:
                break
    total = torch.tensor([seen], device=device)
    dist.all_reduce(total)
    if rank == 0:
        print(f"{world} ranks, {step} steps each, {int(total)} reads in all, "
              f"{len(loader)} batches per rank per epoch, last loss {loss.item():.3f}")
    shut_down(total)


def shut_down(*last_tensors: torch.Tensor) -> None:
    """Leave ``torch.distributed`` cleanly, so that the process exits without an abort.

    ``all_reduce`` returns as soon as the result is in, but gloo's worker thread
    drops its own reference to the tensor a moment later.  Should Python have
    dropped the tensor first (``main()`` returned), freeing it falls to that
    C++ thread, which needs the GIL; during interpreter shutdown it cannot have
    it, CPython ends the thread, and the process aborts with "terminate called
    without an active exception".  So keep the last collective's tensors until
    the backend has let go of them, then synchronise and destroy the group.
    """
    deadline = time.monotonic() + 10
    for t in last_tensors:
        # only gloo (CPU) runs collectives on its own threads; a private API, so guarded
        while (hasattr(t, "_use_count") and t.device.type == "cpu" and t._use_count() > 1
               and time.monotonic() < deadline):
            time.sleep(0.001)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
