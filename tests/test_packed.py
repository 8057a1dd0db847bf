import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepbiop_gpu import PackedReads, Record, StringColumn, pad_ragged
from deepbiop_gpu.packed import _pad_ragged_numpy, _pad_ragged_torch

reads_st = st.lists(
    st.tuples(
        st.text(alphabet="abcXYZ_09:", min_size=0, max_size=8),
        st.binary(min_size=0, max_size=40),
    ),
    max_size=30,
)


def _pack(items, with_q=True):
    return PackedReads.from_records(
        [(n, s, bytes(reversed(s)) if with_q else None) for n, s in items]
    )


@given(reads_st)
@settings(max_examples=60, deadline=None)
def test_roundtrip_index_slice_pad(items):
    reads = _pack(items)
    assert len(reads) == len(items)
    assert reads.lengths.tolist() == [len(s) for _, s in items]
    for i, (name, seq) in enumerate(items):
        rec = reads[i]
        assert rec == Record(name, seq, bytes(reversed(seq)), "")
    assert [r.sequence for r in reads] == [s for _, s in items]
    padded, lengths = reads.pad(pad_value=7)
    width = max((len(s) for _, s in items), default=0)
    assert padded.shape == (len(items), width) and lengths.dtype == torch.int32
    for i, (_, seq) in enumerate(items):
        row = padded[i].numpy().tobytes()
        assert row == seq + b"\x07" * (width - len(seq))
    sub = reads[::-2]
    assert [r.sequence for r in sub] == [s for _, s in items][::-2]
    assert sub.names == [n for n, _ in items][::-2]


def test_fancy_index_bool_and_tensor():
    reads = _pack([("a", b"AC"), ("b", b"G"), ("c", b"TTT")])
    assert reads[torch.tensor([2, 0])].names == ["c", "a"]
    assert reads[np.array([False, True, True])].names == ["b", "c"]
    assert reads[-1].sequence == b"TTT"
    with pytest.raises(IndexError):
        reads[3]
    with pytest.raises(IndexError):
        reads[[0, 5]]


def test_pad_truncates_and_rounds():
    reads = _pack([("a", b"ACGTACGTAC"), ("b", b"G")])
    seqs, lengths = reads.pad(max_len=4)
    assert seqs.tolist() == [list(b"ACGT"), [ord("G"), 0, 0, 0]]
    assert lengths.tolist() == [4, 1]
    seqs, _ = reads.pad(multiple_of=8)
    assert seqs.shape == (2, 16)
    assert reads.pad_qualities(max_len=3)[0].tolist() == list(b"CAT")


def test_concat_and_equals():
    a = _pack([("a", b"AC"), ("b", b"")])
    b = _pack([("c", b"GGG")])
    both = PackedReads.concat([a, b])
    assert both.names == ["a", "b", "c"]
    assert both.equals(_pack([("a", b"AC"), ("b", b""), ("c", b"GGG")]))
    assert not both.equals(a)


def test_fasta_like_without_qualities():
    reads = PackedReads.from_records([("x", b"NNN", None)])
    assert reads.qualities is None and reads[0].quality is None
    with pytest.raises(ValueError, match="no qualities"):
        reads.pad_qualities()
    with pytest.raises(ValueError, match="every record or for none"):
        PackedReads.from_records([("x", b"A", b"I"), ("y", b"A", None)])


def test_validation_messages():
    with pytest.raises(TypeError, match="uint8"):
        PackedReads(torch.zeros(3, dtype=torch.int32), torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="end at len"):
        PackedReads(torch.zeros(3, dtype=torch.uint8), torch.tensor([0, 2]))


def test_pad_ragged_arbitrary_rows():
    buf = torch.tensor(list(b"AAAACCCGG"), dtype=torch.uint8)
    out = pad_ragged(buf, torch.tensor([7, 0]), torch.tensor([2, 4]), 3)
    assert out.tolist() == [list(b"GG") + [0], list(b"AAA")]
    assert pad_ragged(buf, torch.zeros(0, dtype=torch.int64), torch.zeros(0), 5).shape == (0, 5)


def test_string_column():
    col = StringColumn.from_strings(["α", "", "bc"])
    assert col.tolist() == ["α", "", "bc"] and col[0] == "α" and len(col) == 3
    assert StringColumn.concat([col, col[1:]]) == ["α", "", "bc", "", "bc"]


@given(st.lists(st.integers(0, 600), max_size=20), st.integers(0, 700), st.integers(0, 255))
@settings(max_examples=80, deadline=None)
def test_pad_ragged_paths_agree(lengths, width, pad_value):
    """The numpy path (CPU), its per-row variant (long rows) and the torch path (CUDA)."""
    gen = torch.Generator().manual_seed(len(lengths) + width)
    lengths_t = torch.tensor(lengths, dtype=torch.int64)
    data = torch.randint(0, 256, (int(lengths_t.sum()) + 5,), dtype=torch.uint8, generator=gen)
    ends = torch.cumsum(lengths_t, 0)
    perm = torch.randperm(len(lengths), generator=gen)  # rows in any order of the buffer
    starts, lengths_t = (ends - lengths_t)[perm], lengths_t[perm]
    expected = torch.full((len(lengths), width), pad_value, dtype=torch.uint8)
    for i, (a, m) in enumerate(zip(starts.tolist(), lengths_t.tolist())):
        m = min(m, width)
        expected[i, :m] = data[a : a + m]
    assert torch.equal(pad_ragged(data, starts, lengths_t, width, pad_value), expected)
    assert torch.equal(_pad_ragged_torch(data, starts, lengths_t, width, pad_value), expected)
    np_out = _pad_ragged_numpy(data.numpy(), starts.numpy(), lengths_t.numpy(), width, pad_value)
    assert torch.equal(torch.from_numpy(np_out), expected)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int16])
def test_pad_ragged_wide_rows_short_reads(dtype):
    """Windows wider than the mask table (and other dtypes) take the comparison path."""
    gen = torch.Generator().manual_seed(0)
    lengths = torch.randint(0, 40, (50,), generator=gen)
    data = torch.randint(1, 100, (int(lengths.sum()),), generator=gen).to(dtype)
    starts = torch.cumsum(lengths, 0) - lengths
    for pad in (0, 9):
        out = pad_ragged(data, starts, lengths, 3000, pad)
        assert out.shape == (50, 3000) and out.dtype == dtype
        for i in range(50):
            m = int(lengths[i])
            assert torch.equal(out[i, :m], data[starts[i] : starts[i] + m])
            assert bool((out[i, m:] == pad).all())
