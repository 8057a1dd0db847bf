"""The examples in the public docstrings run and give what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "deepbiop_gpu.errors",
    "deepbiop_gpu.packed",
    "deepbiop_gpu.example_data",
    "deepbiop_gpu.data.collate",
    "deepbiop_gpu.data.sampler",
    "deepbiop_gpu.transforms.compose",
    "deepbiop_gpu.transforms.encoders",
    "deepbiop_gpu.transforms.augment",
    "deepbiop_gpu.ops._encode",
    "deepbiop_gpu.ops._one_hot",
    "deepbiop_gpu.ops._integer",
    "deepbiop_gpu.ops._kmer",
    "deepbiop_gpu.ops._reverse_complement",
    "deepbiop_gpu.ops._mutate",
    "deepbiop_gpu.ops._crop",
    "deepbiop_gpu.ops._random_gate",
    "deepbiop_gpu.ops._philox",
    "deepbiop_gpu.hdf5",
    "deepbiop_gpu.numpy_export",
    "deepbiop_gpu.quality_models",
    "deepbiop_gpu.ops._simulate_qualities",
    "deepbiop_gpu.transforms.quality",
    "deepbiop_gpu.ops._fused",
    "deepbiop_gpu.writers",
    "deepbiop_gpu.filters",
    "deepbiop_gpu.io.byte_range",
    "deepbiop_gpu._sharing",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
