"""HNLProcessor gives the same histograms, cutflows, Σ genWeight and event counts whichever
way it runs: coffea Runner (iterative, futures, two-worker LocalCluster through
``run_fileset``) or dask-awkward mode (``apply_to_fileset`` + ``dask.compute``)."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import hist
import numpy as np
import pytest
from coffea import processor
from coffea.dataset_tools import apply_to_fileset
from coffea.nanoevents import NanoAODSchema

from hnl_coffea.executors import ExecutorOptions
from hnl_coffea.paths import data_path
from hnl_coffea.runner import RunOptions, run_fileset
from hnl_coffea.toymc import generate_fileset
from processors import HNLProcessor

CHUNK = 150
SAMPLES = ["WZTo3LNu", "HNL_M300"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """Two simulated samples (several chunks each) and toy SingleMuon data."""
    folder = tmp_path_factory.mktemp("executors")
    path = generate_fileset(
        folder, 700, seed=5, samples=SAMPLES, with_data=True, luminosity_fb=0.0001
    )
    fs = json.loads(Path(path).read_text())
    keep = [*SAMPLES, "data_SingleMuon"]
    return {ds: fs[ds] for ds in keep}


def _preprocessed(fileset, step=CHUNK):
    """``fileset`` with explicit steps of ``step`` entries, as ``preprocess`` writes it."""
    import uproot

    out = {}
    for ds, spec in fileset.items():
        files = {}
        for path, tree in spec["files"].items():
            with uproot.open(path) as f:
                n = f[tree].num_entries
            steps = [[a, min(a + step, n)] for a in range(0, n, step)]
            files[path] = {"object_path": tree, "steps": steps}
        out[ds] = {"files": files, "metadata": spec["metadata"]}
    return out


def _canonical(h: hist.Hist):
    """Category labels in sorted order with the values/variances permuted to match, so that
    histograms whose growing categories were filled in different orders compare equal."""
    values, variances = h.values(flow=True), h.variances(flow=True)
    labels = []
    for i, ax in enumerate(h.axes):
        if not isinstance(ax, (hist.axis.StrCategory, hist.axis.IntCategory)):
            continue
        names = [str(x) for x in ax]
        order = list(np.argsort(names, kind="stable"))
        if ax.traits.overflow:
            order.append(len(names))
        values = np.take(values, order, axis=i)
        variances = np.take(variances, order, axis=i)
        labels.append((ax.name, sorted(names)))
    return labels, values, variances


def _assert_same_hists(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        la, va, wa = _canonical(a[key])
        lb, vb, wb = _canonical(b[key])
        assert la == lb, key
        assert np.allclose(va, vb, rtol=1e-9, atol=1e-12), key
        assert np.allclose(wa, wb, rtol=1e-9, atol=1e-12), key


def _assert_close_tree(a, b, where="") -> None:
    """Nested dicts of numbers: same keys, numbers equal within float tolerance."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), where
        for k in a:
            _assert_close_tree(a[k], b[k], f"{where}/{k}")
    else:
        assert np.allclose(float(a), float(b), rtol=1e-9, atol=1e-12), where


def _assert_same_output(a: dict, b: dict) -> None:
    _assert_same_hists(a["hists"], b["hists"])
    _assert_close_tree(a["cutflow"], b["cutflow"], "cutflow")
    _assert_close_tree(a["sumw"], b["sumw"], "sumw")
    assert a["processed"] == b["processed"]
    assert a.get("lumi") == b.get("lumi")


def _models_shipped(cfg) -> bool:
    """True when every configured network file exists (then inference is compared too)."""
    paths = [getattr(cfg.models, n) for n in ("parametric", "transfer", "mass_regression")]
    return all(p is None or data_path(p).exists() for p in paths)


def _expected_processed(fileset) -> dict:
    import uproot

    out = {}
    for ds, spec in fileset.items():
        for path, tree in spec["files"].items():
            with uproot.open(path) as f:
                out.setdefault(ds, {})[path] = f[tree].num_entries
    return out


def _run(cfg, fileset, executor: str, **kw):
    proc = HNLProcessor(cfg, **kw)
    opts = RunOptions(chunksize=CHUNK, status=False, retries=0)
    out, _ = run_fileset(proc, fileset, opts, ExecutorOptions(executor=executor, workers=2))
    return out


def _dask_mode(cfg, fileset, **kw):
    lazy = apply_to_fileset(HNLProcessor(cfg, **kw), _preprocessed(fileset), NanoAODSchema)
    (per_dataset,) = dask.compute(lazy, scheduler="threads", num_workers=2)
    assert set(per_dataset) == set(fileset)
    return processor.accumulate(per_dataset.values())


def test_apply_to_fileset_matches_runner(cfg, toy):
    runner = _run(cfg, toy, "iterative", models=False, systematics=False)
    daskmode = _dask_mode(cfg, toy, models=False, systematics=False)
    _assert_same_output(runner, daskmode)
    # the comparison is not vacuous: all events counted, selected events in the histograms
    assert daskmode["processed"] == _expected_processed(toy)
    assert daskmode["hists"]["mt_total"].sum(flow=True).value > 10
    assert set(daskmode["cutflow"]) == set(toy)
    assert daskmode["lumi"]["data_SingleMuon"]


@pytest.mark.slow
def test_apply_to_fileset_matches_runner_with_systematics_and_models(cfg, toy):
    models = _models_shipped(cfg)
    runner = _run(cfg, toy, "iterative", models=models, systematics=True)
    daskmode = _dask_mode(cfg, toy, models=models, systematics=True)
    _assert_same_output(runner, daskmode)
    assert len(list(daskmode["hists"]["mt_total"].axes["systematic"])) > 10


@pytest.mark.slow
def test_iterative_futures_and_local_cluster_agree(cfg, toy):
    outs = {
        ex: _run(cfg, toy, ex, models=False, systematics=False)
        for ex in ("iterative", "futures", "dask")
    }
    for ex in ("futures", "dask"):
        _assert_same_output(outs["iterative"], outs[ex])
    assert outs["dask"]["summary"]["executor"].startswith("dask LocalCluster (2 workers)")
    assert outs["iterative"]["processed"] == _expected_processed(toy)
