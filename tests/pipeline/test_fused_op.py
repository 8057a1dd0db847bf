"""The ``fused`` op: registered for torch.compile, its arguments checked, and its Triton kernel
compiling ahead of time for sm_80 and sm_90 in every encoder specialisation."""

from __future__ import annotations

import pytest
import torch
from aot import compile_for_cuda

from deepbiop_gpu import IntegerEncoder, Mutator, OneHotEncoder, ReverseComplement, Sampler
from deepbiop_gpu.ops._fused import FusedStep, fused, step_rows


def _ragged():
    flat = torch.tensor(list(b"ACGTNacgtRYGGGATTACA"), dtype=torch.uint8)
    starts = torch.tensor([0, 5, 12], dtype=torch.int64)
    lengths = torch.tensor([5, 4, 8], dtype=torch.int32)
    return flat, starts, lengths


STEPS = [Sampler(6, seed=1), ReverseComplement(p=0.5), Mutator(0.3, seed=2)]


@pytest.mark.parametrize(
    "encoder",
    [None, OneHotEncoder(layout="NCL"), IntegerEncoder(), OneHotEncoder(unknown="random", seed=9)],
    ids=repr,
)
def test_torch_compile_fullgraph_traces_the_fused_op(encoder):
    flat, starts, lengths = _ragged()
    quals = flat.flip(0).contiguous()
    index = torch.tensor([3, 1, 2], dtype=torch.int64)
    steps = [t.fused_step() for t in STEPS]
    enc = encoder and encoder.fused_step()

    def pipeline(flat, quals, starts, lengths, index):
        return fused(flat, starts, lengths, 8, steps, enc, qualities=quals, index=index, epoch=3)

    want = pipeline(flat, quals, starts, lengths, index)
    got = torch.compile(pipeline, fullgraph=True, backend="eager")(flat, quals, starts, lengths, index)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and torch.equal(g, w)
    rows = step_rows(steps)
    args = (flat, quals, starts, lengths, index, 3, 8, rows, "bytes", torch.uint8, "NLC", "zeros", 0)
    torch.library.opcheck(torch.ops.deepbiop_gpu.fused.default, args)


def test_fused_op_checks_its_arguments():
    flat, starts, lengths = _ragged()
    with pytest.raises(ValueError, match="random steps need index"):
        fused(flat, starts, lengths, 8, [Mutator(0.1).fused_step()])
    with pytest.raises(ValueError, match="random steps need index"):  # unknown="random" draws too
        fused(flat, starts, lengths, 8, encoder=OneHotEncoder(unknown="random").fused_step())
    with pytest.raises(ValueError, match="sequences must be uint8"):
        fused(flat.view(4, 5), starts, lengths, 8)
    with pytest.raises(ValueError, match="starts must be int64"):
        fused(flat, starts.int(), lengths, 8)
    with pytest.raises(ValueError, match="encoder must be a one_hot or integer step"):
        fused(flat, starts, lengths, 8, encoder=FusedStep.crop(3))
    out, quals, lens = fused(flat, starts, lengths, 6)
    assert quals is None and lens.tolist() == [5, 4, 6]
    assert [bytes(r) for r in out.tolist()] == [b"ACGTN\0", b"acgt\0\0", b"GGATTA"]


_POINTERS = {torch.float32: "*fp32", torch.bfloat16: "*bf16", torch.float16: "*fp16", torch.uint8: "*u8"}
ENCODER_SPECS = [("bytes", torch.uint8, "NLC", "zeros"), ("integer", torch.int64, "NLC", "zeros")] + [
    ("one_hot", dtype, layout, unknown)
    for dtype in _POINTERS
    for layout in ("NLC", "NCL")
    for unknown in ("zeros", "uniform", "random")
    if not (dtype == torch.uint8 and unknown == "uniform")
]


def _compile(spec, capability, steps, has_quals=True, alphabet="dna", simulate=0,
             only_missing=False):
    from deepbiop_gpu.kernels.fused import ENCODING_IDS, fused_kernel, kind_codes
    from deepbiop_gpu.ops._tables import ALPHABET_IDS

    encoding, dtype, layout, unknown = spec
    C = 20 if alphabet == "protein" else 4
    nsteps, kinds = kind_codes(step_rows(steps))
    out = "*i64" if encoding == "integer" else _POINTERS[dtype]
    sig = {name: "i32" for name in fused_kernel.arg_names}
    sig |= {"src_ptr": "*u8", "qsrc_ptr": "*u8", "start_ptr": "*i64", "len_ptr": "*i32",
            "idx_ptr": "*i64", "param_ptr": "*i64", "out_ptr": out, "qout_ptr": "*u8",
            "olen_ptr": "*i64", "epoch": "i64", "pad_value": "i64", "qthr_ptr": "*i64",
            "normal_ptr": "*i32", "sim_seed": "i64"}  # fmt: skip
    ncl = encoding == "one_hot" and layout == "NCL"
    consts = dict(
        NSTEPS=nsteps, KINDS=kinds, ENCODING=ENCODING_IDS[encoding], NCL=ncl,
        UNIFORM=unknown == "uniform", STRIDE_OL=C if encoding == "one_hot" and not ncl else 1,
        HAS_QUALS=has_quals, ROWS=8, BLOCK_L=128, RANDOM=unknown == "random",
        ALPHABET=ALPHABET_IDS[alphabet], NCOLS=C, NCOLS_P2=4 if C == 4 else 32,
        SHARE=0.25 if C == 4 else 0.050048828125,
        SIMULATE=simulate, ONLY_MISSING=only_missing,
    )  # fmt: skip
    sig |= {k: "constexpr" for k in consts}
    return compile_for_cuda(fused_kernel, sig, consts, capability)


@pytest.mark.slow
@pytest.mark.parametrize("capability", [80, 90])
@pytest.mark.parametrize("spec", ENCODER_SPECS, ids=lambda s: "-".join(map(str, s)))
def test_fused_kernel_compiles_for_cuda_in_every_encoder_specialisation(spec, capability):
    assert "cubin" in _compile(spec, capability, []).asm


@pytest.mark.slow
@pytest.mark.parametrize("alphabet", ["rna", "protein"])
@pytest.mark.parametrize(
    "spec",
    [("integer", torch.int64, "NLC", "zeros"), ("one_hot", torch.float32, "NLC", "uniform"),
     ("one_hot", torch.bfloat16, "NCL", "random"), ("one_hot", torch.uint8, "NLC", "random")],
    ids=lambda s: "-".join(map(str, s)),
)  # fmt: skip
def test_fused_kernel_compiles_for_cuda_with_other_alphabets(spec, alphabet):
    steps = [Sampler(50).fused_step()] if alphabet == "protein" else [Mutator(0.1).fused_step()]
    assert "cubin" in _compile(spec, 90, steps, alphabet=alphabet).asm


@pytest.mark.slow
@pytest.mark.parametrize("capability", [80, 90])
def test_fused_kernel_compiles_for_cuda_with_every_step_kind(capability):
    steps = [Sampler(50).fused_step(), ReverseComplement(p=0.5).fused_step(),
             Mutator(0.1).fused_step(), Sampler(20, mode="start").fused_step(),
             Sampler(10, mode="center").fused_step(), Sampler(5, mode="end").fused_step()]  # fmt: skip
    spec = ("one_hot", torch.bfloat16, "NLC", "uniform")
    assert "cubin" in _compile(spec, capability, steps, has_quals=True).asm
    spec = ("one_hot", torch.float32, "NCL", "random")  # the encoder's draws after every step
    assert "cubin" in _compile(spec, capability, steps, has_quals=True).asm


@pytest.mark.slow
@pytest.mark.parametrize("simulate, only_missing", [(0, False), (1, False), (2, True)])
def test_fused_kernel_compiles_for_sm90_with_the_quality_steps(simulate, only_missing):
    """Mutator(rate="phred") steps, and SimulateQualities first (uniform / normal model, every
    read or the reads without qualities), ahead of time for sm_90."""
    from deepbiop_gpu import Mutator, QualityModel, SimulateQualities

    model = QualityModel.uniform(0, 40) if simulate == 1 else QualityModel.high_quality()
    first = [SimulateQualities(model, only_missing=only_missing).fused_step()] if simulate else []
    steps = first + [Sampler(50).fused_step(), Mutator("phred").fused_step(),
                     ReverseComplement(p=0.5).fused_step(), Mutator("phred", scale=3.0).fused_step()]
    spec = ("one_hot", torch.float32, "NLC", "zeros")
    for has_quals in (True, False) if simulate else (True,):
        compiled = _compile(spec, 90, steps, has_quals, simulate=simulate, only_missing=only_missing)
        assert "cubin" in compiled.asm


@pytest.mark.slow
@pytest.mark.parametrize("length", [150, 10_000])
@pytest.mark.parametrize("simulate, only_missing", [(0, False), (1, False), (2, True)])
def test_fused_kernel_with_the_quality_steps_does_not_spill(length, simulate, only_missing):
    """At the tile the launcher picks: SimulateQualities (scan included) + crop + RC + phred
    mutate + one-hot float32 keep everything in registers (no stack)."""
    from aot import resource_usage

    from deepbiop_gpu import Mutator, QualityModel, SimulateQualities
    from deepbiop_gpu.kernels._config import tile_config
    from deepbiop_gpu.kernels.fused import ENCODING_IDS, FUSED_TILE, fused_kernel, kind_codes

    model = QualityModel.uniform(0, 40) if simulate == 1 else QualityModel.high_quality()
    first = [SimulateQualities(model, only_missing=only_missing).fused_step()] if simulate else []
    steps = first + [Sampler(100).fused_step(), ReverseComplement(p=0.5).fused_step(),
                     Mutator("phred").fused_step()]  # fmt: skip
    nsteps, kinds = kind_codes(step_rows(steps))
    cfg = tile_config(length, tile=FUSED_TILE)
    sig = {name: "i32" for name in fused_kernel.arg_names}
    sig |= {"src_ptr": "*u8", "qsrc_ptr": "*u8", "start_ptr": "*i64", "len_ptr": "*i64",
            "idx_ptr": "*i64", "param_ptr": "*i64", "out_ptr": "*fp32", "qout_ptr": "*u8",
            "olen_ptr": "*i64", "epoch": "i64", "pad_value": "i64", "qthr_ptr": "*i64",
            "normal_ptr": "*i32", "sim_seed": "i64"}  # fmt: skip
    consts = dict(NSTEPS=nsteps, KINDS=kinds, ENCODING=ENCODING_IDS["one_hot"], NCL=False,
                  UNIFORM=False, STRIDE_OL=4, HAS_QUALS=True, ROWS=cfg.rows, BLOCK_L=cfg.block_l,
                  RANDOM=False, SIMULATE=simulate, ONLY_MISSING=only_missing, ALPHABET=0,
                  NCOLS=4, NCOLS_P2=4, SHARE=0.25)  # fmt: skip
    sig |= {k: "constexpr" for k in consts}
    from aot import compile_for_cuda

    compiled = compile_for_cuda(fused_kernel, sig, consts, num_warps=cfg.num_warps)
    assert all(stack == 0 for _, stack in resource_usage(compiled))


@pytest.mark.slow
@pytest.mark.parametrize("random", [False, True], ids=["zeros", "random"])
@pytest.mark.parametrize("length", [150, 10_000])
def test_fused_kernel_does_not_spill_at_the_real_tile_sizes(length, random):
    """Every step kind and one-hot float32 out (unknown zeros / random), at the tiles the
    launcher picks: no local memory (spills would turn a bandwidth-bound kernel into a
    latency-bound one)."""
    import os
    import subprocess
    import tempfile

    triton = pytest.importorskip("triton")
    from deepbiop_gpu.kernels._config import tile_config
    from deepbiop_gpu.kernels.fused import FUSED_TILE, ENCODING_IDS, fused_kernel, kind_codes

    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    if not os.path.exists(tool):
        pytest.skip("this Triton bundles no cuobjdump")
    steps = [Sampler(100).fused_step(), ReverseComplement(p=0.5).fused_step(),
             Mutator(0.01).fused_step()]  # fmt: skip
    nsteps, kinds = kind_codes(step_rows(steps))
    cfg = tile_config(length, tile=FUSED_TILE)
    sig = {name: "i32" for name in fused_kernel.arg_names}
    sig |= {"src_ptr": "*u8", "qsrc_ptr": "*u8", "start_ptr": "*i64", "len_ptr": "*i64",
            "idx_ptr": "*i64", "param_ptr": "*i64", "out_ptr": "*fp32", "qout_ptr": "*u8",
            "olen_ptr": "*i64", "epoch": "i64", "pad_value": "i64", "qthr_ptr": "*i64",
            "normal_ptr": "*i32"}  # fmt: skip
    consts = dict(NSTEPS=nsteps, KINDS=kinds, ENCODING=ENCODING_IDS["one_hot"], NCL=False,
                  UNIFORM=False, STRIDE_OL=4, HAS_QUALS=True, ROWS=cfg.rows, BLOCK_L=cfg.block_l,
                  RANDOM=random, ALPHABET=0, NCOLS=4, NCOLS_P2=4, SHARE=0.25, SIMULATE=0,
                  ONLY_MISSING=False)
    sig |= {k: "constexpr" for k in consts}
    try:
        from triton.backends.compiler import GPUTarget
        from triton.compiler import ASTSource

        src = ASTSource(fn=fused_kernel, signature=sig, constexprs=consts)
    except (ImportError, TypeError) as e:
        pytest.skip(f"ahead-of-time compile API differs in triton {triton.__version__}: {e}")
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("interpreted functions do not compile")
    kernel = triton.compile(src, target=GPUTarget("cuda", 90, 32),
                            options={"num_warps": cfg.num_warps})  # fmt: skip
    with tempfile.NamedTemporaryFile(suffix=".cubin") as f:
        f.write(kernel.asm["cubin"])
        f.flush()
        usage = subprocess.run([tool, "-res-usage", f.name], capture_output=True, text=True).stdout
    assert "STACK:0" in usage and "LOCAL:0" in usage, usage
