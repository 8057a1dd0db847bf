"""Batch transforms: encoders, augmentations (qualities follow bases), Compose, compile."""

import math

import pytest
import torch
from batches import pack, random_reads

from deepbiop_gpu import (
    Compose,
    IntegerEncoder,
    KmerEncoder,
    Mutator,
    OneHotEncoder,
    ReverseComplement,
    Sampler,
    ops,
)

COMPLEMENT = bytes.maketrans(b"ACGTUacgtuRYKMBVDHrykmbvdh", b"TGCAAtgcaaYRMKVBHDyrmkvbhd")


def _batch(n=64, max_len=60, seed=0, epoch=0):
    gen = torch.Generator().manual_seed(seed)
    reads = random_reads(gen, n, max_len, alphabet=b"ACGTACGTNacgtRY")
    seqs, lengths = pack(reads, garbage=b"")
    quals = torch.randint(33, 74, seqs.shape, generator=gen, dtype=torch.uint8)
    quals[seqs == 0] = 0
    return {
        "sequences": seqs,
        "lengths": lengths.to(torch.int32),
        "qualities": quals,
        "index": torch.arange(100, 100 + n),
        "epoch": epoch,
        "names": [f"r{i}" for i in range(n)],
    }


def _rows(batch, key="sequences"):
    return [bytes(r[: int(n)].tolist()) for r, n in zip(batch[key], batch["lengths"])]


def test_encoders_match_ops():
    b = _batch()
    seqs, lengths = b["sequences"], b["lengths"]
    assert torch.equal(OneHotEncoder()(b)["sequences"], ops.one_hot(seqs, lengths))
    assert torch.equal(
        OneHotEncoder(torch.bfloat16, "NCL", "uniform")(b)["sequences"],
        ops.one_hot(seqs, lengths, dtype=torch.bfloat16, layout="NCL", unknown="uniform"),
    )
    assert torch.equal(IntegerEncoder(pad_value=9)(b)["sequences"], ops.integer(seqs, lengths, pad_value=9))
    assert torch.equal(KmerEncoder(3)(b)["sequences"], ops.kmer_counts(seqs, lengths, 3))
    assert torch.equal(
        KmerEncoder(4, mode="ids", stride=2, canonical=True)(b)["sequences"],
        ops.kmer_ids(seqs, lengths, 4, stride=2, canonical=True),
    )
    out = OneHotEncoder()(b)
    assert out["qualities"] is b["qualities"] and b["sequences"].dtype == torch.uint8  # input untouched


def test_reverse_complement_moves_qualities_with_bases():
    b = _batch()
    out = ReverseComplement(p=1.0)(b)
    for seq, qual, new_seq, new_qual in zip(_rows(b), _rows(b, "qualities"), _rows(out), _rows(out, "qualities")):
        assert new_seq == seq[::-1].translate(COMPLEMENT)
        assert new_qual == qual[::-1]


def test_reverse_complement_probability_is_seeded_per_read():
    b = _batch(n=2000, max_len=5)
    b["index"] = torch.arange(2000)
    t = ReverseComplement(p=0.3, seed=11)
    out = t(b)
    flipped = [o != s for o, s in zip(_rows(out), _rows(b)) if s != s[::-1].translate(COMPLEMENT)]
    rate = sum(flipped) / len(flipped)
    assert abs(rate - 0.3) < 5 * math.sqrt(0.3 * 0.7 / len(flipped))
    # the same read gets the same decision in any batch order
    perm = torch.randperm(2000, generator=torch.Generator().manual_seed(1))
    shuffled = {k: (v[perm] if isinstance(v, torch.Tensor) else v) for k, v in b.items()}
    again = t(shuffled)
    assert torch.equal(again["sequences"], out["sequences"][perm])
    # a new epoch draws again
    b2 = dict(b, epoch=1)
    assert not torch.equal(t(b2)["sequences"], out["sequences"])
    assert torch.equal(ReverseComplement(p=0.0)(b)["sequences"], b["sequences"])


def test_mutator_keeps_everything_but_some_bases():
    b = _batch(n=300, max_len=100)
    out = Mutator(0.2, seed=5)(b)
    assert torch.equal(out["lengths"], b["lengths"]) and torch.equal(out["qualities"], b["qualities"])
    changed = total = 0
    for old, new in zip(_rows(b), _rows(out)):
        for x, y in zip(old, new):
            if chr(x) in "ACGTacgt":
                total += 1
                changed += x != y
                assert chr(x).isupper() == chr(y).isupper() and chr(y).upper() in "ACGT"
            else:
                assert x == y
    assert abs(changed / total - 0.2) < 5 * math.sqrt(0.2 * 0.8 / total)
    assert torch.equal(Mutator(0.2, seed=5)(b)["sequences"], out["sequences"])
    assert not torch.equal(Mutator(0.2, seed=6)(b)["sequences"], out["sequences"])


@pytest.mark.parametrize("mode", ["random", "start", "center", "end"])
def test_sampler_crops_qualities_with_the_same_window(mode):
    b = _batch(n=200, max_len=80)
    out = Sampler(30, mode=mode, seed=3)(b)
    assert out["sequences"].shape == (200, 30)
    for seq, qual, new_seq, new_qual in zip(_rows(b), _rows(b, "qualities"), _rows(out), _rows(out, "qualities")):
        assert len(new_seq) == min(len(seq), 30) == len(new_qual)
        starts = [s for s in range(len(seq) - len(new_seq) + 1) if seq[s : s + len(new_seq)] == new_seq
                  and qual[s : s + len(new_seq)] == new_qual]
        assert starts, "window not found in the read with its qualities"
        if mode == "start":
            assert 0 in starts
        elif mode == "end":
            assert len(seq) - len(new_seq) in starts


def test_compose_applies_in_order_and_compiles_fullgraph():
    b = _batch(n=32, max_len=70)
    pipeline = Compose([Sampler(40, seed=1), ReverseComplement(p=0.5, seed=2), Mutator(0.05, seed=3),
                        OneHotEncoder(layout="NCL")])
    eager = pipeline(b)
    assert eager["sequences"].shape == (32, 4, 40) and len(pipeline) == 4
    manual = OneHotEncoder(layout="NCL")(Mutator(0.05, seed=3)(ReverseComplement(p=0.5, seed=2)(Sampler(40, seed=1)(b))))
    assert torch.equal(eager["sequences"], manual["sequences"])
    compiled = torch.compile(pipeline, fullgraph=True)
    got = compiled(b)
    assert torch.equal(got["sequences"], eager["sequences"]) and torch.equal(got["qualities"], eager["qualities"])


def test_clear_errors():
    b = _batch()
    with pytest.raises(TypeError, match="put augmentations before encoders"):
        Compose([OneHotEncoder(), Mutator(0.1)])(b)
    no_index = {k: v for k, v in b.items() if k != "index"}
    with pytest.raises(KeyError, match="needs batch\\['index'\\]"):
        Mutator(0.1)(no_index)
    ReverseComplement(p=1.0)(no_index)  # p=1 is not random: no index needed
    with pytest.raises(KeyError, match="no 'lengths'"):
        OneHotEncoder()({"sequences": b["sequences"]})
    for make, message in [
        (lambda: Mutator(1.5), "rate must be a number in \\[0, 1\\]"),
        (lambda: ReverseComplement(p=-0.1), "p must be a number in \\[0, 1\\]"),
        (lambda: Sampler(10, mode="middle"), "mode must be one of"),
        (lambda: Sampler(-1), "length must be a non-negative int"),
        (lambda: OneHotEncoder(layout="LNC"), "layout must be one of"),
        (lambda: OneHotEncoder(dtype=torch.uint8, unknown="uniform"), "cannot be stored in dtype uint8"),
        (lambda: KmerEncoder(3, mode="bags"), "mode must be 'counts' or 'ids'"),
        (lambda: KmerEncoder(0), "k"),
        (lambda: Mutator(0.1, seed=-1), "seed must be an int"),
        (lambda: Compose(Mutator(0.1)), "Compose takes a list"),
    ]:
        with pytest.raises((ValueError, TypeError), match=message):
            make()
