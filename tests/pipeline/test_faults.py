"""Faults during an epoch: a worker killed, a truncated file in a shard, a cache rebuilt under a loader."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

import deepbiop_gpu as dg
from deepbiop_gpu.cache import Cache
from deepbiop_gpu.data.shutdown import WorkerDiedError

NOVASEQ = "fastq/illumina_novaseq_800reads.fastq"


def _same(a: list[dict], b: list[dict]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if set(x) != set(y):
            return False
        for k in x:
            same = torch.equal(x[k], y[k]) if isinstance(x[k], torch.Tensor) else x[k] == y[k]
            if not same:
                return False
    return True


class _KillOnce:
    """Collate that SIGKILLs worker 1 at its second batch, once (a marker file remembers)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker
        self.calls = 0

    def __call__(self, samples):
        info = torch.utils.data.get_worker_info()
        if info is not None and info.id == 1:
            self.calls += 1
            if self.calls == 2 and not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
        return dg.default_collate(samples)


def test_a_worker_killed_mid_epoch_raises_naming_it_and_loses_nothing(tmp_path, data_dir):
    ds = dg.Dataset(data_dir / NOVASEQ)
    reference = list(dg.DataLoader(ds, batch_size=50, shuffle=True, seed=1))
    loader = dg.DataLoader(ds, batch_size=50, shuffle=True, seed=1, num_workers=2,
                           collate_fn=_KillOnce(str(tmp_path / "killed")))
    got = []
    with pytest.raises(WorkerDiedError, match=r"worker 1 \(pid \d+, killed by signal 9\)") as err:
        for batch in loader:
            got.append(batch)
    assert f"{len(got)} batches were delivered" in str(err.value)
    assert _same(got, reference[: len(got)])  # a prefix: nothing skipped or repeated
    assert loader.epoch == 0  # the epoch did not complete; the next pass reruns it whole
    assert _same(list(loader), reference)


def test_a_truncated_file_in_a_worker_shard_raises_reads_error(tmp_path, data_dir):
    data = (data_dir / NOVASEQ).read_bytes()
    path = tmp_path / "cut.fastq"
    path.write_bytes(data[: data.index(b"\n+", int(len(data) * 0.8)) + 1])  # a record cut before its '+' line
    with pytest.raises(dg.FormatError) as expected:
        dg.read(path)
    stream = dg.IterableDataset(path, reads_per_chunk=64, shard_by="bytes")
    with pytest.raises(dg.FormatError) as got:
        list(dg.DataLoader(stream, batch_size=32, num_workers=2))
    assert str(expected.value) in str(got.value)


@pytest.mark.parametrize("workers", [0, 2])
def test_a_cache_rebuilt_during_an_epoch_is_read_to_its_end_then_reloaded(tmp_path, data_dir, workers):
    ds = dg.Dataset(data_dir / NOVASEQ, labels=["x"])
    target = Cache.save(ds, tmp_path / "reads.cache")
    cached = Cache.load(target)
    reference = list(dg.DataLoader(cached, batch_size=64, shuffle=True, seed=2))
    loader = dg.DataLoader(cached, batch_size=64, shuffle=True, seed=2, num_workers=workers)
    it = iter(loader)
    first = next(it)
    rebuild = textwrap.dedent(f"""
        import deepbiop_gpu as dg
        from deepbiop_gpu.cache import Cache
        other = dg.Dataset({str(data_dir / "fastq/sanger_454_wrapped_quality.fastq")!r}, labels=["y"])
        Cache.save(other, {str(target)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", rebuild], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rest = list(it)
    assert _same([first, *rest], reference)  # the old version, consistent, to the end of the epoch
    again = Cache.load(target)
    assert len(again) == 3 and again.classes == ["y"]  # the next load sees the new version


def test_names_not_yet_decompressed_come_from_the_version_that_was_opened(tmp_path, data_dir):
    ds = dg.Dataset(data_dir / NOVASEQ)
    target = Cache.save(ds, tmp_path / "reads.cache")
    reads = Cache.load(target).reads  # names are decompressed on first use
    Cache.save(dg.Dataset(data_dir / "fastq/sanger_454_wrapped_quality.fastq"), target)
    assert reads.names.tolist() == ds.reads.names.tolist()
    assert len(Cache.load(target).reads.names) == 3
