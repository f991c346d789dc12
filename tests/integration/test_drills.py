"""Fault drills on the real one-node SLURM and XRootD: the only batch job cancelled (resubmitted,
or stopped with the finished files saved and resumed), and failed chunks whose cause comes
back from a batch worker. Each drill is bounded in jobs and time."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from hnl_coffea.executors import ExecutorOptions
from hnl_coffea.partial import load_partial
from hnl_coffea.runner import RunError, RunOptions, run_fileset

from .test_batch_and_remote import _remote_fileset, _slurm_site, _submitted
from .toyproc import ToyProcessor, write_without_muon_pt

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def _cancel_after_first_round(slurm, partial: Path) -> threading.Thread:
    """scancel every running job of ours once the first round of files is saved."""

    def cancel() -> None:
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            if partial.exists():
                for job, state in slurm.jobs():
                    if state == "RUNNING":
                        slurm.run("scancel", job)
                return
            time.sleep(0.2)

    thread = threading.Thread(target=cancel, daemon=True)
    thread.start()
    return thread


def _all_events(fs, refs):
    return {ds: {f: refs[f]["entries"] for f in spec["files"]} for ds, spec in fs.items()}


@pytest.mark.timeout(420)
@pytest.mark.parametrize("resubmit", [0, 1])
def test_scancel_of_the_only_job(toy_files, slurm, tmp_path, resubmit):
    path, refs, _ = toy_files
    fs = json.loads(path.read_text())
    partial = tmp_path / "out.zip.partial"
    # the replacement job may wait for the cancelled one to finish completing on the single
    # node, and its worker needs time to start on a busy machine: allow it 150 s to connect
    site = _slurm_site(
        tmp_path, slurm, lost_worker_timeout=5, resubmit=resubmit, worker_timeout=150
    )
    opts = ExecutorOptions.from_site(site, workers=1)
    run_opts = RunOptions(20, status=False, retries=0, partial=str(partial), rounds=3)
    before = _submitted(slurm)
    killer = _cancel_after_first_round(slurm, partial)
    t0 = time.monotonic()
    if resubmit:
        out, summary = run_fileset(ToyProcessor(sleep=0.1), fs, run_opts, opts)
        killer.join()
        assert _submitted(slurm) - before == 2  # the cancelled job and its replacement
        assert out["processed"] == _all_events(fs, refs)
        return
    with pytest.raises(RunError) as err:
        run_fileset(ToyProcessor(sleep=0.1), fs, run_opts, opts)
    killer.join()
    assert time.monotonic() - t0 < 150  # stopped by itself
    msg = str(err.value)
    assert "no Dask worker connected for 5 s (all workers lost)" in msg and "\n" not in msg
    _, done = load_partial(partial)
    assert f"{len(done)} of {sum(len(s['files']) for s in fs.values())} files done" in msg
    out, _ = run_fileset(ToyProcessor(), fs, RunOptions(20, status=False, partial=str(partial),
                                                          resume=True))  # fmt: skip
    assert out["processed"] == _all_events(fs, refs)


def test_failed_chunk_cause_comes_back_from_a_batch_job(toy_files, xrootd, slurm, tmp_path):
    """A file without Muon_pt served over XRootD, read by a SLURM worker: the summary names
    the cause (not only the job's .err log) and the chunk is not retried."""
    export = toy_files[2]
    broken = export / "store" / "mc" / "toy" / "no_muon_pt.root"
    write_without_muon_pt(broken, 40)
    broken.chmod(0o644)
    remote = _remote_fileset(toy_files, xrootd, tmp_path, extra="/store/mc/toy/no_muon_pt.root")
    from hnl_coffea.fileset import load_fileset

    fs = load_fileset(remote, redirector=xrootd)
    opts = ExecutorOptions.from_site(_slurm_site(tmp_path, slurm), workers=1)
    out, summary = run_fileset(
        ToyProcessor(), fs, RunOptions(50, status=False, skip_bad_files=True), opts
    )
    (skip,) = summary.skipped
    assert skip.path.endswith("no_muon_pt.root") and skip.events_lost == 40
    assert "no field named 'pt'" in skip.reason and "(not retried)" in skip.reason
    assert "no field named 'pt'" in summary.format()
