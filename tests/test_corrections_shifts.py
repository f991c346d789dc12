"""Nominal τh energy scale and the shape variations (τh energy scale, MET unclustered
energy, JES/JER) on the whole object record.

The illustrative τh energy scales (``TAU_ES`` in make_illustrative.py), for genuine τh only:
nominal 0.990 (dm 0), 1.004 (dm 1), 0.995 (dm 10), 1.002 (dm 11), up/down = nominal ± δ with
δ = 0.008, 0.009, 0.011, 0.012.
"""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from hnl_coffea.corrections import (
    SHAPE_SYSTEMATICS,
    CorrectionError,
    CorrectionProvider,
    propagate_to_met,
    shape_variations,
    shift_met,
    shift_taus,
)
from hnl_coffea.corrections.shifts import nominal_objects
from hnl_coffea.objects import Objects

NOMINAL = {0: 0.990, 1: 1.004, 10: 0.995, 11: 1.002}
DELTA = {0: 0.008, 1: 0.009, 10: 0.011, 11: 0.012}


def _taus():
    return ak.zip(
        {
            "pt": [[20.1, 45.0], [19.9], [30.0, 25.0]],
            "eta": [[0.3, -1.2], [2.0], [0.0, 1.0]],
            "phi": [[1.0, -2.0], [0.5], [3.0, 0.1]],
            "mass": [[0.5, 1.1], [0.9], [1.2, 0.14]],
            "decayMode": [[0, 10], [1], [11, 0]],
            "genPartFlav": [[5, 5], [5], [0, 1]],  # last event: jet and e fakes
        }
    )


def _met():
    return ak.zip(
        {
            "pt": [40.0, 15.0, 80.0],
            "phi": [0.2, -1.0, 2.5],
            "MetUnclustEnUpDeltaX": [1.5, -0.7, 3.0],
            "MetUnclustEnUpDeltaY": [-0.4, 0.9, -2.0],
        }
    )


@pytest.fixture()
def provider(cfg):
    return CorrectionProvider(cfg)


@pytest.mark.parametrize("direction,sign", [("up", 1.0), ("down", -1.0)])
def test_tau_es_scales_genuine_taus_per_decay_mode(provider, direction, sign):
    taus = _taus()
    new = shift_taus(taus, provider, direction)
    for ev_old, ev_new in zip(taus.tolist(), new.tolist()):
        for t_old, t_new in zip(ev_old, ev_new):
            genuine = t_old["genPartFlav"] == 5
            dm = t_old["decayMode"]
            k = NOMINAL[dm] + sign * DELTA[dm] if genuine else 1.0
            assert math.isclose(t_new["pt"], t_old["pt"] * k, rel_tol=1e-12)
            assert math.isclose(t_new["mass"], t_old["mass"] * k, rel_tol=1e-12)
            assert t_new["eta"] == t_old["eta"] and t_new["phi"] == t_old["phi"]
    nominal = shift_taus(taus, provider, "nom")
    for ev_old, ev_new in zip(taus.tolist(), nominal.tolist()):
        for t_old, t_new in zip(ev_old, ev_new):
            k = NOMINAL[t_old["decayMode"]] if t_old["genPartFlav"] == 5 else 1.0
            assert math.isclose(t_new["pt"], t_old["pt"] * k, rel_tol=1e-12)


def test_tau_es_moves_events_across_the_pt_threshold(cfg, provider):
    """A τh at 20.1 GeV leaves the selection under τES Down; one at 19.9 GeV enters under Up."""
    threshold = cfg.objects.tau.pt_min
    assert threshold == 20.0
    taus = _taus()

    def selected(t):  # the τh pT requirement of the object selection, in plain awkward
        return ak.to_list(ak.any(t.pt > threshold, axis=1))

    def n_pass(t):
        return ak.to_list(ak.sum(t.pt > threshold, axis=1))

    assert n_pass(taus) == [2, 0, 2]
    down = shift_taus(taus, provider, "down")
    up = shift_taus(taus, provider, "up")
    assert n_pass(down) == [1, 0, 2]  # 20.1 × (0.990 - 0.008) = 19.74 fails
    assert n_pass(up) == [2, 1, 2]  # 19.9 × (1.004 + 0.009) = 20.16 passes
    assert n_pass(shift_taus(taus, provider, "nom")) == [1, 0, 2]  # 20.1 × 0.990 = 19.90
    assert selected(taus) == [True, False, True]
    assert selected(up) == [True, True, True]  # the event set changes


def _objects(taus, met):
    return Objects(muons=None, electrons=None, taus=taus, jets=None, met=met)


def test_nominal_correction_and_per_dm_variation_around_it(cfg, provider):
    """Simulation gets the nominal scale; ``tauES_DM10Up`` puts the genuine DM-10 τh at
    nominal + δ (a full scale from the uncorrected pT), every other τh stays nominal, and the
    MET moves by the change from the nominal taus."""
    raw = _objects(_taus(), _met())
    nominal = nominal_objects(raw, cfg, provider, is_data=False)
    assert nominal_objects(raw, cfg, provider, is_data=True) is raw
    variations = {v.name: v for v in shape_variations(cfg)}
    shifted = variations["tauES_DM10Up"].apply(raw, nominal, provider)
    for ev, (t_raw, t_nom, t_new) in enumerate(
        zip(raw.taus.tolist(), nominal.taus.tolist(), shifted.objects.taus.tolist())
    ):
        px = nominal.met.pt[ev] * math.cos(nominal.met.phi[ev])
        py = nominal.met.pt[ev] * math.sin(nominal.met.phi[ev])
        for old, nom, new in zip(t_raw, t_nom, t_new):
            genuine, dm = old["genPartFlav"] == 5, old["decayMode"]
            assert math.isclose(nom["pt"], old["pt"] * (NOMINAL[dm] if genuine else 1.0))
            k = NOMINAL[dm] + DELTA[dm] if genuine and dm == 10 else None
            want = old["pt"] * k if k else nom["pt"]
            assert math.isclose(new["pt"], want, rel_tol=1e-12)
            px -= (new["pt"] - nom["pt"]) * math.cos(old["phi"])
            py -= (new["pt"] - nom["pt"]) * math.sin(old["phi"])
        assert math.isclose(shifted.objects.met.pt[ev], math.hypot(px, py), rel_tol=1e-9)
    # only the first event has a genuine DM-10 τh: only it is selected again
    assert shifted.reselect.tolist() == [True, False, False]
    unclust = variations["unclustEnUp"].apply(raw, nominal, provider)
    assert not unclust.reselect.any()
    assert ak.all(unclust.objects.taus.pt == nominal.taus.pt)


def test_propagation_to_met_by_hand(provider):
    taus, met = _taus(), _met()
    new = shift_taus(taus, provider, "down")
    shifted = propagate_to_met(met, taus, new)
    for m_old, m_new, ev_old, ev_new in zip(
        met.tolist(), shifted.tolist(), taus.tolist(), new.tolist()
    ):
        px = m_old["pt"] * math.cos(m_old["phi"])
        py = m_old["pt"] * math.sin(m_old["phi"])
        for t_old, t_new in zip(ev_old, ev_new):
            px -= (t_new["pt"] - t_old["pt"]) * math.cos(t_old["phi"])
            py -= (t_new["pt"] - t_old["pt"]) * math.sin(t_old["phi"])
        assert math.isclose(m_new["pt"], math.hypot(px, py), rel_tol=1e-12)
        assert math.isclose(m_new["phi"], math.atan2(py, px), rel_tol=1e-12)
    # taus shifted down → less visible pT → more MET along the first event's leading tau
    assert shifted.pt[0] != met.pt[0]


@pytest.mark.parametrize("direction,sign", [("up", 1.0), ("down", -1.0)])
def test_met_unclustered_by_hand(direction, sign):
    met = _met()
    new = shift_met(met, direction)
    for old, nw in zip(met.tolist(), new.tolist()):
        px = old["pt"] * math.cos(old["phi"]) + sign * old["MetUnclustEnUpDeltaX"]
        py = old["pt"] * math.sin(old["phi"]) + sign * old["MetUnclustEnUpDeltaY"]
        assert math.isclose(nw["pt"], math.hypot(px, py), rel_tol=1e-12)
        assert math.isclose(nw["phi"], math.atan2(py, px), rel_tol=1e-12)


def test_shape_variations_are_data(cfg):
    names = [v.name for v in shape_variations(cfg)]
    expected = [f"tauES_DM{d}{s}" for d in cfg.objects.tau.decay_modes for s in ("Up", "Down")]
    jets = ["JES_TotalUp", "JES_TotalDown", "JERUp", "JERDown"]
    assert names == expected + ["unclustEnUp", "unclustEnDown", *jets]
    assert set(SHAPE_SYSTEMATICS) == {"tauES", "unclustEn", "JES", "JER"}
    off = cfg.with_overrides({"corrections.tau_energy_scale": False})
    assert [v.name for v in shape_variations(off)] == ["unclustEnUp", "unclustEnDown", *jets]
    # JES sources per era; no jet corrections, no jet variations
    sources = cfg.with_overrides({"eras.2018.jets.jes_sources": ["FlavorQCD", "RelativeBal"]})
    assert [v.name for v in shape_variations(sources) if v.stem == "JES"] == [
        "JES_FlavorQCDUp", "JES_FlavorQCDDown", "JES_RelativeBalUp", "JES_RelativeBalDown",
    ]  # fmt: skip
    no_jerc = cfg.with_overrides({"corrections.files.jerc": None})
    assert not [v for v in shape_variations(no_jerc) if v.stem in ("JES", "JER")]
    no_jer = cfg.with_overrides({"corrections.jet_energy_resolution": False})
    assert "JERUp" not in [v.name for v in shape_variations(no_jer)]
    assert shape_variations(cfg, is_data=True) == []
    assert np.all([v.direction in ("up", "down") for v in shape_variations(cfg)])


def test_jet_variation_moves_jets_and_the_nominal_met(cfg, provider):
    """``JES_TotalUp`` returns the whole record with the shifted jets; its MET is the nominal
    MET (here already moved by the τh energy scale) plus the change of the type-1 MET under
    the variation; only events whose jets moved are selected again."""
    from hnl_coffea.jets import JetShifts

    counts = np.array([2, 0, 1])
    cols = {
        "pt": np.array([50.0, 30.0, 40.0]),
        "eta": np.zeros(3),
        "phi": np.array([0.5, 1.0, 2.0]),
    }
    cols["mass"] = np.array([5.0, 3.0, 4.0])
    t1 = ak.zip({"pt": [40.0, 20.0, 10.0], "phi": [0.1, 0.2, 0.3]})
    up_pt = np.array([52.0, 30.0, 40.0])  # the third event's jet does not move
    met_up = ([41.0, 20.0, 10.0], [0.15, 0.2, 0.3])  # the type-1 MET of the shifted jets
    shifts = JetShifts(
        counts, cols, t1, {"JES_Total": (up_pt, cols["pt"])},
        {"JES_Total": (cols["mass"] * up_pt / cols["pt"], cols["mass"])},
        {"JES_Total": ((np.array(met_up[0]), np.array(met_up[1])), (t1.pt, t1.phi))},
    )  # fmt: skip
    base = ak.zip({"pt": [45.0, 25.0, 12.0], "phi": [0.0, -1.0, 3.0]})
    nominal = Objects(muons=_taus(), electrons=_taus(), taus=_taus(), jets=shifts.jets(), met=base)
    var = next(v for v in shape_variations(cfg) if v.name == "JES_TotalUp")
    shifted = var.apply(nominal, nominal, provider, jets=shifts)
    assert ak.to_list(shifted.objects.jets.pt) == [[52.0, 30.0], [], [40.0]]
    assert shifted.objects.taus is nominal.taus and shifted.objects.muons is nominal.muons
    assert shifted.reselect.tolist() == [True, False, False]
    for ev in range(3):
        x = base.pt[ev] * math.cos(base.phi[ev]) + met_up[0][ev] * math.cos(met_up[1][ev])
        y = base.pt[ev] * math.sin(base.phi[ev]) + met_up[0][ev] * math.sin(met_up[1][ev])
        x -= t1.pt[ev] * math.cos(t1.phi[ev])
        y -= t1.pt[ev] * math.sin(t1.phi[ev])
        assert shifted.objects.met.pt[ev] == pytest.approx(math.hypot(x, y), rel=1e-12)
    assert shifted.objects.met.pt[1] == pytest.approx(25.0, rel=1e-12)  # type-1 unchanged
    with pytest.raises(CorrectionError, match="needs the jet energy corrections"):
        var.apply(nominal, nominal, provider)
