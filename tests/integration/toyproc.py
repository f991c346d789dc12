"""A small coffea processor and NanoAOD-like ROOT files for runner and executor tests.

The processor pickles by value, so Dask workers (local or in batch jobs) need not import
this module.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import awkward as ak
import cloudpickle
import hist
import numpy as np
import uproot
from coffea import processor

from hnl_coffea.accumulate import HistogramSet
from hnl_coffea.processors import HNLProcessor

cloudpickle.register_pickle_by_value(sys.modules[__name__])

PT_EDGES = (12, 0.0, 120.0)


class ToyProcessor(processor.ProcessorABC):
    """Counts events per file, sums Muon_pt, histograms muon pT, ≥1-muon cutflow."""

    def __init__(
        self, cfg=None, sleep: float = 0.0, touch_dir: str | None = None, hist_set: bool = False
    ) -> None:
        self.sleep = sleep
        self.touch_dir = touch_dir  # one empty file per processed chunk, to follow progress
        self.hist_set = hist_set  # histograms in a HistogramSet, as HNLProcessor returns them

    def process(self, events):
        if self.sleep:
            time.sleep(self.sleep)
        if self.touch_dir:
            md = events.metadata
            name = f"{Path(md['filename']).name}.{md['entrystart']}.{os.getpid()}"
            (Path(self.touch_dir) / name).touch()
        ds = events.metadata["dataset"]
        fname = events.metadata["filename"]
        pt = events.Muon.pt
        h = hist.Hist.new.StrCat([], growth=True, name="dataset").Reg(*PT_EDGES, name="pt").Weight()
        flat = ak.to_numpy(ak.flatten(pt))
        h.fill(dataset=ds, pt=flat)
        n = len(events)
        n_sel = int(ak.sum(ak.num(pt) >= 1))
        return {
            "hists": HistogramSet({"muon_pt": h}) if self.hist_set else {"muon_pt": h},
            "sum_pt": {ds: float(np.sum(flat, dtype=np.float64))},
            "processed": {ds: {fname: n}},
            "jobs": {os.environ.get("SLURM_JOB_ID", "local"): 1},
            "cutflow": {
                ds: {
                    "all": {
                        "all": np.array([n, n], float),
                        "ge1mu": np.array([n_sel, n_sel], float),
                    }
                }
            },
        }

    def postprocess(self, accumulator):
        return accumulator


def write_nanoaod(path: Path, n_events: int, seed: int, first_event: int = 0) -> dict:
    """Write a NanoAOD-like file; returns plain-Python reference numbers for it."""
    rng = np.random.default_rng(seed)
    n_mu = rng.integers(0, 4, size=n_events)
    pts = [list(rng.exponential(30.0, size=k)) for k in n_mu]
    muon = ak.zip({"pt": ak.Array(pts, with_name=None)})
    with uproot.recreate(path) as f:
        f["Events"] = {
            "run": np.ones(n_events, dtype=np.uint32),
            "luminosityBlock": (np.arange(n_events) // 10 + 1).astype(np.uint32),
            "event": np.arange(first_event, first_event + n_events, dtype=np.uint64),
            "Muon": muon,
        }
    return {
        "entries": n_events,
        "sum_pt": sum(sum(p) for p in pts),
        "n_sel": sum(1 for p in pts if len(p) >= 1),
        "pts": [x for p in pts for x in p],
    }


def write_without_muon_pt(path: Path, n_events: int) -> None:
    """A NanoAOD-like file whose Muon collection lacks ``pt`` (a missing-branch input)."""
    with uproot.recreate(path) as f:
        f["Events"] = {
            "run": np.ones(n_events, np.uint32),
            "luminosityBlock": np.ones(n_events, np.uint32),
            "event": np.arange(n_events, dtype=np.uint64),
            "Muon": ak.zip({"eta": ak.Array([[0.3]] * n_events)}),
        }


def write_fileset(folder: Path, layout: dict[str, list[int]], seed: int = 1) -> tuple[Path, dict]:
    """Files for ``{dataset: [n_events per file]}`` plus fileset.json; returns (json, refs)."""
    folder.mkdir(parents=True, exist_ok=True)
    fileset, refs = {}, {}
    for i, (ds, sizes) in enumerate(layout.items()):
        files = {}
        for j, n in enumerate(sizes):
            path = folder / f"{ds}_{j}.root"
            refs[str(path)] = write_nanoaod(path, n, seed + 100 * i + j)
            files[str(path)] = "Events"
        fileset[ds] = {"files": files, "metadata": {"process": ds}}
    out = folder / "fileset.json"
    out.write_text(json.dumps(fileset, indent=1))
    return out, refs


class MarkedHNLProcessor(HNLProcessor):
    """``HNLProcessor`` that leaves one empty file per finished chunk in ``touch_dir``,
    named ``<SLURM job id>.<file>.<entry start>``, so a drill can follow the run."""

    def __init__(self, touch_dir: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.touch_dir = touch_dir

    def process(self, events):
        out = super().process(events)
        md = events.metadata
        job = os.environ.get("SLURM_JOB_ID", "local")
        (Path(self.touch_dir) / f"{job}.{Path(md['filename']).name}.{md['entrystart']}").touch()
        return out
