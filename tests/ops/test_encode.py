import pytest
import torch
from aot import compile_for_cuda
from batches import ALPHABETS, alphabet_cases, batches, edge_cases, pack, random_reads
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from naive.encode import encode as naive_encode

from deepbiop_gpu.ops import encode
from deepbiop_gpu.ops._encode import encode_torch


@pytest.mark.parametrize("alphabet", ALPHABETS)
@pytest.mark.parametrize("case", edge_cases() + alphabet_cases(), ids=lambda c: c[0])
def test_edge_cases(case, alphabet, device, cpu_path):
    _, reads, width = case
    seqs, lengths = pack(reads, width)
    expected = naive_encode(seqs, lengths, alphabet)
    got = encode(seqs.to(device), lengths.to(device), alphabet=alphabet)
    assert got.dtype == torch.uint8 and got.shape == seqs.shape
    assert torch.equal(got.cpu(), expected)
    assert torch.equal(encode_torch(seqs, lengths, alphabet), expected)


@pytest.mark.parametrize("alphabet", ALPHABETS)
@given(data=st.data())
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_alphabets_random_batches_match_naive(alphabet, data, cpu_path):
    seqs, lengths = data.draw(batches(alphabet=alphabet))
    assert torch.equal(encode(seqs, lengths, alphabet=alphabet), naive_encode(seqs, lengths, alphabet))


def test_alphabet_codes():
    seqs, lengths = pack([b"ACGTUacgtuN", b"MKWXBZJUO*-y"])
    assert encode(seqs, lengths, alphabet="rna")[0].tolist() == [0, 1, 2, 4, 3, 0, 1, 2, 4, 3, 4, 5]
    got = encode(seqs, lengths, alphabet="protein")[1].tolist()
    assert got == [10, 8, 18, 20, 20, 20, 20, 20, 20, 20, 20, 19]


@given(batches())
@settings(max_examples=150, deadline=None)
def test_random_batches_match_naive(batch):
    seqs, lengths = batch
    expected = naive_encode(seqs, lengths)
    assert torch.equal(encode(seqs, lengths), expected)
    assert torch.equal(encode(seqs, lengths.to(torch.int32)), expected)
    assert torch.equal(encode_torch(seqs, lengths), expected)


def test_large_random_batch(device, cpu_path):
    gen = torch.Generator().manual_seed(1)
    seqs, lengths = pack(random_reads(gen, 64, 700))
    expected = naive_encode(seqs, lengths)
    assert torch.equal(encode(seqs.to(device), lengths.to(device)).cpu(), expected)


def test_inputs_not_mutated():
    seqs, lengths = pack([b"acgtn", b"GG"])
    before = seqs.clone(), lengths.clone()
    encode(seqs, lengths)
    assert torch.equal(seqs, before[0]) and torch.equal(lengths, before[1])


def test_noncontiguous_input():
    seqs, lengths = pack([b"ACGTACGT", b"ttttgggg"])
    view = seqs[:, ::2]
    assert torch.equal(encode(view, lengths // 2), naive_encode(view.contiguous(), lengths // 2))


def test_bad_arguments():
    seqs, lengths = pack([b"ACGT", b"GG"])
    with pytest.raises(TypeError, match="seqs must be a uint8"):
        encode(seqs.int(), lengths)
    with pytest.raises(ValueError, match=r"seqs must have shape \[B, L\]"):
        encode(seqs[0], lengths)
    with pytest.raises(TypeError, match="lengths must be int32 or int64"):
        encode(seqs, lengths.float())
    with pytest.raises(ValueError, match=r"lengths must have shape \[B\]"):
        encode(seqs, lengths[:1])
    with pytest.raises(ValueError, match=r"lengths\[1\] = 5 is outside \[0, L\]"):
        encode(seqs, torch.tensor([4, 5]))
    with pytest.raises(ValueError, match=r"lengths\[0\] = -1"):
        encode(seqs, torch.tensor([-1, 2]))
    with pytest.raises(TypeError, match="seqs must be a torch.Tensor"):
        encode(b"ACGT", lengths)


def test_opcheck():
    seqs, lengths = pack([b"ACGTN", b"", b"gg"])
    torch.library.opcheck(torch.ops.deepbiop_gpu.encode.default, (seqs, lengths))
    for alphabet in ALPHABETS:
        torch.library.opcheck(torch.ops.deepbiop_gpu.encode.default, (seqs, lengths, alphabet))


@pytest.mark.parametrize("alphabet", ALPHABETS)
def test_kernel_compiles_for_cuda(alphabet):
    from deepbiop_gpu.kernels.encode import encode_kernel
    from deepbiop_gpu.ops._encode import pad_code
    from deepbiop_gpu.ops._tables import ALPHABET_IDS

    sig = {"seq_ptr": "*u8", "len_ptr": "*i64", "out_ptr": "*u8", "B": "i32", "L": "i32"}
    sig |= {"stride_s": "i32", "stride_o": "i32"}
    consts = {"ROWS": 16, "BLOCK_L": 256, "ALPHABET": ALPHABET_IDS[alphabet], "PAD": pad_code(alphabet)}
    sig |= {k: "constexpr" for k in consts}
    assert "cubin" in compile_for_cuda(encode_kernel, sig, consts).asm


def test_bad_alphabet():
    seqs, lengths = pack([b"ACGT"])
    with pytest.raises(ValueError, match="alphabet must be 'dna', 'rna' or 'protein', got 'DNA'"):
        encode(seqs, lengths, alphabet="DNA")


def test_compile_fullgraph(device):
    seqs, lengths = pack([b"ACGTNacgtn", b"", b"RYK"])
    seqs, lengths = seqs.to(device), lengths.to(device)
    fn = torch.compile(lambda s, n: encode(s, n).to(torch.int64) * 2, fullgraph=True, dynamic=True)
    assert torch.equal(fn(seqs, lengths), encode_torch(seqs, lengths).to(torch.int64) * 2)
    # a second shape reuses the dynamic graph
    s2, l2 = pack([b"A" * 33])
    assert torch.equal(fn(s2.to(device), l2.to(device)).cpu(), naive_encode(s2, l2).long() * 2)
