"""Features against an independent per-event reference (math only) and hand-computed cases."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
from nanoaod_builder import DEFAULTS, build_events, random_events
from selection_reference import channel_event, features_event, jet_features

from hnl_coffea.channels import select
from hnl_coffea.features import (
    FEATURE_NAMES,
    FEATURES,
    compute_features,
    feature_table_markdown,
    kinematic_features,
)

ANGLES = {n for n in FEATURE_NAMES if "phi" in n}
DOC = Path(__file__).resolve().parents[1] / "docs" / "features.md"


def _close(name: str, got: float, ref: float) -> bool:
    if name in ANGLES:  # angles agree modulo 2π (the ±π boundary is a single point)
        diff = math.remainder(got - ref, 2 * math.pi)
        return abs(diff) <= 2e-6 * max(1.0, abs(ref))
    return math.isclose(got, ref, rel_tol=2e-6, abs_tol=2e-5)


def test_registry():
    assert len(FEATURES) >= 85
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    contract = [f"l{i}_{v}" for i in (1, 2, 3) for v in ("pt", "eta", "phi", "mass", "charge")]
    contract += ["met_pt", "met_phi", "m_3l", "pt_3l", "eta_3l", "phi_3l", "mt_3l", "dphi_3lmet"]
    contract += ["mt_total", "e_vis", "e_tot", "ht", "n_jets", "n_bjets", "j1_pt", "j1_eta"]
    contract += ["j1_phi"]
    for ij in ("12", "13", "23"):
        contract += [f"{v}_{ij}" for v in ("m", "pt", "eta", "phi", "dr", "dphi", "deta", "mt")]
        contract += [f"mt_{ij}met", f"dphi_{ij}met"]
    contract += [f"mt_{i}" for i in (1, 2, 3)] + [f"dphi_{i}met" for i in (1, 2, 3)]
    assert set(contract) <= set(FEATURE_NAMES)
    assert all(f.unit in ("", "GeV", "rad", "e") for f in FEATURES)


def test_committed_doc_matches_registry():
    assert DOC.read_text() == feature_table_markdown(), (
        "docs/features.md is stale: regenerate it with hnl_coffea.features.feature_table_markdown()"
    )


@pytest.fixture(scope="module", params=["modern", "legacy"])
def chunk(request, tmp_path_factory):
    evs = random_events(500, seed=23)
    events = build_events(tmp_path_factory.mktemp("feat"), evs, layout=request.param)
    return evs, events


#: Jets and MET as stored: the features are checked here, the corrections in test_jets.py.
AS_STORED = {"corrections.files.jerc": None}


def test_features_match_reference(chunk, cfg):
    evs, events = chunk
    sel = select(events, cfg.with_overrides(AS_STORED))
    mask = ak.num(sel.leptons) == 3  # every event with three leptons, selected or not
    feats = compute_features(sel, mask)
    assert list(feats.fields) == [*FEATURE_NAMES, "channel"]
    for name in FEATURE_NAMES:
        assert str(ak.type(feats[name])).endswith("float32"), name
    rows = ak.to_list(feats)
    refs = [channel_event(ev, cfg, DEFAULTS) for ev in evs]
    used = [(ev, r) for ev, r in zip(evs, refs) if len(r["leptons"]) == 3]
    assert len(rows) == len(used) >= 100
    for row, (ev, r) in zip(rows, used):
        met = r["objects"]
        from selection_reference import f32

        expected = features_event(r["leptons"], f32(ev["MET"]["pt"]), f32(ev["MET"]["phi"]))
        expected |= jet_features(met["jets"])
        for i, lep in enumerate(r["leptons"], start=1):
            expected[f"l{i}_charge"] = float(lep["charge"])
        assert row["channel"] == r["channel"]
        for name in FEATURE_NAMES:
            assert _close(name, row[name], expected[name]), (name, row[name], expected[name])


def test_selected_features_default_mask(chunk, cfg):
    evs, events = chunk
    sel = select(events, cfg)
    feats = compute_features(sel)
    assert len(feats) == int(ak.sum(sel.selected)) > 0
    assert set(ak.to_list(feats.channel)) <= set(range(len(cfg.channels)))


def _numpy(leptons, met=(0.0, 0.0)):
    arr = np.array([leptons], dtype=np.float64)  # (1, 3, 4): pt, eta, phi, mass
    return kinematic_features(
        arr[..., 0], arr[..., 1], arr[..., 2], arr[..., 3], np.array([met[0]]), np.array([met[1]])
    )


def test_back_to_back_leptons():
    f = _numpy([(50, 0, 0, 0), (50, 0, math.pi, 0), (20, 1.0, math.pi / 2, 0)], met=(30, 0))
    assert f["m_12"][0] == pytest.approx(100.0)
    assert f["pt_12"][0] == pytest.approx(0.0, abs=1e-9)
    assert f["mt_12"][0] == pytest.approx(100.0)  # sqrt(2·50·50·2)
    assert f["dr_12"][0] == pytest.approx(math.pi)
    assert abs(f["dphi_12"][0]) == pytest.approx(math.pi)
    assert f["mt_1"][0] == pytest.approx(0.0, abs=1e-9)  # collinear with MET
    assert f["mt_2"][0] == pytest.approx(math.sqrt(2 * 50 * 30 * 2))
    assert f["e_vis"][0] == pytest.approx(100 + 20 * math.cosh(1.0))
    assert f["e_tot"][0] == pytest.approx(130 + 20 * math.cosh(1.0))


def test_delta_phi_wraps_at_pi():
    f = _numpy([(30, 0.5, 3.1, 1), (30, 0.2, -3.1, 0.1), (20, -1, 0, 0.1)], met=(10, -3.0))
    wrapped = 6.2 - 2 * math.pi  # φ1 − φ2 = 6.2 -> −0.0832
    assert f["dphi_12"][0] == pytest.approx(wrapped)
    assert f["dr_12"][0] == pytest.approx(math.hypot(0.3, wrapped))
    assert f["dphi_1met"][0] == pytest.approx(6.1 - 2 * math.pi)
    assert -math.pi <= f["phi_12"][0] <= math.pi
    assert abs(f["phi_12"][0]) == pytest.approx(math.pi, abs=1e-6)  # the pair points along −x


def test_mt_total_hand_value():
    # three massless leptons and MET on the axes: every MT is sqrt(2·a·b·(1 − cos Δφ))
    f = _numpy(
        [(40, 0, 0, 0), (30, 0, math.pi / 2, 0), (20, 0, math.pi, 0)], met=(10, -math.pi / 2)
    )
    mt2 = 2 * 40 * 30 + 2 * 40 * 20 * 2 + 2 * 30 * 20  # pairs
    mt2 += 2 * 40 * 10 + 2 * 30 * 10 * 2 + 2 * 20 * 10  # with MET
    assert f["mt_total"][0] == pytest.approx(math.sqrt(mt2))


def test_numpy_and_awkward_inputs_agree():
    rng = np.random.default_rng(5)
    n = 50
    args = [
        rng.uniform(10, 200, (n, 3)),
        rng.uniform(-2.5, 2.5, (n, 3)),
        rng.uniform(-math.pi, math.pi, (n, 3)),
        rng.uniform(0, 2, (n, 3)),
    ]
    met = [rng.uniform(0, 100, n), rng.uniform(-math.pi, math.pi, n)]
    np_out = kinematic_features(*args, *met)
    ak_out = kinematic_features(*(ak.Array(a.tolist()) for a in args), *(ak.Array(m) for m in met))
    assert list(np_out) == list(ak_out)
    for name in np_out:
        assert isinstance(np_out[name], np.ndarray)
        np.testing.assert_allclose(
            ak.to_numpy(ak_out[name]), np_out[name], rtol=1e-12, err_msg=name
        )


def test_empty_inputs(tmp_path, cfg):
    empty = kinematic_features(*(np.zeros((0, 3)),) * 4, np.zeros(0), np.zeros(0))
    assert all(len(v) == 0 for v in empty.values())
    sel = select(build_events(tmp_path, []), cfg)
    feats = compute_features(sel)
    assert len(feats) == 0
    assert list(feats.fields) == [*FEATURE_NAMES, "channel"]
    assert str(ak.type(feats.mt_total)) == "0 * float32"
    assert str(ak.type(feats.channel)) == "0 * int8"


def test_jet_defaults_without_jets(tmp_path, cfg):
    ev = {
        "Tau": [{"pt": 40, "eta": 0, "phi": 0, "charge": 1}],
        "Muon": [{"pt": 30, "eta": 1, "phi": 2, "charge": -1}, {"pt": 25, "eta": -1, "phi": -2}],
    }
    jets = {"Jet": [{"pt": 35, "eta": 0.5, "phi": 1.0}, {"pt": 70, "eta": -2.0, "phi": 0.5}]}
    sel = select(build_events(tmp_path, [ev, {**ev, **jets}]), cfg.with_overrides(AS_STORED))
    feats = ak.to_list(compute_features(sel))
    assert [f["j1_pt"] for f in feats] == [-1.0, 70.0]
    assert [f["j1_eta"] for f in feats] == [0.0, -2.0]
    assert [f["n_jets"] for f in feats] == [0.0, 2.0]
    assert [f["ht"] for f in feats] == [0.0, 105.0]
