"""simulate_qualities and QualityModel: the naive reference, the models' distributions, the
seeding contract, edge cases, torch.compile and the kernel's ahead-of-time CUDA compile."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest
import torch
from aot import compile_for_cuda
from naive.simulate_qualities import simulate_qualities as naive_simulate
from scipy import stats

from deepbiop_gpu import QualityModel, simulate_qualities
from deepbiop_gpu.ops._simulate_qualities import STREAM_SIMULATE_QUALITIES, normal_table

MODELS = {
    "uniform": QualityModel.uniform(2, 40),
    "uniform-one-value": QualityModel.uniform(93, 93),
    "normal": QualityModel.normal(30.0, 3.5),
    "high": QualityModel.high_quality(),
    "medium": QualityModel.medium_quality(),
    "clipped-low": QualityModel.normal(1.0, 5.0),
    "clipped-high": QualityModel.normal(92.0, 3.0),
    "sd-0-half": QualityModel.normal(20.5, 0.0),
    "degrading": QualityModel.degrading(38.0, 12.0, 4.0),
    "improving": QualityModel.degrading(10.0, 30.0, 2.0),
}

#: KS critical value at alpha = 0.001 is 1.949 / sqrt(n) (asymptotic; conservative for
#: discrete distributions). A fixed seed makes each test deterministic.
KS_ALPHA_001 = 1.949


def model_cdf(model: QualityModel, q: np.ndarray, mean: float | None = None) -> np.ndarray:
    """P(Q <= q) of the model: uniform on [min, max], or N(mean, sd) rounded and clipped."""
    if model.kind == "uniform":
        return np.clip((q - model.low + 1) / (model.high - model.low + 1), 0, 1)
    mu = model.start_mean if mean is None else mean
    if model.sd == 0:
        return (q >= min(max(math.floor(mu + 0.5), 0), 93)).astype(float)
    dist = NormalDist(mu, model.sd)
    out = np.array([dist.cdf(x + 0.5) for x in q])
    return np.where(q >= 93, 1.0, out)


def ks_distance(scores: np.ndarray, model: QualityModel, mean: float | None = None) -> float:
    q = np.arange(94)
    empirical = np.searchsorted(np.sort(scores), q, side="right") / len(scores)
    return float(np.abs(empirical - model_cdf(model, q, mean)).max())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_the_naive_reference(name):
    model = MODELS[name]
    lengths = torch.tensor([0, 1, 2, 3, 4, 5, 31, 64, 133])
    index = torch.tensor([5, 0, 2**40 + 3, 7, 2**33, 1, 9, 12, 2**62])
    for seed, epoch in ((0, 0), (2**63 - 1, 2**33 + 7), (12345, 3)):
        got = simulate_qualities(lengths, model, seed, index, epoch)
        assert torch.equal(got, naive_simulate(lengths, model, seed, index, epoch))
    wide = simulate_qualities(lengths.to(torch.int32), model, 4, index, 1, width=150)
    assert torch.equal(wide, naive_simulate(lengths, model, 4, index, 1, width=150))


@pytest.mark.parametrize("name", ["normal", "high", "medium", "clipped-low", "clipped-high"])
def test_normal_models_follow_their_distribution(name):
    model = MODELS[name]
    n_reads, length = 400, 250  # 100,000 draws
    q = simulate_qualities(torch.full((n_reads,), length), model, 7, torch.arange(n_reads))
    scores = (q.numpy().astype(np.int64) - 33).ravel()
    assert scores.min() >= 0 and scores.max() <= 93
    assert ks_distance(scores, model) < KS_ALPHA_001 / math.sqrt(scores.size)


def test_means_are_rounded_not_truncated():
    # DeepBioP truncates, which lowers a mean by 0.5; rounding keeps it
    for model, mean in ((QualityModel.high_quality(), 37.0), (QualityModel.medium_quality(), 28.0)):
        q = simulate_qualities(torch.full((400,), 250), model, 3, torch.arange(400))
        assert abs((q.double() - 33).mean().item() - mean) < 0.05
    half = simulate_qualities(torch.tensor([40]), MODELS["sd-0-half"], 0, torch.tensor([0]))
    assert half.unique().tolist() == [33 + 21]  # 20.5 rounds half up


def test_uniform_is_uniform_on_both_ends():
    model = MODELS["uniform"]
    q = simulate_qualities(torch.full((400,), 250), model, 11, torch.arange(400))
    scores = (q.numpy().astype(np.int64) - 33).ravel()
    counts = np.bincount(scores, minlength=94)
    assert counts[:2].sum() == 0 and counts[41:].sum() == 0 and counts[2:41].min() > 0
    chi2 = stats.chisquare(counts[2:41])
    assert chi2.pvalue > 0.001  # stated threshold: alpha = 0.001
    one = simulate_qualities(torch.tensor([9]), MODELS["uniform-one-value"], 1, torch.tensor([4]))
    assert one.tolist() == [[33 + 93] * 9]


@pytest.mark.parametrize("name", ["degrading", "improving"])
def test_degrading_mean_moves_linearly_first_to_last_base(name):
    model = MODELS[name]
    n_reads, length = 6000, 101
    q = simulate_qualities(torch.full((n_reads,), length), model, 5, torch.arange(n_reads))
    scores = q.numpy().astype(np.int64) - 33
    for pos in (0, 50, 100):
        mean = model.mean_at(pos, length)
        assert ks_distance(scores[:, pos], model, mean) < KS_ALPHA_001 / math.sqrt(n_reads)
    means = scores.mean(axis=0)
    expected = np.array([model.mean_at(i, length) for i in range(length)])
    assert np.abs(means - expected).max() < 0.25
    slope = np.polyfit(np.arange(length), means, 1)[0]
    assert slope == pytest.approx((model.end_mean - model.start_mean) / (length - 1), rel=0.02)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_numba_loop_and_torch_code_agree(name, monkeypatch):
    pytest.importorskip("numba")
    model = MODELS[name]
    gen = torch.Generator().manual_seed(1)
    lengths = torch.randint(0, 700, (300,), generator=gen)  # > 256 rows: several threads
    lengths[:3] = torch.tensor([0, 1, 2])
    index = torch.randint(0, 2**45, (300,), generator=gen)
    numba_out = simulate_qualities(lengths, model, 2**40 + 1, index, 9, width=650)
    monkeypatch.setenv("DEEPBIOP_GPU_NUMBA", "0")
    torch_out = simulate_qualities(lengths, model, 2**40 + 1, index, 9, width=650)
    assert torch.equal(torch_out, numba_out)


def test_seeding_contract_batch_size_order_and_width():
    model = QualityModel.degrading(35, 15, 5)
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(0, 300, (50,), generator=gen)
    index = torch.randint(0, 2**40, (50,), generator=gen)
    full = simulate_qualities(lengths, model, 9, index, 2, width=300)
    perm = torch.randperm(50, generator=gen)
    shuffled = simulate_qualities(lengths[perm], model, 9, index[perm], 2, width=300)
    assert torch.equal(shuffled, full[perm])
    for a, b in ((0, 1), (1, 17), (17, 50)):  # other batch sizes, own widths
        part = simulate_qualities(lengths[a:b], model, 9, index[a:b], 2)
        assert torch.equal(part, full[a:b, : part.shape[1]])
        assert not full[a:b, part.shape[1] :].any()
    assert not torch.equal(simulate_qualities(lengths, model, 9, index, 3, width=300), full)
    assert not torch.equal(simulate_qualities(lengths, model, 8, index, 2, width=300), full)
    # a narrower width cuts rows; the degrading mean still runs over the whole read
    assert torch.equal(simulate_qualities(lengths, model, 9, index, 2, width=40), full[:, :40])


def test_edge_cases():
    model = QualityModel.high_quality()
    none = torch.zeros(0, dtype=torch.int64)
    empty = simulate_qualities(none, model, 0, none)
    assert empty.shape == (0, 0) and empty.dtype == torch.uint8
    assert simulate_qualities(none.int(), model, 0, none, width=5).shape == (0, 5)
    zeros = simulate_qualities(torch.tensor([0, 0]), model, 0, torch.tensor([0, 1]), width=3)
    assert zeros.tolist() == [[0, 0, 0], [0, 0, 0]]
    assert simulate_qualities(torch.tensor([0, 0]), model, 0, torch.tensor([0, 1])).shape == (2, 0)
    steep = QualityModel.degrading(40, 2, 0)
    one = simulate_qualities(torch.tensor([1]), steep, 0, torch.tensor([0]))
    assert one.tolist() == [[33 + 40]]  # a 1-base read takes the start mean
    two = simulate_qualities(torch.tensor([2]), steep, 0, torch.tensor([0]))
    assert two.tolist() == [[33 + 40, 33 + 2]]


def test_argument_errors():
    lengths, index = torch.tensor([3]), torch.tensor([0])
    with pytest.raises(TypeError, match="QualityModel"):
        simulate_qualities(lengths, "high", 0, index)
    with pytest.raises(ValueError, match="lengths must be >= 0"):
        simulate_qualities(torch.tensor([-1]), QualityModel.high_quality(), 0, index)
    with pytest.raises(ValueError, match="index must be int64"):
        simulate_qualities(lengths, QualityModel.high_quality(), 0, index.int())
    with pytest.raises(TypeError, match="int32 or int64"):
        simulate_qualities(lengths.float(), QualityModel.high_quality(), 0, index)
    with pytest.raises(ValueError, match="width"):
        simulate_qualities(lengths, QualityModel.high_quality(), 0, index, width=-1)
    with pytest.raises(ValueError, match="seed"):
        simulate_qualities(lengths, QualityModel.high_quality(), -1, index)


def test_quality_model_builders_validate():
    assert QualityModel.high_quality() == QualityModel.normal(37, 2)
    assert QualityModel.medium_quality() == QualityModel.normal(28, 5)
    assert repr(QualityModel.degrading(30, 10, 2)) == (
        "QualityModel.degrading(start_mean=30.0, end_mean=10.0, sd=2.0)"
    )
    assert QualityModel.uniform(3, 5).params() == (0, 3, 3, 0, 0)
    assert QualityModel.degrading(30, 10, 2).params() == (1, 30 << 16, 20 << 16, -1, 2 << 16)
    for bad in ((5, 3), (-1, 3), (0, 94), (1.5, 3)):
        with pytest.raises(ValueError, match="min"):
            QualityModel.uniform(*bad)
    with pytest.raises(ValueError, match="sd must be >= 0"):
        QualityModel.normal(30, -1)
    with pytest.raises(ValueError, match="mean"):
        QualityModel.normal(float("nan"), 1)
    with pytest.raises(ValueError, match="start_mean"):
        QualityModel.degrading(1e9, 1, 1)


def test_normal_table_is_the_standard_normal():
    table = normal_table(torch.device("cpu"))
    assert table.dtype == torch.int32 and table.shape == (65536,)
    assert bool((table[1:] >= table[:-1]).all()) and int(table[32767] + table[32768]) == 0
    inv = NormalDist().inv_cdf
    for k in (0, 100, 32768, 65535):
        assert table[k].item() == round(inv((k + 0.5) / 65536) * 65536)


def test_compile_fullgraph():
    model = QualityModel.degrading(38, 20, 3)

    def fn(lengths, index):
        return simulate_qualities(lengths, model, 3, index, 1, width=64)

    lengths, index = torch.tensor([64, 10, 0]), torch.tensor([1, 2, 3])
    compiled = torch.compile(fn, fullgraph=True, backend="eager")
    assert torch.equal(compiled(lengths, index), fn(lengths, index))


@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
@pytest.mark.parametrize("normal", [True, False])
def test_kernel_compiles_for_cuda(normal):
    from deepbiop_gpu.kernels.simulate_qualities import simulate_qualities_kernel

    consts = {"NORMAL": normal, "STREAM": STREAM_SIMULATE_QUALITIES, "ROWS": 16, "BLOCK_D": 64}
    pointers = {"len_ptr": "*i32", "idx_ptr": "*i64", "table_ptr": "*i32", "out_ptr": "*u8"}
    wide = ("a", "b", "seed", "sd")
    signature = {
        a: "constexpr" if a in consts else pointers.get(a, "i64" if a in wide else "i32")
        for a in simulate_qualities_kernel.arg_names
    }
    assert compile_for_cuda(simulate_qualities_kernel, signature, consts).asm["cubin"]
