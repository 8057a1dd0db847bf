"""Alphabets in the pipeline (issue 12): the fused CPU loop against the transforms one by one
for rna / protein encoders, the checks that refuse nucleotide steps before a protein encoder,
and a protein FASTA end to end through Dataset -> DataLoader."""

from __future__ import annotations

import pytest
import torch
from batches import COMMON, PROTEIN, pack, random_reads
from naive.integer import integer as naive_integer
from naive.one_hot import one_hot as naive_one_hot

from deepbiop_gpu import (
    Compose,
    DataLoader,
    Dataset,
    IntegerEncoder,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
)
from deepbiop_gpu.ops._numba import NUMBA_ENV, numba_enabled
from deepbiop_gpu.transforms.fused import fused_plan, run_fused

PROTEIN_FASTA = "fasta/yersinia_pPCP1_10proteins.fasta"

ENCODERS = [
    OneHotEncoder(alphabet="protein"),
    OneHotEncoder(torch.bfloat16, "NCL", "uniform", alphabet="protein"),
    OneHotEncoder(torch.float16, "NLC", "uniform", alphabet="protein"),
    OneHotEncoder(torch.uint8, "NCL", "random", seed=7, alphabet="protein"),
    OneHotEncoder(torch.float32, "NLC", "random", seed=2**40, alphabet="protein"),
    IntegerEncoder(pad_value=-100, alphabet="protein"),
    OneHotEncoder(alphabet="rna"),
    OneHotEncoder(torch.float32, "NCL", "random", seed=3, alphabet="rna"),
    IntegerEncoder(alphabet="rna"),
]


def _batch(alphabet: str, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    reads = random_reads(gen, 40, 90, alphabet=PROTEIN if alphabet == "protein" else COMMON)
    seqs, lengths = pack(reads + [b"", b"X", b"T" * 5, b"U" * 3])
    index = torch.randint(0, 2**40, (seqs.shape[0],), generator=gen)
    return {"sequences": seqs, "lengths": lengths, "index": index, "epoch": 4}


def _steps(alphabet: str):
    if alphabet == "protein":
        return [Sampler(30, seed=2)]
    return [Sampler(60, seed=2), ReverseComplement(p=0.5, seed=5), Mutator(0.2, seed=9)]


@pytest.mark.skipif(not numba_enabled(), reason="the fused CPU loop needs numba")
@pytest.mark.parametrize("encoder", ENCODERS, ids=repr)
def test_fused_cpu_loop_equals_the_transforms_one_by_one(encoder, monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "1")
    batch = _batch(encoder.alphabet)
    for steps in ([], _steps(encoder.alphabet)):
        transforms = [*steps, encoder]
        plan = fused_plan(transforms)
        assert plan is not None and plan.count == len(transforms) and plan.encoder == encoder.fused_step()
        fused = run_fused(plan, batch)
        assert fused is not None  # the loop ran (not the step-by-step fallback)
        want = batch
        for t in transforms:
            want = t(want)
        for key in ("sequences", "lengths"):
            assert fused[key].dtype == want[key].dtype and torch.equal(fused[key], want[key]), key
        assert torch.equal(Compose(transforms)(batch)["sequences"], want["sequences"])


def test_the_fused_op_without_numba_equals_it_too(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "0")
    for encoder in ENCODERS[:4]:
        batch = _batch("protein", seed=3)
        transforms = [Sampler(25, mode="center"), encoder]
        want = encoder(transforms[0](batch))
        assert torch.equal(Compose(transforms)(batch)["sequences"], want["sequences"])


@pytest.mark.parametrize("nucleotide", [ReverseComplement(p=0.5), Mutator(0.01), KmerEncoder(3)], ids=repr)
@pytest.mark.parametrize("encoder", [OneHotEncoder(alphabet="protein"), IntegerEncoder(alphabet="protein")],
                         ids=repr)  # fmt: skip
def test_a_protein_encoder_refuses_nucleotide_steps(nucleotide, encoder):
    name = type(nucleotide).__name__
    why = rf"cannot be combined with {name}: reverse-complement, base substitution and k-mers are " \
          r"nucleotide operations, and bytes alone cannot tell a protein from DNA"  # fmt: skip
    with pytest.raises(ValueError, match=why):
        Compose([nucleotide, encoder])
    with pytest.raises(ValueError, match=why):  # nested
        Compose([Sampler(10), Compose([nucleotide]), encoder])
    Compose([Sampler(10), encoder])  # a crop is fine
    Compose([nucleotide, OneHotEncoder(alphabet="rna")])  # nucleotides are fine


def test_a_plain_list_refuses_them_when_it_is_first_run():
    with pytest.raises(ValueError, match="one_hot encoder \\(alphabet='protein'\\) cannot be combined "
                                         "with mutate, reverse_complement"):  # fmt: skip
        fused_plan([Mutator(0.1), ReverseComplement(), OneHotEncoder(alphabet="protein")])


def test_the_loader_refuses_them_across_the_dataset_and_its_own_transform(data_dir):
    path = data_dir / PROTEIN_FASTA
    with pytest.raises(ValueError, match="cannot be combined with Mutator"):
        DataLoader(Dataset(path), batch_size=4, transform=Compose([Mutator(0.1), OneHotEncoder(alphabet="protein")]))
    with pytest.raises(ValueError, match="cannot be combined with ReverseComplement"):
        DataLoader(Dataset(path, transform=ReverseComplement(p=1.0)), batch_size=4,
                   transform=OneHotEncoder(alphabet="protein"))  # fmt: skip


@pytest.mark.parametrize(
    "encoder",
    [OneHotEncoder(alphabet="protein"), OneHotEncoder(torch.bfloat16, "NCL", "uniform", alphabet="protein"),
     IntegerEncoder(alphabet="protein")],
    ids=repr,
)  # fmt: skip
@pytest.mark.parametrize("crop", [False, True], ids=["whole", "crop"])
def test_a_protein_fasta_end_to_end(data_dir, cpu_path, encoder, crop):
    """Dataset -> DataLoader(transform=encoder) batches equal the naive reference on the reads."""
    path = data_dir / PROTEIN_FASTA
    ds = Dataset(path)
    transform = Compose([Sampler(100, mode="start"), encoder]) if crop else encoder
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=3, transform=transform)
    seen = []
    for batch in loader:
        index = batch["index"].tolist()
        seen += index
        width = batch["sequences"].shape[-1 if getattr(encoder, "layout", "NLC") == "NCL" else 1]
        reads = [bytes(ds[i]["sequence"].tolist())[: 100 if crop else None] for i in index]
        seqs, lengths = pack(reads, width)
        assert batch["lengths"].tolist() == lengths.tolist()
        if isinstance(encoder, IntegerEncoder):
            want = naive_integer(seqs, lengths, -1, "protein")
        else:
            want = naive_one_hot(seqs, lengths, encoder.dtype, encoder.layout, encoder.unknown,
                                 alphabet="protein")  # fmt: skip
        got = batch["sequences"]
        assert got.dtype == want.dtype and torch.equal(got, want)
    assert sorted(seen) == list(range(10))
