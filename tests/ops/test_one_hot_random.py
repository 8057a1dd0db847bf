"""one_hot(unknown="random"): a seeded A/C/G/T row for each unknown base, naive == torch == numba."""

import pytest
import torch
from batches import ALPHABETS, alphabet_cases, edge_cases, pack, random_reads
from naive.one_hot import one_hot as naive_one_hot

import deepbiop_gpu as dg
from deepbiop_gpu.ops import one_hot
from deepbiop_gpu.ops._philox import (
    NUMBA_ENV,
    STREAM_CROP,
    STREAM_MUTATE,
    STREAM_REVERSE_COMPLEMENT,
    STREAM_UNKNOWN_BASE,
)
from deepbiop_gpu.ops._one_hot import one_hot_random_torch

SETTINGS = [
    (torch.float32, "NLC"),
    (torch.bfloat16, "NCL"),
    (torch.uint8, "NLC"),
    (torch.float16, "NCL"),
]


def _index(B: int) -> torch.Tensor:
    return torch.arange(B, dtype=torch.int64) * 7919 + (1 << 33)  # high words too


@pytest.mark.parametrize("case", edge_cases(), ids=lambda c: c[0])
def test_edge_cases_match_naive(case, cpu_path):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = _index(seqs.shape[0])
    for dtype, layout in SETTINGS:
        kw = dict(seed=11, index=index, epoch=3)
        got = one_hot(seqs, lengths, dtype, layout, "random", **kw)
        assert got.dtype == dtype and got.is_contiguous()
        assert torch.equal(got, naive_one_hot(seqs, lengths, dtype, layout, "random", **kw)), (
            dtype,
            layout,
        )
        assert torch.equal(got, one_hot_random_torch(seqs, lengths, index, dtype, layout, 11, 3))


@pytest.mark.parametrize("alphabet", ["rna", "protein"])
@pytest.mark.parametrize("case", edge_cases(long=300) + alphabet_cases(long=300), ids=lambda c: c[0])
def test_alphabets_edge_cases_match_naive(case, alphabet, cpu_path):
    """rna / protein: an unknown byte gets column (word * C) >> 32 of its C columns."""
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    index = _index(seqs.shape[0])
    for dtype, layout in SETTINGS[:2]:
        kw = dict(seed=11, index=index, epoch=3, alphabet=alphabet)
        got = one_hot(seqs, lengths, dtype, layout, "random", **kw)
        assert got.dtype == dtype and got.is_contiguous()
        assert torch.equal(got, naive_one_hot(seqs, lengths, dtype, layout, "random", **kw))
        want = one_hot_random_torch(seqs, lengths, index, dtype, layout, 11, 3, alphabet)
        assert torch.equal(got, want)


def test_protein_random_columns_cover_all_twenty(cpu_path):
    seqs, lengths = pack([b"X" * 4000])
    got = one_hot(seqs, lengths, unknown="random", index=_index(1), seed=5, alphabet="protein")
    assert torch.equal(got.sum(-1), torch.ones(1, 4000))
    counts = got[0].sum(0)
    assert counts.shape == (20,) and bool((counts > 120).all()), counts  # ~200 each


def test_random_reads_match_naive_and_implementations_agree(monkeypatch):
    gen = torch.Generator().manual_seed(4)
    seqs, lengths = pack(random_reads(gen, 12, 90, alphabet=b"ACGTNnRYacgtu"))
    index = _index(12)
    want = naive_one_hot(
        seqs, lengths, torch.float32, "NLC", "random", seed=2**40 + 3, index=index, epoch=9
    )
    for env in ("0", "1"):
        monkeypatch.setenv(NUMBA_ENV, env)
        got = one_hot(seqs, lengths, unknown="random", seed=2**40 + 3, index=index, epoch=9)
        assert torch.equal(got, want), env


def test_every_unknown_base_gets_one_uniform_column(cpu_path):
    B, L = 64, 500
    seqs = torch.full((B, L), ord("N"), dtype=torch.uint8)
    seqs[:, ::7] = ord("A")
    lengths = torch.full((B,), L)
    out = one_hot(seqs, lengths, unknown="random", seed=1, index=torch.arange(B))
    assert out.sum(-1).eq(1).all()  # exactly one column per base, known or not
    assert out[:, ::7, 0].eq(1).all()  # known bases are untouched
    unknown = seqs != ord("A")
    counts = out[unknown].sum(0)  # per column, over ~27 k unknown bases
    expected = unknown.sum() / 4
    assert ((counts - expected).abs() < 0.03 * expected).all(), counts.tolist()


def test_depends_only_on_seed_epoch_index_position(cpu_path):
    seqs, lengths = pack([b"NNNNACGTNNNNNNNN", b"NNN", b"RYKMNNNNNNNNNNNNNNNNN"])
    index = torch.tensor([5, 9, 2**35])
    base = one_hot(seqs, lengths, unknown="random", seed=3, index=index, epoch=1)
    # another batch order and padding width: the same rows
    perm = torch.tensor([2, 0, 1])
    wide = torch.nn.functional.pad(seqs[perm], (0, 13))
    moved = one_hot(wide, lengths[perm], unknown="random", seed=3, index=index[perm], epoch=1)
    assert torch.equal(moved[:, : seqs.shape[1]], base[perm])
    assert moved[:, seqs.shape[1] :].eq(0).all()
    for kw in (dict(seed=4, epoch=1, index=index), dict(seed=3, epoch=2, index=index),
               dict(seed=3, epoch=1, index=index + 1)):  # fmt: skip
        assert not torch.equal(one_hot(seqs, lengths, unknown="random", **kw), base), kw


def test_stream_is_its_own():
    assert STREAM_UNKNOWN_BASE not in (STREAM_MUTATE, STREAM_CROP, STREAM_REVERSE_COMPLEMENT)
    assert 0 < STREAM_UNKNOWN_BASE < 256


def test_arguments_are_checked():
    seqs, lengths = pack([b"ACGN"])
    with pytest.raises(ValueError, match="needs index"):
        one_hot(seqs, lengths, unknown="random")
    with pytest.raises(ValueError, match="seed"):
        one_hot(seqs, lengths, unknown="random", index=torch.zeros(1, dtype=torch.int64), seed=-1)
    with pytest.raises(ValueError, match="index"):
        one_hot(seqs, lengths, unknown="random", index=torch.zeros(2, dtype=torch.int64))


def test_opcheck_and_compile():
    seqs, lengths = pack([b"ACGTNn", b"", b"RY"])
    index = torch.tensor([0, 1, 2**33])
    torch.library.opcheck(torch.ops.deepbiop_gpu.one_hot_random.default,
                          (seqs, lengths, index, torch.float32, "NLC", 5, 1))  # fmt: skip

    def f(s, n, i):
        return one_hot(s, n, unknown="random", seed=5, index=i, epoch=1, layout="NCL")

    fn = torch.compile(f, fullgraph=True)
    assert torch.equal(fn(seqs, lengths, index), f(seqs, lengths, index))


def test_encoder_is_random_and_fuses_as_the_final_step():
    from deepbiop_gpu.transforms.fused import fused_plan

    enc = dg.OneHotEncoder(unknown="random", seed=7)
    assert isinstance(enc, dg.OneHotEncoder) and enc.random and "seed=7" in repr(enc)
    assert repr(enc).startswith("OneHotEncoder(")
    plan = fused_plan([enc])  # fused: the loops and the kernel draw the same columns
    assert plan.count == 1 and plan.random and plan.encoder.seed == 7
    assert fused_plan([dg.Mutator(0.1), enc]).count == 2  # the augmentation and the encoder
    assert dg.Compose([dg.Mutator(0.1), enc]).random
    with pytest.raises(KeyError, match="needs batch\\['index'\\]"):
        enc({"sequences": torch.zeros(1, 3, dtype=torch.uint8), "lengths": torch.tensor([3])})


@pytest.mark.parametrize("numba_env", ["0", "1"])
def test_pipeline_with_random_unknowns_equals_step_by_step(data_dir, monkeypatch, numba_env):
    monkeypatch.setenv(NUMBA_ENV, numba_env)
    steps = [
        dg.ReverseComplement(p=0.5, seed=1),
        dg.Mutator(0.05, seed=2),
        dg.OneHotEncoder(unknown="random", seed=3),
    ]
    ds = dg.Dataset(data_dir / "fastq/iupac_misc_dna.fastq")
    rows = list(range(len(ds)))
    loader = dg.DataLoader(ds, batch_size=len(ds), transform=dg.Compose(steps))
    loader.set_epoch(4)
    got = next(iter(loader))
    batch = dg.default_collate(ds.__getitems__(dg.data.sampler.IndexBatch(rows, 4)))
    for step in steps:
        batch = step(batch)
    assert torch.equal(got["sequences"], batch["sequences"])
    bases = ds.reads.sequences
    known = torch.isin(bases | 0x20, torch.tensor(list(b"acgtu"), dtype=torch.uint8))
    assert (~known).sum() > 10  # the file has IUPAC codes and Ns to draw for
    x, lengths = got["sequences"], got["lengths"]
    valid = torch.arange(x.shape[1]) < lengths[:, None]
    assert x.sum(-1)[valid].eq(1).all() and x.sum(-1)[~valid].eq(0).all()
