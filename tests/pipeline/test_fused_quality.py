"""The fused CPU path with the quality steps: Mutator(rate="phred") anywhere in a plan and
SimulateQualities as its first step, bit for bit equal to the transforms one by one (the torch
code, numba off), on the numba loop and on the fused op's torch implementation."""

from __future__ import annotations

import pytest
import torch
from batches import COMMON, edge_cases, pack, random_reads
from hypothesis import given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dg
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
from deepbiop_gpu.ops._fused import FusedStep, fused
from deepbiop_gpu.ops._numba import NUMBA_ENV, numba_module
from deepbiop_gpu.transforms import fused as fused_path

pytestmark = pytest.mark.skipif(numba_module() is None, reason="the fused path needs numba")

MODELS = [
    QualityModel.uniform(0, 40),
    QualityModel.high_quality(),
    QualityModel.degrading(38.0, 5.0, 4.0),
    QualityModel.degrading(2.0, 30.0, 0.0),
]


def _batch(reads, width=None, seed=0, epoch=2, quals=True, missing=()):
    """A padded batch; qualities Q 0..42 (also in the padding); rows in ``missing`` all 0."""
    seqs, lengths = pack(reads, width)
    gen = torch.Generator().manual_seed(seed)
    batch = {
        "sequences": seqs,
        "lengths": lengths.to(torch.int32),
        "index": torch.randint(0, 2**40, (len(reads),), generator=gen),
        "epoch": epoch,
    }
    if quals:
        q = torch.randint(33, 76, seqs.shape, generator=gen, dtype=torch.uint8)
        for row in missing:
            q[row] = 0
        batch["qualities"] = q
    return batch


def _reference(transforms, batch, monkeypatch):
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        for t in transforms:
            batch = t(batch)
        return batch


def assert_same_batch(got, want):
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, torch.Tensor):
            assert got[key].dtype == value.dtype and got[key].shape == value.shape, key
            assert torch.equal(got[key], value), key
        else:
            assert got[key] == value, key


PHRED_PIPELINES = [
    [Mutator("phred", seed=3)],
    [Mutator("phred", seed=3, scale=20.0), OneHotEncoder()],
    [Sampler(40, seed=1), ReverseComplement(p=0.5, seed=2), Mutator("phred", seed=5, scale=5.0)],
    [ReverseComplement(p=0.5), Mutator("phred", scale=8.0), Sampler(25, mode="center")],
    [Mutator(0.1, seed=4), Mutator("phred", seed=9, scale=3.0), ReverseComplement(p=1.0)],
    [Sampler(30, mode="end"), Mutator("phred", scale=0.0), IntegerEncoder()],
]


def _ids(pipeline):
    return "-".join(type(t).__name__ for t in pipeline)


@pytest.mark.parametrize("steps", PHRED_PIPELINES, ids=_ids)
def test_phred_mutate_fuses_bit_for_bit(steps, monkeypatch):
    gen = torch.Generator().manual_seed(len(steps))
    batch = _batch(random_reads(gen, 37, 90, alphabet=COMMON, min_len=1))
    want = _reference(steps, batch, monkeypatch)
    plan = fused_path.fused_plan(steps)
    assert plan is not None and plan.count == len(steps) and plan.phred
    assert fused_path.run_fused(plan, batch) is not None  # the numba loop really runs
    assert_same_batch(Compose(steps)(batch), want)
    # the fused op's torch implementation, on the same reads given ragged
    B, L = batch["sequences"].shape
    starts = torch.arange(B, dtype=torch.int64) * L
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        out, quals, lens = fused_path.run_plan_ragged(
            plan, batch["sequences"].reshape(-1), batch["qualities"].reshape(-1), starts,
            batch["lengths"], L, batch["index"], batch["epoch"],
        )  # fmt: skip
    assert torch.equal(out, want["sequences"])
    if plan.touches_qualities:
        assert torch.equal(quals, want["qualities"])


@pytest.mark.parametrize("model", MODELS, ids=repr)
@pytest.mark.parametrize("quals, only_missing", [(False, True), (True, True), (True, False)])
def test_simulate_qualities_first_fuses_bit_for_bit(model, quals, only_missing, monkeypatch):
    steps = [SimulateQualities(model, seed=7, only_missing=only_missing), Sampler(50, seed=1),
             ReverseComplement(p=0.5, seed=2), Mutator("phred", seed=5, scale=4.0),
             OneHotEncoder()]  # fmt: skip
    gen = torch.Generator().manual_seed(9)
    reads = random_reads(gen, 41, 80, alphabet=COMMON)
    batch = _batch(reads, quals=quals, missing=(0, 3, 17))
    want = _reference(steps, batch, monkeypatch)
    plan = fused_path.fused_plan(steps)
    assert plan is not None and plan.count == len(steps)
    assert fused_path.run_fused(plan, batch) is not None
    assert_same_batch(Compose(steps)(batch), want)
    # SimulateQualities alone, and with a phred Mutator only
    for short in ([steps[0]], [steps[0], steps[3]]):
        assert fused_path.run_fused(fused_path.fused_plan(short), batch) is not None
        assert_same_batch(Compose(short)(batch), _reference(short, batch, monkeypatch))


@pytest.mark.parametrize("case", edge_cases(long=300), ids=lambda c: c[0])
@pytest.mark.parametrize("quals", [True, False])
def test_edge_cases(case, quals, monkeypatch):
    _, reads, width = case
    batch = _batch(reads, width, quals=quals)
    steps = [SimulateQualities(QualityModel.medium_quality(), seed=1), Sampler(64, seed=1),
             ReverseComplement(p=0.5), Mutator("phred", scale=10.0), OneHotEncoder()]  # fmt: skip
    assert_same_batch(Compose(steps)(batch), _reference(steps, batch, monkeypatch))
    if quals and all(len(r) == 0 or any(r) for r in reads):
        batch["qualities"][:, :1] = 40  # every read has a quality
        steps = [ReverseComplement(p=0.5), Mutator("phred", scale=50.0), IntegerEncoder()]
        assert_same_batch(Compose(steps)(batch), _reference(steps, batch, monkeypatch))


def test_phred_without_qualities_raises_through_the_fused_path():
    gen = torch.Generator().manual_seed(1)
    reads = random_reads(gen, 5, 30, min_len=1)
    steps = Compose([Sampler(20), Mutator("phred"), OneHotEncoder()])
    with pytest.raises(ValueError, match=r"rate='phred' needs qualities.*SimulateQualities"):
        steps(_batch(reads, quals=False))
    with pytest.raises(ValueError, match=r"read 2 of the batch \(and 0 more\) has none"):
        steps(_batch(reads, missing=(2,)))
    flat = torch.tensor(list(b"ACGTACGT"), dtype=torch.uint8)
    starts, lengths = torch.tensor([0, 4]), torch.tensor([4, 4])
    with pytest.raises(ValueError, match=r"mutate step with rate='phred' needs qualities"):
        fused(flat, starts, lengths, 4, [Mutator("phred").fused_step()], index=torch.arange(2))
    zero = torch.tensor(list(b"IIII\0\0\0\0"), dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"read 1 of the batch .* has none"):
        fused(flat, starts, lengths, 4, [Mutator("phred").fused_step()], qualities=zero,
              index=torch.arange(2))  # fmt: skip
    sim = SimulateQualities(QualityModel.uniform(9, 9)).fused_step()
    with pytest.raises(ValueError, match="simulate_qualities step must be the first step"):
        fused(flat, starts, lengths, 4, [Sampler(2).fused_step(), sim], index=torch.arange(2))
    # first, it gives the reads their qualities: then a phred step needs none in
    out, quals, _ = fused(flat, starts, lengths, 4, [sim, Mutator("phred").fused_step()],
                          index=torch.arange(2))  # fmt: skip
    assert quals.tolist() == [[42] * 4] * 2 and out.shape == (2, 4)


def test_step_rows_carry_the_scale_and_the_model():
    from deepbiop_gpu.ops._fused import bits_float, step_rows, unpack_simulate

    rows = step_rows([Mutator("phred", seed=4, scale=2.5).fused_step(),
                      SimulateQualities(QualityModel.degrading(30, 10, 2), seed=6,
                                        only_missing=False).fused_step()])  # fmt: skip
    assert rows[:3] == [2, rows[1], 4] and rows[3] == 1 and bits_float(rows[1]) == 2.5
    kind, a, b, sign, sd = QualityModel.degrading(30, 10, 2).params()
    assert rows[4:7] == [3, a, 6]
    assert unpack_simulate(rows[7]) == (kind, b, sign, sd, False)
    assert FusedStep.mutate_phred(1.0).random


STEP = st.one_of(
    st.builds(ReverseComplement, p=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 2**40)),
    st.builds(Mutator, rate=st.sampled_from([0.0, 0.3, "phred"]), seed=st.integers(0, 2**40)),
    st.builds(Mutator, rate=st.just("phred"), seed=st.integers(0, 2**40),
              scale=st.sampled_from([0.0, 1.0, 30.0, 1e4])),  # fmt: skip
    st.builds(Sampler, length=st.integers(0, 50),
              mode=st.sampled_from(["random", "start", "center", "end"]),
              seed=st.integers(0, 2**40)),  # fmt: skip
)
MODEL = st.sampled_from(MODELS)


@settings(max_examples=50, deadline=None)
@given(
    simulate=st.one_of(st.none(), st.builds(SimulateQualities, MODEL, seed=st.integers(0, 2**40),
                                            only_missing=st.booleans())),  # fmt: skip
    steps=st.lists(STEP, max_size=4),
    encoder=st.sampled_from([None, OneHotEncoder(), IntegerEncoder(), OneHotEncoder(unknown="random")]),
    reads=st.lists(st.binary(min_size=1, max_size=60), max_size=12),
    extra=st.integers(0, 9),
    epoch=st.integers(0, 2**32 + 5),
)
def test_any_quality_pipeline_on_any_bytes(simulate, steps, encoder, reads, extra, epoch):
    transforms = ([simulate] if simulate else []) + steps + ([encoder] if encoder else [])
    width = max((len(r) for r in reads), default=0) + extra
    batch = _batch(reads, width, epoch=epoch)
    batch["qualities"][:, :1] = 50  # every read has a quality
    want = batch
    for t in transforms:  # the ops one by one (numba loops)
        want = t(want)
    assert_same_batch(Compose(transforms)(batch), want)


@pytest.mark.parametrize("path", ["fasta/ncbi_28S_rRNA_570seqs_iupac.fasta",
                                  "fastq/illumina_novaseq_800reads.fastq"])  # fmt: skip
def test_dataloader_with_simulated_qualities_and_phred_mutation(path, data_dir):
    """Reads straight from the dataset's buffers through the fused collate, against the same
    batches run step by step."""
    steps = [SimulateQualities(QualityModel.degrading(36, 12, 3), seed=1),
             Sampler(64, mode="random", seed=2), Mutator("phred", seed=3, scale=2.0)]  # fmt: skip
    ds = dg.Dataset(data_dir / path)
    loader = dg.DataLoader(ds, batch_size=97, shuffle=True, seed=2,
                           transform=Compose([*steps, OneHotEncoder()]))  # fmt: skip
    loader.set_epoch(1)
    plain = dg.DataLoader(ds, batch_size=97, shuffle=True, seed=2)
    plain.set_epoch(1)
    for got, raw in zip(loader, plain, strict=True):
        expected = raw
        for step in steps:
            expected = step(expected)
        assert torch.equal(got["qualities"], expected["qualities"])
        assert torch.equal(got["sequences"], OneHotEncoder()(expected)["sequences"])


def test_the_kernel_draws_on_the_op_stream():
    pytest.importorskip("triton")
    from deepbiop_gpu.kernels import fused as kernel
    from deepbiop_gpu.ops._simulate_qualities import STREAM_SIMULATE_QUALITIES

    assert kernel.STREAM_SIMULATE_QUALITIES.value == STREAM_SIMULATE_QUALITIES


def test_compose_with_the_quality_steps_compiles_fullgraph():
    """torch.compile runs the ops one by one (no float reaches an op: the scale travels as
    its float64 bits, the threshold table is built inside the op), with the eager bits."""
    steps = Compose([SimulateQualities(QualityModel.degrading(38, 10, 3), seed=1),
                     Sampler(20, seed=2), ReverseComplement(p=0.5),
                     Mutator("phred", seed=3, scale=5.0), OneHotEncoder()])  # fmt: skip
    gen = torch.Generator().manual_seed(0)
    batch = _batch(random_reads(gen, 8, 40, alphabet=b"ACGTN", min_len=1), quals=False)
    eager = steps(batch)
    compiled = torch.compile(steps, fullgraph=True, backend="eager")(batch)
    for key in ("sequences", "qualities", "lengths"):
        assert torch.equal(compiled[key], eager[key]), key
