"""k-mer token ids feeding an ``nn.Embedding`` model.

``KmerEncoder(k, mode="ids")`` turns each read into overlapping k-mer ids
(``int64``, -1 where a k-mer touches N or padding).  Shifting by one makes -1
the embedding's padding row, so invalid k-mers contribute nothing to the
mean-pooled read vector.

    python examples/kmer_embedding.py [--steps 200] [--k 5]
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from deepbiop_gpu import Compose, DataLoader, Dataset, KmerEncoder, ReverseComplement, Sampler
from deepbiop_gpu.example_data import example_files


class KmerBag(nn.Module):
    """Mean of the k-mer embeddings of a read, then a linear classifier."""

    def __init__(self, k: int, n_classes: int, dim: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(4**k + 1, dim, padding_idx=0)  # row 0: invalid k-mers
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(dim, n_classes))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        tokens = ids + 1  # -1 (invalid) -> 0 (padding row)
        summed = self.embed(tokens).sum(1)
        count = (tokens > 0).sum(1, keepdim=True).clamp(min=1)
        return self.head(summed / count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)

    files = example_files()
    ds = Dataset(list(files.values()), labels=list(files))
    train, held_out = ds.split(0.8, seed=0)
    encode = KmerEncoder(args.k, mode="ids", canonical=True)
    train_loader = DataLoader(
        train, batch_size=128, shuffle=True, device=args.device, drop_last=True,
        transform=Compose([Sampler(96, seed=1), ReverseComplement(p=0.5, seed=2), encode]),
    )
    test_loader = DataLoader(held_out, batch_size=512, device=args.device,
                             transform=Compose([Sampler(96, mode="center"), encode]))

    model = KmerBag(args.k, len(ds.classes)).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    step, t0 = 0, time.perf_counter()
    while step < args.steps:
        for batch in train_loader:
            loss = nn.functional.cross_entropy(model(batch["sequences"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step == args.steps:
                break
    model.eval()
    with torch.no_grad():
        hits = total = 0
        for batch in test_loader:
            hits += int((model(batch["sequences"]).argmax(1) == batch["labels"]).sum())
            total += len(batch["labels"])
    print(f"{step} steps in {time.perf_counter() - t0:.1f} s, last loss {loss.item():.3f}; "
          f"held-out accuracy {hits / total:.3f} on {total} reads "
          f"(k={args.k}, canonical k-mer ids, vocabulary {4**args.k})")


if __name__ == "__main__":
    main()
