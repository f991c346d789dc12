"""Progress displays: --no-progress hides every bar, the run's bar ends at the summary's
counts, generation shows one, and XRootD's exit-time warning is not printed."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from integration.toyproc import write_fileset

from hnl_coffea.cli import main

BAR_TEXT = ("Preprocessing", "Processing", "━")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path, refs = write_fileset(tmp_path_factory.mktemp("prog"), {"WZ": [90, 70], "HNL": [50]})
    return path, refs


def _run(path, tmp_path, *extra):
    args = ["run", str(path), "-o", str(tmp_path / "o.zip"), "--overwrite", "--chunksize", "40"]
    args += ["--processor", "integration.toyproc:ToyProcessor", *extra]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    return res.output


def test_no_progress_hides_every_bar(toy, tmp_path):
    out = _run(toy[0], tmp_path, "--executor", "iterative", "--no-progress")
    assert not any(t in out for t in BAR_TEXT), out


def test_run_bar_ends_at_the_summary_counts(toy, tmp_path):
    path, refs = toy
    out = _run(path, tmp_path, "--executor", "iterative")
    n_events = sum(r["entries"] for r in refs.values())
    assert f"3/3 files · {n_events:,}/{n_events:,} events" in out
    assert re.search(rf"files: 3 +chunks: \d+ +events: {n_events}\b", out), out
    assert "Preprocessing" not in out  # coffea's own bars, which count differently, are hidden


def test_generation_shows_progress(tmp_path):
    args = ["generate", "-n", "300", "-o", str(tmp_path / "g"), "--sample", "WZTo3LNu"]
    res = CliRunner().invoke(main, [*args, "--sample", "ZZTo4L"])
    assert res.exit_code == 0 and "generating" in res.output and "2/2 samples" in res.output
    res = CliRunner().invoke(main, [*args, "-o", str(tmp_path / "h"), "--no-progress"])
    assert res.exit_code == 0 and "generating" not in res.output


@pytest.mark.parametrize(
    "cmd", ["postprocess", "datacards", "report", "toys", "demo", "generate", "run"]
)
def test_every_command_takes_no_progress(cmd):
    res = CliRunner().invoke(main, [cmd, "--help"])
    assert "--no-progress" in res.output


_EXIT = "import torch.distributed; from XRootD import client; f = client.File()"


def test_xrootd_exit_warning_is_silenced():
    pytest.importorskip("XRootD")
    ours = subprocess.run(
        [sys.executable, "-c", "import hnl_coffea.cli; " + _EXIT], capture_output=True, text=True
    )
    assert "FutureWarning" not in ours.stderr, ours.stderr  # every root:// run ended with it
    assert json.dumps(ours.returncode) == "0"
