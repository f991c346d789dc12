"""Shape variations: τh energy scale and MET unclustered energy.

The illustrative τh energy-scale shifts (``TAU_ES_DELTA`` in make_illustrative.py) are
δ = 0.008 (dm 0), 0.009 (dm 1), 0.011 (dm 10), 0.012 (dm 11) for genuine τh only.
"""

from __future__ import annotations

import math

import awkward as ak
import numpy as np
import pytest

from hnl_coffea.corrections import (
    SHAPE_SYSTEMATICS,
    CorrectionProvider,
    propagate_to_met,
    shape_variations,
    shift_met,
    shift_taus,
)

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
            k = 1.0 + sign * DELTA[t_old["decayMode"]] if genuine else 1.0
            assert math.isclose(t_new["pt"], t_old["pt"] * k, rel_tol=1e-12)
            assert math.isclose(t_new["mass"], t_old["mass"] * k, rel_tol=1e-12)
            assert t_new["eta"] == t_old["eta"] and t_new["phi"] == t_old["phi"]
    nominal = shift_taus(taus, provider, "nom")
    assert ak.all(nominal.pt == taus.pt)


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
    assert n_pass(down) == [1, 0, 2]  # 20.1 × 0.992 = 19.94 fails
    assert n_pass(up) == [2, 1, 2]  # 19.9 × 1.009 = 20.08 passes
    assert selected(taus) == [True, False, True]
    assert selected(up) == [True, True, True]  # the event set changes


def test_per_dm_variation_only_shifts_its_decay_mode(cfg, provider):
    variations = {v.name: v for v in shape_variations(cfg)}
    taus, met = _taus(), _met()
    new, _ = variations["tauES_DM10Up"].apply(taus, met, provider)
    flat_old, flat_new = ak.flatten(taus), ak.flatten(new)
    for old, nw in zip(flat_old.tolist(), flat_new.tolist()):
        k = 1.011 if (old["decayMode"] == 10 and old["genPartFlav"] == 5) else 1.0
        assert math.isclose(nw["pt"], old["pt"] * k, rel_tol=1e-12)


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
    assert names == expected + ["unclustEnUp", "unclustEnDown"]
    assert set(SHAPE_SYSTEMATICS) == {"tauES", "unclustEn"}
    off = cfg.with_overrides({"corrections.tau_energy_scale": False})
    assert [v.name for v in shape_variations(off)] == ["unclustEnUp", "unclustEnDown"]
    assert shape_variations(cfg, is_data=True) == []
    assert np.all([v.direction in ("up", "down") for v in shape_variations(cfg)])
