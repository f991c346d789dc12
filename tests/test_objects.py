"""Object selection against an independent per-event reference (plain Python + math)."""

from __future__ import annotations

import awkward as ak
import pytest
from nanoaod_builder import DEFAULTS, build_events, random_events
from selection_reference import f32, select_event

from hnl_coffea.nanoaod import detect_layout
from hnl_coffea.objects import Objects, load_objects, select_objects

N_EVENTS = 400


@pytest.fixture(scope="module", params=["modern", "legacy"])
def chunk(request, tmp_path_factory):
    evs = random_events(N_EVENTS, seed=7)
    events = build_events(tmp_path_factory.mktemp("obj"), evs, layout=request.param)
    return evs, events


def _pts(coll) -> list[list[float]]:
    return ak.to_list(coll.pt)


def test_selected_objects_match_reference(chunk, cfg):
    evs, events = chunk
    lay = detect_layout(events)
    sel = select_objects(load_objects(events, cfg, lay), cfg, lay)
    got = {
        "muons": _pts(sel.muons),
        "electrons": _pts(sel.electrons),
        "taus": _pts(sel.taus),
        "jets": _pts(sel.jets),
    }
    btag = ak.to_list(sel.jets.btag)
    n_checked = {k: 0 for k in got}
    for i, ev in enumerate(evs):
        ref = select_event(ev, cfg, DEFAULTS)
        for name in got:
            assert got[name][i] == [o["pt"] for o in ref[name]], (i, name)
            n_checked[name] += len(ref[name])
        assert btag[i] == [j["btag"] for j in ref["jets"]], i
    # the random sample exercises every collection, and the cuts remove objects
    assert all(n > 20 for n in n_checked.values()), n_checked
    assert sum(len(e["Tau"]) for e in evs) > 2 * n_checked["taus"]


def test_raw_objects_have_standard_fields(chunk, cfg):
    evs, events = chunk
    lay = detect_layout(events)
    raw = load_objects(events, cfg, lay)
    assert isinstance(raw, Objects)
    assert ak.to_list(ak.num(raw.taus)) == [len(e["Tau"]) for e in evs]
    assert ak.to_list(raw.met.pt) == [f32(e["MET"]["pt"]) for e in evs]
    unclust = {f"unclust_{d}_{c}" for d in ("up", "down") for c in ("dx", "dy")}
    assert {"pt", "phi", *unclust} <= set(raw.met.fields)
    expected_id = [[bool(o.get("mvaIso_WP90", True)) for o in e["Electron"]] for e in evs]
    assert ak.to_list(raw.electrons.mvaId) == expected_id


def test_shifted_taus_change_selection(tmp_path, cfg):
    """A tau just below threshold enters after a +3% energy-scale shift (replace())."""
    events = build_events(tmp_path, [{"Tau": [{"pt": 19.5}]}])
    lay = detect_layout(events)
    raw = load_objects(events, cfg, lay)
    assert ak.to_list(ak.num(select_objects(raw, cfg, lay).taus)) == [0]
    shifted = raw.replace(taus=ak.with_field(raw.taus, raw.taus.pt * 1.03, "pt"))
    assert ak.to_list(ak.num(select_objects(shifted, cfg, lay).taus)) == [1]


def test_overlap_removal_hand_case(tmp_path, cfg):
    ev = {
        "Muon": [{"pt": 30, "eta": 0.0, "phi": 3.1}],
        # ΔR to the muon across the φ = ±π boundary: sqrt(0.3² + 0.183²) = 0.35 -> removed
        "Tau": [{"pt": 40, "eta": 0.3, "phi": -3.0}, {"pt": 35, "eta": 1.0, "phi": 0.0}],
        "Jet": [
            {"pt": 50, "eta": 1.2, "phi": 0.1},  # ΔR(τ2) = 0.22 -> removed
            {"pt": 45, "eta": -1.0, "phi": -1.0, "btagDeepFlavB": 0.9},  # kept, b-tagged
            # ΔR 0.46 to the removed tau only (0.80 to the muon) -> kept
            {"pt": 60, "eta": 0.75, "phi": -2.9},
        ],
    }
    events = build_events(tmp_path, [ev])
    lay = detect_layout(events)
    sel = select_objects(load_objects(events, cfg, lay), cfg, lay)
    assert ak.to_list(sel.taus.pt) == [[35.0]]
    assert ak.to_list(sel.jets.pt) == [[45.0, 60.0]]
    assert ak.to_list(sel.jets.btag) == [[True, False]]
