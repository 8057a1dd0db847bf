"""A tiny transformer on packed (varlen) batches: nested jagged tensors and SDPA, no padding.

Reads of every length (ONT windows of up to 256 bases, 100-230 bp Illumina
reads, rRNA windows) are classified by source file.  The loader delivers
them back to back (``layout="packed"``: ``sequences [T]`` k-mer ids or
``[T, 4]`` one-hot, ``cu_seqlens [B + 1]``); attention runs on
``torch.nested`` jagged tensors with ``scaled_dot_product_attention``, so no
position is spent on padding.  At the end the same model takes the same
batches padded (``[B, Lmax]`` with a key mask) and packed, and the step
times are compared.

    python examples/varlen_transformer.py [--steps 40] [--encoding kmer|onehot]

On CUDA, SDPA takes jagged tensors to its FlashAttention / memory-efficient
kernels.  On the CPU (torch 2.6-2.13) it falls back to a math path that
handles the reads one by one, slower than one padded, masked SDPA call: the
step times printed at the end say how much, on your machine.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F
from torch import nn

from deepbiop_gpu import (
    Compose,
    DataLoader,
    Dataset,
    KmerEncoder,
    OneHotEncoder,
    ReverseComplement,
    to_nested,
)
from deepbiop_gpu.example_data import example_files


class Block(nn.Module):
    """Pre-norm transformer block; attention over jagged tensors or a padded batch with a mask."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def _split(self, t):  # [..., j, dim] -> [..., heads, j, dim / heads]
        return t.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def packed(self, h: torch.Tensor, offsets: torch.Tensor, max_seqlen: int) -> torch.Tensor:
        """``h`` ``[T, dim]`` (reads back to back, boundaries ``offsets``)."""
        q, k, v = self.qkv(self.norm1(h)).chunk(3, dim=-1)
        # SDPA's CPU path wants each of q, k, v contiguous (heads split after wrapping)
        q, k, v = (self._split(torch.nested.nested_tensor_from_jagged(t.contiguous(), offsets, max_seqlen=max_seqlen))
                   for t in (q, k, v))
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(-2).values()
        h = h + self.out(a)
        return h + self.mlp(self.norm2(h))

    def padded(self, h: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """``h`` ``[B, L, dim]``, ``valid`` ``bool [B, L]``."""
        q, k, v = (self._split(t) for t in self.qkv(self.norm1(h)).chunk(3, dim=-1))
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=valid[:, None, None, :])
        h = h + self.out(a.transpose(1, 2).flatten(-2))
        return h + self.mlp(self.norm2(h))


class TinyTransformer(nn.Module):
    def __init__(self, n_classes: int, vocab: int | None, window: int, dim: int = 32, heads: int = 2,
                 layers: int = 2) -> None:
        super().__init__()
        # k-mer ids: -1 (k-mer with N) -> row 0; one-hot: a linear embedding of the 4 columns
        self.embed = nn.Embedding(vocab + 1, dim, padding_idx=0) if vocab else nn.Linear(4, dim)
        self.vocab = vocab
        self.pos = nn.Embedding(window, dim)
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(layers))
        self.head = nn.Linear(dim, n_classes)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x + 1) if self.vocab else self.embed(x)

    def forward_packed(self, batch: dict) -> torch.Tensor:
        nt = to_nested(batch)  # [B, j(, 4)] jagged view of sequences: values + offsets
        values, offsets = nt.values(), nt.offsets()
        counts = offsets.diff()
        read = torch.repeat_interleave(torch.arange(len(counts)), counts)  # read of each token
        position = torch.arange(values.shape[0]) - offsets[:-1][read]
        h = self._tokens(values) + self.pos(position)
        for block in self.blocks:
            h = block.packed(h, offsets, batch["max_seqlen"])
        pooled = torch.zeros(len(counts), h.shape[-1]).index_add_(0, read, h) / counts[:, None].clamp(min=1)
        return self.head(pooled)

    def forward_padded(self, batch: dict, counts: torch.Tensor) -> torch.Tensor:
        x = batch["sequences"]
        valid = torch.arange(x.shape[1]) < counts[:, None]
        h = self._tokens(x.clamp(min=-1) if self.vocab else x) + self.pos(torch.arange(x.shape[1]))
        for block in self.blocks:
            h = block.padded(h, valid)
        pooled = (h * valid[..., None]).sum(1) / counts[:, None].clamp(min=1)
        return self.head(pooled)


def _encoder(args):
    if args.encoding == "kmer":
        return KmerEncoder(args.k, mode="ids", stride=args.k_stride), 4**args.k
    return OneHotEncoder(), None


def _token_counts(batch, args):
    lengths = batch["lengths"].to(torch.int64)
    if args.encoding == "kmer":
        return ((lengths - args.k) // args.k_stride + 1).clamp(min=0)
    return lengths


def _step(model, optimizer, batch, args, layout):
    logits = model.forward_packed(batch) if layout == "packed" else model.forward_padded(batch, _token_counts(batch, args))
    loss = F.cross_entropy(logits, batch["labels"])
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--timing-steps", type=int, default=5)
    parser.add_argument("--window", type=int, default=256)
    parser.add_argument("--eval-windows", type=int, default=600, help="held-out windows scored")
    parser.add_argument("--encoding", choices=["kmer", "onehot"], default="kmer")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--k-stride", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=4000)
    parser.add_argument("--batch-size", type=int, default=24)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(max(torch.get_num_threads(), 1))

    files = example_files()
    ds = Dataset(list(files.values()), labels=list(files))
    train, held_out = ds.split(0.8, seed=0)
    # ONT and rRNA reads tiled into windows of up to 512 bases; short reads stay whole
    train_w, test_w = (part.windows(args.window, min_length=64) for part in (train, held_out))
    encoder, vocab = _encoder(args)
    print(f"{len(train_w):,} training windows, {len(test_w):,} held out, lengths "
          f"{int(train_w.item_lengths().min())}-{int(train_w.item_lengths().max())}; encoding {args.encoding}")
    loader = DataLoader(train_w, max_tokens=args.max_tokens, layout="packed", shuffle=True, seed=1,
                        transform=Compose([ReverseComplement(p=0.5, seed=2), encoder]))
    model = TinyTransformer(len(ds.classes), vocab, args.window)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)

    step, t0 = 0, time.perf_counter()
    while step < args.steps:
        for batch in loader:
            loss = _step(model, optimizer, batch, args, "packed")
            step += 1
            if step == args.steps:
                break
    print(f"trained {step} steps on packed batches (max_tokens={args.max_tokens}) in "
          f"{time.perf_counter() - t0:.1f} s, last loss {loss.item():.3f}")

    model.eval()
    hits = total = 0
    with torch.no_grad():
        for batch in DataLoader(test_w, max_tokens=args.max_tokens, layout="packed", shuffle=True,
                                transform=encoder):
            hits += int((model.forward_packed(batch).argmax(1) == batch["labels"]).sum())
            total += len(batch["labels"])
            if total >= args.eval_windows:
                break
    print(f"held-out accuracy {hits / total:.3f} on {total:,} windows ({len(ds.classes)} classes; "
          f"chance {1 / len(ds.classes):.2f})")

    # the same batches (fixed batch_size, shuffled), padded against packed
    model.train()
    times = {}
    for layout in ("padded", "packed"):
        timing = DataLoader(train_w, batch_size=args.batch_size, shuffle=True, seed=5, layout=layout,
                            transform=encoder)
        batches = [b for b, _ in zip(timing, range(args.timing_steps + 2), strict=False)]
        _step(model, optimizer, batches[0], args, layout)  # warm-up
        t = time.perf_counter()
        for b in batches[1:]:
            _step(model, optimizer, b, args, layout)
        times[layout] = (time.perf_counter() - t) / (len(batches) - 1)
        real = sum(int(_token_counts(b, args).sum()) for b in batches[1:])
        shipped = sum(b["sequences"].shape[0] * (b["sequences"].shape[1] if layout == "padded" else 1)
                      for b in batches[1:])
        times[layout + "_positions"] = shipped / real
    print(f"step time, batch_size={args.batch_size}: padded {1e3 * times['padded']:.1f} ms "
          f"({times['padded_positions']:.2f} positions per real token), packed "
          f"{1e3 * times['packed']:.1f} ms ({times['packed_positions']:.2f}): "
          f"packed/padded {times['packed'] / times['padded']:.2f}")


if __name__ == "__main__":
    main()
