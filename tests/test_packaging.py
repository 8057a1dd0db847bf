"""The built wheel ships the kernels as deepbiop_gpu.kernels, never as a top-level package."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_layout(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("deepbiop_gpu-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert "kernels" not in tops
    assert "deepbiop_gpu/kernels/__init__.py" in names
    # every package directory of the source tree made it into the wheel
    for init in (ROOT / "deepbiop_gpu").rglob("__init__.py"):
        rel = init.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} missing from the wheel: add it to [tool.setuptools] packages"
    for kernel in (ROOT / "kernels").glob("*.py"):
        assert f"deepbiop_gpu/kernels/{kernel.name}" in names
    assert "deepbiop_gpu/py.typed" in names
    for data in (ROOT / "deepbiop_gpu" / "example_data").iterdir():
        if data.suffix != ".py" and data.is_file():
            assert f"deepbiop_gpu/example_data/{data.name}" in names


def test_editable_import_of_kernels():
    import deepbiop_gpu.kernels as k

    assert Path(k.__file__).resolve().parent == ROOT / "kernels"
