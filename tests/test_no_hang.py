"""A run whose Dask workers all disappear neither hangs nor loses what it did: it resubmits
workers, or stops in one line and saves the finished files so that ``--resume`` continues."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner
from integration.toyproc import ToyProcessor, write_fileset

from hnl_coffea.cli import main
from hnl_coffea.executors import ExecutorOptions, open_backend
from hnl_coffea.outputs import load_output
from hnl_coffea.partial import load_partial
from hnl_coffea.runner import RunError, RunOptions, run_fileset

LAYOUT = {"WZ": [60, 60, 60, 60], "HNL_M300": [60, 60]}
pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    path, refs = write_fileset(tmp_path_factory.mktemp("nohang"), LAYOUT, seed=11)
    return json.loads(path.read_text()), refs, path


def _remove_workers_after_first_round(be, partial) -> threading.Thread:
    def remove() -> None:
        deadline = time.monotonic() + 120
        while not partial.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        be.cluster.scale(0)  # every worker gone, as after scancel of the only job

    thread = threading.Thread(target=remove, daemon=True)
    thread.start()
    return thread


def _opts(partial, **kw) -> RunOptions:
    return RunOptions(chunksize=30, status=False, retries=0, partial=str(partial), rounds=3, **kw)


def test_all_workers_lost_stops_in_one_line_and_resume_completes(toy, tmp_path):
    fileset, refs, _ = toy
    partial = tmp_path / "out.zip.partial"
    exe = ExecutorOptions(executor="dask", workers=1, lost_worker_timeout=3, resubmit=0)
    t0 = time.monotonic()
    with open_backend(exe, retries=0, status=False) as be:
        remover = _remove_workers_after_first_round(be, partial)
        with pytest.raises(RunError) as err:
            run_fileset(ToyProcessor(sleep=0.2), fileset, _opts(partial), backend=be)
        remover.join()
    assert time.monotonic() - t0 < 90  # stopped by itself, no hang
    msg = str(err.value)
    assert "no Dask worker connected for 3 s (all workers lost)" in msg and "\n" not in msg
    acc, done = load_partial(partial)
    assert f"{len(done)} of 6 files done, saved to {partial}" in msg and 0 < len(done) < 6
    for ds, path in done:  # what was saved is complete for each file it lists
        assert acc["counts"][ds][path] == refs[path]["entries"]

    out, summary = run_fileset(ToyProcessor(), fileset, _opts(partial, resume=True))
    ref, _ = run_fileset(ToyProcessor(), fileset, RunOptions(chunksize=30, status=False))
    assert (
        out["processed"]
        == ref["processed"]
        == {ds: {f: refs[f]["entries"] for f in spec["files"]} for ds, spec in fileset.items()}
    )
    for ds in fileset:
        np.testing.assert_array_equal(
            out["hists"]["muon_pt"][ds, :].values(), ref["hists"]["muon_pt"][ds, :].values()
        )
        assert out["sum_pt"][ds] == pytest.approx(ref["sum_pt"][ds], rel=1e-12)


def test_all_workers_lost_are_resubmitted(toy, tmp_path):
    fileset, refs, _ = toy
    partial = tmp_path / "p"
    exe = ExecutorOptions(executor="dask", workers=1, lost_worker_timeout=2, resubmit=1)
    with open_backend(exe, retries=0, status=False) as be:
        remover = _remove_workers_after_first_round(be, partial)
        out, summary = run_fileset(ToyProcessor(sleep=0.1), fileset, _opts(partial), backend=be)
        remover.join()
    assert out["processed"] == {
        ds: {f: refs[f]["entries"] for f in spec["files"]} for ds, spec in fileset.items()
    }


def test_cli_resume(toy, tmp_path):
    """A partial result from a stopped run is completed by ``hnl-coffea run --resume``."""
    fileset, refs, path = toy
    out_file = tmp_path / "out.zip"
    partial = tmp_path / "out.zip.partial"
    first = {k: v for k, v in fileset.items() if k == "WZ"}
    from hnl_coffea.partial import save_partial

    # what a run stopped after its WZ files leaves behind
    acc, _ = run_fileset(ToyProcessor(), first, RunOptions(chunksize=30, status=False))
    acc.pop("summary")
    wrapper = {"out": acc, "counts": acc["processed"]}
    save_partial(partial, wrapper, {("WZ", f) for f in first["WZ"]["files"]})
    args = ["run", str(path), "-o", str(out_file), "--executor", "iterative", "--no-progress"]
    args += ["--processor", "integration.toyproc:ToyProcessor", "--chunksize", "30", "--resume"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    out = load_output(out_file)
    assert out["processed"] == {
        ds: {f: refs[f]["entries"] for f in spec["files"]} for ds, spec in fileset.items()
    }
    assert not partial.exists()  # the run is complete: its partial result is gone
    res = CliRunner().invoke(main, [*args[:-1], "--overwrite", "--resume"])
    assert res.exit_code == 1 and "no partial result" in res.output
