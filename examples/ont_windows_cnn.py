"""Long ONT reads in windows feeding a 1-D CNN, predictions put back together per read.

The lambda phage ONT reads (hundreds of bases to 12 kb) are tiled into
windows of 1 kb (``Dataset.windows``: a view, no bases copied) and mixed
with the windows of the 28S rRNA sequences; a small ``Conv1d`` network
learns which source a window comes from.  Every window keeps its read's
label and carries ``read_index``, so window predictions are averaged into
one prediction per read at the end.

    python examples/ont_windows_cnn.py [--steps 150] [--window 1000]
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from deepbiop_gpu import Compose, DataLoader, Dataset, Mutator, OneHotEncoder, ReverseComplement
from deepbiop_gpu.example_data import example_files


def cnn(n_classes: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv1d(4, 32, 9, padding=4), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(32, 32, 9, padding=4), nn.ReLU(), nn.AdaptiveMaxPool1d(1),
        nn.Flatten(), nn.Linear(32, n_classes),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)

    files = example_files()
    chosen = {k: v for k, v in files.items() if "ONT" in k or "rRNA" in k}
    ds = Dataset(list(chosen.values()), labels=list(chosen))
    train, held_out = ds.split(0.8, seed=0)
    # full windows only (min_length defaults to the window length): fixed [B, 4, window] batches
    train_w, test_w = train.windows(args.window, stride=args.window // 2), held_out.windows(args.window)
    print(f"{len(ds)} reads -> {len(train_w):,} training windows of {args.window} bases "
          f"(stride {args.window // 2}), {len(test_w):,} held out")

    loader = DataLoader(train_w, batch_size=64, shuffle=True, device=args.device, transform=Compose(
        [ReverseComplement(p=0.5, seed=1), Mutator(0.02, seed=2), OneHotEncoder(layout="NCL")]))
    model = cnn(len(ds.classes)).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    step, t0 = 0, time.perf_counter()
    while step < args.steps:
        for batch in loader:
            loss = F.cross_entropy(model(batch["sequences"]), batch["labels"])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step == args.steps:
                break
    print(f"{step} steps in {time.perf_counter() - t0:.1f} s, last loss {loss.item():.3f}")

    model.eval()
    hits = total = 0
    votes: dict[int, torch.Tensor] = {}
    labels: dict[int, int] = {}
    with torch.no_grad():
        for batch in DataLoader(test_w, batch_size=256, device=args.device, transform=OneHotEncoder(layout="NCL")):
            probs = model(batch["sequences"]).softmax(1).cpu()
            hits += int((probs.argmax(1) == batch["labels"].cpu()).sum())
            total += len(probs)
            for r, p, y in zip(batch["read_index"].tolist(), probs, batch["labels"].tolist()):
                votes[r] = votes.get(r, 0) + p
                labels[r] = y
    per_read = sum(int(votes[r].argmax()) == labels[r] for r in votes) / max(len(votes), 1)
    print(f"held-out accuracy {hits / max(total, 1):.3f} per window ({total:,} windows), "
          f"{per_read:.3f} per read ({len(votes)} reads, windows averaged)")


if __name__ == "__main__":
    main()
