"""Quick start: which source does a read come from?

Five real read files ship with the package (ONT lambda phage, Illumina 16S
amplicons, a high-GC genome sequenced on NovaSeq, human chr17 reads from a BAM
file, and 28S rRNA sequences from a FASTA file).  Each file is one class.  We
read them all with one ``Dataset``, hold out 20% of the reads, and train a
small 1-D CNN, compiled with ``torch.compile``, on random 96-base windows that
are reverse-complemented half of the time and mutated at 1% — all done on
the device, batch by batch.

    python examples/quickstart.py            # 400 steps
    python examples/quickstart.py --steps 30 --no-compile   # a smoke run
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from deepbiop_gpu import (
    Compose,
    DataLoader,
    Dataset,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
)
from deepbiop_gpu.example_data import example_files

WINDOW = 96


class ReadCNN(nn.Module):
    """Two convolutions over one-hot bases ``[B, 4, L]`` and a max-pooled linear head."""

    def __init__(self, n_classes: int, channels: int = 48) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv1d(4, channels, kernel_size=7, padding=3),
            nn.ReLU(),
            nn.MaxPool1d(4),
            nn.Conv1d(channels, channels, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.AdaptiveMaxPool1d(1),
        )
        self.head = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


@torch.no_grad()
def evaluate(model: nn.Module, loader: DataLoader, n_classes: int) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean per-class recall) on ``loader``."""
    model.eval()
    hits = torch.zeros(n_classes)
    totals = torch.zeros(n_classes)
    for batch in loader:
        pred = model(batch["sequences"]).argmax(1).cpu()
        labels = batch["labels"].cpu()
        totals += torch.bincount(labels, minlength=n_classes)
        hits += torch.bincount(labels[pred == labels], minlength=n_classes)
    model.train()
    accuracy = float(hits.sum() / totals.sum())
    balanced = float((hits / totals.clamp(min=1))[totals > 0].mean())
    return accuracy, balanced


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400, help="training steps (default 400)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device(args.device)

    start = time.perf_counter()
    files = example_files()
    ds = Dataset(list(files.values()), labels=list(files.keys()))
    read_time = time.perf_counter() - start
    print(f"read {len(ds):,} reads ({ds.reads.total_bases:,} bases) from {len(files)} files "
          f"in {read_time:.2f} s")
    counts = torch.bincount(ds.labels, minlength=len(ds.classes))
    for name, count in zip(ds.classes, counts.tolist()):
        print(f"  {count:>5}  {name}")
    train, held_out = ds.split(0.8, seed=0)

    augment = Compose([
        Sampler(WINDOW, mode="random", seed=1),
        ReverseComplement(p=0.5, seed=2),
        Mutator(0.01, seed=3),
        OneHotEncoder(layout="NCL"),
    ])
    fixed = Compose([Sampler(WINDOW, mode="center"), OneHotEncoder(layout="NCL")])
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                              transform=augment, device=device, drop_last=True, seed=0,
                              persistent_workers=args.workers > 0)
    test_loader = DataLoader(held_out, batch_size=512, transform=fixed, device=device)

    model = ReadCNN(len(ds.classes)).to(device)
    step_fn = model if args.no_compile else torch.compile(model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()

    step, seen, t0 = 0, 0, time.perf_counter()
    compile_time = 0.0
    while step < args.steps:
        for batch in train_loader:
            t_step = time.perf_counter()
            loss = loss_fn(step_fn(batch["sequences"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if step == 0:
                compile_time = time.perf_counter() - t_step  # first step includes compilation
            step += 1
            seen += len(batch["labels"])
            if step % 50 == 0 or step == args.steps:
                print(f"step {step:>4}  loss {loss.item():.3f}  epoch {train_loader.epoch}")
            if step == args.steps:
                break
    train_time = time.perf_counter() - t0 - compile_time
    accuracy, balanced = evaluate(model, test_loader, len(ds.classes))
    chance = float(counts.max() / counts.sum())
    print(f"trained {step} steps on {seen:,} augmented reads: "
          f"{(seen - args.batch_size) / max(train_time, 1e-9):,.0f} reads/s after the first step "
          f"(first step incl. compile: {compile_time:.1f} s), device={device}")
    print(f"held-out accuracy {accuracy:.3f} (balanced {balanced:.3f}); "
          f"majority-class baseline {chance:.3f}, balanced chance {1 / len(ds.classes):.3f}")
    print(f"total time {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
