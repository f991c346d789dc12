"""run_fileset: results against plain-Python references, bad files, event accounting, CLI."""

from __future__ import annotations

import gc
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from integration.toyproc import PT_EDGES, ToyProcessor, write_fileset

from hnl_coffea.accumulate import StoredPart
from hnl_coffea.cli import main
from hnl_coffea.executors import ExecutorOptions, open_backend
from hnl_coffea.outputs import load_output as load
from hnl_coffea.runner import RunError, RunOptions, run_fileset

LAYOUT = {"WZ": [230, 120], "HNL_M300": [95]}


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("toy")
    path, refs = write_fileset(folder, LAYOUT, seed=7)
    return json.loads(path.read_text()), refs, path


def _ref_hist(pts: list[float]) -> list[float]:
    n, lo, hi = PT_EDGES
    counts = [0.0] * n
    for x in pts:
        if lo <= x < hi:
            counts[math.floor((x - lo) / (hi - lo) * n)] += 1
    return counts


def _opts(**kw) -> RunOptions:
    return RunOptions(chunksize=100, status=False, retries=1, **kw)


def test_iterative_matches_plain_python(toy):
    fileset, refs, _ = toy
    out, summary = run_fileset(ToyProcessor(), fileset, _opts())
    for ds, spec in fileset.items():
        files = list(spec["files"])
        assert out["processed"][ds] == {f: refs[f]["entries"] for f in files}
        assert out["sum_pt"][ds] == pytest.approx(sum(refs[f]["sum_pt"] for f in files), rel=1e-12)
        pts = [x for f in files for x in refs[f]["pts"]]
        assert list(out["hists"]["muon_pt"][ds, :].values()) == _ref_hist(pts)
        assert summary.events_read[ds] == sum(refs[f]["entries"] for f in files)
        assert summary.events_selected[ds] == sum(refs[f]["n_sel"] for f in files)
    assert summary.n_files == 3
    # coffea splits a file into round(entries / chunksize) equal chunks (at least one)
    assert summary.n_chunks == 2 + 1 + 1
    assert summary.skipped == [] and summary.lost_workers == []
    assert out["summary"]["n_chunks"] == 4


def _assert_same(a: dict, b: dict) -> None:
    assert a["processed"] == b["processed"]
    assert a["cutflow"].keys() == b["cutflow"].keys()
    for ds in a["cutflow"]:
        for step, val in a["cutflow"][ds]["all"].items():
            np.testing.assert_array_equal(val, b["cutflow"][ds]["all"][step])
        assert a["sum_pt"][ds] == pytest.approx(b["sum_pt"][ds], rel=1e-12)
    ha, hb = a["hists"]["muon_pt"], b["hists"]["muon_pt"]
    assert sorted(ha.axes["dataset"]) == sorted(hb.axes["dataset"])
    for ds in ha.axes["dataset"]:
        np.testing.assert_allclose(ha[ds, :].values(), hb[ds, :].values(), rtol=1e-12)
        np.testing.assert_allclose(ha[ds, :].variances(), hb[ds, :].variances(), rtol=1e-12)


@pytest.mark.slow  # ~11 s (pytest -m slow); executors agree also in test_processor_executors
def test_iterative_futures_and_local_dask_agree(toy):
    fileset = toy[0]
    ref, _ = run_fileset(ToyProcessor(), fileset, _opts())
    fut, s_fut = run_fileset(
        ToyProcessor(), fileset, _opts(), ExecutorOptions(executor="futures", workers=2)
    )
    dsk, s_dsk = run_fileset(
        ToyProcessor(), fileset, _opts(), ExecutorOptions(executor="dask", workers=2)
    )
    _assert_same(ref, fut)
    _assert_same(ref, dsk)
    assert "LocalCluster (2 workers)" in s_dsk.executor
    assert s_fut.n_chunks == s_dsk.n_chunks == 4


@pytest.fixture
def bad_fileset(toy, tmp_path):
    fileset, refs, _ = toy
    good = next(f for f in fileset["WZ"]["files"])
    corrupt = tmp_path / "corrupt.root"
    corrupt.write_bytes(Path(good).read_bytes()[:2000])  # truncated ROOT file
    missing = tmp_path / "does_not_exist.root"
    fs = {
        "WZ": {"files": {good: "Events", str(corrupt): "Events"}, "metadata": {}},
        "HNL_M300": {"files": {str(missing): "Events"}, "metadata": {}},
    }
    return fs, good, str(corrupt), str(missing), refs[good]["entries"]


def test_bad_files_fail_the_run_naming_each(bad_fileset):
    fs, _, corrupt, missing, _ = bad_fileset
    with pytest.raises(RunError) as err:
        run_fileset(ToyProcessor(), fs, _opts())
    msg = str(err.value)
    assert "2 unreadable file(s)" in msg
    assert corrupt in msg and missing in msg
    assert "FileNotFoundError" in msg
    assert "\n" not in msg


def test_skip_bad_files_reports_them(bad_fileset):
    fs, good, corrupt, missing, n_good = bad_fileset
    out, summary = run_fileset(ToyProcessor(), fs, _opts(skip_bad_files=True))
    assert out["processed"] == {"WZ": {good: n_good}}
    assert {s.path: s.events_lost for s in summary.skipped} == {corrupt: None, missing: None}
    text = summary.format()
    assert f"{corrupt} [WZ]: events lost unknown" in text
    assert f"{missing} [HNL_M300]: events lost unknown" in text


class FailingChunk(ToyProcessor):
    """Raises on the second chunk of ``path``."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def process(self, events):
        md = events.metadata
        if md["filename"] == self.path and md["entrystart"] > 0:
            raise OSError("simulated unreadable basket")
        return super().process(events)


def test_failing_chunk_is_named_or_counted_as_lost(toy):
    fileset, refs, _ = toy
    path = list(fileset["WZ"]["files"])[0]  # 230 events: chunks [0, 115) and [115, 230)
    with pytest.raises(RunError, match="simulated unreadable basket") as err:
        run_fileset(FailingChunk(path), fileset, _opts())
    assert path in str(err.value)
    out, summary = run_fileset(FailingChunk(path), fileset, _opts(skip_bad_files=True))
    assert out["processed"]["WZ"][path] == 115
    (skipped,) = summary.skipped
    assert (skipped.path, skipped.events_lost) == (path, 115)


class Undercounting(ToyProcessor):
    """Claims one event fewer than it was given for every chunk."""

    def process(self, events):
        out = super().process(events)
        md = events.metadata
        out["processed"][md["dataset"]][md["filename"]] -= 1
        return out


def test_processor_count_disagreement_is_an_error(toy):
    fileset = toy[0]
    with pytest.raises(RunError, match="processor reports") as err:
        run_fileset(Undercounting(), fileset, _opts())
    assert all(f in str(err.value) for spec in fileset.values() for f in spec["files"])


def test_maxchunks_limits_work_without_count_error(toy):
    fileset = toy[0]
    out, summary = run_fileset(ToyProcessor(), fileset, _opts(maxchunks=1))
    assert summary.n_chunks == 2  # one per dataset
    assert summary.events_read == {"WZ": 115, "HNL_M300": 95}


def test_killed_local_worker_is_reported_and_nothing_lost(toy):
    fileset, refs, _ = toy
    opts = RunOptions(chunksize=25, status=False, retries=1)
    with open_backend(ExecutorOptions(executor="dask", workers=2), retries=1, status=False) as be:
        pids = list(be.client.run(os.getpid).values())

        def kill_one() -> None:
            time.sleep(1.5)
            os.kill(pids[0], signal.SIGKILL)

        killer = threading.Thread(target=kill_one)
        killer.start()
        out, summary = run_fileset(ToyProcessor(sleep=0.4), fileset, opts, backend=be)
        killer.join()
    assert out["processed"] == {
        ds: {f: refs[f]["entries"] for f in spec["files"]} for ds, spec in fileset.items()
    }
    assert len(summary.lost_workers) >= 1
    assert "LOST" in summary.format()


def test_cli_run_saves_output_and_prints_summary(toy, tmp_path):
    fileset, refs, path = toy
    out_file = tmp_path / "out.zip"
    args = ["run", str(path), "--executor", "iterative", "--chunksize", "100", "--no-progress"]
    args += ["--processor", "integration.toyproc:ToyProcessor", "--output", str(out_file)]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "chunks: 4" in res.output and "events: 445" in res.output
    out = load(out_file)
    assert out["processed"]["HNL_M300"] == {
        f: refs[f]["entries"] for f in fileset["HNL_M300"]["files"]
    }


def test_cli_run_bad_file_is_one_line_error(toy, tmp_path):
    fs = {"WZ": {"files": {str(tmp_path / "gone.root"): "Events"}}}
    (tmp_path / "fs.json").write_text(json.dumps(fs))
    args = ["run", str(tmp_path / "fs.json"), "--executor", "iterative", "--no-progress"]
    args += ["--processor", "integration.toyproc:ToyProcessor", "-o", str(tmp_path / "o.zip")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert "gone.root" in res.output and "unreadable" in res.output
    res = CliRunner().invoke(main, [*args[:-2], "--processor", "nope:Nothing", "-o", "x"])
    assert res.exit_code != 0 and "nope:Nothing" in res.output


def test_rounds_of_datasets_spill_histograms_beyond_the_memory_budget(toy, tmp_path):
    """A budget smaller than one dataset's histograms: every round takes one dataset and
    the finished datasets' histograms go to files; the result is the one-round result."""
    fileset, refs, _ = toy
    ref, _ = run_fileset(ToyProcessor(hist_set=True), fileset, _opts())
    spill = tmp_path / "spill"
    opts = _opts(memory_mb=1e-6, spill_dir=str(spill))
    out, summary = run_fileset(ToyProcessor(hist_set=True), fileset, opts)
    stored = [p for p in out["hists"].raw_parts("muon_pt") if isinstance(p, StoredPart)]
    assert [p.key for p in stored] == [("WZ",)]  # spilled after its round; the last is held
    assert stored[0].path.parent == spill.resolve()
    for ds, spec in fileset.items():
        pts = [x for f in spec["files"] for x in refs[f]["pts"]]
        assert list(out["hists"]["muon_pt"][ds, :].values()) == _ref_hist(pts)
        assert out["processed"][ds] == ref["processed"][ds]
    assert out["hists"]["muon_pt"] == ref["hists"]["muon_pt"]
    assert summary.n_chunks == 4
    del out, stored
    gc.collect()
    assert list(spill.iterdir()) == []  # spilled files go with the last part using them


class _Declaring(ToyProcessor):
    """A ToyProcessor that declares the histogram storage of each dataset."""

    def __init__(self, nbytes: int) -> None:
        super().__init__(hist_set=True)
        self.nbytes = nbytes

    def histogram_bytes(self, dataset, metadata) -> int:
        return self.nbytes


def test_rounds_are_sized_from_the_declared_histogram_bytes(toy, monkeypatch):
    """A processor declaring its histograms' size gets rounds sized from the start (no
    first round of one dataset); one that declares nothing starts with one dataset."""
    import hnl_coffea.runner as runner

    fileset, _, _ = toy
    rounds: list[list[str]] = []
    real = runner._process

    def spy(proc, sub, *args):
        rounds.append(sorted(sub))
        return real(proc, sub, *args)

    monkeypatch.setattr(runner, "_process", spy)
    mb = 2**20
    ref, _ = run_fileset(ToyProcessor(hist_set=True), fileset, _opts())
    for proc, budget_mb, expected in (
        (_Declaring(mb), 2.5, [["HNL_M300", "WZ"]]),  # both fit: one round
        (_Declaring(2 * mb), 2.5, [["WZ"], ["HNL_M300"]]),  # one fits: a round each
        (ToyProcessor(hist_set=True), 2.5, [["WZ"], ["HNL_M300"]]),  # first round: one
    ):
        rounds.clear()
        out, _ = run_fileset(proc, fileset, _opts(memory_mb=budget_mb))
        assert rounds == expected, type(proc).__name__
        assert out["hists"]["muon_pt"] == ref["hists"]["muon_pt"]


def test_dask_workers_check_the_files_as_the_threads_do(bad_fileset):
    """With an open cluster the files are opened by its workers: the same entries and the
    same one-line reasons as the driver's own threads give."""
    from hnl_coffea.runner import check_files

    fs, good, corrupt, missing, n_good = bad_fileset
    here = check_files(fs)
    opts = ExecutorOptions(executor="dask", workers=1, host="127.0.0.1")
    with open_backend(opts, retries=0, status=False) as be:
        from distributed import get_task_stream

        with get_task_stream(be.client) as tasks:
            there = check_files(fs, client=be.client)
        assert len(tasks.data) == 3  # one task per file, run by the worker
        with pytest.raises(RunError, match="2 unreadable file"):
            run_fileset(ToyProcessor(), fs, _opts(), backend=be)
    assert there == here
    assert there[0] == {("WZ", good): n_good}
    assert {b.path for b in there[1]} == {corrupt, missing}


class _MetaProcessor(ToyProcessor):
    """ToyProcessor that also records the dataset metadata each chunk received."""

    def process(self, events):
        out = super().process(events)
        md = events.metadata
        out["meta"] = {(md["dataset"], md.get("process"), md["fileuuid"] is not None)}
        return out


def test_each_file_is_opened_once_before_processing(toy, monkeypatch):
    """The pre-flight check's entries and UUIDs are coffea's file metadata: its
    ``Runner.preprocess`` no longer opens every file a second time (two opens per file
    before the first chunk; on a cluster, a second round of tasks on the workers)."""
    import uproot

    fileset, refs, _ = toy
    opened: dict[str, int] = {}
    real = uproot.open

    def counting(path, *a, **kw):
        name = next(iter(path)) if isinstance(path, dict) else str(path)
        opened[name] = opened.get(name, 0) + 1
        return real(path, *a, **kw)

    monkeypatch.setattr(uproot, "open", counting)
    opts = RunOptions(chunksize=1000, status=False, retries=1)  # one chunk per file
    out, summary = run_fileset(_MetaProcessor(), fileset, opts)
    files = [f for spec in fileset.values() for f in spec["files"]]
    assert summary.n_chunks == len(files)
    # one open by the pre-flight check and one by the file's only chunk
    assert opened == {f: 2 for f in files}
    # the chunks still carry the dataset's own metadata and the file's UUID
    assert out["meta"] == {(ds, spec["metadata"]["process"], True) for ds, spec in fileset.items()}
    for ds, spec in fileset.items():
        assert out["processed"][ds] == {f: refs[f]["entries"] for f in spec["files"]}
