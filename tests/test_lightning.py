"""SequenceDataModule: seeded splits, device transforms in on_after_batch_transfer, a short fit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning")

import lightning.pytorch as pl  # noqa: E402

from deepbiop_gpu.data import Dataset  # noqa: E402
from deepbiop_gpu.lightning import SequenceDataModule, split_indices  # noqa: E402
from deepbiop_gpu.transforms import Compose, Mutator, OneHotEncoder  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
FILES = [
    DATA / "fastq" / "illumina_novaseq_800reads.fastq",
    DATA / "fastq" / "crlf_dos_3reads.fastq",
]


class TinyClassifier(pl.LightningModule):
    """Mean-pooled one-hot -> linear: enough to see the batches a model receives."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.head = torch.nn.Linear(4, num_classes)
        self.seen: list[tuple[str, tuple[int, ...], torch.dtype]] = []

    def _step(self, batch, stage):
        x = batch["sequences"]  # one-hot [B, L, 4] made by the data module's transform
        self.seen.append((stage, tuple(x.shape), x.dtype))
        mask = torch.arange(x.shape[1]) < batch["lengths"][:, None]
        pooled = (x * mask[..., None]).sum(1) / batch["lengths"].clamp(min=1)[:, None]
        return torch.nn.functional.cross_entropy(self.head(pooled), batch["labels"])

    def training_step(self, batch, batch_idx):
        loss = self._step(batch, "train")
        assert torch.isfinite(loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_fit_a_couple_of_steps_on_cpu():
    dm = SequenceDataModule(
        train=FILES,
        labels=["novaseq", "dos"],
        val_fraction=0.25,
        batch_size=16,
        transform=Compose([Mutator(0.05, seed=1), OneHotEncoder()]),
        eval_transform=OneHotEncoder(),
    )
    dm.setup("fit")
    model = TinyClassifier(dm.num_classes)
    trainer = pl.Trainer(
        max_steps=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        val_check_interval=2,
    )
    trainer.fit(model, datamodule=dm)
    assert trainer.global_step == 2
    stages = [s for s, _, _ in model.seen]
    assert stages.count("train") == 2 and "val" in stages
    for _, shape, dtype in model.seen:
        assert dtype == torch.float32 and shape[0] == 16 and shape[2] == 4
    assert dm.classes == ["dos", "novaseq"]


def test_split_is_seeded_disjoint_and_complete():
    dm = SequenceDataModule(train=FILES, val_fraction=0.2, test_fraction=0.1, split_seed=7)
    dm.setup()
    n = sum(len(Dataset(f)) for f in FILES)
    parts = [dm.split[k].tolist() for k in ("train", "val", "test")]
    assert sorted(sum(parts, [])) == list(range(n))
    assert [len(p) for p in parts[1:]] == [round(0.2 * n), round(0.1 * n)]
    again = SequenceDataModule(train=FILES, val_fraction=0.2, test_fraction=0.1, split_seed=7)
    again.setup()
    other = SequenceDataModule(train=FILES, val_fraction=0.2, test_fraction=0.1, split_seed=8)
    other.setup()
    assert torch.equal(again.split["val"], dm.split["val"])
    assert not torch.equal(other.split["val"], dm.split["val"])
    val_names = {name for batch in dm.val_dataloader() for name in batch["names"]}
    full = Dataset(FILES)
    assert val_names == {full.reads.names[i] for i in dm.split["val"].tolist()}


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one"):
        SequenceDataModule()
    with pytest.raises(ValueError, match="either val or val_fraction"):
        SequenceDataModule(train=FILES, val=FILES, val_fraction=0.1)
    with pytest.raises(ValueError, match="sum to less than 1"):
        split_indices(10, [0.6, 0.5], 0)
    dm = SequenceDataModule(train=FILES)
    with pytest.raises(ValueError, match="no test data"):
        dm.test_dataloader()


def test_clear_message_without_lightning(tmp_path):
    code = (
        "import sys\n"
        "for m in ('lightning', 'lightning.pytorch', 'pytorch_lightning'): sys.modules[m] = None\n"
        "from deepbiop_gpu.lightning import SequenceDataModule\n"
        "try:\n"
        "    SequenceDataModule(train='x.fastq')\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "pip install 'deepbiop-gpu[lightning]'" in out.stdout
