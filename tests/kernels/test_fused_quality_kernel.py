"""The fused kernel with the quality steps (Mutator(rate="phred") anywhere, SimulateQualities
first) against the CPU fused loop (numba) and the torch ops one by one, bit for bit: ragged
reads with garbage between them, small inputs (the interpreter is slow)."""

from __future__ import annotations

import pytest
import torch
from batches import COMMON, random_reads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fused_kernel import assert_ragged_feed_equals_padded, check, ragged, steps_of

from deepbiop_gpu import (
    Compose,
    IntegerEncoder,
    Mutator,
    OneHotEncoder,
    QualityModel,
    ReverseComplement,
    Sampler,
    SimulateQualities,
)

MODELS = [QualityModel.uniform(0, 40), QualityModel.medium_quality(),
          QualityModel.degrading(38.0, 4.0, 3.0)]  # fmt: skip


def _quals_with_missing(quals, starts, lengths, rows):
    """Reads ``rows`` get all-0 qualities (reads without any)."""
    quals = quals.clone()
    for r in rows:
        s, n = int(starts[r]), int(lengths[r])
        quals[s : s + n] = 0
    return quals


PLANS = {
    "phred": [Mutator("phred", seed=3, scale=10.0)],
    "crop-rc-phred": [Sampler(30, seed=1), ReverseComplement(p=0.5, seed=2),
                      Mutator("phred", seed=5, scale=30.0)],  # fmt: skip
    "phred-rc-crop-mutate": [Mutator("phred", scale=50.0), ReverseComplement(p=0.5),
                             Sampler(20, mode="center"), Mutator(0.2, seed=4)],  # fmt: skip
    "simulate": [SimulateQualities(QualityModel.degrading(38.0, 4.0, 3.0), seed=9)],
    "simulate-all-crop-rc-phred": [
        SimulateQualities(QualityModel.uniform(0, 20), seed=9, only_missing=False),
        Sampler(25, seed=1), ReverseComplement(p=0.5, seed=2), Mutator("phred", seed=5)],
    "simulate-normal-rc-phred": [SimulateQualities(QualityModel.medium_quality(), seed=1),
                                 ReverseComplement(p=0.5), Mutator("phred", scale=200.0)],
}  # fmt: skip


@pytest.mark.parametrize("quals", ["yes", "some-missing", "none"])
@pytest.mark.parametrize("encoder", [None, OneHotEncoder(), IntegerEncoder()], ids=repr)
@pytest.mark.parametrize("plan", list(PLANS), ids=str)
def test_quality_plans_equal_the_cpu_loop(kdevice, monkeypatch, plan, encoder, quals):
    steps = PLANS[plan]
    simulated = isinstance(steps[0], SimulateQualities)
    if quals == "none" and not simulated:
        pytest.skip("a phred Mutator needs qualities (tested to raise elsewhere)")
    gen = torch.Generator().manual_seed(len(plan))
    reads = random_reads(gen, 11, 70, alphabet=COMMON, min_len=1)
    reads[4] = b"ACGT" * 75  # several column blocks
    seqs, qual_buf, starts, lengths = ragged(reads, gen)
    if quals == "some-missing":
        qual_buf = _quals_with_missing(qual_buf, starts, lengths, [0, 4] if simulated else [])
    index = torch.randint(0, 2**40, (len(reads),), generator=gen)
    check(monkeypatch, kdevice, seqs, None if quals == "none" else qual_buf, starts, lengths,
          max(map(len, reads)), steps_of(steps), encoder and encoder.fused_step(), index, 3)  # fmt: skip


STEP = st.one_of(
    st.builds(ReverseComplement, p=st.sampled_from([0.5, 1.0]), seed=st.integers(0, 2**40)),
    st.builds(Mutator, rate=st.sampled_from([0.3, "phred"]), seed=st.integers(0, 2**40)),
    st.builds(Mutator, rate=st.just("phred"), scale=st.sampled_from([0.0, 30.0, 1e4])),
    st.builds(Sampler, length=st.integers(0, 30),
              mode=st.sampled_from(["random", "start", "center", "end"])),  # fmt: skip
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    simulate=st.one_of(st.none(), st.builds(SimulateQualities, st.sampled_from(MODELS),
                                            seed=st.integers(0, 2**40),
                                            only_missing=st.booleans())),  # fmt: skip
    steps=st.lists(STEP, max_size=3),
    reads=st.lists(st.binary(min_size=1, max_size=40), max_size=6),
    extra=st.integers(-3, 5),
    epoch=st.integers(0, 2**32 + 5),
    missing=st.booleans(),
    seed=st.integers(0, 100),
)
def test_any_quality_plan(kdevice, monkeypatch, simulate, steps, reads, extra, epoch, missing,
                          seed):  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    seqs, qual_buf, starts, lengths = ragged(reads, gen)
    if missing and simulate is not None and reads:
        qual_buf = _quals_with_missing(qual_buf, starts, lengths, [0])
    width = max(1, max((len(r) for r in reads), default=0) + extra)
    index = torch.randint(0, 2**40, (len(reads),), generator=gen)
    plan = ([simulate] if simulate else []) + steps
    check(monkeypatch, kdevice, seqs, qual_buf, starts, lengths, width, steps_of(plan), None,
          index, epoch)  # fmt: skip


def test_compose_fuses_the_quality_steps_into_one_launch(kdevice, monkeypatch):
    import deepbiop_gpu.kernels.fused as kfused

    launches = []
    real = kfused.launch
    monkeypatch.setattr(kfused, "launch", lambda *a, **k: (launches.append(k), real(*a, **k))[1])
    gen = torch.Generator().manual_seed(5)
    reads = random_reads(gen, 6, 40, min_len=2)
    width = max(map(len, reads))
    seqs = torch.zeros((6, width), dtype=torch.uint8)
    for i, r in enumerate(reads):
        seqs[i, : len(r)] = torch.tensor(list(r), dtype=torch.uint8)
    batch = {"sequences": seqs.to(kdevice), "lengths": torch.tensor(list(map(len, reads))).to(kdevice),
             "index": torch.arange(6).to(kdevice), "epoch": 1}  # fmt: skip
    steps = [SimulateQualities(QualityModel.high_quality(), seed=2), Sampler(16),
             Mutator("phred", scale=100.0), OneHotEncoder()]  # fmt: skip
    out = Compose(steps)(batch)
    assert len(launches) == 1 and launches[0]["SIMULATE"] == 2
    with monkeypatch.context() as m:
        m.setenv("DEEPBIOP_GPU_FORCE_TRITON", "0")
        m.setenv("DEEPBIOP_GPU_NUMBA", "0")
        cpu = {k: (v.cpu() if isinstance(v, torch.Tensor) else v) for k, v in batch.items()}
        for t in steps:
            cpu = t(cpu)
    for key in ("sequences", "qualities", "lengths"):
        assert torch.equal(out[key].cpu(), cpu[key]), key


@pytest.mark.parametrize("path", ["fasta/ncbi_28S_rRNA_570seqs_iupac.fasta",
                                  "fastq/illumina_novaseq_800reads.fastq"])  # fmt: skip
def test_ragged_loader_with_the_quality_steps_equals_the_cpu_loader(kdevice, monkeypatch,
                                                                    data_dir, path):  # fmt: skip
    """The ragged feed (reads -> the fused kernel, SimulateQualities + phred Mutator in it)
    against the padded CPU loader, FASTA (no qualities) and FASTQ."""
    if kdevice.type != "cpu":
        pytest.skip("the CUDA twin runs through the same launcher (covered by the plans above)")
    import numpy as np

    import deepbiop_gpu as dg

    ds = dg.data.dataset.Subset(dg.Dataset(data_dir / path), np.arange(0, 480, 15))
    transform = Compose([SimulateQualities(QualityModel.degrading(36, 10, 3), seed=4),
                         Sampler(100), ReverseComplement(p=0.5), Mutator("phred", scale=3.0),
                         OneHotEncoder()])  # fmt: skip

    assert_ragged_feed_equals_padded(ds, transform, monkeypatch)
