"""Two ranks (torchrun, gloo, CPU) with max_tokens: disjoint reads, every read once, equal steps."""

from pathlib import Path

import pytest
from two_ranks import run_two_ranks

from deepbiop_gpu import DataLoader, Dataset, Mutator

HERE = Path(__file__).parent


@pytest.mark.slow
def test_two_ranks_token_batches(tmp_path, data_dir):
    path = data_dir / "fastq" / "illumina_novaseq_800reads.fastq"
    ranks = run_two_ranks(HERE / "dist_varlen_check.py", tmp_path, path)
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
