"""End to end on a real one-node SLURM cluster and a real XRootD server (all on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from hnl_coffea.cli import main
from hnl_coffea.executors import ClusterError, ExecutorOptions
from hnl_coffea.fileset import load_fileset
from hnl_coffea.outputs import load_output as load
from hnl_coffea.runner import RunError, RunOptions, run_fileset

from .toyproc import ToyProcessor

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]


def _remote_fileset(toy_files, xrootd, tmp_path, extra: str | None = None):
    """The toy fileset as LFNs (``/store/...``) written to JSON, plus a redirector URL."""
    path, _, export = toy_files
    fs = json.loads(path.read_text())
    for spec in fs.values():
        spec["files"] = {"/" + str(p.relative_to(export)): t for p, t in _paths(spec)}
    if extra:
        fs["WZ"]["files"][extra] = "Events"
    out = tmp_path / "remote.json"
    out.write_text(json.dumps(fs))
    return out


def _paths(spec):
    from pathlib import Path

    return [(Path(p), t) for p, t in spec["files"].items()]


def _local_reference(toy_files):
    path, refs, _ = toy_files
    out, _ = run_fileset(ToyProcessor(), json.loads(path.read_text()), RunOptions(50, status=False))
    return out, refs


def _slurm_site(tmp_path, slurm, **extra) -> str:
    site = {
        "cluster": "slurm",
        "cores": 1,
        "memory": "2GB",
        "walltime": "00:10:00",
        "queue": slurm.partition,
        "job_extra": ["--job-name=hnl-it"],
        "interface": "lo",
        "log_directory": str(slurm.folder / "logs"),
        "worker_timeout": 60,
        **extra,
    }
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(site))  # JSON is YAML
    return str(path)


def _submitted(slurm) -> int:
    return (slurm.folder / "slurmctld.log").read_text().count("_slurm_rpc_submit_batch_job")


def test_lfn_redirector_is_joined_once(toy_files, xrootd, tmp_path):
    remote = _remote_fileset(toy_files, xrootd, tmp_path)
    host = xrootd.rstrip("/")  # root://127.0.0.1:PORT
    for redirector in (host, host + "/", host + "//"):
        fs = load_fileset(remote, redirector=redirector)
        urls = [u for spec in fs.values() for u in spec["files"]]
        assert all(u.startswith(host + "//store/mc/toy/") for u in urls), urls
        assert all("///" not in u for u in urls)
    ref, refs = _local_reference(toy_files)
    out, summary = run_fileset(ToyProcessor(), fs, RunOptions(50, status=False))
    by_name = {k.rsplit("/", 1)[1]: v for k, v in refs.items()}
    for ds, files in out["processed"].items():
        assert {u.rsplit("/", 1)[1]: n for u, n in files.items()} == {
            u.rsplit("/", 1)[1]: by_name[u.rsplit("/", 1)[1]]["entries"] for u in files
        }
        np.testing.assert_allclose(
            out["hists"]["muon_pt"][ds, :].values(), ref["hists"]["muon_pt"][ds, :].values()
        )


def test_missing_remote_file_fails_or_is_skipped(toy_files, xrootd, tmp_path):
    missing = "/store/mc/toy/not_on_server.root"
    remote = _remote_fileset(toy_files, xrootd, tmp_path, extra=missing)
    fs = load_fileset(remote, redirector=xrootd)
    url = xrootd.rstrip("/") + "/" + missing
    with pytest.raises(RunError) as err:
        run_fileset(ToyProcessor(), fs, RunOptions(200, status=False, retries=0, timeout=20))
    assert url in str(err.value) and "no such file" in str(err.value).lower()
    opts = RunOptions(200, status=False, retries=0, timeout=20, skip_bad_files=True)
    out, summary = run_fileset(ToyProcessor(), fs, opts)
    (skipped,) = summary.skipped
    assert (skipped.path, skipped.events_lost) == (url, None)
    assert f"{url} [WZ]: events lost unknown" in summary.format()
    assert sum(out["processed"]["WZ"].values()) == 260 + 140


def test_slurm_over_xrootd_matches_iterative_local(toy_files, xrootd, slurm, tmp_path):
    remote = _remote_fileset(toy_files, xrootd, tmp_path)
    ref, refs = _local_reference(toy_files)
    before = _submitted(slurm)
    out_file = tmp_path / "out.zip"
    args = ["run", str(remote), "--redirector", xrootd, "--site", _slurm_site(tmp_path, slurm)]
    args += ["--workers", "2", "--chunksize", "50", "--no-progress", "-o", str(out_file)]
    args += ["--processor", "integration.toyproc:ToyProcessor"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert _submitted(slurm) - before == 2  # two real sbatch jobs
    out = load(out_file)
    jobs = out["jobs"]
    assert "local" not in jobs and sum(jobs.values()) == out["summary"]["n_chunks"]
    by_name = {k.rsplit("/", 1)[1]: v["entries"] for k, v in refs.items()}
    for ds in ref["processed"]:
        got = out["processed"][ds]
        assert all(u.startswith("root://127.0.0.1:") for u in got)
        assert {u.rsplit("/", 1)[1]: n for u, n in got.items()} == {
            u.rsplit("/", 1)[1]: by_name[u.rsplit("/", 1)[1]] for u in got
        }
        for step, val in ref["cutflow"][ds]["all"].items():
            np.testing.assert_array_equal(out["cutflow"][ds]["all"][step], val)
        h, r = out["hists"]["muon_pt"][ds, :], ref["hists"]["muon_pt"][ds, :]
        np.testing.assert_allclose(h.values(), r.values(), rtol=1e-12)
        np.testing.assert_allclose(h.variances(), r.variances(), rtol=1e-12)
        assert out["sum_pt"][ds] == pytest.approx(ref["sum_pt"][ds], rel=1e-12)


def test_cancelled_slurm_job_loses_nothing(toy_files, slurm, tmp_path):
    path, refs, _ = toy_files
    fs = json.loads(path.read_text())
    opts = ExecutorOptions.from_site(_slurm_site(tmp_path, slurm), workers=2)
    cancelled: list[str] = []
    done = tmp_path / "chunks_done"
    done.mkdir()

    def cancel_one() -> None:  # once 3 of the 26 chunks are done, cancel a running job
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = [j for j, state in slurm.jobs() if state == "RUNNING"]
            if len(running) == 2 and len(list(done.iterdir())) >= 3:
                slurm.run("scancel", running[0])
                cancelled.append(running[0])
                return
            time.sleep(0.2)

    killer = threading.Thread(target=cancel_one)
    killer.start()
    out, summary = run_fileset(
        ToyProcessor(sleep=0.3, touch_dir=str(done)), fs, RunOptions(20, status=False), opts
    )
    killer.join()
    assert cancelled, "no SLURM job was running to cancel"
    assert out["processed"] == {
        ds: {f: refs[f]["entries"] for f in spec["files"]} for ds, spec in fs.items()
    }
    assert len(summary.lost_workers) >= 1
    assert "LOST" in summary.format()


def test_impossible_memory_request_fails_fast_with_reason(slurm, toy_files, tmp_path):
    path = toy_files[0]
    too_much = f"{2 * slurm.memory_mb}MB"
    opts = ExecutorOptions.from_site(_slurm_site(tmp_path, slurm, memory=too_much), workers=1)
    with pytest.raises(ClusterError) as err:
        run_fileset(ToyProcessor(), json.loads(path.read_text()), RunOptions(status=False), opts)
    msg = str(err.value)
    assert "slurm" in msg and "Memory specification can not be satisfied" in msg


# ---------------------------------------------------------------- the analysis processor
CHUNK = 300


@pytest.fixture(scope="module")
def hnl_files(toy_files):
    """An analysis toy (WZ + one signal point) next to the small toy files, so the same
    XRootD server serves it under ``/store/mc/hnl``."""
    from hnl_coffea.toymc import generate_fileset

    export = toy_files[2]
    folder = export / "store" / "mc" / "hnl"
    path = generate_fileset(folder, 3000, seed=5, samples=["WZTo3LNu", "HNL_M300"])
    for p in folder.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return path, export


def _served(local: dict, export: Path, xrootd: str, tmp_path: Path) -> dict:
    """``local`` (a fileset of files below ``export``) as read over root:// from ``xrootd``."""
    for spec in local.values():
        spec["files"] = {
            "/" + str(Path(p).relative_to(export)): t for p, t in spec["files"].items()
        }
    remote = tmp_path / "remote.json"
    remote.write_text(json.dumps(local))
    return load_fileset(remote, redirector=xrootd)


def _hnl_by_label(h) -> dict:
    """Σw and Σw² of ``h`` per combination of its category labels (orders may differ)."""
    cats = [ax for ax in h.axes if ax.name in ("dataset", "region", "channel", "systematic")]
    out = {}
    for d in cats[0]:
        sub = h[{"dataset": d}]
        flat = sub.project(*[ax.name for ax in cats[1:]])
        for idx in np.ndindex(*flat.axes.size):
            key = (d, *(ax[i] for ax, i in zip(flat.axes, idx)))
            v = flat.view(flow=False)[idx]
            if v.value or v.variance:
                out[key] = (v.value, v.variance)
    return out


@pytest.mark.slow  # ~1 min on an idle 2-core machine, 3 under load: pytest -m slow
@pytest.mark.timeout(400)
def test_hnl_processor_on_slurm_over_xrootd_with_a_worker_killed(
    hnl_files, xrootd, slurm, tmp_path
):
    """HNLProcessor (models, systematics) in two real SLURM jobs reading over root://, one
    job cancelled once it has finished a chunk: the output equals the iterative local run's."""
    from hnl_coffea.processors import HNLProcessor

    from .toyproc import MarkedHNLProcessor

    path, export = hnl_files
    local = json.loads(path.read_text())
    ref, _ = run_fileset(HNLProcessor(), local, RunOptions(CHUNK, status=False))
    n_chunks = sum(-(-n // CHUNK) for n in _entries(local).values())
    fs = _served(local, export, xrootd, tmp_path)
    opts = ExecutorOptions.from_site(_slurm_site(tmp_path, slurm), workers=2)
    done = tmp_path / "chunks_done"
    done.mkdir()
    cancelled: list[tuple[str, int]] = []

    def cancel_one() -> None:  # a running job that has finished a chunk, with chunks left
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline:
            marks = [p.name.split(".", 1)[0] for p in done.iterdir()]
            running = {j for j, state in slurm.jobs() if state == "RUNNING"}
            busy = [j for j in running if j in marks]
            if len(running) == 2 and busy and len(marks) < n_chunks - 2:
                slurm.run("scancel", busy[0])
                cancelled.append((busy[0], len(marks)))
                return
            time.sleep(0.1)

    killer = threading.Thread(target=cancel_one)
    killer.start()
    proc = MarkedHNLProcessor(str(done))
    out, summary = run_fileset(proc, fs, RunOptions(CHUNK, status=False), opts)
    killer.join()
    assert cancelled, "no SLURM job was cancelled mid-run"
    assert len(summary.lost_workers) >= 1, summary
    assert {ds: sum(f.values()) for ds, f in out["processed"].items()} == {
        ds: sum(f.values()) for ds, f in ref["processed"].items()
    }
    assert all(u.startswith("root://127.0.0.1:") for f in out["processed"].values() for u in f)
    for name in ("mt_total", "score_transfer", "mass_regression"):
        got, want = _hnl_by_label(out["hists"][name]), _hnl_by_label(ref["hists"][name])
        assert got.keys() == want.keys() and len(want) > 10, name
        for key, (w, w2) in want.items():
            assert got[key] == pytest.approx((w, w2), rel=1e-9, abs=1e-12), (name, key)
    for ds, flow in ref["cutflow"].items():
        for step, row in flow["all"].items():
            assert out["cutflow"][ds]["all"][step] == pytest.approx(row, rel=1e-9), (ds, step)


def _entries(fileset) -> dict[str, int]:
    import uproot

    return {
        p: uproot.open(p)[t].num_entries
        for spec in fileset.values()
        for p, t in spec["files"].items()
    }


@pytest.fixture(scope="module")
def hnl_files_20k(toy_files):
    """Every toy sample, 20k events in all, served by the same XRootD server."""
    from hnl_coffea.toymc import generate_fileset

    export = toy_files[2]
    folder = export / "store" / "mc" / "hnl20k"
    path = generate_fileset(folder, 20_000, seed=11)
    for p in folder.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    return path, export


@pytest.mark.slow  # ~6 min on a 2-core machine: pytest -m slow
@pytest.mark.timeout(1200)
def test_hnl_processor_with_default_2gb_slurm_jobs_on_every_sample(
    hnl_files_20k, xrootd, slurm, tmp_path
):
    """The default configuration (models, every systematic) over all toy samples in two
    SLURM jobs of the default 2 GB: the rounds of datasets keep each job's reduction inside
    its memory (no KilledWorker), and the result equals the iterative run's."""
    from hnl_coffea.processors import HNLProcessor

    path, export = hnl_files_20k
    local = json.loads(path.read_text())
    ref, _ = run_fileset(HNLProcessor(), local, RunOptions(status=False))
    fs = _served(local, export, xrootd, tmp_path)
    opts = ExecutorOptions.from_site(_slurm_site(tmp_path, slurm), workers=2)
    out, summary = run_fileset(HNLProcessor(), fs, RunOptions(status=False), opts)
    assert summary.lost_workers == [], summary.lost_workers
    assert {ds: sum(f.values()) for ds, f in out["processed"].items()} == {
        ds: sum(f.values()) for ds, f in ref["processed"].items()
    }
    for name in ("mt_total", "score_parametric", "score_transfer"):
        got, want = _hnl_by_label(out["hists"][name]), _hnl_by_label(ref["hists"][name])
        assert got.keys() == want.keys() and len(want) > 100, name
        for key, (w, w2) in want.items():
            assert got[key] == pytest.approx((w, w2), rel=1e-9, abs=1e-12), (name, key)
