"""Helpers of the cache and Parquet tests: the bundled files the reader accepts."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import deepbiop_gpu as dbg

DATA = Path(__file__).resolve().parents[1] / "data"


def readable_files() -> list[Path]:
    """Every file under tests/data that ``deepbiop_gpu.read`` accepts (malformed ones excluded)."""
    out = []
    for path in sorted(DATA.glob("*/*")):
        if path.suffix in (".md", ".fai", ".gzi", ".bai"):
            continue
        try:
            dbg.read(path)
        except (ValueError, OSError):
            continue
        out.append(path)
    return out


READABLE = readable_files()


@pytest.fixture
def copy_data(tmp_path):
    """Copy a bundled data file into tmp_path (tests may then modify the copy)."""

    def copy(name: str) -> Path:
        src = next(DATA.glob(f"*/{name}"))
        dst = tmp_path / "src" / name
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, dst)
        return dst

    return copy
