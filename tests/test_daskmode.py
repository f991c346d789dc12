"""hnl_coffea.daskmode: an eager-only processor through ``apply_to_fileset`` + ``dask.compute``,
checked against plain-Python sums over the events written to the files."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import awkward as ak
import dask
import hist
import numpy as np
import pytest
from coffea import processor
from coffea.dataset_tools import apply_to_fileset
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_builder import random_events, write_nanoaod  # noqa: E402

from hnl_coffea.daskmode import is_dask_events, run_partitions, source_slices  # noqa: E402

PT_BINS = (10, 0.0, 100.0)
STEP = 40
LAYOUT = {"WZ": {"wz_a.root": (150, 1), "wz_b.root": (90, 2)}, "HNL_M300": {"hnl.root": (70, 3)}}


class EagerProcessor(processor.ProcessorABC):
    """Uses only eager operations (``float``, ``np.asarray``), like a Runner-only processor."""

    def __init__(self, min_muons: int = 0) -> None:
        self.min_muons = min_muons

    def process(self, events):
        if is_dask_events(events):
            return run_partitions(self, events, split_every=self.split_every)
        md = events.metadata
        if self.min_muons:
            events = events[np.asarray(ak.num(events.Muon)) >= self.min_muons]
        pts = np.asarray(ak.flatten(events.Muon.pt), dtype=np.float64)
        h = hist.Hist.new.Reg(*PT_BINS, name="pt").Double().fill(pts)
        chunk = (md["filename"], md.get("entrystart"), md.get("entrystop"))
        return {
            "events": {md["dataset"]: {md["filename"]: len(events)}},
            "sum_pt": {md["dataset"]: float(ak.sum(events.Muon.pt))},
            "pt": {md["dataset"]: h},
            "chunks": {chunk},
            "xsec": {md["dataset"]: {md.get("xsec")}},
        }

    split_every = 8

    def postprocess(self, accumulator):
        return accumulator


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{dataset: {path: event list}}, written as tiny NanoAOD files."""
    folder = tmp_path_factory.mktemp("daskmode")
    out: dict[str, dict[str, list]] = {}
    for ds, per in LAYOUT.items():
        for name, (n, seed) in per.items():
            evs = random_events(n, seed=seed)
            path = write_nanoaod(folder / name, evs)
            out.setdefault(ds, {})[str(path)] = evs
    return out


def _fileset(files, step=STEP):
    """A preprocessed fileset (explicit steps) as ``coffea.dataset_tools.preprocess`` makes."""
    fs = {}
    for ds, per in files.items():
        specs = {
            path: {
                "object_path": "Events",
                "steps": [[a, min(a + step, len(evs))] for a in range(0, len(evs), step)],
            }
            for path, evs in per.items()
        }
        fs[ds] = {"files": specs, "metadata": {"xsec": 1.5 if ds == "WZ" else 0.2}}
    return fs


def _ref(evs, min_muons=0):
    """Plain-Python reference: events kept, Σ muon pT (float32 like the file), pT counts."""
    n, lo, hi = PT_BINS
    counts = [0.0] * n
    total, kept = 0.0, 0
    for ev in evs:
        if len(ev.get("Muon", [])) < min_muons:
            continue
        kept += 1
        for mu in ev.get("Muon", []):
            pt = float(np.float32(mu["pt"]))
            total += pt
            if lo <= pt < hi:
                counts[math.floor((pt - lo) / (hi - lo) * n)] += 1
    return kept, total, counts


def _check(result, files, min_muons=0):
    for ds, per in files.items():
        out = result[ds]
        want = {p: _ref(evs, min_muons) for p, evs in per.items()}
        assert out["events"] == {ds: {p: w[0] for p, w in want.items()}}
        assert out["sum_pt"][ds] == pytest.approx(
            sum(w[1] for w in want.values()), rel=1e-6
        )  # float32 sums per chunk
        ref_counts = np.sum([w[2] for w in want.values()], axis=0)
        assert list(out["pt"][ds].values()) == list(ref_counts)
        assert out["xsec"] == {ds: {1.5 if ds == "WZ" else 0.2}}


def test_apply_to_fileset_matches_plain_python(files):
    fileset = _fileset(files)
    lazy = apply_to_fileset(EagerProcessor(), fileset, schemaclass=NanoAODSchema)
    assert set(lazy) == set(files) and all(dask.is_dask_collection(v) for v in lazy.values())
    (result,) = dask.compute(lazy, scheduler="sync")
    _check(result, files)
    # every partition ran once, with the file name and entry range of its slice
    for ds, spec in fileset.items():
        want = {(p, a, b) for p, f in spec["files"].items() for a, b in f["steps"]}
        assert result[ds]["chunks"] == want


def test_threaded_scheduler_and_small_fan_in_give_the_same_result(files):
    proc = EagerProcessor()
    proc.split_every = 2  # 5 partitions → a three-level reduction tree for the WZ dataset
    lazy = apply_to_fileset(proc, _fileset(files), schemaclass=NanoAODSchema)
    (result,) = dask.compute(lazy, scheduler="threads", num_workers=2)
    _check(result, files)


def test_sliced_events_fall_back_to_materialised_partitions(files):
    """A dask-awkward array with operations applied is still processed correctly."""
    ds = "WZ"
    spec = _fileset(files)[ds]["files"]
    events = NanoEventsFactory.from_root(
        spec, metadata={"dataset": ds, "xsec": 1.5}, schemaclass=NanoAODSchema, mode="dask"
    ).events()
    assert len(source_slices(events)) == 4 + 3
    masked = events[ak.num(events.Muon) >= 2]
    assert source_slices(masked) is not None  # same partitions: file names still known
    (out,) = dask.compute(EagerProcessor().process(masked), scheduler="sync")
    _check({ds: out}, {ds: files[ds]}, min_muons=2)


def test_same_result_when_the_processor_slices_itself(files):
    ds = "HNL_M300"
    fileset = {ds: _fileset(files)[ds]}
    (result,) = dask.compute(
        apply_to_fileset(EagerProcessor(min_muons=2), fileset, schemaclass=NanoAODSchema),
        scheduler="sync",
    )
    _check(result, {ds: files[ds]}, min_muons=2)


def test_bad_inputs_have_clear_errors(files, tmp_path):
    eager = NanoEventsFactory.from_root(
        {next(iter(files["WZ"])): "Events"}, schemaclass=NanoAODSchema, mode="virtual"
    ).events()
    with pytest.raises(TypeError, match="dask_awkward.Array"):
        run_partitions(EagerProcessor(), eager)
    spec = _fileset(files)["HNL_M300"]["files"]
    events = NanoEventsFactory.from_root(spec, schemaclass=NanoAODSchema, mode="dask").events()
    with pytest.raises(ValueError, match="'dataset'"):
        run_partitions(EagerProcessor(), events)
    events = NanoEventsFactory.from_root(
        spec, metadata={"dataset": "x"}, schemaclass=NanoAODSchema, mode="dask"
    ).events()
    with pytest.raises(ValueError, match="split_every"):
        run_partitions(EagerProcessor(), events, split_every=1)


def test_file_gone_before_compute_names_the_file(files, tmp_path):
    src = next(iter(files["HNL_M300"]))
    path = tmp_path / "gone.root"
    path.write_bytes(Path(src).read_bytes())
    fileset = {"HNL_M300": {"files": {str(path): {"object_path": "Events", "steps": [[0, 70]]}}}}
    lazy = apply_to_fileset(EagerProcessor(), fileset, schemaclass=NanoAODSchema)
    path.unlink()
    with pytest.raises(OSError, match="gone.root"):
        dask.compute(lazy, scheduler="sync")
