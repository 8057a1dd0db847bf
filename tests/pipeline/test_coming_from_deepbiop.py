"""The README's "Coming from DeepBioP": both orders of work, and the mapped keywords."""

import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu import Compose, DataLoader, Dataset, Mutator, OneHotEncoder, default_collate

FASTQ = "fastq/iupac_misc_dna.fastq"  # IUPAC codes: unknown="random" draws for them


def test_both_orders_of_work_give_the_same_batch(data_dir):
    path = data_dir / FASTQ
    steps = [Mutator(rate=0.01, seed=1), OneHotEncoder(unknown="random", seed=2)]
    ds = Dataset(path, transform=Compose(steps))
    n = min(len(ds), 32)
    per_sample = default_collate([ds[i] for i in range(n)])
    loader = DataLoader(Dataset(path), batch_size=n, transform=Compose(steps))
    batched = next(iter(loader))
    assert per_sample["sequences"].dtype == torch.float32 and per_sample["sequences"].dim() == 3
    for key in ("sequences", "lengths", "index"):
        assert torch.equal(per_sample[key], batched[key].to(per_sample[key].dtype)), key
    assert per_sample["names"] == list(batched["names"])


def test_deepbiop_keywords_have_their_counterparts():
    for enc in (dg.OneHotEncoder(alphabet="rna", unknown="zeros"), dg.IntegerEncoder(alphabet="DNA"),
                dg.KmerEncoder(3, canonical=True, alphabet="rna")):  # fmt: skip
        assert enc.alphabet in ("dna", "rna")
    rna = dg.OneHotEncoder(alphabet="rna")
    batch = {
        "sequences": torch.tensor([list(b"ACGU")], dtype=torch.uint8),
        "lengths": torch.tensor([4]),
    }
    assert rna(batch)["sequences"][0].argmax(-1).tolist() == [0, 1, 2, 3]  # columns A C G U
    # issue 12: rna's T is unknown, protein has 20 columns; k-mers stay nucleotide-only
    t = {"sequences": torch.tensor([list(b"T")], dtype=torch.uint8), "lengths": torch.tensor([1])}
    assert rna(t)["sequences"].sum().item() == 0
    assert dg.OneHotEncoder(alphabet="PROTEIN")(batch)["sequences"].shape == (1, 4, 20)
    with pytest.raises(ValueError, match="k-mers are nucleotide words"):
        dg.KmerEncoder(3, alphabet="protein")
    for mode in ("start", "center", "end", "random"):  # DeepBioP's strategy names
        assert dg.Sampler(10, mode=mode).mode == mode
    assert (
        dg.Mutator(rate=0.02, seed=42).rate == 0.02
        and dg.ReverseComplement(p=0.5, seed=42).p == 0.5
    )
