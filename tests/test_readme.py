"""The README's code runs as printed.

Every fenced ``bash``, ``python`` and ``json`` block of README.md is collected and each one is
run here on a small generated toy sample, with only the substitutions of :data:`SMALLER`
(sizes: events, toys) and :data:`LOCAL` (what needs the outside world). What cannot run inside
a test is checked elsewhere and said so in :data:`ELSEWHERE`: the install commands are what
``.ci/run`` executes literally, and ``pytest`` is this suite.

Fast tests: the fileset JSON, the library snippet (with ``models=False, systematics=False``,
as the README documents under it) and the batch-system commands up to job submission.
``pytest -m slow``: every shell command end to end.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from hnl_coffea.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

#: Sizes made small enough for a test (the command is otherwise unchanged).
SMALLER = {
    "--events 300000": "--events 6000",
    "--events 600000": "--events 12000",
    "--regressor-events 300000": "--regressor-events 0",
    "--eval-events 12000000": "--eval-events 60000",
    "--ntoys 10000": "--ntoys 200",
    "hnl-coffea demo": "hnl-coffea demo --events 6000",
}
#: Addresses that only exist at a real site: replaced by local stand-ins in the slow test.
LOCAL = {"tcp://scheduler.example.org:8786": "{scheduler}"}
#: Commands run outside this file (by .ci/run) or that are this file's own runner.
ELSEWHERE = ("python3 -m venv", "pytest")


def blocks(lang: str) -> list[str]:
    """The README's fenced blocks of one language, in order."""
    return [b for b in re.findall(rf"```{lang}\n(.*?)```", README.read_text(), re.S)]


def shell_commands() -> list[str]:
    """Each shell command of the README (continuation lines joined, comments dropped)."""
    out = []
    for block in blocks("bash"):
        for line in block.replace("\\\n", " ").splitlines():
            line = " ".join(re.sub(r"\s+#\s.*$", "", line).split())
            if line:
                out.append(line)
    return out


def test_every_block_is_covered():
    """A new kind of block fails here until this file runs it."""
    langs = set(re.findall(r"^```(\w*)$", README.read_text(), re.M)) - {""}
    assert langs <= {"bash", "python", "json"}, langs
    for cmd in shell_commands():
        head = cmd.split("&&")[-1].strip()
        assert cmd.startswith(ELSEWHERE) or head.startswith("hnl-coffea "), cmd


def test_install_commands_are_what_ci_runs():
    """.ci/run executes the README's test command literally (install steps, then pytest)."""
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'eval "$install"' in ci and "readme_commands.py install-tests" in ci
    out = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "readme_commands.py"), "install-tests"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    demo, tests = (c for c in shell_commands() if c.startswith("python3 -m venv"))
    assert tests == out + " && pytest"
    cpu = "nvidia-smi -L >/dev/null 2>&1 || pip install torch --index-url https://download.pytorch.org/whl/cpu"
    for cmd in (demo, tests):  # the CPU build of torch where no GPU is present, then hnl-coffea
        assert cpu in cmd and cmd.index(cpu) < cmd.index("pip install -e")


def test_fileset_json_is_valid(cfg, tmp_path):
    """Each fileset JSON of the README passes the strict metadata checks as printed."""
    from hnl_coffea.fileset import load_fileset

    texts = blocks("json")
    assert texts
    for i, text in enumerate(texts):
        path = tmp_path / f"fileset{i}.json"
        path.write_text(text)
        fs = load_fileset(path, redirector="root://cms-xrd-global.cern.ch//", cfg=cfg)
        for spec in fs.values():
            assert all(f.startswith(("root://", "/")) for f in spec["files"])
            md = spec["metadata"]
            assert md["is_data"] or md["xsec"] > 0
            assert md["era"] in cfg.eras


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A small toy fileset.json (one background, one signal) in its own folder."""
    folder = tmp_path_factory.mktemp("readme")
    res = CliRunner().invoke(
        main,
        ["generate", "-n", "400", "-o", str(folder), "--sample", "WZTo3LNu", "--sample",
         "HNL_M300", "--signal-fraction", "0.5"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return folder


def test_library_snippet_runs(sample, monkeypatch):
    """The README's Python block, executed as printed except for the documented fast options."""
    (code,) = blocks("python")
    fast = code.replace("HNLProcessor(cfg)", "HNLProcessor(cfg, models=False, systematics=False)")
    assert fast != code
    monkeypatch.chdir(sample)
    scope: dict = {}
    exec(compile(fast, str(README), "exec"), scope)
    from hnl_coffea.outputs import load_output

    saved = load_output(sample / "my_output.zip")
    files = json.loads((sample / "fileset.json").read_text())
    for ds, spec in files.items():  # every event of every file processed, by both paths
        n = spec["metadata"]["user"]["n_events"]
        assert sum(saved["processed"][ds].values()) == n
        assert sum(scope["out"]["processed"][ds].values()) == n
    assert set(saved["hists"]) == set(scope["out"]["hists"])


def _batch_commands() -> list[str]:
    return [c for c in shell_commands() if " --cluster " in c or " --site " in c
            or " --scheduler " in c]  # fmt: skip


@pytest.mark.parametrize("cmd", _batch_commands())
def test_batch_commands_reach_submission(cmd, sample, monkeypatch, tmp_path):
    """The batch-system commands parse and build their job script (nothing is submitted)."""
    import hnl_coffea.runner as runner
    from hnl_coffea.executors import make_jobqueue_cluster

    seen = {}

    def fake_run(proc, fileset, run_opts, exe_opts):
        seen["opts"] = exe_opts
        if exe_opts.cluster:
            cluster = make_jobqueue_cluster(exe_opts)
            try:
                seen["script"] = cluster.job_script()
            finally:
                cluster.close()
        raise runner.RunError("stopped before submission")

    monkeypatch.setattr(runner, "run_fileset", fake_run)
    monkeypatch.setenv("X509_USER_PROXY", str(tmp_path / "x509up"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").symlink_to(ROOT / "data")
    shutil.copy(sample / "fileset.json", tmp_path / "fileset.json")
    args = shlex.split(cmd)[1:]
    res = CliRunner().invoke(main, args)
    assert "stopped before submission" in res.output, res.output
    opts = seen["opts"]
    if "--cluster" in args:
        assert opts.cluster == args[args.index("--cluster") + 1]
        assert f"export X509_USER_PROXY={tmp_path / 'x509up'}" in seen["script"]
    if "--scheduler" in args:
        assert opts.scheduler == args[args.index("--scheduler") + 1]


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_every_shell_command_runs(sample, tmp_path):
    """Each ``hnl-coffea`` command of the README, in order, in one folder, as a user would."""
    from distributed import LocalCluster

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(sample / "fileset.json", work / "fileset.json")
    shutil.copy(sample / "fileset.json", work / "my_skim_fileset.json")
    shutil.copytree(ROOT / "data" / "site", work / "data" / "site")
    env = {
        **__import__("os").environ,
        "HNL_COFFEA_CACHE": str(tmp_path / "cache"),
        "MPLBACKEND": "Agg",
    }
    with LocalCluster(
        n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
    ) as lc:
        for cmd in shell_commands():
            cmd = cmd.split("&&")[-1].strip()
            if not cmd.startswith("hnl-coffea "):
                continue
            if " --cluster " in cmd or "data/site/" in cmd:
                continue  # batch systems: tests/integration runs them on a real SLURM
            for old, new in {**SMALLER, **LOCAL}.items():
                cmd = cmd.replace(old, new.format(scheduler=lc.scheduler_address))
            if " run " in cmd and "--output out.zip" in cmd:
                cmd += " --overwrite"
            t0 = time.perf_counter()
            res = subprocess.run(cmd, shell=True, cwd=work, env=env, capture_output=True, text=True,
                                 timeout=1200)  # fmt: skip
            print(f"{time.perf_counter() - t0:6.0f} s  {cmd}")
            assert res.returncode == 0, f"{cmd}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    assert (work / "hnl-output" / "hnl_output.zip").is_file()
    assert (work / "results" / "significance.csv").is_file()
    assert list((work / "cards").glob("*/combined.txt"))
    assert (work / "toys" / "toys.json").is_file()
