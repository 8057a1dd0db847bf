"""The seeding contract: for one seed and epoch the model sees the same augmented reads
whatever num_workers, batch_size or device."""

import pytest
import torch

from deepbiop_gpu import Compose, DataLoader, Dataset, Mutator, ReverseComplement, Sampler


def _pipeline():
    return Compose([Sampler(64, seed=4), ReverseComplement(p=0.5, seed=5), Mutator(0.05, seed=6)])


def _epoch(ds, epoch=1, device="cpu", **kw):
    loader = DataLoader(ds, shuffle=True, seed=9, transform=_pipeline(), device=device, **kw)
    loader.set_epoch(epoch)
    reads, order = {}, []
    for batch in loader:
        assert batch["sequences"].device.type == torch.device(device).type
        for i, s, q, n in zip(batch["index"].tolist(), batch["sequences"].cpu(), batch["qualities"].cpu(),
                              batch["lengths"].tolist()):
            reads[i] = (bytes(s[:n].tolist()), bytes(q[:n].tolist()))
            order.append(i)
    return reads, order


@pytest.fixture(scope="module")
def fastq(data_dir):
    return Dataset(data_dir / "fastq" / "illumina_hiseq2500_pe_R1.fastq.gz")


def test_same_reads_whatever_workers_and_batch_size(fastq):
    reference, order = _epoch(fastq, batch_size=32, num_workers=0)
    assert sorted(reference) == list(range(len(fastq)))
    for kw in ({"batch_size": 32, "num_workers": 2}, {"batch_size": 100, "num_workers": 0},
               {"batch_size": 100, "num_workers": 2}):
        reads, other_order = _epoch(fastq, **kw)
        assert reads == reference, kw
        assert other_order == order  # shuffle order depends on seed and epoch only
    changed = _epoch(fastq, epoch=2, batch_size=100, num_workers=0)[0]
    assert changed != reference
    # the augmentation really did something, and only to bases
    original = fastq[0]
    assert reference[0][0] != bytes(original["sequence"][:64].tolist())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_and_cuda_give_the_same_reads(fastq):
    cpu, order = _epoch(fastq, batch_size=100, num_workers=0)
    cuda, cuda_order = _epoch(fastq, batch_size=100, num_workers=2, device="cuda")
    assert cuda == cpu and cuda_order == order
