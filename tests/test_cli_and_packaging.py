"""The console entry point and the two import packages."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from hnl_coffea.cli import main

SUBCOMMANDS = ("generate", "run", "postprocess", "datacards", "train", "bench", "demo", "toys")


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
