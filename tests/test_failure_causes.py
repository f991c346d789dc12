"""A failed chunk keeps its cause (locally and from Dask workers); deterministic errors are
not retried, transient ones are; a missing NanoAOD branch is named."""

from __future__ import annotations

import json
from pathlib import Path

import awkward as ak
import pytest
import uproot
from integration.toyproc import ToyProcessor, write_fileset, write_without_muon_pt

from hnl_coffea.chunks import CountingProcessor, is_transient
from hnl_coffea.executors import ExecutorOptions
from hnl_coffea.runner import RunError, RunOptions, run_fileset


def _opts(**kw) -> RunOptions:
    return RunOptions(chunksize=100, status=False, retries=3, **kw)


@pytest.fixture
def files(tmp_path):
    """A good toy file and one whose Muon collection has no ``pt`` branch."""
    fs_path, refs = write_fileset(tmp_path / "good", {"WZ": [200]}, seed=2)
    (good,) = refs
    broken = tmp_path / "no_muon_pt.root"
    write_without_muon_pt(broken, 150)
    fileset = {"WZ": {"files": {good: "Events", str(broken): "Events"}, "metadata": {}}}
    return fileset, good, str(broken), tmp_path


def _attempts(folder: Path, name: str) -> int:
    return len(list(folder.glob(f"{name}.*")))


def test_deterministic_error_is_named_and_not_retried(files):
    fileset, good, broken, tmp = files
    touch = tmp / "touch"
    touch.mkdir()
    with pytest.raises(RunError) as err:
        run_fileset(ToyProcessor(touch_dir=str(touch)), fileset, _opts())
    msg = str(err.value)
    assert msg.startswith("2 chunk(s) failed")
    for chunk in ("[0, 75)", "[75, 150)"):
        assert f"chunk {chunk} of {broken} [WZ]: AttributeError: no field named 'pt'" in msg
    assert "(not retried)" in msg and "\n" not in msg
    assert _attempts(touch, "no_muon_pt.root") == 2  # one attempt per chunk, no retries


def test_skipped_chunk_keeps_its_cause_in_the_summary(files):
    fileset, good, broken, tmp = files
    out, summary = run_fileset(ToyProcessor(), fileset, _opts(skip_bad_files=True))
    (skip,) = summary.skipped
    assert (skip.path, skip.events_lost) == (broken, 150)
    assert skip.reason.startswith("chunk [0, 75): AttributeError: no field named 'pt'")
    assert skip.reason.endswith("(+1 more chunk(s))")
    assert "chunk(s) failed while reading or processing" not in summary.format()
    assert out["processed"]["WZ"] == {good: 200}


def test_cause_comes_back_from_dask_workers(files):
    fileset, good, broken, _ = files
    out, summary = run_fileset(
        ToyProcessor(), fileset, _opts(skip_bad_files=True),
        ExecutorOptions(executor="dask", workers=1),
    )  # fmt: skip
    (skip,) = summary.skipped
    assert skip.events_lost == 150 and "pt" in skip.reason and "(not retried)" in skip.reason


class FlakyOnce(ToyProcessor):
    """Fails the first read of each chunk with an I/O error (a dropped connection)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set = set()

    def process(self, events):
        key = (events.metadata["filename"], events.metadata["entrystart"])
        if key not in self.seen:
            self.seen.add(key)
            raise OSError("[ERROR] Server responded with an error: [3005] read timed out")
        return super().process(events)


def test_transient_error_is_retried_and_nothing_lost(files):
    fileset, good, _, _ = files
    fileset = {"WZ": {"files": {good: "Events"}, "metadata": {}}}
    out, summary = run_fileset(FlakyOnce(), fileset, _opts())
    assert out["processed"]["WZ"] == {good: 200} and summary.skipped == []


def test_error_classes():
    assert is_transient(OSError("xrootd")) and is_transient(TimeoutError())
    assert not is_transient(FileNotFoundError("x")) and not is_transient(KeyError("Tau_pt"))
    try:
        try:
            raise ConnectionResetError("peer")
        except ConnectionResetError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert is_transient(outer)
    wrapper = CountingProcessor(ToyProcessor(), retries=2)
    assert wrapper.retries == 2


def _drop_branch(src: str, dst: Path, branch: str) -> None:
    """Copy a toy NanoAOD file without one branch (collections rebuilt as jagged records)."""
    with uproot.open(src) as f:
        tree = f["Events"]
        names = [k for k in tree.keys() if k != branch and not k.startswith("n")]  # noqa: SIM118
        arrays = tree.arrays(names)
    flat, groups = {}, {}
    for name in names:
        coll, _, field = name.partition("_")
        if field and name not in ("luminosityBlock",) and arrays[name].ndim > 1:
            groups.setdefault(coll, {})[field] = arrays[name]
        else:
            flat[name] = arrays[name]
    with uproot.recreate(dst) as f:
        f["Events"] = {**flat, **{c: ak.zip(v) for c, v in groups.items()}}


def test_missing_tau_pt_is_named_in_the_summary(tmp_path, cfg):
    from hnl_coffea.toymc import generate_fileset
    from processors import HNLProcessor

    fs_path = generate_fileset(tmp_path / "gen", 600, seed=4, samples=["WZTo3LNu"], cfg=cfg)
    fileset = json.loads(fs_path.read_text())
    (good,) = fileset["WZTo3LNu"]["files"]
    broken = tmp_path / "no_tau_pt.root"
    _drop_branch(good, broken, "Tau_pt")
    fileset["WZTo3LNu"]["files"][str(broken)] = "Events"
    proc = HNLProcessor(cfg, models=False, systematics=False)
    out, summary = run_fileset(proc, fileset, RunOptions(status=False, skip_bad_files=True))
    (skip,) = summary.skipped
    assert skip.path == str(broken) and skip.events_lost == 600
    assert "Tau_pt" in skip.reason and "azimuthal" not in skip.reason
