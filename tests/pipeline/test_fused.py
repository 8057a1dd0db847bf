"""The fused CPU path: Compose (and the loader's collate) in one pass == the transforms one by one.

The reference runs every transform on its own (each a public op call); with
``DEEPBIOP_GPU_NUMBA=0`` it is the torch code, a second implementation of
every rule.  The fused path must give the same tensors, bit for bit, for
every combination and order of steps, on ragged reads with garbage padding,
IUPAC codes, lowercase, length 0 and 1, and all-N reads.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch
from batches import COMMON, edge_cases, pack, random_reads
from hypothesis import given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dg
from deepbiop_gpu import (
    Compose,
    IntegerEncoder,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
)
from deepbiop_gpu.data.loader import _collate_transform
from deepbiop_gpu.ops._numba import NUMBA_ENV, numba_module, numba_prefetch
from deepbiop_gpu.transforms import fused

pytestmark = pytest.mark.skipif(numba_module() is None, reason="the fused path needs numba")


def _batch(reads: list[bytes], width: int | None = None, seed: int = 0, epoch: int = 2, quals=True):
    seqs, lengths = pack(reads, width)
    gen = torch.Generator().manual_seed(seed)
    batch = {
        "sequences": seqs,
        "lengths": lengths.to(torch.int32),
        "index": torch.randint(0, 2**40, (len(reads),), generator=gen),
        "epoch": epoch,
        "names": [f"r{i}" for i in range(len(reads))],
    }
    if quals:
        batch["qualities"] = torch.randint(33, 75, seqs.shape, generator=gen, dtype=torch.uint8)
    return batch


def _one_by_one(transforms, batch):
    for t in transforms:
        batch = t(batch)
    return batch


def _reference(transforms, batch, monkeypatch):
    """The transforms one at a time, on the torch code (no numba anywhere)."""
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        return _one_by_one(transforms, batch)


def assert_same_batch(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, torch.Tensor):
            assert got[key].dtype == value.dtype, key
            assert got[key].shape == value.shape, key
            assert torch.equal(got[key], value), key
        else:
            assert got[key] == value, key


ENCODERS = [
    None,
    OneHotEncoder(),
    OneHotEncoder(torch.float16, "NCL", "uniform"),
    OneHotEncoder(torch.bfloat16, "NLC", "uniform"),
    OneHotEncoder(torch.uint8, "NCL"),
    OneHotEncoder(torch.uint8),
    IntegerEncoder(),
    IntegerEncoder(pad_value=7),
    OneHotEncoder(unknown="random", seed=11),
    OneHotEncoder(torch.uint8, "NCL", "random", seed=2**40 + 3),
]

# unknown="random" in every dtype and layout (uniform is the only mode uint8 lacks)
_ONE_HOT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.uint8)
RANDOM_ENCODERS = [
    OneHotEncoder(dtype, layout, "random", seed=seed)
    for dtype, seed in zip(_ONE_HOT_DTYPES, (0, 5, 2**62 + 1, 77), strict=True)
    for layout in ("NLC", "NCL")
]
RANDOM_PIPELINES = [
    [],
    [Sampler(40), ReverseComplement(p=0.5, seed=3), Mutator(0.2, seed=5)],
    [Mutator(0.3), Sampler(25, mode="center"), ReverseComplement()],
    [ReverseComplement(p=0.5), Sampler(30, mode="end"), Mutator(1.0, seed=4)],
]

PIPELINES = [
    [ReverseComplement(p=0.5), Mutator(0.01)],
    [Sampler(40), ReverseComplement(p=0.5, seed=3), Mutator(0.2, seed=5)],
    [Mutator(0.3), Sampler(25, mode="center"), ReverseComplement()],
    [ReverseComplement(p=1.0), ReverseComplement(p=0.3, seed=9), Sampler(30, mode="end")],
    [Sampler(100, mode="start"), Mutator(1.0), Sampler(7, seed=2)],
    [Mutator(0.0)],
    [ReverseComplement(p=0.0)],
    [Sampler(0)],
    [],
]


@pytest.mark.parametrize("encoder", ENCODERS, ids=repr)
@pytest.mark.parametrize(
    "steps", PIPELINES, ids=lambda s: "-".join(type(t).__name__ for t in s) or "none"
)
def test_compose_matches_the_transforms_one_by_one(steps, encoder, monkeypatch):
    transforms = steps + ([encoder] if encoder is not None else [])
    gen = torch.Generator().manual_seed(len(transforms))
    batch = _batch(random_reads(gen, 37, 90, alphabet=COMMON))
    want = _reference(transforms, batch, monkeypatch)
    plan = fused.fused_plan(transforms)
    if plan is not None:  # the fused path really runs (not a fallback)
        assert fused.run_fused(plan, batch) is not None
    assert_same_batch(Compose(transforms)(batch), want)


def _ragged_of(batch):
    """The padded batch as the fused op's ragged input: flat bytes, starts, lengths, width."""
    B, L = batch["sequences"].shape
    starts = torch.arange(B, dtype=torch.int64) * L
    flat = batch["sequences"].reshape(-1)
    return flat, batch["qualities"].reshape(-1), starts, batch["lengths"], L


@pytest.mark.parametrize("encoder", RANDOM_ENCODERS, ids=repr)
@pytest.mark.parametrize(
    "steps", RANDOM_PIPELINES, ids=lambda s: "-".join(type(t).__name__ for t in s) or "none"
)
def test_unknown_random_fuses_on_the_cpu_loop_and_the_torch_path(steps, encoder, monkeypatch):
    """One-hot unknown="random" after crops / reverse-complements / mutations, fused: the column
    of an unknown base is drawn at its position in the final read, as step by step."""
    transforms = steps + [encoder]
    gen = torch.Generator().manual_seed(len(steps) + 100)
    batch = _batch(random_reads(gen, 23, 70, alphabet=COMMON + b"NNNNnnnn"))
    want = _reference(transforms, batch, monkeypatch)
    assert want["sequences"].dtype == encoder.dtype
    plan = fused.fused_plan(transforms)
    assert plan is not None and plan.count == len(transforms) and plan.random
    assert plan.encoder.unknown == "random" and plan.encoder.seed == encoder.seed
    assert fused.run_fused(plan, batch) is not None  # the numba loop really runs
    assert_same_batch(Compose(transforms)(batch), want)
    # the fused op's torch implementation (no numba), on the same reads given ragged
    flat, quals, starts, lengths, width = _ragged_of(batch)
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        out, out_quals, lens = fused.run_plan_ragged(
            plan, flat, quals if plan.touches_qualities else None, starts, lengths, width,
            batch["index"], batch["epoch"],
        )  # fmt: skip
    assert torch.equal(out, want["sequences"]) and out.dtype == encoder.dtype
    if plan.touches_qualities:
        assert torch.equal(out_quals, want["qualities"])
    assert torch.equal(lens, want["lengths"].to(torch.int64))
    # the draws depend on the seed, the epoch and the index: another seed gives other columns
    other = [*steps, OneHotEncoder(encoder.dtype, encoder.layout, "random", seed=encoder.seed + 1)]
    assert not torch.equal(Compose(other)(batch)["sequences"], want["sequences"])


@pytest.mark.parametrize("case", edge_cases(long=300), ids=lambda c: c[0])
@pytest.mark.parametrize("quals", [True, False])
def test_edge_cases(case, quals, monkeypatch):
    _, reads, width = case
    transforms = [Sampler(64, seed=1), ReverseComplement(p=0.5), Mutator(0.25), OneHotEncoder()]
    batch = _batch(reads, width, quals=quals)
    assert_same_batch(Compose(transforms)(batch), _reference(transforms, batch, monkeypatch))
    transforms = [ReverseComplement(p=0.5), Mutator(0.5), IntegerEncoder()]
    assert_same_batch(Compose(transforms)(batch), _reference(transforms, batch, monkeypatch))
    random_unknowns = OneHotEncoder(unknown="random", seed=3)
    transforms = [Sampler(64, seed=1), ReverseComplement(p=0.5), random_unknowns]
    assert_same_batch(Compose(transforms)(batch), _reference(transforms, batch, monkeypatch))


STEP = st.one_of(
    st.builds(
        ReverseComplement, p=st.sampled_from([0.0, 0.5, 1.0, 0.999]), seed=st.integers(0, 2**63 - 1)
    ),
    st.builds(Mutator, rate=st.sampled_from([0.0, 0.05, 0.5, 1.0]), seed=st.integers(0, 2**40)),
    st.builds(
        Sampler,
        length=st.integers(0, 50),
        mode=st.sampled_from(["random", "start", "center", "end"]),
        seed=st.integers(0, 2**40),
    ),
)


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(STEP, max_size=4),
    encoder=st.sampled_from(ENCODERS),
    reads=st.lists(st.binary(max_size=60), max_size=12),
    extra=st.integers(0, 9),
    epoch=st.integers(0, 2**32 + 5),
)
def test_any_pipeline_on_any_bytes(steps, encoder, reads, extra, epoch):
    transforms = steps + ([encoder] if encoder is not None else [])
    width = max((len(r) for r in reads), default=0) + extra
    batch = _batch(reads, width, epoch=epoch)
    want = _one_by_one(transforms, batch)  # the ops, each on its own (numba loops)
    assert_same_batch(Compose(transforms)(batch), want)


def test_threads_split_reads_without_changing_bits(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    batch = _batch(random_reads(gen, 300, 120, alphabet=b"ACGTNacgt"))
    transforms = [Sampler(100), ReverseComplement(p=0.5), Mutator(0.1), OneHotEncoder()]
    want = _reference(transforms, batch, monkeypatch)
    monkeypatch.setattr(fused, "_MIN_BASES_PER_THREAD", 64)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        assert_same_batch(Compose(transforms)(batch), want)
    finally:
        torch.set_num_threads(threads)


def test_only_the_leading_fusable_steps_fuse(monkeypatch):
    gen = torch.Generator().manual_seed(5)
    batch = _batch(random_reads(gen, 20, 50, alphabet=b"ACGTN"))
    double = lambda b: {**b, "lengths": b["lengths"]}  # noqa: E731 - a plain callable step
    for transforms in (
        [ReverseComplement(p=0.5), Mutator(0.1), KmerEncoder(3, mode="ids")],
        [double, ReverseComplement(p=0.5), OneHotEncoder()],
        [Mutator(0.1), double, Sampler(10), IntegerEncoder()],
        [OneHotEncoder(), double],
    ):
        plan = fused.fused_plan(transforms)
        leading = 0
        for t in transforms:
            if type(t) in (ReverseComplement, Mutator, Sampler):
                leading += 1
            elif type(t) in (OneHotEncoder, IntegerEncoder):
                leading += 1
                break
            else:
                break
        assert (plan.count if plan else 0) == leading
        assert_same_batch(Compose(transforms)(batch), _reference(transforms, batch, monkeypatch))


def test_subclasses_are_not_fused():
    class Shout(ReverseComplement):
        def forward(self, batch):
            out = super().forward(batch)
            return {**out, "shouted": True}

    assert fused.fused_plan([Shout(), OneHotEncoder()]) is None
    gen = torch.Generator().manual_seed(6)
    batch = _batch(random_reads(gen, 5, 20))
    assert Compose([Shout(), OneHotEncoder()])(batch)["shouted"] is True


def test_bad_batches_raise_what_the_transforms_raise():
    gen = torch.Generator().manual_seed(7)
    batch = _batch(random_reads(gen, 4, 20, alphabet=b"ACGT"))
    pipeline = Compose([ReverseComplement(p=0.5), Mutator(0.1), OneHotEncoder()])
    no_index = {k: v for k, v in batch.items() if k != "index"}
    with pytest.raises(KeyError, match="needs batch\\['index'\\]"):
        pipeline(no_index)
    too_long = {**batch, "lengths": batch["lengths"] + 100}
    with pytest.raises(ValueError, match=r"lengths\[0\] = \d+ is outside \[0, L\]"):
        pipeline(too_long)
    negative = {**batch, "index": -batch["index"] - 1}
    with pytest.raises(ValueError, match="index must be >= 0"):
        pipeline(negative)
    encoded = OneHotEncoder()(batch)
    with pytest.raises(TypeError, match="needs byte sequences uint8"):
        pipeline(encoded)
    bad_epoch = {**batch, "epoch": -1}
    with pytest.raises(ValueError, match="epoch must be in"):
        pipeline(bad_epoch)


def test_numba_off_takes_the_step_by_step_path(monkeypatch):
    monkeypatch.setenv(NUMBA_ENV, "0")
    gen = torch.Generator().manual_seed(8)
    batch = _batch(random_reads(gen, 6, 30))
    plan = fused.fused_plan([Mutator(0.5), OneHotEncoder()])
    assert fused.run_fused(plan, batch) is None


def test_prefetch_is_callable_from_numba_loops():
    import numba

    prefetch = numba_prefetch()

    @numba.njit
    def total(a):
        s = 0
        for i in range(a.shape[0]):
            prefetch(a, i + 64)  # past the end: a prefetch never faults
            s += a[i]
        return s

    data = np.arange(100, dtype=np.uint8)
    assert total(data) == int(data.sum())
    asm = "".join(total.inspect_asm().values()).lower()
    if platform.machine() in ("x86_64", "AMD64"):
        assert "prefetcht0" in asm  # the hint really reaches the machine code


def test_a_numba_without_the_prefetch_intrinsic_gets_a_no_op(monkeypatch):
    from deepbiop_gpu.ops import _numba

    def unsupported(name):
        raise NotImplementedError(f"{name} is not supported by this numba")

    monkeypatch.setattr(_numba, "_prefetch_intrinsic", unsupported)
    _numba.numba_prefetch.cache_clear()
    try:
        prefetch = _numba.numba_prefetch()
        assert prefetch.__name__ == "no_prefetch"
        import numba

        @numba.njit
        def first(a):
            prefetch(a, 0)
            return a[0]

        assert first(np.array([7], np.uint8)) == 7
    finally:
        _numba.numba_prefetch.cache_clear()
    assert "prefetch" in repr(_numba.numba_prefetch())


# --- collate fused with the transform, straight from the dataset's buffers --------------


def _tag(batch):
    """A plain callable step (not fusable)."""
    return {**batch, "after": True}


@pytest.fixture(
    scope="module",
    params=[
        "fastq/illumina_novaseq_800reads.fastq",
        "fastq/ont_lambda_236reads_wrapped80.fastq.gz",
        "fasta/ncbi_28S_rRNA_570seqs_iupac.fasta",
    ],
)
def real_dataset(request, data_dir):
    return dg.Dataset(data_dir / request.param)


def _collate_then_transform(samples, transforms, **collate_kwargs):
    batch = dg.data.collate.Collate(**collate_kwargs)(samples)  # padding only (no transform)
    return _one_by_one(transforms, batch)


@pytest.mark.parametrize(
    "collate_kwargs", [{}, {"max_len": 50}, {"multiple_of": 1}, {"max_len": 0}]
)
@pytest.mark.parametrize(
    "transforms",
    [
        [ReverseComplement(p=0.5), Mutator(0.05), OneHotEncoder()],
        [Sampler(64, mode="random"), ReverseComplement(p=0.5), IntegerEncoder()],
        [Mutator(0.05)],  # qualities untouched: padded beside the fused bases
        [Mutator(0.05), KmerEncoder(3)],  # KmerEncoder runs after the fused pass
        [OneHotEncoder(layout="NCL"), _tag],
    ],
    ids=["rc-mut-onehot", "crop-rc-int", "mut", "mut-kmer", "onehot-then-callable"],
)
def test_loader_collate_fuses_the_transform(real_dataset, transforms, collate_kwargs, monkeypatch):
    pipeline = Compose(transforms)
    rng = np.random.default_rng(0)
    rows = rng.permutation(len(real_dataset))[:33]
    samples = real_dataset.__getitems__(rows)
    collate = dg.data.collate.Collate(**collate_kwargs)
    got = _collate_transform(collate, samples, pipeline, 0)
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        want = _collate_then_transform(samples, transforms, **collate_kwargs)
    got_names, want_names = list(got.pop("names")), list(want.pop("names"))
    assert got_names == want_names
    assert_same_batch(got, want)


def test_loader_batches_equal_unfused_batches(real_dataset, monkeypatch):
    transforms = [Sampler(80), ReverseComplement(p=0.5), Mutator(0.02), OneHotEncoder()]

    def epoch_batches():
        loader = dg.DataLoader(
            real_dataset, batch_size=16, shuffle=True, seed=3, transform=Compose(transforms)
        )
        loader.set_epoch(5)
        return list(loader)

    got = epoch_batches()
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        want = epoch_batches()
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        g, w = dict(g), dict(w)
        assert list(g.pop("names")) == list(w.pop("names"))
        assert_same_batch(g, w)


def test_dataset_transform_and_loader_transform_both_run(data_dir, monkeypatch):
    path = next(p for p in sorted((data_dir / "fastq").iterdir()) if p.suffix == ".fastq")
    ds_transform = Compose([ReverseComplement(p=0.5, seed=1), Sampler(30)])
    loader_transform = Compose([Mutator(0.1), OneHotEncoder()])
    ds = dg.Dataset(path, transform=ds_transform)
    samples = ds.__getitems__(np.arange(min(len(ds), 9)))
    got = _collate_transform(dg.default_collate, samples, loader_transform, 0)
    with monkeypatch.context() as m:
        m.setenv(NUMBA_ENV, "0")
        want = loader_transform(dg.default_collate(samples))
    got.pop("names"), want.pop("names")
    assert_same_batch(got, want)


def test_the_compiled_loop_is_reused_by_the_next_process():
    import subprocess
    import sys

    script = (
        "import torch, deepbiop_gpu as dg\n"
        "from deepbiop_gpu.ops._fused_cpu import fused_loop\n"
        "b = {'sequences': torch.tensor([list(b'ACGTN')], dtype=torch.uint8),\n"
        "     'lengths': torch.tensor([5]), 'index': torch.tensor([3])}\n"
        "out = dg.Compose([dg.Mutator(0.5), dg.OneHotEncoder()])(b)['sequences']\n"
        "print(sum(fused_loop.stats.cache_hits.values()), tuple(out.shape))\n"
    )
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
            for _ in range(2)]  # fmt: skip
    hits, shape = runs[1].stdout.split(maxsplit=1)
    assert shape.strip() == "(1, 5, 4)"
    assert int(hits) >= 1  # loaded from numba's on-disk cache, not compiled again


# --- one description of the plan: the transforms describe their own steps ----------------


def test_transforms_describe_their_steps():
    from deepbiop_gpu.ops._fused import FusedStep

    assert Sampler(40, mode="center", seed=3).fused_step() == FusedStep.crop(40, "center", 3)
    assert Mutator(1.0, seed=2).fused_step() == FusedStep.mutate(2**32, 2)
    assert ReverseComplement(p=0.5, seed=1).fused_step().value == 2**31
    assert OneHotEncoder(torch.float16, "NCL").fused_step().is_encoder
    assert not OneHotEncoder(seed=4).fused_step().random  # the seed of "zeros" draws nothing
    step = OneHotEncoder(torch.uint8, "NCL", "random", seed=4).fused_step()
    assert step == FusedStep.one_hot(torch.uint8, "NCL", "random", 4)
    assert step.random and step.seed == 4
    assert IntegerEncoder(pad_value=7).fused_step() == FusedStep.integer(7)
    assert KmerEncoder(3).fused_step() is None  # not fusable: the plan stops there
    plan = fused.fused_plan([Sampler(10), Mutator(0.1), OneHotEncoder(), Mutator(0.2)])
    assert plan.count == 3 and [s.kind for s in plan.steps] == ["crop", "mutate"]
    assert plan.encoder.kind == "one_hot"


def test_a_subclass_that_keeps_forward_fuses_and_one_with_its_own_step_uses_it(monkeypatch):
    class Tagged(Mutator):  # only adds an attribute: still the Mutator step
        tag = "x"

    class Twice(ReverseComplement):  # its own forward *and* its own fused step: fuses as two
        def forward(self, batch):
            return super().forward(super().forward(batch))

        def fused_step(self):  # the plan takes one step per transform: describe one of them
            return None

    assert fused.fused_plan([Tagged(0.1), OneHotEncoder()]).count == 2
    assert fused.fused_plan([Twice(), OneHotEncoder()]) is None
    gen = torch.Generator().manual_seed(9)
    batch = _batch(random_reads(gen, 9, 30))
    transforms = [Tagged(0.3), Twice(p=0.5), OneHotEncoder()]
    assert_same_batch(Compose(transforms)(batch), _reference(transforms, batch, monkeypatch))


def test_the_runner_is_not_imported_by_base_and_fused_does_not_know_the_classes():
    import ast
    import inspect

    from deepbiop_gpu.transforms import base

    def imported(module):
        tree = ast.parse(inspect.getsource(module))
        return {
            ("." * node.level) + (node.module or "")
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }

    assert not imported(base) & {".fused", ".compose", "deepbiop_gpu.transforms.fused"}
    assert not imported(fused) & {".augment", ".encoders", ".compose"}
