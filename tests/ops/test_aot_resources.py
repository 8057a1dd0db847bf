"""Registers, spills and store widths of the kernels at their real tile sizes (issue 17, finding 8/9).

Compiled ahead of time for sm_90 (no GPU needed) with the tile shapes the
launchers really use, then read with the ``cuobjdump`` bundled in the Triton
wheel (``STACK`` is local memory: spills) and from the PTX (vector widths).
"""

import pytest
from aot import compile_for_cuda, ptx_memory_ops, resource_usage

from deepbiop_gpu.kernels._config import tile_config

triton = pytest.importorskip("triton")


def _kmer_configs():
    from deepbiop_gpu.kernels.kmer import kmer_tile

    seen = {}
    for K in (6, 16, 24, 31, 32):
        for L in (150, 1000, 10_000):
            c = kmer_tile(L - K + 1, K)
            seen.setdefault((K, c.rows, c.block_l, c.num_warps), L)
    return sorted(seen)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
@pytest.mark.parametrize("K, rows, block, warps", _kmer_configs())
def test_kmer_ids_does_not_spill_at_its_real_tiles(K, rows, block, warps):
    from deepbiop_gpu.kernels.kmer import kmer_ids_kernel

    consts = {"K": K, "CANONICAL": True, "HASH": K == 32, "ROWS": rows, "BLOCK_W": block}
    types = {"seq_ptr": "*u8", "len_ptr": "*i32", "out_ptr": "*i64", "buckets": "i64"}
    sig = {a: "constexpr" if a in consts else types.get(a, "i32") for a in kmer_ids_kernel.arg_names}
    usage = resource_usage(compile_for_cuda(kmer_ids_kernel, sig, consts, num_warps=warps))
    assert all(stack == 0 for _, stack in usage), f"K={K} {rows}x{block}, {warps} warps: {usage}"


def _byte_kernel_signature(fn, consts, pointers):
    return {a: "constexpr" if a in consts else pointers.get(a, "i32") for a in fn.arg_names}


@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
@pytest.mark.parametrize("kernel", ["encode", "reverse_complement", "one_hot NCL", "one_hot NLC"])
def test_stores_are_vectorised_at_long_reads(kernel):
    """L = 10,000 with 16-byte aligned pointers and strides: 16-byte stores and loads (.v4).

    (At L = 10,008, not a multiple of 16, the same kernels store byte by byte:
    ``Collate(multiple_of=16)`` gives CUDA batches the wider stores.)
    """
    L = 10_000
    c = tile_config(L)
    divisible = ["seq_ptr", "len_ptr", "out_ptr", "L", "stride_s", "stride_o"]
    if kernel == "encode":
        from deepbiop_gpu.kernels.encode import encode_kernel as fn

        consts = {"ROWS": c.rows, "BLOCK_L": c.block_l, "ALPHABET": 0, "PAD": 5}
    elif kernel == "reverse_complement":
        from deepbiop_gpu.kernels.reverse_complement import reverse_complement_kernel as fn

        consts = {"HAS_APPLY": True, "COMPLEMENT": True, "ROWS": c.rows, "BLOCK_L": c.block_l}
        divisible.append("apply_ptr")
    else:
        from deepbiop_gpu.kernels.one_hot import ONE_HOT_TILE
        from deepbiop_gpu.kernels.one_hot import one_hot_kernel as fn

        c = tile_config(L, tile=ONE_HOT_TILE)
        ncl = kernel.endswith("NCL")
        consts = {"STRIDE_OL": 1 if ncl else 4, "ROWS": c.rows, "BLOCK_L": c.block_l,
                  "UNIFORM": False, "NCL": ncl, "RANDOM": False, "STREAM": 5,
                  "ALPHABET": 0, "NCOLS": 4, "NCOLS_P2": 4, "SHARE": 0.25}
        if not ncl:
            consts["stride_oc"] = 1
        divisible += ["stride_ob"] + (["stride_oc"] if ncl else [])
    pointers = {"seq_ptr": "*u8", "len_ptr": "*i32", "out_ptr": "*fp32" if "one_hot" in kernel
                else "*u8", "apply_ptr": "*u8", "idx_ptr": "*i64", "seed": "i64"}
    sig = _byte_kernel_signature(fn, consts, pointers)
    divisible = [a for a in divisible if a in sig and a not in consts]
    compiled = compile_for_cuda(fn, sig, consts, num_warps=c.num_warps, divisible=divisible)
    stores = ptx_memory_ops(compiled, "st.global")
    assert any(op.startswith("st.global.v4") for op in stores), sorted(set(stores))
    if kernel != "reverse_complement":  # rc reads each row backwards
        # the read-length mask is applied after the load (row_tile): the bytes come in vector
        # loads (16 bytes a thread; 8 for one_hot, whose tile gives a thread 8 bases)
        loads = ptx_memory_ops(compiled, "ld.global")
        assert any(op.startswith(("ld.global.v4", "ld.global.v2")) for op in loads), loads
        assert not any(op.endswith((".b8", ".u8")) for op in loads), sorted(set(loads))


@pytest.mark.filterwarnings("ignore:TRITON_DEFAULT_FP_FUSION")
def test_mutate_moves_bytes_in_vectors_at_long_reads():
    """The four Philox words of a draw are interleaved into one tile of contiguous positions.

    (Before: four stride-4 lanes, 32 ``ld.global.b8`` and 32 ``st.global.b8`` a thread.)
    """
    from deepbiop_gpu.kernels.mutate import DRAW_TILE, mutate_kernel
    from deepbiop_gpu.ops._philox import STREAM_MUTATE

    c = tile_config(10_000 // 4, tile=DRAW_TILE)
    consts = {"STREAM": STREAM_MUTATE, "ROWS": c.rows, "BLOCK_D": c.block_l, "PHRED": False}
    types = {"seq_ptr": "*u8", "len_ptr": "*i32", "idx_ptr": "*i64", "out_ptr": "*u8",
             "threshold": "i64", "seed": "i64"}
    sig = {a: "constexpr" if a in consts else types.get(a, "i32") for a in mutate_kernel.arg_names}
    divisible = ["seq_ptr", "len_ptr", "idx_ptr", "out_ptr", "L", "stride_s", "stride_o"]
    compiled = compile_for_cuda(mutate_kernel, sig, consts, num_warps=c.num_warps,
                                divisible=divisible)
    stores, loads = ptx_memory_ops(compiled, "st.global"), ptx_memory_ops(compiled, "ld.global")
    assert "st.global.b8" not in stores and any(s.startswith("st.global.v4") for s in stores), stores
    assert "ld.global.b8" not in loads and any(s.startswith("ld.global.v4") for s in loads), loads
    assert all(stack == 0 for _, stack in resource_usage(compiled))
