import pytest
import torch
from naive.simulate_qualities import simulate_qualities as naive_simulate

from deepbiop_gpu import QualityModel, simulate_qualities
from deepbiop_gpu.ops._simulate_qualities import normal_table, simulate_qualities_torch

MODELS = [
    QualityModel.uniform(0, 93),
    QualityModel.uniform(7, 7),
    QualityModel.high_quality(),
    QualityModel.normal(1.0, 6.0),  # clipped at 0
    QualityModel.degrading(40.0, 3.0, 4.0),
    QualityModel.degrading(5.0, 90.0, 0.0),
]
CASES = [  # (lengths, width): empty batch, all length 0, length 1, ragged, width cuts / pads
    ([], None),
    ([], 6),
    ([0, 0, 0], 4),
    ([1, 1], None),
    ([0, 1, 5, 37, 130], None),
    ([9, 70], 40),
    ([3], 11),
]


@pytest.mark.parametrize("model", MODELS, ids=repr)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_kernel_matches_cpu_and_naive(model, case, kdevice):
    lens, width = case
    lengths = torch.tensor(lens, dtype=torch.int64)
    index = torch.arange(len(lens), dtype=torch.int64) * 7 + 2**40
    seed, epoch = 2**63 - 1, 2**33 + 3
    got = simulate_qualities(lengths.to(kdevice).int(), model, seed, index.to(kdevice), epoch,
                             width=width).cpu()  # fmt: skip
    cpu = simulate_qualities_torch(lengths, index, normal_table(torch.device("cpu")),
                                   *model.params(), seed, epoch,
                                   max(lens, default=0) if width is None else width)  # fmt: skip
    assert torch.equal(got, cpu)
    assert torch.equal(got, naive_simulate(lengths, model, seed, index, epoch, width))


def test_many_column_blocks_and_negative_lengths_clamped(kdevice):
    model = QualityModel.degrading(30.0, 10.0, 3.0)
    lengths = torch.tensor([5000, -4, 17])  # 1250 draws: two column blocks of 1024
    index = torch.tensor([0, 1, 2])
    got = torch.ops.deepbiop_gpu.simulate_qualities(lengths.to(kdevice), index.to(kdevice),
                                                    *model.params(), 5, 0, 5000).cpu()  # fmt: skip
    expected = naive_simulate(lengths.clamp(min=0), model, 5, index, 0, 5000)
    assert torch.equal(got, expected)
