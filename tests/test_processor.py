"""HNLProcessor: histogram yields against the per-event reference, variations, data rules,
empty chunks, pickling."""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_builder import DEFAULTS, open_events, random_events, write_nanoaod  # noqa: E402
from selection_reference import channel_event, event_filters  # noqa: E402

from hnl_coffea.config import POG_FILES  # noqa: E402
from hnl_coffea.histograms import NOMINAL  # noqa: E402
from processors import HNLProcessor  # noqa: E402

NO_SF = {f"corrections.files.{k}": None for k in POG_FILES}


def _events(path, dataset, **meta):
    ev = open_events(path)
    ev.metadata.update({"dataset": dataset, "filename": str(path), **meta})
    return ev


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    evs = random_events(1500, seed=11)
    path = write_nanoaod(tmp_path_factory.mktemp("proc") / "mc.root", evs)
    return evs, path


def _reference_yields(evs, cfg):
    out: dict[tuple[str, str], float] = {}
    for ev in evs:
        if not all(event_filters(ev, cfg).values()):
            continue
        ref = channel_event(ev, cfg, DEFAULTS)
        for region, ok in ref["regions"].items():
            if ok:
                key = (region, cfg.channels[ref["channel"]].name)
                out[key] = out.get(key, 0.0) + 1.0  # genWeight = 1 in the builder's files
    return out


def test_yields_per_region_and_channel_match_reference(cfg, sample):
    evs, path = sample
    c = cfg.with_overrides(NO_SF)
    out = HNLProcessor(c, models=False, systematics=False).process(_events(path, "WZ"))
    expected = _reference_yields(evs, c)
    assert sum(expected.values()) > 15  # the sample exercises the selection
    h = out["hists"]["mt_total"]
    for region in (r.name for r in c.regions):
        for channel in c.channel_names:
            want = expected.get((region, channel), 0.0)
            if region not in h.axes["region"] or channel not in h.axes["channel"]:
                assert want == 0.0
                continue
            got = h[{"dataset": "WZ", "region": region, "channel": channel, "systematic": NOMINAL}]
            assert got.sum(flow=True).value == pytest.approx(want), (region, channel)
    assert out["processed"] == {"WZ": {str(path): 1500}}
    assert out["sumw"] == {"WZ": pytest.approx(1500.0)}
    sr = out["cutflow"]["WZ"]["all"]
    filtered = [ev for ev in evs if all(event_filters(ev, c).values())]
    n_met = sum(event_filters(ev, c)["met_filters"] for ev in evs)
    assert 0 < len(filtered) < n_met < len(evs)  # both filters remove events
    assert list(sr)[:3] == ["total", "met_filters", "good_vertex"]
    assert int(sr["met_filters"]["events"]) == n_met
    assert int(sr["good_vertex"]["events"]) == len(filtered)
    n_sel = sum(channel_event(ev, c, DEFAULTS)["selected"] for ev in filtered)
    assert int(sr["trigger"]["events"]) == n_sel


def test_systematic_variations_are_filled(cfg, sample):
    _, path = sample
    out = HNLProcessor(cfg, models=False, systematics=True).process(_events(path, "WZ"))
    h = out["hists"]["mt_total"]
    systs = set(h.axes["systematic"])
    assert {"tauIDUp", "tauIDDown", "pileupUp", "tauES_DM0Up", "unclustEnDown"} <= systs
    assert {
        "JES_TotalUp",
        "JES_TotalDown",
        "JERUp",
        "JERDown",
        "btagSF_bcUp",
        "btagSF_lightDown",
    } <= systs
    tot = {s: h[{"systematic": s}].sum(flow=True).value for s in systs}
    assert tot["tauIDUp"] > tot[NOMINAL] > tot["tauIDDown"]


def _jes_shifted(evs: list[dict], sign: float) -> list[dict]:
    """The events with every jet's pT and mass × (1 ± δ), δ = a_|η| + b / pT of the
    illustrative ``Total`` source (``JES_SOURCES``: a per |η| bin of the toy response)."""
    import bisect

    from hnl_coffea.corrections.make_illustrative_jme import JES_SOURCES
    from hnl_coffea.toymc.detector import JET_RESPONSE_ABSETA

    a, b = JES_SOURCES["Total"]
    out = []
    for ev in evs:
        jets = []
        for j in ev.get("Jet", []):
            pt, mass = (
                j.get("pt", DEFAULTS["Jet"]["pt"][0]),
                j.get("mass", DEFAULTS["Jet"]["mass"][0]),
            )
            k = min(bisect.bisect_right(JET_RESPONSE_ABSETA, abs(j["eta"])) - 1, len(a) - 1)
            f = 1.0 + sign * (a[k] + b / pt)
            jets.append({**j, "pt": pt * f, "mass": mass * f})
        out.append({**ev, "Jet": jets})
    return out


def test_jes_yields_match_the_reference_with_shifted_jets(cfg, tmp_path):
    """Under JES Up/Down every jet-dependent step (jet selection, b veto, regions) follows the
    shifted jets: the yields are those of the per-event reference on the events with their
    jets shifted by hand (random events, most jets within a few GeV of the 20 GeV cut,
    half of them b-tagged)."""
    import random

    rng = random.Random(5)
    evs = random_events(1200, seed=23)
    for ev in evs:
        for j in ev["Jet"]:
            if rng.random() < 0.7:  # near the threshold, b-tagged or not
                j["pt"], j["btagDeepFlavB"] = rng.uniform(18.5, 21.5), rng.choice((0.01, 0.9))
        ev["Jet"].sort(key=lambda j: -j["pt"])
    path = write_nanoaod(tmp_path / "jes.root", evs)
    no_sf = {k: v for k, v in NO_SF.items() if k != "corrections.files.jerc"}
    c = cfg.with_overrides({**no_sf, "corrections.tau_energy_scale": False})
    out = HNLProcessor(c, models=False, systematics=True).process(_events(path, "WZ"))
    h = out["hists"]["mt_total"]
    nominal = _reference_yields(evs, c)
    for syst, sign in (("JES_TotalUp", 1.0), ("JES_TotalDown", -1.0)):
        want = _reference_yields(_jes_shifted(evs, sign), c)
        assert want != nominal  # the shift moves events between regions
        for key in set(want) | set(nominal):
            got = h[{"region": key[0], "channel": key[1], "systematic": syst}]
            assert got.sum(flow=True).value == pytest.approx(want.get(key, 0.0)), (syst, key)


def test_empty_chunk(cfg, sample):
    _, path = sample
    ev = _events(path, "WZ")[:0]
    out = HNLProcessor(cfg, models=False).process(ev)
    assert out["processed"]["WZ"][str(path)] == 0
    assert out["hists"]["mt_total"].sum().value == 0
    assert int(out["cutflow"]["WZ"]["all"]["total"]["events"]) == 0


def test_data_golden_json_and_primary_datasets(cfg, tmp_path):
    evs = random_events(300, seed=4, runs=(315300,))
    # a run of 2018 period A (its data JEC), luminosity block 1
    path = write_nanoaod(tmp_path / "data.root", evs, is_mc=False)
    golden = tmp_path / "golden.json"
    golden.write_text(json.dumps({"315300": [[1, 1]]}))
    c = cfg.with_overrides({"eras.2018.golden_json": str(golden)})
    counts = {}
    for pd in ("SingleMuon", "EGamma", "Tau"):
        out = HNLProcessor(c, models=False).process(
            _events(path, f"Data_{pd}", is_data=True, primary_dataset=pd)
        )
        flow = out["cutflow"][f"Data_{pd}"]["all"]
        counts[pd] = int(flow["primary_dataset"]["events"])
        assert int(flow["golden_json"]["events"]) == 300
        assert out["lumi"][f"Data_{pd}"] == {(315300, 1)}
        assert set(out["hists"]["mt_total"].axes["systematic"]) <= {NOMINAL}
    era = c.era_config
    ref = {"SingleMuon": 0, "EGamma": 0, "Tau": 0}
    for ev in evs:

        def fired(group: str, hlt=ev["HLT"]) -> bool:
            return any(hlt[p] for p in era.triggers[group])

        owner = (
            "SingleMuon" if fired("single_mu") else "EGamma" if fired("single_e")
            else "Tau" if fired("ditau") else None
        )  # fmt: skip
        if owner:
            ref[owner] += 1
    assert counts == ref
    excluded = tmp_path / "none.json"
    excluded.write_text(json.dumps({"315301": [[1, 10]]}))
    c2 = cfg.with_overrides({"eras.2018.golden_json": str(excluded)})
    out = HNLProcessor(c2, models=False).process(
        _events(path, "Data_SingleMuon", is_data=True, primary_dataset="SingleMuon")
    )
    assert int(out["cutflow"]["Data_SingleMuon"]["all"]["golden_json"]["events"]) == 0
    assert out["hists"]["mt_total"].sum().value == 0


def test_construction_does_no_io_and_pickles(tmp_path):
    missing = tmp_path / "not-yet-written.yaml"
    proc = HNLProcessor(missing)  # read lazily, on first use
    again = pickle.loads(pickle.dumps(proc))
    assert isinstance(again, HNLProcessor)
    with pytest.raises(Exception, match="not-yet-written.yaml"):
        _ = again.cfg


def _open_real(path, dataset, **meta):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    ev = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, mode="virtual"
    ).events()
    ev.metadata.update({"dataset": dataset, "filename": str(path), **meta})
    return ev


#: The MET filters these pre-UL files have (Flag_BadPFMuonDzFilter came with UL).
PRE_UL_FILTERS = [
    "goodVertices", "globalSuperTightHalo2016Filter", "HBHENoiseFilter", "HBHENoiseIsoFilter",
    "EcalDeadCellTriggerPrimitiveFilter", "BadPFMuonFilter", "eeBadScFilter",
    "ecalBadCalibFilter",
]  # fmt: skip


def test_real_nanoaod_as_simulation_and_as_data(cfg, shared_nanoaod, tmp_path):
    import uproot

    from hnl_coffea.data import compress_lumis
    from hnl_coffea.nanoaod import MissingBranchError

    for path in shared_nanoaod:
        with uproot.open(path) as f:
            t = f["Events"]
            keys = set(t.keys())
            n = t.num_entries
            pairs = set(zip(t["run"].array(library="np"), t["luminosityBlock"].array(library="np")))
            flags = {k: t[k].array(library="np") for k in keys if k.startswith("Flag_")}
            npv = t["PV_npvsGood"].array(library="np")
        # the UL filter list names the flag these older files lack, in one line
        if "genWeight" in keys:
            with pytest.raises(MissingBranchError, match=r"'Flag_BadPFMuonDzFilter' not found"):
                HNLProcessor(cfg, models=False).process(_open_real(path, "real_mc"))
        pass_filters = np.logical_and.reduce([flags[f"Flag_{f}"] for f in PRE_UL_FILTERS])
        c = cfg.with_overrides(
            {"corrections.met_unclustered": False, "eras.2018.met_filters": PRE_UL_FILTERS}
        )
        if "genWeight" in keys:
            out = HNLProcessor(c, models=False).process(_open_real(path, "real_mc"))
            assert out["processed"]["real_mc"][str(path)] == n
            flow = out["cutflow"]["real_mc"]["all"]
            assert int(flow["total"]["events"]) == n
            assert int(flow["met_filters"]["events"]) == int(pass_filters.sum())
            assert int(flow["good_vertex"]["events"]) == int((pass_filters & (npv >= 1)).sum())
        else:
            with pytest.raises(KeyError, match="no genWeight branch; mark collision data"):
                HNLProcessor(c, models=False).process(_open_real(path, "real_mc"))
        golden = tmp_path / f"{path.stem}.json"
        golden.write_text(json.dumps(compress_lumis(pairs)))
        as_data = {"eras.2018.golden_json": str(golden)}
        if "genWeight" in keys:  # simulation (run 1) read as data: no data JEC period has it
            as_data["corrections.files.jerc"] = None
        cd = c.with_overrides(as_data)
        out = HNLProcessor(cd, models=False).process(
            _open_real(path, "real_data", is_data=True, primary_dataset="SingleMuon")
        )
        flow = out["cutflow"]["real_data"]["all"]
        assert int(flow["golden_json"]["events"]) == n
        assert out["lumi"]["real_data"] == {(int(r), int(lb)) for r, lb in pairs}


def test_fast_shape_variations_equal_full_reselection(cfg, sample):
    _, path = sample
    fast = HNLProcessor(cfg, models=False, systematics=True).process(_events(path, "WZ"))
    full = HNLProcessor(cfg, models=False, systematics=True, fast_variations=False).process(
        _events(path, "WZ")
    )
    for name in ("mt_total", "feature_m_3l", "feature_met_pt"):
        a, b = fast["hists"][name], full["hists"][name]
        systs = sorted(b.axes["systematic"])
        assert sorted(a.axes["systematic"]) == systs
        assert any(s.startswith("tauES") for s in systs) and "unclustEnUp" in systs
        assert {"JES_TotalUp", "JES_TotalDown", "JERUp", "JERDown"} <= set(systs)
        for syst in systs:
            for region in b.axes["region"]:
                for ch in b.axes["channel"]:
                    sel = {"systematic": syst, "region": region, "channel": ch, "dataset": "WZ"}
                    if region not in a.axes["region"] or ch not in a.axes["channel"]:
                        assert b[sel].sum(flow=True).value == 0
                        continue
                    np.testing.assert_allclose(a[sel].values(flow=True), b[sel].values(flow=True))
                    np.testing.assert_allclose(
                        a[sel].variances(flow=True), b[sel].variances(flow=True)
                    )
    # the MET variation moves MET-dependent features but not the selected yield
    h = fast["hists"]["feature_met_pt"]
    nom = h[{"systematic": NOMINAL}].values(flow=True)
    up = h[{"systematic": "unclustEnUp"}].values(flow=True)
    assert nom.sum() == pytest.approx(up.sum())
    assert not np.allclose(nom, up)


def test_selection_steps_read_only_their_declared_collections(cfg, sample):
    """``STEP_INPUTS`` is what lets a jet or MET variation skip events failing a lepton step:
    shifting one collection by hand must leave every step that does not declare it alone."""
    import awkward as ak

    from hnl_coffea.channels import SR_STEPS, STEP_INPUTS, STEPS, select
    from hnl_coffea.corrections.evaluators import CorrectionProvider
    from hnl_coffea.resolve import corrected_objects, era_view

    _, path = sample
    events = _events(path, "WZ")
    view, layout = era_view(events, cfg, cfg.era)
    _, objs, _ = corrected_objects(events, view, layout, CorrectionProvider(view), is_data=False)
    nominal = select(events, view, objs, layout)
    shifts = {
        "jets": objs.replace(jets=ak.with_field(objs.jets, objs.jets.pt * 0.5, "pt")),
        "met": objs.replace(met=ak.with_field(objs.met, objs.met.pt * 3.0, "pt")),
        "taus": objs.replace(taus=ak.with_field(objs.taus, objs.taus.pt * 0.8, "pt")),
    }
    for coll, shifted in shifts.items():
        sel = select(events, view, shifted, layout)
        moved = []
        for step in STEPS:
            before = np.asarray(nominal.steps.all(step))
            after = np.asarray(sel.steps.all(step))
            if coll not in STEP_INPUTS[step]:
                assert np.array_equal(before, after), (coll, step)
            elif not np.array_equal(before, after):
                moved.append(step)
        assert (coll == "met") == (not moved), (coll, moved)  # the shifts are large enough
    assert set(STEP_INPUTS) == set(STEPS) and set(SR_STEPS) < set(STEPS)


def test_fast_shape_variations_equal_full_reselection_with_models(cfg, sample):
    _, path = sample
    outs = [
        HNLProcessor(cfg, systematics=True, fast_variations=fast).process(_events(path, "WZ"))
        for fast in (True, False)
    ]
    for name in ("score_parametric", "score_transfer", "mass_regression"):
        a, b = (out["hists"][name] for out in outs)
        assert sorted(a.axes["systematic"]) == sorted(b.axes["systematic"])
        assert b.sum(flow=True).value > 0
        for syst in b.axes["systematic"]:
            sa, sb = a[{"systematic": syst}], b[{"systematic": syst}]
            np.testing.assert_allclose(sa.values(flow=True), sb.values(flow=True), err_msg=syst)


@pytest.mark.filterwarnings("ignore:data dataset without primary_dataset")
def test_declared_histogram_bytes_are_what_a_chunk_books(cfg, sample):
    """``HNLProcessor.histogram_bytes`` sizes the runner's rounds before any chunk runs: it
    must be the storage of the histograms a chunk of that dataset returns."""
    _, path = sample
    for systematics, meta in ((True, {}), (False, {}), (True, {"is_data": True})):
        proc = HNLProcessor(cfg, models=False, systematics=systematics)
        hists = proc.process(_events(path, "WZ", **meta))["hists"]
        stored = sum(int(hists[n].view(flow=True).nbytes) for n in hists)
        assert proc.histogram_bytes("WZ", meta) == stored, (systematics, meta)
