"""Public op functions and the modules that hold them have different names.

``deepbiop_gpu.ops.one_hot`` is the function; its module is
``deepbiop_gpu.ops._one_hot``.  No submodule of ``deepbiop_gpu.ops`` may
share a name with a public function, or ``import deepbiop_gpu.ops.<name>``
would replace the attribute with the module (and the function would
shadow the module).
"""

import importlib
import pkgutil

import pytest
import torch

import deepbiop_gpu
from deepbiop_gpu import ops

# public op function -> the module that defines it
OP_MODULES = {
    "bernoulli_gate": "_random_gate",
    "crop": "_crop",
    "encode": "_encode",
    "fused": "_fused",
    "integer": "_integer",
    "kmer_counts": "_kmer",
    "kmer_ids": "_kmer",
    "mutate": "_mutate",
    "one_hot": "_one_hot",
    "reverse_complement": "_reverse_complement",
    "simulate_qualities": "_simulate_qualities",
    "take_windows": "_crop",
}


@pytest.mark.parametrize("name", sorted(OP_MODULES))
def test_ops_attribute_is_the_op_function_defined_in_its_private_module(name):
    module = importlib.import_module(f"deepbiop_gpu.ops.{OP_MODULES[name]}")
    func = getattr(ops, name)
    assert callable(func) and not isinstance(func, type(ops))
    assert func is getattr(module, name)
    assert func.__module__ == module.__name__
    # importing the module by its full name does not replace the public function
    assert getattr(ops, name) is func


def test_every_public_op_is_listed_here():
    public_funcs = {n for n in ops.__all__ if callable(getattr(ops, n)) and not isinstance(getattr(ops, n), type)}
    assert public_funcs - {"triton_usable"} == set(OP_MODULES)


def test_no_ops_submodule_shares_a_public_name():
    submodules = {m.name for m in pkgutil.iter_modules(ops.__path__)}
    assert set(OP_MODULES.values()) <= submodules
    assert not submodules & set(ops.__all__)
    assert all(m.startswith("_") for m in submodules)
    for m in submodules:  # importing each one leaves every public name as it was
        importlib.import_module(f"deepbiop_gpu.ops.{m}")
    for name in ops.__all__:
        assert not isinstance(getattr(ops, name), type(ops)), name


def test_fused_step_and_registered_op_names_are_unchanged():
    assert deepbiop_gpu.FusedStep is ops.FusedStep
    assert importlib.import_module("deepbiop_gpu.ops._fused").FusedStep is ops.FusedStep
    assert deepbiop_gpu.simulate_qualities is ops.simulate_qualities
    for name in {"one_hot", "one_hot_random", *OP_MODULES}:
        assert hasattr(torch.ops.deepbiop_gpu, name), name
