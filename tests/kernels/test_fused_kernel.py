"""The fused kernel (one launch: crop / reverse-complement / mutate steps + encoder, ragged in,
padded out) against the CPU fused loop (numba) and the torch ops one by one, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from batches import COMMON, random_reads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import deepbiop_gpu as dg
from deepbiop_gpu import Compose, IntegerEncoder, Mutator, OneHotEncoder, ReverseComplement, Sampler
from deepbiop_gpu.ops._dispatch import FORCE_TRITON_ENV
from deepbiop_gpu.ops._numba import NUMBA_ENV
from deepbiop_gpu.ops._fused import fused

GARBAGE = b"AcGtN"  # between and after the reads in the flat buffer: a kernel must never read it

ENCODERS = [
    None,
    OneHotEncoder(),
    OneHotEncoder(torch.float16, "NCL", "uniform"),
    OneHotEncoder(torch.bfloat16, "NLC", "uniform"),
    OneHotEncoder(torch.uint8, "NCL"),
    OneHotEncoder(torch.uint8),
    IntegerEncoder(),
    IntegerEncoder(pad_value=7),
    OneHotEncoder(unknown="random", seed=3),
]


def ragged(reads: list[bytes], gen: torch.Generator, base: int = 0):
    """``(sequences, qualities, starts, lengths)``: the reads in a flat buffer, shuffled,
    with garbage between them; ``starts`` counted from ``base``."""
    order = torch.randperm(len(reads), generator=gen).tolist()
    flat, starts = bytearray(GARBAGE), [0] * len(reads)
    for i in order:
        starts[i] = base + len(flat)
        flat += reads[i] + GARBAGE
    seqs = torch.tensor(list(flat), dtype=torch.uint8)
    quals = torch.randint(33, 75, seqs.shape, generator=gen, dtype=torch.uint8)
    lengths = torch.tensor([len(r) for r in reads], dtype=torch.int64)
    return seqs, quals, torch.tensor(starts, dtype=torch.int64), lengths


def steps_of(transforms):
    return [t.fused_step() for t in transforms]


def on_cpu(monkeypatch, numba: bool, *args, **kwargs):
    """``fused`` on the CPU path (numba loop, or the torch ops one by one)."""
    with monkeypatch.context() as m:
        m.setenv(FORCE_TRITON_ENV, "0")
        m.setenv(NUMBA_ENV, "1" if numba else "0")
        return fused(*args, **kwargs)


def assert_same(got, want):
    for g, w in zip(got, want, strict=True):
        if w is None:
            assert g is None
            continue
        g = g.cpu()
        assert g.dtype == w.dtype and g.shape == w.shape
        assert torch.equal(g, w)


def check(monkeypatch, device, seqs, quals, starts, lengths, width, steps, encoder, index, epoch):
    kwargs = dict(qualities=quals, index=index, epoch=epoch)
    want = on_cpu(monkeypatch, True, seqs, starts, lengths, width, steps, encoder, **kwargs)
    if not any(s.kind == "mutate" for s in steps) or seqs.numel() < 50_000:
        assert_same(on_cpu(monkeypatch, False, seqs, starts, lengths, width, steps, encoder, **kwargs), want)
    to = lambda t: None if t is None else t.to(device)  # noqa: E731
    got = fused(to(seqs), to(starts), to(lengths), width, steps, encoder,
                qualities=to(quals), index=to(index), epoch=epoch)  # fmt: skip
    assert_same(got, want)


STEP = st.one_of(
    st.builds(ReverseComplement, p=st.sampled_from([0.0, 0.5, 1.0]), seed=st.integers(0, 2**63 - 1)),
    st.builds(Mutator, rate=st.sampled_from([0.0, 0.3, 1.0]), seed=st.integers(0, 2**40)),
    st.builds(
        Sampler,
        length=st.integers(0, 30),
        mode=st.sampled_from(["random", "start", "center", "end"]),
        seed=st.integers(0, 2**40),
    ),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(STEP, max_size=4),
    encoder=st.sampled_from(ENCODERS),
    reads=st.lists(st.binary(max_size=40), max_size=6),
    extra=st.integers(-3, 5),
    epoch=st.integers(0, 2**32 + 5),
    quals=st.booleans(),
    seed=st.integers(0, 100),
)
def test_fused_kernel_equals_the_cpu_loop_on_any_plan(
    kdevice, monkeypatch, steps, encoder, reads, extra, epoch, quals, seed
):
    gen = torch.Generator().manual_seed(seed)
    seqs, qual_buf, starts, lengths = ragged(reads, gen)
    width = max(0, max((len(r) for r in reads), default=0) + extra)  # < a read: truncated
    index = torch.randint(0, 2**40, (len(reads),), generator=gen)
    check(monkeypatch, kdevice, seqs, qual_buf if quals else None, starts, lengths, width,
          steps_of(steps), encoder and encoder.fused_step(), index, epoch)  # fmt: skip


PLANS = {
    "crop-rc-mut-onehot": [Sampler(120, seed=1), ReverseComplement(p=0.5, seed=2), Mutator(0.05, seed=3)],
    "rc-mut-rc": [ReverseComplement(p=0.5), Mutator(0.2, seed=5), ReverseComplement(p=0.7, seed=1)],
    "none": [],
}


@pytest.mark.parametrize(
    "path, rows",
    [
        ("fastq/illumina_novaseq_800reads.fastq", 24),
        ("fastq/ont_lambda_236reads_wrapped80.fastq.gz", 3),
        ("fasta/ncbi_28S_rRNA_570seqs_iupac.fasta", 6),
    ],
    ids=["150bp", "ont", "fasta-no-qualities"],
)
@pytest.mark.parametrize("plan", list(PLANS), ids=str)
def test_fused_kernel_on_real_reads(kdevice, monkeypatch, data_dir, path, rows, plan):
    reads = dg.read(data_dir / path)
    pick = np.random.default_rng(1).permutation(len(reads))[:rows]
    offsets = reads.offsets
    starts = offsets[pick]
    lengths = offsets[pick + 1] - starts
    width = int(lengths.max())
    encoder = OneHotEncoder() if plan != "rc-mut-rc" else IntegerEncoder()
    check(monkeypatch, kdevice, reads.sequences, reads.qualities, starts, lengths, width,
          steps_of(PLANS[plan]), encoder.fused_step(), torch.as_tensor(pick, dtype=torch.int64), 4)  # fmt: skip


@pytest.mark.parametrize(
    "case, reads, width",
    [
        ("empty-batch", [], 8),
        ("zero-length-reads", [b"", b"", b"ACG"], 3),
        ("shorter-than-the-crop", [b"ACGT", b"G", b"TTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT"], 34),
        ("width-not-a-multiple-of-the-block", [b"ACGTN" * 205 + b"ACG", b"GT"], 1028),
    ],
)
def test_fused_kernel_edge_cases(kdevice, monkeypatch, case, reads, width):
    gen = torch.Generator().manual_seed(3)
    seqs, quals, starts, lengths = ragged(reads, gen)
    index = torch.arange(len(reads), dtype=torch.int64) * 7919
    transforms = [Sampler(16, mode="center"), ReverseComplement(p=0.5), Mutator(0.3)]
    if case == "width-not-a-multiple-of-the-block":
        transforms = [ReverseComplement(p=0.5), Mutator(0.01)]
    random_unknowns = OneHotEncoder(torch.float16, "NCL", "random", seed=2**62 + 9)
    for encoder in (None, OneHotEncoder(layout="NCL"), IntegerEncoder(), random_unknowns):
        check(monkeypatch, kdevice, seqs, quals, starts, lengths, width, steps_of(transforms),
              encoder and encoder.fused_step(), index, 1)  # fmt: skip


RANDOM_PLANS = {
    "none": [],
    "crop-rc-mut": [Sampler(20, seed=1), ReverseComplement(p=0.5, seed=2), Mutator(0.3, seed=3)],
    "mut-crop-end-rc": [Mutator(0.5, seed=4), Sampler(9, mode="end"), ReverseComplement()],
}


@pytest.mark.parametrize("plan", list(RANDOM_PLANS), ids=str)
@pytest.mark.parametrize("layout", ["NLC", "NCL"])
@pytest.mark.parametrize(
    "dtype, seed",
    [
        (torch.float32, 0),
        (torch.float16, 12),
        (torch.bfloat16, 2**40 + 1),
        (torch.uint8, 2**63 - 1),
    ],
    ids=str,
)
def test_fused_kernel_draws_random_unknowns_like_the_cpu(kdevice, monkeypatch, plan, layout, dtype,
                                                         seed):  # fmt: skip
    """One-hot ``unknown="random"`` as the kernel's encoder: each unknown base's column drawn at
    its output position (the final read's), equal to the numba loop and the torch ops."""
    gen = torch.Generator().manual_seed(7)
    reads = random_reads(gen, 7, 30, alphabet=COMMON + b"NNNNnn") + [b"", b"N", b"NNNNNNNNNNNNN"]
    seqs, quals, starts, lengths = ragged(reads, gen)
    index = torch.randint(0, 2**40, (len(reads),), generator=gen)
    encoder = OneHotEncoder(dtype, layout, "random", seed=seed).fused_step()
    width = int(lengths.max()) + 2
    check(monkeypatch, kdevice, seqs, quals, starts, lengths, width, steps_of(RANDOM_PLANS[plan]),
          encoder, index, 5)  # fmt: skip


def test_fused_kernel_offsets_beyond_2_gib(kdevice, monkeypatch, tmp_path):
    """Reads stored past byte 2**31 of a buffer: int64 offsets all the way to the load.

    The buffer is a sparse memory-mapped file (2 GiB + a few KiB of address
    space; only the pages holding the reads are ever touched), so the offsets
    are real: the kernel adds them to the buffer's address.
    """
    if kdevice.type != "cpu":
        pytest.skip("the sparse buffer lives in host memory")
    base = 2**31 + 12_345
    gen = torch.Generator().manual_seed(4)
    reads = random_reads(gen, 5, 60, alphabet=COMMON)
    small, small_q, starts, lengths = ragged(reads, gen)
    try:
        big = np.memmap(tmp_path / "big.bin", dtype=np.uint8, mode="w+", shape=(base + len(small),))
        big_q = np.memmap(tmp_path / "bigq.bin", dtype=np.uint8, mode="w+", shape=(base + len(small),))
    except (OSError, ValueError) as e:  # no sparse files here
        pytest.skip(f"cannot map a sparse 2 GiB file: {e}")
    big[base:] = small.numpy()
    big_q[base:] = small_q.numpy()
    seqs, quals = torch.from_numpy(big), torch.from_numpy(big_q)
    starts = starts + base
    assert int(starts.min()) > 2**31
    index = torch.arange(5, dtype=torch.int64)
    steps = steps_of([Sampler(50, seed=2), ReverseComplement(p=0.5), Mutator(0.2)])
    kwargs = dict(qualities=quals, index=index, epoch=2)
    want = on_cpu(monkeypatch, True, seqs, starts, lengths, 60, steps, None, **kwargs)
    # the same reads at small offsets give the same batch
    assert_same(want, on_cpu(monkeypatch, True, small, starts - base, lengths, 60, steps, None,
                             qualities=small_q, index=index, epoch=2))  # fmt: skip
    got = fused(seqs, starts, lengths, 60, steps, OneHotEncoder().fused_step(), **kwargs)
    want = on_cpu(monkeypatch, True, seqs, starts, lengths, 60, steps, OneHotEncoder().fused_step(),
                  **kwargs)  # fmt: skip
    assert_same(got, want)
    del seqs, quals, big, big_q


def test_compose_runs_the_fused_kernel_once(kdevice, monkeypatch):
    """Compose on a (forced-Triton / CUDA) batch: one launch of the fused kernel, same bits."""
    from deepbiop_gpu.kernels import fused as kernel_module

    gen = torch.Generator().manual_seed(5)
    reads = random_reads(gen, 9, 40, alphabet=COMMON)
    from batches import pack

    seqs, lengths = pack(reads)
    batch = {
        "sequences": seqs,
        "lengths": lengths.to(torch.int32),
        "qualities": torch.randint(33, 75, seqs.shape, generator=gen, dtype=torch.uint8),
        "index": torch.arange(9, dtype=torch.int64) + 100,
        "epoch": 3,
    }
    transforms = [Sampler(30), ReverseComplement(p=0.5), Mutator(0.1), OneHotEncoder()]
    with monkeypatch.context() as m:
        m.setenv(FORCE_TRITON_ENV, "0")
        m.setenv(NUMBA_ENV, "0")
        want = Compose(transforms[:-1])(batch)  # the torch ops, one by one
        want = transforms[-1](want)
    launches = []
    real = kernel_module.launch
    monkeypatch.setattr(kernel_module, "launch", lambda *a, **k: (launches.append(a[0]), real(*a, **k)))
    on_device = {k: v.to(kdevice) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    got = Compose(transforms)(on_device)
    assert len(launches) == 1
    for key in ("sequences", "qualities", "lengths"):
        assert torch.equal(got[key].cpu(), want[key]), key


def test_ragged_loader_batches_through_the_kernel_equal_padded_cpu_batches(kdevice, monkeypatch,
                                                                          data_dir):  # fmt: skip
    """The ragged feed's device side (the fused kernel) against the padded CPU loader."""
    if kdevice.type != "cpu":
        pytest.skip("the CUDA twin is benchmarks/_gpu_fused.py (ragged vs padded, identity)")
    ds = dg.data.dataset.Subset(dg.Dataset(data_dir / "fastq/illumina_novaseq_800reads.fastq"),
                                np.arange(0, 800, 20))  # fmt: skip
    transform = Compose([Sampler(100), ReverseComplement(p=0.5), Mutator(0.05), OneHotEncoder()])

    assert_ragged_feed_equals_padded(ds, transform, monkeypatch)


def test_resident_loader_batches_through_the_kernel_equal_host_batches(kdevice, monkeypatch,
                                                                       data_dir):  # fmt: skip
    """A resident dataset's batches (indices -> the fused kernel) against the host loader."""
    ds = dg.data.dataset.Subset(dg.Dataset(data_dir / "fastq/illumina_novaseq_800reads.fastq"),
                                np.arange(3, 800, 25))  # fmt: skip
    transform = Compose([ReverseComplement(p=0.5), Mutator(0.05), IntegerEncoder()])

    def epoch(data, device):
        loader = dg.DataLoader(data, batch_size=8, shuffle=True, seed=2, transform=transform,
                               device=device)  # fmt: skip
        return list(loader)

    resident = dg.data.dataset.Subset(ds.dataset.to(kdevice), ds.indices)
    got = epoch(resident, kdevice)
    with monkeypatch.context() as m:
        m.setenv(FORCE_TRITON_ENV, "0")
        want = epoch(ds, "cpu")
    for g, w in zip(got, want, strict=True):
        for key in ("sequences", "qualities", "lengths", "index"):
            assert torch.equal(g[key].cpu(), w[key]), key


def test_the_device_side_of_ragged_and_resident_batches_never_reads_device_values(
    kdevice, monkeypatch, data_dir
):
    """No ``.item()`` / ``.tolist()`` / ``.cpu()`` / ``nonzero`` / ``bool()`` on a batch's tensors
    while it is built on the device (each would be a host sync on CUDA): the kernel path is
    traced with those methods made to raise."""
    if kdevice.type != "cpu":
        pytest.skip("on CUDA, benchmarks/_gpu_fused.py runs the loaders in sync-debug mode")
    from deepbiop_gpu.data import staging

    ds = dg.Dataset(data_dir / "fastq/illumina_novaseq_800reads.fastq")
    ds = dg.data.dataset.Subset(ds, np.arange(0, 800, 40))
    transform = Compose([Sampler(100), ReverseComplement(p=0.5), Mutator(0.05), OneHotEncoder()])
    forbidden = ["item", "tolist", "cpu", "nonzero", "__bool__", "__int__", "numpy"]

    def guarded(materialize):
        def run(self, *args, **kwargs):
            with monkeypatch.context() as m:
                for name in forbidden:
                    def refuse(t, *a, _name=name, **k):
                        raise AssertionError(f"host read of a device value: Tensor.{_name}")
                    m.setattr(torch.Tensor, name, refuse)
                return materialize(self, *args, **kwargs)
        return run

    from deepbiop_gpu.data import resident as resident_module

    ragged = dg.DataLoader(ds, batch_size=8, transform=transform)
    ragged._use_ragged_feed(pin=False)
    resident = dg.data.dataset.Subset(ds.dataset.to("cpu"), ds.indices)
    loaders = (ragged, dg.DataLoader(resident, batch_size=8, transform=transform))
    for loader in loaders:  # once unguarded: the plan and its (host) tables are built once
        list(loader)
    for cls in (staging.RaggedBatch, resident_module.ResidentBatch):
        monkeypatch.setattr(cls, "materialize", guarded(cls.materialize))
    for loader in loaders:
        assert loader.feed in ("ragged", "resident")
        assert len(list(loader)) == 3


@pytest.mark.parametrize("encoding", ["bytes", "one_hot", "integer"])
def test_opcheck_on_the_kernel_path(kdevice, encoding):
    """The fake and the Triton path agree on shapes, dtypes and strides (torch.compile relies
    on it); the CPU paths are checked in tests/pipeline/test_fused_op.py."""
    from deepbiop_gpu.ops._fused import step_rows

    gen = torch.Generator().manual_seed(6)
    seqs, quals, starts, lengths = ragged([b"ACGTNacgt", b"", b"GATTACA" * 3], gen)
    rows = step_rows(steps_of([Sampler(12, seed=1), ReverseComplement(p=0.5), Mutator(0.2)]))
    dtype = {"bytes": torch.uint8, "integer": torch.int64}.get(encoding, torch.bfloat16)
    to = lambda t: t.to(kdevice)  # noqa: E731
    args = (to(seqs), to(quals), to(starts), to(lengths.to(torch.int32)), to(torch.arange(3) + 5),
            2, 21, rows, encoding, dtype, "NCL", "uniform", -1)  # fmt: skip
    torch.library.opcheck(torch.ops.deepbiop_gpu.fused.default, args)


# --- alphabets (issue 12): rna / protein encoders in the fused kernel ---------------------

ALPHABET_ENCODERS = [
    OneHotEncoder(alphabet="protein"),
    OneHotEncoder(torch.bfloat16, "NCL", "uniform", alphabet="protein"),
    OneHotEncoder(torch.uint8, "NLC", "random", seed=2**40 + 3, alphabet="protein"),
    IntegerEncoder(pad_value=-100, alphabet="protein"),
    OneHotEncoder(torch.float16, "NLC", "uniform", alphabet="rna"),
    OneHotEncoder(torch.float32, "NCL", "random", seed=5, alphabet="rna"),
    IntegerEncoder(alphabet="rna"),
]


@pytest.mark.parametrize("encoder", ALPHABET_ENCODERS, ids=repr)
def test_fused_kernel_encodes_other_alphabets_like_the_cpu(kdevice, monkeypatch, encoder):
    """Protein (a crop only: the nucleotide steps are refused) and rna (every step kind)."""
    from batches import PROTEIN

    gen = torch.Generator().manual_seed(11)
    protein = encoder.alphabet == "protein"
    alphabet = PROTEIN if protein else COMMON
    reads = random_reads(gen, 6, 45, alphabet=alphabet) + [b"", b"X", b"T" * 9, b"u" * 3]
    seqs, quals, starts, lengths = ragged(reads, gen)
    index = torch.randint(0, 2**40, (len(reads),), generator=gen)
    steps = [Sampler(20, seed=1)] if protein else [Sampler(30, seed=1), ReverseComplement(p=0.5),
                                                   Mutator(0.2, seed=4)]  # fmt: skip
    for plan in ([], steps):
        check(monkeypatch, kdevice, seqs, quals, starts, lengths, int(lengths.max()) + 3,
              steps_of(plan), encoder.fused_step(), index, 2)  # fmt: skip


def assert_ragged_feed_equals_padded(ds, transform, monkeypatch):
    """A shuffled epoch through the ragged feed (the fused kernel) equals the padded CPU
    epoch (no forced Triton), batch for batch and key for key."""

    def epoch(ragged):
        loader = dg.DataLoader(ds, batch_size=16, shuffle=True, seed=2, transform=transform)
        if ragged:
            loader._use_ragged_feed(pin=False)
        return list(loader)

    got = epoch(True)
    with monkeypatch.context() as m:
        m.setenv(FORCE_TRITON_ENV, "0")
        want = epoch(False)
    for g, w in zip(got, want, strict=True):
        for key in ("sequences", "qualities", "lengths", "index"):
            assert torch.equal(g[key], w[key]), key
