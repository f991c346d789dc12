"""The console entry point and the two import packages."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from hnl_coffea.cli import main

SUBCOMMANDS = (
    "generate", "run", "postprocess", "datacards", "report", "train", "bench", "demo", "toys",
)  # fmt: skip


def test_every_subcommand_has_help():
    runner = CliRunner()
    res = runner.invoke(main, ["--help"])
    assert res.exit_code == 0
    for cmd in SUBCOMMANDS:
        assert cmd in res.output
        sub = runner.invoke(main, [cmd, "--help"])
        assert sub.exit_code == 0, sub.output
        assert "Usage:" in sub.output and len(sub.output.splitlines()) > 3


def test_bad_config_override_is_one_line():
    res = CliRunner().invoke(main, ["generate", "--output", "x", "--set", "objects.tau.pt_min=abc"])
    if "not implemented" in res.output:
        return
    assert res.exit_code != 0
    assert "objects.tau.pt_min" in res.output
    assert "Traceback" not in res.output


def test_console_script_runs():
    out = subprocess.run(["hnl-coffea", "--version"], capture_output=True, text=True, check=True)
    assert "hnl-coffea" in out.stdout


def test_processors_importable_both_ways():
    import processors
    from hnl_coffea import processors as namespaced

    assert processors.__hnl_coffea__
    assert namespaced._resolve() is processors


def test_namespaced_processors_survive_a_clashing_module(tmp_path):
    (tmp_path / "processors.py").write_text("CLASH = True\n")
    code = (
        "import processors, hnl_coffea.processors as p; "
        "assert processors.CLASH; m = p._resolve(); "
        "assert m.__name__ == 'hnl_coffea._processors', m; "
        "assert m.__hnl_coffea__; print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_wheel_carries_every_data_file(tmp_path):
    """A wheel built from the repository holds all of data/ as hnl_coffea/_data (configs,
    corrections, models, lumi masks), so non-editable installs find their runtime files."""
    import zipfile
    from pathlib import Path

    import pytest

    root = Path(__file__).resolve().parents[1]
    pytest.importorskip("setuptools")
    import shutil

    src = tmp_path / "src"  # build from a copy: no build/ or egg-info left in the checkout
    src.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md", "hnl_coffea", "processors", "data"):
        copy = shutil.copytree if (root / name).is_dir() else shutil.copy
        copy(root / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if copy is shutil.copytree else {}))  # fmt: skip
    res = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    if res.returncode and "setuptools" in res.stderr and "77" in res.stderr:
        pytest.skip("this environment's setuptools is older than the build needs")
    assert res.returncode == 0, res.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("hnl_coffea-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [
        p for p in (root / "data").rglob("*") if p.is_file() and "__pycache__" not in p.parts
    ]
    assert shipped
    missing = [
        str(p) for p in shipped if f"hnl_coffea/_data/{p.relative_to(root / 'data')}" not in names
    ]
    assert not missing, missing[:5]
    assert "processors/hnl.py" in names and "hnl_coffea/py.typed" in names
