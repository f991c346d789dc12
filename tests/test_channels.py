"""Channels, selection steps, triggers, regions and the cutflow against a per-event reference."""

from __future__ import annotations

import math
import warnings

import awkward as ak
import pytest
from nanoaod_builder import DEFAULTS, HLT_PATHS, build_events, open_events, random_events
from selection_reference import channel_event

from hnl_coffea.channels import STEPS, select
from hnl_coffea.cutflow import cutflow, format_cutflow

N_EVENTS = 1000
#: A Run 3 jet veto map (illustrative) used for the 2018 test era, so the step is exercised.
VETO_MAP = "Summer22EE_23Sep2023_RunEFG_V1"
VETO_FILE = "JME/2022_Summer22EE/jetvetomaps.json.gz"


def with_veto_map(cfg):
    """``cfg`` with the illustrative 2022EE veto map for its era."""
    era = cfg.era
    return cfg.with_overrides(
        {f"eras.{era}.pog_files.jetvetomap": VETO_FILE, f"eras.{era}.jets.veto_map.name": VETO_MAP}
    )


def in_veto_map(eta: float, phi: float) -> bool:
    """The map's value at (η, φ), by correctionlib's scalar evaluation."""
    import correctionlib

    from hnl_coffea.paths import data_path

    corr = correctionlib.CorrectionSet.from_file(str(data_path("corrections/POG") / VETO_FILE))
    phi = math.remainder(phi, 2 * math.pi)  # into [−π, π]
    return corr[VETO_MAP].evaluate("jetvetomap", eta, phi) != 0


@pytest.fixture(scope="module", params=["modern", "legacy"])
def chunk(request, tmp_path_factory):
    evs = random_events(N_EVENTS, seed=12)
    events = build_events(tmp_path_factory.mktemp("ch"), evs, layout=request.param)
    return evs, events


def test_steps_channels_regions_match_reference(chunk, cfg):
    evs, events = chunk
    cfg = with_veto_map(cfg)
    sel = select(events, cfg)
    refs = [channel_event(ev, cfg, DEFAULTS, veto_map=in_veto_map) for ev in evs]
    assert ak.to_list(sel.channel) == [r["channel"] for r in refs]
    assert str(ak.type(sel.channel)).endswith("int8")
    for step in STEPS:
        got = ak.to_list(sel.steps.all(step))
        ref = [r["steps"][step] for r in refs]
        assert got == ref, step
        assert any(ref) and not all(ref), f"random sample does not exercise {step}"
    assert ak.to_list(sel.selected) == [r["selected"] for r in refs]
    assert ak.to_list(sel.n_bjets) == [r["n_bjets"] for r in refs]
    for name, mask in sel.regions.items():
        assert ak.to_list(mask) == [r["regions"][name] for r in refs], name
    # lepton order (taus, muons, electrons, each by pT) and the scale-factor fields
    leps = ak.to_list(sel.leptons)
    for got, ref in zip(leps, refs):
        assert [(x["flavour"], x["pt"], x["charge"]) for x in got] == [
            (x["flavour"], x["pt"], x["charge"]) for x in ref["leptons"]
        ]
        assert [x["decayMode"] for x in got] == [
            x["decayMode"] if x["flavour"] == 15 else -1 for x in ref["leptons"]
        ]
        assert [x["genPartFlav"] for x in got] == [x["genPartFlav"] for x in ref["leptons"]]
    # the trigger group each event is assigned to and the leptons taking its legs
    groups = list(cfg.era_config.triggers)
    ref_group = [groups.index(r["trigger_group"]) if r["trigger_group"] else -1 for r in refs]
    assert ak.to_list(sel.trigger_group) == ref_group
    for got, ref, g in zip(leps, refs, ref_group):
        assert [x["trigger_leg"] for x in got] == [
            g if i in ref["trigger_legs"] else -1 for i in range(len(got))
        ]
    assert {r["trigger_group"] for r in refs if r["selected"]} == {"single_mu", "single_e", "ditau"}
    n_sel = sum(r["selected"] for r in refs)
    assert n_sel >= 15, n_sel
    assert len({r["channel"] for r in refs if r["selected"]}) >= 4


def test_cutflow_matches_reference(chunk, cfg):
    evs, events = chunk
    sel = select(events, cfg)
    weights = [0.5 + (i % 7) * 0.25 for i in range(len(evs))]
    flow = cutflow(sel, ak.Array(weights))
    refs = [channel_event(ev, cfg, DEFAULTS) for ev in evs]
    groups = {"all": lambda r: True}
    for index, ch in enumerate(cfg.channels):
        groups[ch.name] = lambda r, index=index: r["channel"] == index
    for group, member in groups.items():
        assert list(flow[group]) == ["total", *STEPS]
        for k, step in enumerate(["total", *STEPS]):
            passed = [
                i for i, r in enumerate(refs) if member(r) and all(r["steps"][s] for s in STEPS[:k])
            ]
            row = flow[group][step]
            assert int(row["events"]) == len(passed), (group, step)
            assert math.isclose(float(row["sumw"]), sum(weights[i] for i in passed))
            assert math.isclose(float(row["sumw2"]), sum(weights[i] ** 2 for i in passed))
    table = format_cutflow(flow, weighted=False)
    assert "lepton_dr" in table and "tautaumu" in table
    assert str(len(evs)) in table.splitlines()[2]


def _event(leptons, **extra):
    ev = {"Tau": [], "Muon": [], "Electron": [], **extra}
    for flav, pt, eta, phi, q in leptons:
        ev[flav].append({"pt": pt, "eta": eta, "phi": phi, "charge": q})
    return ev


TAU_MU_MU = [("Tau", 40, 0.0, 0.0, 1), ("Muon", 30, 1.0, 2.0, -1), ("Muon", 25, -1.0, -2.0, -1)]


def test_zero_three_and_four_leptons(tmp_path, cfg):
    four = _event([*TAU_MU_MU, ("Electron", 20, 2.0, 1.0, 1)])
    evs = [_event([]), _event(TAU_MU_MU), four]
    sel = select(build_events(tmp_path, evs), cfg)
    assert ak.to_list(ak.num(sel.leptons)) == [0, 3, 3]
    taumumu = cfg.channel_names.index("taumumu")
    assert ak.to_list(sel.channel) == [-1, taumumu, taumumu]  # three leading leptons: τμμ
    assert ak.to_list(sel.steps.all("three_leptons")) == [False, True, True]
    assert ak.to_list(sel.steps.all("extra_lepton_veto")) == [True, True, False]
    assert ak.to_list(sel.selected) == [False, True, False]
    # without the veto the three highest-pT leptons are used: τ, μ(30), μ(25)
    loose = cfg.with_overrides({"objects.veto_extra_leptons": False})
    sel = select(build_events(tmp_path, evs, name="noveto"), loose)
    assert ak.to_list(sel.selected) == [False, True, True]
    assert ak.to_list(sel.leptons.pt[2]) == [40.0, 30.0, 25.0]


def test_lepton_order_taus_then_muons_then_electrons(tmp_path, cfg):
    ev = _event(
        [("Electron", 90, 0.0, 0.0, 1), ("Muon", 60, 1.5, 2.0, 1), ("Tau", 25, -1.5, -2, -1)]
    )
    sel = select(build_events(tmp_path, [ev]), cfg)
    assert ak.to_list(sel.leptons.flavour) == [[15, 13, 11]]
    assert ak.to_list(sel.leptons.pt) == [[25.0, 60.0, 90.0]]
    assert ak.to_list(sel.channel) == [cfg.channel_names.index("taumue")]


def test_charge_and_separation(tmp_path, cfg):
    same_sign = _event([("Tau", 40, 0, 0, 1), ("Muon", 30, 1, 2, 1), ("Muon", 25, -1, -2, 1)])
    close = _event([("Tau", 40, 0, 0, 1), ("Muon", 30, 0.3, 2, -1), ("Muon", 25, 0.3, 2.35, -1)])
    sel = select(build_events(tmp_path, [same_sign, close]), cfg)
    assert ak.to_list(sel.steps.all("charge")) == [False, True]
    assert ak.to_list(sel.steps.all("lepton_dr")) == [True, False]


def test_missing_trigger_branch_warns_once_and_counts_as_not_fired(tmp_path, cfg):
    # ττμ: fired only by the di-tau path, which the file lacks
    tautaumu = _event(
        [("Tau", 50, 0, 0, 1), ("Tau", 45, 1.5, 2, -1), ("Muon", 30, -1.5, -2, 1)],
        HLT={"IsoMu24": False},
    )
    path = tmp_path / "nohlt.root"
    from nanoaod_builder import write_nanoaod

    write_nanoaod(path, [tautaumu, tautaumu], hlt_paths=HLT_PATHS[:2])
    events = open_events(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sel = select(events, cfg)
    messages = [str(w.message) for w in caught if "trigger" in str(w.message)]
    assert len(messages) == 1
    assert "HLT_DoubleMediumChargedIsoPFTauHPS35_Trk1_eta2p1_Reg" in messages[0]
    assert ak.to_list(sel.steps.all("trigger")) == [False, False]
    assert ak.to_list(sel.steps.all("charge")) == [True, True]
    # with the branch present and fired the same events pass
    sel = select(build_events(tmp_path, [tautaumu]), cfg)
    assert ak.to_list(sel.steps.all("trigger")) == [True]


def test_z_window_region(tmp_path, cfg):
    # two opposite-sign muons back to back at η = 0 with pT 45.6: m = 91.2 GeV
    on_z = _event(
        [("Tau", 40, 1.5, 1.0, 1), ("Muon", 45.6, 0, 0, 1), ("Muon", 45.6, 0, math.pi, -1)]
    )
    off_z = _event([("Tau", 40, 1.5, 1.0, 1), ("Muon", 30, 0, 0, 1), ("Muon", 30, 0, math.pi, -1)])
    sel = select(build_events(tmp_path, [on_z, off_z]), cfg)
    assert ak.to_list(sel.selected) == [True, True]
    assert ak.to_list(sel.regions["CR_Z"]) == [True, False]
    assert ak.to_list(sel.regions["SR"]) == [False, True]  # the SR vetoes the Z pair
    assert ak.to_list(sel.regions["CR_ttbar"]) == [False, False]


def test_empty_chunk(tmp_path, cfg):
    sel = select(build_events(tmp_path, []), cfg)
    assert len(sel.channel) == 0 and len(sel.selected) == 0
    assert str(ak.type(sel.channel)) == "0 * int8"
    flow = cutflow(sel)
    assert int(flow["all"]["total"]["events"]) == 0


def test_real_nanoaod_runs(shared_nanoaod, cfg):
    from hnl_coffea.features import FEATURE_NAMES, compute_features

    for path in shared_nanoaod:
        events = open_events(path)
        sel = select(events, cfg)
        assert len(sel.channel) == len(events)
        feats = compute_features(sel, ak.num(sel.leptons) == 3)
        assert list(feats.fields)[: len(FEATURE_NAMES)] == list(FEATURE_NAMES)
        assert int(cutflow(sel)["all"]["total"]["events"]) == len(events)


def test_toy_layouts_give_identical_selection(tmp_path, cfg):
    """The same toy events written in both layouts select identically (DeepTau, MET, IDs)."""
    toymc = pytest.importorskip("hnl_coffea.toymc")
    results = []
    for layout in ("modern", "legacy"):
        path = tmp_path / f"wz_{layout}.root"
        toymc.generate_sample("WZTo3LNu", 2000, path, seed=3, layout=layout)
        sel = select(open_events(path), cfg)
        results.append((ak.to_list(sel.channel), ak.to_list(sel.selected)))
    assert results[0] == results[1]
    assert sum(results[0][1]) > 0


def test_dask_arrays_are_pointed_to_the_partition_runner(tmp_path, cfg):
    """One implementation per step: a dask-awkward chunk is refused in one line that says
    how to run it (under apply_to_fileset, HNLProcessor does so itself)."""
    from nanoaod_builder import write_nanoaod

    path = write_nanoaod(tmp_path / "ev.root", [{}])
    events = open_events(path, mode="dask")
    with pytest.raises(TypeError, match=r"dask_awkward.Array; .*run_partitions") as err:
        select(events, cfg)
    assert "\n" not in str(err.value)
