"""The Triton launchers without a GPU: grids, device guard, compile keys (issue 17).

Every launcher is called with ``meta`` tensors (nothing is allocated) and its
kernel replaced by a recorder, which keeps the grid, the arguments and the
key the real JIT would compile them under (Triton's own specialisation
function).  Findings checked here:

* 2: every launch goes through ``kernels/_launch.launch`` (static scan), and
  the device guard sees the input's device;
* 6 / 12: any read length (300 M bases) and any batch size (10 M reads) fit
  CUDA's grid limits; past them the error names the right quantity;
* 10: the scalars that change during training (seed, epoch, the batch size of
  a short last batch, ...) do not make new compiles.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

triton = pytest.importorskip("triton")

import deepbiop_gpu.kernels  # noqa: E402
from deepbiop_gpu.kernels import _launch  # noqa: E402

KERNELS_DIR = Path(deepbiop_gpu.kernels.__file__).parent
GRID_LIMITS = (2**31 - 1, 65535, 65535)
LAUNCH_OPTIONS = {"num_warps", "num_stages", "num_ctas"}


def _specialize():
    """Triton's specialisation of one argument, or None where this Triton hides it."""
    try:
        from triton._C.libtriton import native_specialize_impl
        from triton.backends.compiler import BaseBackend
    except ImportError:
        return None

    def spec(value, specialize, align):
        return native_specialize_impl(BaseBackend, value, False, specialize, align)[0:2]

    return spec


class Recorder:
    """Stands in for a ``@triton.jit`` kernel: records grids, arguments and compile keys."""

    def __init__(self, real):
        self.real = real
        self.calls = []
        self.keys = set()

    def __getitem__(self, grid):
        def run(*args, **kwargs):
            self.calls.append((tuple(grid), args, kwargs))
            self.keys.add(self.key(args, kwargs))

        return run

    def key(self, args, kwargs):
        spec = _specialize()
        params = getattr(self.real, "params", None)
        if spec is None or params is None:
            return None
        options = {k: v for k, v in kwargs.items() if k in LAUNCH_OPTIONS}
        bound = inspect.signature(self.real.fn).bind(
            *args, **{k: v for k, v in kwargs.items() if k not in LAUNCH_OPTIONS}
        )
        bound.apply_defaults()  # as Triton's launcher does (one_hot's unknown="random" args)
        key = []
        for p in params:
            value = bound.arguments[p.name]
            if p.is_constexpr:
                key.append(("constexpr", value))
            elif isinstance(value, torch.Tensor):
                key.append((str(value.dtype), value.data_ptr() % 16 == 0))
            else:
                key.append(spec(value, not p.do_not_specialize,
                                not getattr(p, "do_not_specialize_on_alignment", False)))
        return tuple(key), tuple(sorted(options.items()))


KERNEL_NAMES = {
    "encode": ["encode_kernel"],
    "integer": ["integer_kernel"],
    "one_hot": ["one_hot_kernel"],
    "reverse_complement": ["reverse_complement_kernel"],
    "kmer": ["kmer_ids_kernel", "kmer_counts_kernel"],
    "mutate": ["mutate_kernel"],
    "crop": ["crop_kernel"],
    "_random": ["bernoulli_gate_kernel"],
}


@pytest.fixture
def recorders(monkeypatch):
    """Every kernel object replaced by a recorder; the device guard recorded too."""
    recs = {}
    for module, names in KERNEL_NAMES.items():
        m = importlib.import_module(f"deepbiop_gpu.kernels.{module}")
        for name in names:
            recs[name] = Recorder(getattr(m, name))
            monkeypatch.setattr(m, name, recs[name])
    guarded = []
    real_on_device = _launch.on_device

    def on_device(tensor):
        guarded.append(tensor.device)
        return real_on_device(tensor)

    monkeypatch.setattr(_launch, "on_device", on_device)
    recs["guarded"] = guarded
    return recs


def _meta(B, L, dtype=torch.uint8):
    return (torch.empty((B, L), dtype=dtype, device="meta"),
            torch.empty(B, dtype=torch.int64, device="meta"),
            torch.empty(B, dtype=torch.int64, device="meta"))


def _launch_all(B, L, *, epoch=0, seed=7):
    """Call every launcher once on a meta batch of ``B`` reads of width ``L``."""
    from deepbiop_gpu.kernels import _random, crop, encode, integer, kmer, mutate, one_hot
    from deepbiop_gpu.kernels import reverse_complement as rc

    seqs, lengths, index = _meta(B, L)
    encode.encode_triton(seqs, lengths)
    integer.integer_triton(seqs, lengths, -1)
    one_hot.one_hot_triton(seqs, lengths, torch.float32, "NCL", "zeros")
    one_hot.one_hot_triton(seqs, lengths, torch.float16, "NLC", "uniform")
    rc.reverse_complement_triton(seqs, lengths, None, True)
    kmer.kmer_ids_triton(seqs, lengths, 6, 1, True, None)
    kmer.kmer_ids_triton(seqs, lengths, 31, 2, True, 1 << 20)
    kmer.kmer_counts_triton(seqs, lengths, 4, False)
    mutate.mutate_triton(seqs, lengths, index, int(0.01 * 2**32), seed, epoch)
    crop.crop_triton(seqs, lengths, index, max(L - 3, 0), "random", seed, epoch)
    crop.take_windows_triton(seqs, index, lengths, max(L // 2, 0))
    _random.bernoulli_gate_triton(index, 2**31, seed, epoch, 3)


def _tiles(kwargs, B, width):
    rows = kwargs.get("ROWS", 1)
    block = next(v for k, v in kwargs.items() if k.startswith("BLOCK"))
    return -(-B // rows) * max(1, -(-width // block)) if "ROWS" in kwargs else -(-B // block)


# --- finding 2: one launch helper, which enters the tensors' device -----------


def test_every_kernel_launch_goes_through_the_launch_helper():
    """No ``X[grid](...)`` call in kernels/ outside _launch.py."""
    offenders = []
    for path in sorted(KERNELS_DIR.glob("*.py")):
        if path.name == "_launch.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Subscript):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, f"direct kernel launches (use _launch.launch): {offenders}"


def test_the_guard_sees_the_input_device(recorders):
    _launch_all(5, 150)
    launches = sum(len(r.calls) for k, r in recorders.items() if k != "guarded")
    assert launches == 12 and len(recorders["guarded"]) == launches
    assert all(d == torch.device("meta") for d in recorders["guarded"])


def test_launch_enters_the_cuda_device_of_the_tensors(monkeypatch):
    entered = []
    monkeypatch.setattr(torch.cuda, "device", lambda d: entered.append(d) or contextlib.nullcontext())
    with _launch.on_device(SimpleNamespace(device=torch.device("cuda:1"))):  # a cuda:1 tensor
        pass
    assert entered == [torch.device("cuda:1")]
    seen = []
    _launch.launch(_Kernel(seen), [4], 3, torch.empty(2, device="meta"), x=1)
    assert seen == [((4,), (3, torch.Size([2])), {"x": 1})] and len(entered) == 1


class _Kernel:
    def __init__(self, seen):
        self.seen = seen

    def __getitem__(self, grid):
        return lambda *a, **k: self.seen.append(
            (grid, tuple(x.shape if isinstance(x, torch.Tensor) else x for x in a), k))


# --- findings 6 and 12: grid limits -----------------------------------------


@pytest.mark.parametrize("B, L", [(1, 300_000_000), (10_000_000, 150), (3, 67_108_865)])
def test_grids_fit_cuda_limits(recorders, B, L):
    _launch_all(B, L)
    for name, rec in recorders.items():
        if name == "guarded":
            continue
        assert rec.calls, name
        for grid, args, kwargs in rec.calls:
            padded = grid + (1,) * (3 - len(grid))
            assert all(1 <= g <= lim for g, lim in zip(padded, GRID_LIMITS)), (name, grid)
            if name == "bernoulli_gate_kernel":
                assert grid[0] * kwargs["BLOCK"] >= B
                continue
            # the grid covers every tile of the batch: rows x column blocks
            bound = inspect.signature(rec.real.fn).bind_partial(*args)
            width = {"crop_kernel": "W", "kmer_ids_kernel": "W", "kmer_counts_kernel": "W"}.get(name)
            width = bound.arguments[width] if width else bound.arguments["L"]
            if name == "mutate_kernel":
                width = -(-width // 4)
            assert grid[0] == _tiles(kwargs, B, width), (name, grid)


def test_too_many_programs_say_which_quantity(recorders):
    from deepbiop_gpu.kernels import mutate

    seqs, lengths, index = _meta(2**21, 2**24)  # 2**21 rows x 4096 blocks of 1024 draws
    with pytest.raises(ValueError, match=r"B = 2097152 and L / 4 = 4194304 needs 8589934592 prog"):
        mutate.mutate_triton(seqs, lengths, index, 5, 1, 0)


# --- finding 10: no recompiles across epochs or a short last batch ------------


def test_one_compile_key_per_kernel_across_epochs_and_a_short_last_batch(recorders):
    if _specialize() is None or not hasattr(recorders["encode_kernel"].real, "params"):
        pytest.skip(f"triton {triton.__version__} does not expose its specialisation function")
    for epoch in range(4):
        for B in (256, 37):
            _launch_all(B, 152, epoch=epoch, seed=1 + epoch % 2)  # seeds 1 and 2 too
    several = {name: len(rec.keys) for name, rec in recorders.items()
               if name != "guarded" and len(rec.keys) != _distinct_calls(name)}
    assert not several, f"kernels compiled more than once per configuration: {several}"


def _distinct_calls(name):
    # _launch_all calls one_hot with two layouts and kmer_ids with two k: two configurations each
    return 2 if name in ("one_hot_kernel", "kmer_ids_kernel", "crop_kernel") else 1
