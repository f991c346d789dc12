"""Toy MC + pseudo-data through `hnl-coffea run` and `hnl-coffea postprocess`: lumi mask and
primary-dataset steps against an independent count, and the written lumi JSON."""

from __future__ import annotations

import json

import pytest
import uproot
from click.testing import CliRunner

from hnl_coffea.cli import main
from hnl_coffea.paths import data_path

NO_MODELS = ["--set", "models.parametric=null", "--set", "models.transfer=null"]
NO_MODELS += ["--set", "models.mass_regression=null"]


@pytest.fixture(scope="module")
def toy_with_data(tmp_path_factory):
    from hnl_coffea.toymc import generate_fileset

    out = tmp_path_factory.mktemp("toydata")
    return generate_fileset(
        out, 4000, seed=5, samples=["WZTo3LNu", "HNL_M300"], with_data=True, luminosity_fb=0.0005
    )


def _independent_counts(fileset: dict, cfg) -> tuple[dict, set]:
    """Per data dataset: events in the golden JSON, events kept after arbitration; lumi set."""
    golden = json.loads(data_path(cfg.era_config.golden_json).read_text())
    order = [
        (pd.name, cfg.era_config.triggers[pd.trigger_group])
        for pd in cfg.era_config.primary_datasets
    ]
    counts, lumis = {}, set()
    for name, spec in fileset.items():
        md = spec["metadata"]
        if not md.get("is_data"):
            continue
        (path,) = spec["files"]
        with uproot.open(path) as f:
            t = f["Events"]
            runs = t["run"].array(library="np")
            lbs = t["luminosityBlock"].array(library="np")
            names = [k for k in t.keys() if k.startswith("HLT_")]  # noqa: SIM118
            hlt = {k[4:]: t[k].array(library="np") for k in names}
        n_golden = n_kept = 0
        for i, (r, lb) in enumerate(zip(runs, lbs)):
            if not any(lo <= lb <= hi for lo, hi in golden.get(str(int(r)), [])):
                continue
            n_golden += 1
            lumis.add((int(r), int(lb)))
            owner = next(
                (pd for pd, paths in order if any(p in hlt and hlt[p][i] for p in paths)), None
            )
            n_kept += owner == md["primary_dataset"]
        counts[name] = (n_golden, n_kept)
    return counts, lumis


def test_run_and_postprocess_with_pseudo_data(toy_with_data, cfg, tmp_path):
    fileset = json.loads(toy_with_data.read_text())
    assert any(s["metadata"].get("is_data") for s in fileset.values())
    out_file = tmp_path / "out.zip"
    res = CliRunner().invoke(
        main,
        ["run", str(toy_with_data), "--executor", "iterative", "--no-progress", "-o", str(out_file)]
        + NO_MODELS,
    )
    assert res.exit_code == 0, res.output
    assert "golden_json" in res.output and "primary_dataset" in res.output
    from hnl_coffea.outputs import load_output as load

    out = load(out_file)
    counts, lumis = _independent_counts(fileset, cfg)
    assert counts and any(k for _, k in counts.values())
    for name, (n_golden, n_kept) in counts.items():
        flow = out["cutflow"][name]["all"]
        assert int(flow["golden_json"]["events"]) == n_golden, name
        assert int(flow["primary_dataset"]["events"]) == n_kept, name
    # the golden JSON drops some lumi blocks of the toy data
    n_all = sum(int(out["cutflow"][n]["all"]["total"]["events"]) for n in counts)
    assert sum(g for g, _ in counts.values()) < n_all
    written = json.loads(out_file.with_suffix(".lumi.json").read_text())
    got = {
        (int(r), lb)
        for r, ranges in written.items()
        for lo, hi in ranges
        for lb in range(lo, hi + 1)
    }
    assert got == lumis
    # data are nominal only
    h = out["hists"]["mt_total"]
    for name in counts:
        if name in h.axes["dataset"]:
            sub = h[{"dataset": name}]
            systs = [s for s in sub.axes["systematic"] if sub[{"systematic": s}].sum().value]
            assert set(systs) <= {"nominal"}

    post = CliRunner().invoke(
        main,
        ["postprocess", str(out_file), "--outdir", str(tmp_path / "pp"), "--no-plots"] + NO_MODELS,
    )
    assert post.exit_code == 0, post.output
    assert (tmp_path / "pp" / "significance.csv").is_file()
