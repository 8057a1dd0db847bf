"""SimulateQualities: fills missing qualities, keeps real ones, composes with the other steps
(fused when first), and gives the same batches through the DataLoader as step by step."""

from __future__ import annotations

import pytest
import torch

import deepbiop_gpu as dbg
from deepbiop_gpu import (
    Compose,
    DataLoader,
    Dataset,
    OneHotEncoder,
    QualityModel,
    Sampler,
    SimulateQualities,
    simulate_qualities,
)
from deepbiop_gpu.transforms.fused import fused_plan

MODEL = QualityModel.degrading(38.0, 15.0, 3.0)


def _batch(with_qualities: bool):
    reads = [b"ACGTACGTAC", b"GGT", b"", b"TTTTTTTT"]
    width = 12
    seqs = torch.zeros((4, width), dtype=torch.uint8)
    quals = torch.zeros((4, width), dtype=torch.uint8)
    for i, r in enumerate(reads):
        seqs[i, : len(r)] = torch.tensor(list(r), dtype=torch.uint8)
        if i != 1:  # read 1 has no qualities (all 0 bytes)
            quals[i, : len(r)] = 40 + i
    batch = {"sequences": seqs, "lengths": torch.tensor([len(r) for r in reads]),
             "index": torch.tensor([10, 11, 12, 13]), "epoch": 2}  # fmt: skip
    if with_qualities:
        batch["qualities"] = quals
    return batch


def test_fills_a_batch_without_qualities():
    batch = _batch(False)
    out = SimulateQualities(MODEL, seed=4)(batch)
    expected = simulate_qualities(batch["lengths"], MODEL, 4, batch["index"], 2, width=12)
    assert torch.equal(out["qualities"], expected) and "qualities" not in batch


def test_only_missing_rows_are_filled_unless_told_otherwise():
    batch = _batch(True)
    sim = simulate_qualities(batch["lengths"], MODEL, 4, batch["index"], 2, width=12)
    out = SimulateQualities(MODEL, seed=4)(batch)
    assert torch.equal(out["qualities"][1], sim[1])  # the row without qualities
    for i in (0, 2, 3):
        assert torch.equal(out["qualities"][i], batch["qualities"][i])
    replaced = SimulateQualities(MODEL, seed=4, only_missing=False)(batch)
    assert torch.equal(replaced["qualities"], sim)


def test_needs_bytes_and_an_index():
    batch = _batch(False)
    with pytest.raises(TypeError, match="QualityModel"):
        SimulateQualities("high")
    with pytest.raises(KeyError, match="index"):
        SimulateQualities(MODEL)({k: v for k, v in batch.items() if k != "index"})
    encoded = OneHotEncoder()(batch)
    with pytest.raises(TypeError, match="before encoders"):
        SimulateQualities(MODEL)(encoded)


def test_fuses_as_the_first_step_and_stops_the_fused_run_elsewhere():
    plan = fused_plan([SimulateQualities(MODEL), Sampler(5)])
    assert plan is not None and plan.count == 2
    assert [s.kind for s in plan.steps] == ["simulate_qualities", "crop"]
    plan = fused_plan([Sampler(5, mode="start"), SimulateQualities(MODEL), OneHotEncoder()])
    assert plan is not None and plan.count == 1


@pytest.mark.parametrize("first", [True, False])
def test_dataloader_batches_equal_step_by_step(first, data_dir):
    path = data_dir / "fasta" / "ncbi_28S_rRNA_570seqs_iupac.fasta"
    ds = Dataset(path)
    assert ds.reads.qualities is None
    steps = [SimulateQualities(MODEL, seed=1), Sampler(64, mode="start")]
    if not first:
        steps.reverse()
    loader = DataLoader(ds, batch_size=100, shuffle=True, seed=2,
                        transform=Compose([*steps, OneHotEncoder()]))  # fmt: skip
    loader.set_epoch(3)
    plain = DataLoader(ds, batch_size=100, shuffle=True, seed=2)
    plain.set_epoch(3)
    for got, raw in zip(loader, plain, strict=True):
        assert raw["epoch"] == 3
        expected = raw
        for step in steps:  # one op at a time, no fusion
            expected = step(expected)
        assert torch.equal(got["qualities"], expected["qualities"])
        assert torch.equal(got["sequences"], OneHotEncoder()(expected)["sequences"])
        assert got["qualities"].shape == (len(raw["index"]), 64)


def test_sample_access_and_a_fastq_dataset_keeps_its_qualities(data_dir):
    fasta = Dataset(data_dir / "fasta" / "softmasked_with_N_4seqs.fasta",
                    transform=Compose([SimulateQualities(QualityModel.uniform(20, 30), seed=3)]))
    sample = fasta[2]
    assert sample["quality"].shape == sample["sequence"].shape
    assert int(sample["quality"].min()) >= 53 and int(sample["quality"].max()) <= 63
    fastq_path = data_dir / "fastq" / "illumina_novaseq_800reads.fastq"
    fastq = Dataset(fastq_path, transform=Compose([SimulateQualities(MODEL)]))
    assert torch.equal(fastq[5]["quality"], dbg.read(fastq_path)[5:6].qualities)
