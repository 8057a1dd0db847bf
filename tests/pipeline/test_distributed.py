"""Two ranks (torchrun, gloo, CPU): every read exactly once per epoch across ranks."""

from pathlib import Path

import pytest
from two_ranks import run_two_ranks

from deepbiop_gpu import DataLoader, Dataset, Mutator

HERE = Path(__file__).parent


@pytest.mark.slow
def test_two_ranks_cover_the_dataset_exactly_once(tmp_path, data_dir):
    path = data_dir / "fastq" / "illumina_novaseq_800reads.fastq"
    ranks = run_two_ranks(HERE / "dist_check.py", tmp_path, path)
    n = len(Dataset(path))
    for key in ("map_w0", "map_w2", "iterable_w2"):
        a, b = ranks[0][key], ranks[1][key]
        assert not set(a) & set(b), f"{key}: a read was seen by both ranks"
        assert sorted(a + b) == list(range(n)), key
        assert len(a) == len(set(a)) and len(b) == len(set(b))
    for r in ranks:
        assert r["map_w0"] == r["map_w2"]  # same order whatever the workers
        assert r["map_w0_len"] == -(-len(r["map_w0"]) // 32)
    # augmentations depend on (seed, epoch, index) only: same as one process
    single = DataLoader(Dataset(path), batch_size=100, transform=Mutator(0.05, seed=1))
    single.set_epoch(2)
    expected = {}
    for batch in single:
        for i, row, n_ in zip(batch["index"].tolist(), batch["sequences"], batch["lengths"].tolist()):
            expected[str(i)] = bytes(row[:n_].tolist()).decode()
    merged = {**ranks[0]["map_w0_mutated"], **ranks[1]["map_w0_mutated"]}
    assert merged == expected
    assert {**ranks[0]["map_w2_mutated"], **ranks[1]["map_w2_mutated"]} == expected
