"""Eras as a property of each dataset: one run over a fileset mixing Run 2 and Run 3 eras
equals, dataset by dataset, running each era alone; hand-built events whose answer depends
on the era; the CMS golden JSONs; runs outside the certification; metadata Σw."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import ILLUSTRATIVE  # noqa: E402
from nanoaod_builder import open_events, write_nanoaod  # noqa: E402

from hnl_coffea import load_config  # noqa: E402
from hnl_coffea.histograms import NOMINAL  # noqa: E402
from hnl_coffea.paths import data_path  # noqa: E402
from hnl_coffea.runner import RunOptions, run_fileset  # noqa: E402
from processors import HNLProcessor  # noqa: E402

SHARED_GOLDEN = Path(__file__).resolve().parents[1].parent / "shared" / "cms" / "golden"
NO_MODELS = {"models.parametric": None, "models.transfer": None, "models.mass_regression": None}
#: The HLT paths of the 2017 and 2018 single-muon triggers and 2018 ditau trigger.
HLT = ("IsoMu24", "IsoMu27", "DoubleMediumChargedIsoPFTauHPS35_Trk1_eta2p1_Reg")


def _tautaumu(btag: float, hlt: dict[str, bool]) -> dict:
    """A ττμ event passing every step, with one jet of b-tag score ``btag`` far from them."""
    return {
        "Tau": [
            {"pt": 60.0, "eta": 0.2, "phi": 0.0, "charge": 1},
            {"pt": 45.0, "eta": -0.8, "phi": 2.0, "charge": -1},
        ],
        "Muon": [{"pt": 35.0, "eta": 1.2, "phi": -2.0, "charge": -1}],
        "Jet": [{"pt": 50.0, "eta": -1.5, "phi": -0.9, "btagDeepFlavB": btag}],
        "HLT": hlt,
    }


def _process(path, era: str | None, cfg):
    ev = open_events(path)
    meta = {"dataset": "WZ", "filename": str(path)}
    if era is not None:
        meta["era"] = era
    ev.metadata.update(meta)
    return HNLProcessor(cfg, models=False, systematics=False).process(ev)


def _regions(out) -> set[str]:
    h = out["hists"]["mt_total"][{"dataset": "WZ", "systematic": NOMINAL}]
    return {r for r in h.axes["region"] if h[{"region": r}].sum(flow=True).value > 0}


def test_btag_score_between_two_eras_working_points(cfg, tmp_path):
    """DeepFlavB 0.2940 lies between 2018's medium WP (0.2783) and 2017's (0.3040): the same
    event is b-tagged (tt̄ control region) as 2018 and not (signal region) as 2017."""
    assert cfg.eras["2018"].btag_wp["medium"] < 0.2940 < cfg.eras["2017"].btag_wp["medium"]
    path = write_nanoaod(
        tmp_path / "ev.root", [_tautaumu(0.2940, dict.fromkeys(HLT, True))], layout="legacy",
        hlt_paths=HLT,
    )  # fmt: skip
    assert _regions(_process(path, "2018", cfg)) == {"CR_ttbar"}
    assert _regions(_process(path, "2017", cfg)) == {"SR"}
    assert _regions(_process(path, None, cfg.with_overrides({"era": "2017"}))) == {"SR"}


def test_triggers_follow_the_dataset_era(cfg, tmp_path):
    """Only HLT_IsoMu24 fired: the ττμ event passes the 2018 trigger (IsoMu24), not 2017's
    (IsoMu27; the ditau paths of 2017 are absent from the file)."""
    hlt = {"IsoMu24": True, "IsoMu27": False, HLT[2]: False}
    path = write_nanoaod(
        tmp_path / "ev.root", [_tautaumu(0.01, hlt)], layout="legacy", hlt_paths=HLT
    )
    flows = {}
    for era in ("2018", "2017"):
        with pytest.warns(UserWarning, match="absent; treated as not fired"):
            flows[era] = _process(path, era, cfg)["cutflow"]["WZ"]["all"]
    assert int(flows["2018"]["trigger"]["events"]) == 1
    assert int(flows["2017"]["channel"]["events"]) == 1
    assert int(flows["2017"]["trigger"]["events"]) == 0


def test_unknown_era_in_metadata_is_one_line(cfg, tmp_path):
    path = write_nanoaod(tmp_path / "ev.root", [_tautaumu(0.01, {})])
    with pytest.raises(Exception, match=r"era '2019' unknown; allowed: 2016preVFP, .*2024"):
        _process(path, "2019", cfg)


# ---------------------------------------------------------------- mixed eras, end to end
MIXED_MC = {"2016preVFP": "legacy", "2017": "legacy", "2018": "legacy", "2022EE": "modern"}
MIXED_DATA = ("2018", "2022EE")


@pytest.fixture(scope="module")
def mixed_fileset(tmp_path_factory):
    """Toy WZ + HNL simulation in four eras and toy data in two, each generated with its
    era's triggers and NanoAOD layout (Run 2 UL: v9; Run 3: v12), in one fileset."""
    from hnl_coffea.toymc import generate_fileset

    base = load_config(overrides=ILLUSTRATIVE)
    fileset: dict[str, dict] = {}
    for era, layout in MIXED_MC.items():
        out = tmp_path_factory.mktemp(f"era{era}")
        path = generate_fileset(
            out, 1500, seed=7, samples=["WZTo3LNu", "HNL_M300"], layout=layout,
            cfg=base.for_era(era), with_data=era in MIXED_DATA, luminosity_fb=0.002,
        )  # fmt: skip
        for name, spec in json.loads(path.read_text()).items():
            assert spec["metadata"]["era"] == era
            fileset[f"{name}_{era}"] = spec
    return fileset


def _run(fileset, cfg):
    proc = HNLProcessor(cfg, models=False, systematics=False)
    out, summary = run_fileset(proc, fileset, RunOptions(chunksize=20_000, status=False))
    return out, summary


def _categories(h) -> list[dict]:
    """Every combination of the string-category axes of ``h``, by name (the order in which
    categories were filled differs between runs)."""
    import itertools

    axes = [ax for ax in h.axes if ax.name in ("region", "channel", "systematic")]
    return [
        dict(zip((ax.name for ax in axes), combo))
        for combo in itertools.product(*(list(ax) for ax in axes))
    ]


def test_mixed_era_run_equals_each_era_alone(mixed_fileset):
    base = load_config(overrides={**ILLUSTRATIVE, **NO_MODELS})
    mixed, _ = _run(mixed_fileset, base)
    eras = {spec["metadata"]["era"] for spec in mixed_fileset.values()}
    assert eras == set(MIXED_MC)
    n_compared = 0
    for era in eras:
        alone_fs = {}
        for name, spec in mixed_fileset.items():
            if spec["metadata"]["era"] == era:  # no era metadata: the config's era decides
                meta = {k: v for k, v in spec["metadata"].items() if k != "era"}
                alone_fs[name] = {**spec, "metadata": meta}
        alone, _ = _run(alone_fs, base.with_overrides({"era": era}))
        for name in alone_fs:
            assert alone["cutflow"][name] == mixed["cutflow"][name], (era, name)
            for key, h in alone["hists"].items():
                filled = name in h.axes["dataset"]
                assert filled == (name in mixed["hists"][key].axes["dataset"]), (name, key)
                if not filled:
                    continue
                a, m = h[{"dataset": name}], mixed["hists"][key][{"dataset": name}]
                for cats in _categories(a):
                    av, mv = a[cats].view(flow=True), m[cats].view(flow=True)
                    assert np.array_equal(av["value"], mv["value"]), (era, name, key, cats)
                    assert np.array_equal(av["variance"], mv["variance"]), (era, name, key)
                    n_compared += 1
            assert mixed["datasets"][name]["era"] == era
    assert n_compared > 30
    # the era matters: the 2017 WZ sample processed as 2018 selects differently (its
    # IsoMu27 is not 2018's IsoMu24)
    name = "WZTo3LNu_2017"
    as_2018 = {name: {**mixed_fileset[name]}}
    as_2018[name]["metadata"] = {**mixed_fileset[name]["metadata"], "era": "2018"}
    with pytest.warns(UserWarning, match="HLT_IsoMu24"):
        other, _ = _run(as_2018, base)
    assert other["cutflow"][name] != mixed["cutflow"][name]


def test_mixed_era_data_certified_by_each_era(mixed_fileset):
    """Data of 2018 and 2022EE pass their own era's golden JSON: the events lost to the mask
    equal an independent count with each era's published certification file."""
    base = load_config(overrides={**ILLUSTRATIVE, **NO_MODELS})
    data = {n: s for n, s in mixed_fileset.items() if s["metadata"]["is_data"]}
    assert {s["metadata"]["era"] for s in data.values()} == set(MIXED_DATA)
    out, summary = _run(data, base)
    import uproot

    for name, spec in data.items():
        era = base.eras[spec["metadata"]["era"]]
        golden = json.loads(data_path(era.golden_json).read_text())
        (path,) = spec["files"]
        with uproot.open(path) as f:
            arrays = f["Events"].arrays(["run", "luminosityBlock"], library="np")
        inside = [
            any(lo <= lb <= hi for lo, hi in golden.get(str(int(r)), []))
            for r, lb in zip(arrays["run"], arrays["luminosityBlock"])
        ]
        lost = len(inside) - sum(inside)
        assert 0 < lost < len(inside)
        assert summary.lost_to_mask[name] == lost
        assert int(out["cutflow"][name]["all"]["golden_json"]["events"]) == sum(inside)
    assert not summary.notes  # every run is known to its era's certification


# ---------------------------------------------------------------- certification
def test_shipped_golden_jsons_are_the_published_files():
    if not SHARED_GOLDEN.is_dir():
        pytest.skip(f"published golden JSONs not present at {SHARED_GOLDEN}")
    published = sorted(SHARED_GOLDEN.iterdir())
    assert len(published) == 6
    for src in published:
        assert data_path(f"lumi/{src.name}").read_bytes() == src.read_bytes(), src.name


def test_every_era_defaults_to_a_real_golden_json(cfg):
    for name, era in cfg.eras.items():
        path = data_path(era.golden_json)
        assert path.is_file() and path.name.startswith("Cert_"), name
        runs = sorted(int(r) for r in json.loads(path.read_text()))
        first, last = era.runs
        assert any(first <= r <= last for r in runs), name
    # real 2018 collision data (run 315267, which the old toy mask did not have) is certified
    from hnl_coffea.data import _mask, golden_json_path

    mask = _mask(str(golden_json_path(cfg.eras["2018"])))
    assert mask(np.array([315267], np.uint32), np.array([100], np.uint32)).tolist() == [True]


def test_runs_outside_the_golden_json_are_named_in_one_line(tmp_path, cfg):
    """2018 toy data declared as 2017: none of its runs is in the 2017 golden JSON; the
    summary says so in one line per dataset and counts every event as lost to the mask."""
    from hnl_coffea.toymc import generate_fileset

    path = generate_fileset(
        tmp_path, 1000, seed=3, samples=["WZTo3LNu"], with_data=True, luminosity_fb=0.002,
        cfg=cfg, layout="legacy",
    )  # fmt: skip
    fileset = {
        n: {**s, "metadata": {**s["metadata"], "era": "2017"}}
        for n, s in json.loads(path.read_text()).items()
        if n == "data_SingleMuon"
    }
    out, summary = _run(fileset, cfg.with_overrides(NO_MODELS))
    total = int(out["cutflow"]["data_SingleMuon"]["all"]["total"]["events"])
    assert total > 100 and summary.lost_to_mask == {"data_SingleMuon": total}
    (line,) = summary.notes
    runs = sorted(out["certification"]["data_SingleMuon"]["runs_seen"])
    assert "\n" not in line and line.startswith("data_SingleMuon: run(s) ")
    assert str(runs[0]) in line and "Cert_294927-306462_13TeV_UL2017" in line
    assert "runs 297050-306460" in line.replace("–", "-") or "runs 2970" in line
    assert f"{total} event(s) removed by the mask" in line
    assert line in summary.format()


def test_metadata_sumw_wins_and_the_summary_says_when_it_differs(tmp_path, cfg):
    from hnl_coffea.postprocessing.normalise import dataset_scales
    from hnl_coffea.toymc import generate_fileset

    path = generate_fileset(tmp_path, 1500, seed=2, samples=["WZTo3LNu"], cfg=cfg)
    fileset = json.loads(path.read_text())
    meta = fileset["WZTo3LNu"]["metadata"]
    meta["sumw"] = 2.0 * meta["sumw"]  # e.g. the Σw of the sample before a skim
    out, summary = _run(fileset, cfg.with_overrides(NO_MODELS))
    seen = out["sumw"]["WZTo3LNu"]
    assert seen == pytest.approx(meta["sumw"] / 2)
    scale = dataset_scales(out, cfg)["WZTo3LNu"]
    era = cfg.eras[meta["era"]]
    assert scale == pytest.approx(meta["xsec"] * 1000 * era.luminosity_fb / meta["sumw"])
    (line,) = summary.notes
    assert line.startswith("WZTo3LNu: metadata sumw") and "-50.00 %" in line
