"""Without a C compiler, Python headers or libcuda Triton cannot launch: the ops fall back.

Issue 17, finding 1.  Triton builds a C launcher at its first launch; where
that cannot work, the CUDA ops run their torch implementations (the same
bits) after one warning that says why and how to fix it.  The launch failure
is simulated with a launcher that raises what Triton raises; the preflight
with a patched ``shutil.which`` / ``sysconfig`` / ``ldconfig``.
"""

import importlib
import shutil
import subprocess
import sysconfig
import warnings
from types import SimpleNamespace

import pytest
import torch
from batches import pack, random_reads

from deepbiop_gpu import Mutator, OneHotEncoder, QualityModel, SimulateQualities, ops
from deepbiop_gpu.ops import _dispatch

pytest.importorskip("triton")

CUDA_LIKE = SimpleNamespace(device=torch.device("cuda"))  # use_triton only reads .device
NO_COMPILER = "Failed to find C compiler. Please specify via CC environment variable"


@pytest.fixture(autouse=True)
def fresh_state():
    _dispatch._reset_fallback()
    yield
    _dispatch._reset_fallback()


def _reads():
    gen = torch.Generator().manual_seed(17)
    seqs, lengths = pack(random_reads(gen, 6, 40))
    return seqs, lengths, torch.arange(6) * 3


# (kernel module, launcher, call of the public op)
CASES = {
    "encode": ("encode", "encode_triton", lambda s, n, i: ops.encode(s, n)),
    "integer": ("integer", "integer_triton", lambda s, n, i: ops.integer(s, n, pad_value=-7)),
    "one_hot": ("one_hot", "one_hot_triton", lambda s, n, i: ops.one_hot(s, n, layout="NCL")),
    "kmer_ids": ("kmer", "kmer_ids_triton", lambda s, n, i: ops.kmer_ids(s, n, 3, stride=2)),
    "kmer_counts": ("kmer", "kmer_counts_triton", lambda s, n, i: ops.kmer_counts(s, n, 2)),
    "reverse_complement": ("reverse_complement", "reverse_complement_triton",
                           lambda s, n, i: ops.reverse_complement(s, n)),
    "mutate": ("mutate", "mutate_triton", lambda s, n, i: ops.mutate(s, n, 0.2, 5, i, 1)),
    "crop": ("crop", "crop_triton",
             lambda s, n, i: ops.crop(s, n, 9, mode="random", seed=2, index=i, epoch=3)),
    "take_windows": ("crop", "take_windows_triton",
                     lambda s, n, i: ops.take_windows(s, i % 4, n.clamp(max=8), 8)),
    "bernoulli_gate": ("_random", "bernoulli_gate_triton",
                       lambda s, n, i: ops.bernoulli_gate(0.5, 4, i, 2)),
    "one_hot_random": ("one_hot", "one_hot_triton",
                       lambda s, n, i: ops.one_hot(s, n, unknown="random", seed=3, index=i)),
    "simulate_qualities": ("simulate_qualities", "simulate_qualities_triton",
                           lambda s, n, i: ops.simulate_qualities(n, QualityModel.normal(30, 4),
                                                                  5, i, epoch=1)),
    "fused": ("fused", "fused_triton",
              lambda s, n, i: ops.fused(s.reshape(-1), torch.arange(s.shape[0]) * s.shape[1], n,
                                        s.shape[1], [Mutator(0.2, seed=1).fused_step()],
                                        OneHotEncoder().fused_step(), index=i, epoch=1)),
    "mutate_phred": ("mutate", "mutate_triton",
                     lambda s, n, i: ops.mutate(s, n, "phred", 5, i, 1, scale=30.0,
                                                qualities=torch.full_like(s, 45))),
    "fused_quality": ("fused", "fused_triton",
                      lambda s, n, i: ops.fused(
                          s.reshape(-1), torch.arange(s.shape[0]) * s.shape[1], n, s.shape[1],
                          [SimulateQualities(QualityModel.uniform(0, 30), seed=2).fused_step(),
                           Mutator("phred", seed=1).fused_step()], index=i, epoch=1)),
}


def _as_tuple(x):
    return x if isinstance(x, tuple) else (x,)


def _force_triton(monkeypatch):
    # the kernel modules are imported first (not interpreted); the launcher is
    # replaced, so nothing runs under the interpreter
    monkeypatch.setenv(_dispatch.FORCE_TRITON_ENV, "1")
    monkeypatch.setenv("TRITON_INTERPRET", "1")


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_launcher_that_cannot_build_falls_back_to_torch_with_one_warning(name, monkeypatch):
    module, launcher, call = CASES[name]
    kernels = importlib.import_module(f"deepbiop_gpu.kernels.{module}")
    seqs, lengths, index = _reads()
    expected = call(seqs, lengths, index)  # the CPU path

    calls = []

    def cannot_build(*args, **kwargs):
        calls.append(args)
        raise RuntimeError(NO_COMPILER)

    monkeypatch.setattr(kernels, launcher, cannot_build)
    _force_triton(monkeypatch)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = call(seqs, lengths, index)
        second = call(seqs, lengths, index)
    assert calls, "the Triton launcher was not tried"
    said = [w for w in caught if "Triton cannot launch" in str(w.message)]
    assert len(said) == 1, [str(w.message) for w in caught]
    message = str(said[0].message)
    assert "Failed to find C compiler" in message and "gcc" in message and "CC" in message
    for got in (first, second):
        for a, b in zip(_as_tuple(got), _as_tuple(expected), strict=True):
            assert (a is None and b is None) or torch.equal(a, b)


def test_other_kernel_errors_propagate(monkeypatch):
    kernels = importlib.import_module("deepbiop_gpu.kernels.encode")

    def broken(*args):
        raise IndexError("a kernel bug")

    monkeypatch.setattr(kernels, "encode_triton", broken)
    _force_triton(monkeypatch)
    seqs, lengths, _ = _reads()
    with pytest.raises(IndexError, match="a kernel bug"):
        ops.encode(seqs, lengths)
    assert _dispatch._FALLBACK["reason"] is None


def test_a_failed_launch_sends_later_cuda_calls_to_torch():
    with pytest.warns(RuntimeWarning, match="building Triton's C launcher failed"):
        assert _dispatch.run_triton(_raise(subprocess.CalledProcessError(1, ["gcc", "x.c"]))) is None
    assert not _dispatch.use_triton(CUDA_LIKE)
    assert not _dispatch.triton_usable()


def _raise(error):
    def launcher():
        raise error

    return launcher


# --- the preflight -----------------------------------------------------------


@pytest.fixture
def good_host(monkeypatch, tmp_path):
    """A host where Triton could launch: gcc, Python.h and libcuda present."""
    include = tmp_path / "include"
    include.mkdir()
    (include / "Python.h").write_text("")
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("TRITON_LIBCUDA_PATH", str(tmp_path))
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: f"/usr/bin/{name}")
    real = sysconfig.get_paths
    monkeypatch.setattr(sysconfig, "get_paths", lambda *a, **k: {**real(*a, **k), "include": str(include)})
    monkeypatch.setattr(_dispatch, "_custom_build", lambda: False)
    return include


def test_preflight_passes_on_a_good_host(good_host):
    assert _dispatch.triton_preflight() is None
    assert _dispatch.triton_usable() and _dispatch.use_triton(CUDA_LIKE)


def test_preflight_finds_no_c_compiler(good_host, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    assert "no C compiler" in _dispatch.triton_preflight()
    with pytest.warns(RuntimeWarning, match="install a C compiler") as caught:
        assert not _dispatch.use_triton(CUDA_LIKE)
        assert not _dispatch.use_triton(CUDA_LIKE)
    assert len(caught) == 1
    assert not _dispatch.triton_usable()


def test_preflight_checks_cc(good_host, monkeypatch):
    monkeypatch.setenv("CC", "my-cc")
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "my-cc" else "/x")
    assert "CC=my-cc" in _dispatch.triton_preflight()


def test_preflight_finds_no_python_headers(good_host):
    (good_host / "Python.h").unlink()
    assert "Python headers" in _dispatch.triton_preflight()


def test_preflight_finds_no_libcuda(good_host, monkeypatch, tmp_path):
    monkeypatch.delenv("TRITON_LIBCUDA_PATH")
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path))
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: SimpleNamespace(stdout="libc.so.6 => /x\n"))
    assert "libcuda.so.1" in _dispatch.triton_preflight()
    _dispatch._reset_fallback()
    (tmp_path / "libcuda.so.1").write_text("")
    assert _dispatch.triton_preflight() is None
