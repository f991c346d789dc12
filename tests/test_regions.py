"""Orthogonal regions: the signal region vetoes what CR_Z requires, overlaps must be
declared, and blinding covers every region that overlaps a blinded one."""

from __future__ import annotations

import math

import numpy as np
import pytest
from nanoaod_builder import DEFAULTS, build_events, random_events
from selection_reference import channel_event

from hnl_coffea.channels import select
from hnl_coffea.config import ConfigError


def _z_event() -> dict:
    """τμμ with an opposite-sign μμ pair at m_Z (two massless muons back to back at equal η:
    m = 2 pT) and no b jet."""
    pt = 91.1876 / 2
    return {
        "Tau": [{"pt": 40.0, "eta": 1.5, "phi": 1.6, "charge": 1}],
        "Muon": [
            {"pt": pt, "eta": 0.0, "phi": 0.0, "charge": 1, "mass": 0.0},
            {"pt": pt, "eta": 0.0, "phi": math.pi, "charge": -1, "mass": 0.0},
        ],
    }


def test_a_z_event_is_in_cr_z_only(tmp_path, cfg):
    sel = select(build_events(tmp_path, [_z_event()]), cfg)
    assert sel.channel.tolist() == [cfg.channel_names.index("taumumu")]
    regions = {name: bool(np.asarray(mask)[0]) for name, mask in sel.regions.items()}
    assert regions == {"SR": False, "CR_ttbar": False, "CR_Z": True}


def test_no_event_in_two_regions(tmp_path, cfg):
    evs = random_events(2000, seed=23)
    sel = select(build_events(tmp_path, evs), cfg)
    masks = np.stack([np.asarray(m) for m in sel.regions.values()])
    assert masks.any(axis=0).sum() > 25  # the sample fills the regions (after trigger matching)
    assert (masks.sum(axis=0) <= 1).all()
    for i, ev in enumerate(evs):  # and every region equals the per-event reference
        ref = channel_event(ev, cfg, DEFAULTS)["regions"]
        assert {k: bool(m[i]) for k, m in zip(sel.regions, masks)} == ref, i


def test_undeclared_overlap_is_refused_in_one_line(cfg):
    regions = [
        {"name": "SR", "bjet_veto": "apply"},  # no Z veto: shares events with CR_Z
        {"name": "CR_ttbar", "bjet_veto": "invert"},
        {"name": "CR_Z", "bjet_veto": "apply", "z_window_gev": 15.0},
    ]
    with pytest.raises(ConfigError, match=r"regions 'SR' and 'CR_Z' can share events") as err:
        cfg.with_overrides({"regions": regions})
    assert "\n" not in str(err.value)
    # a narrower veto than the window is not enough either
    narrow = [dict(regions[0], z_veto_gev=10.0), *regions[1:]]
    with pytest.raises(ConfigError, match="'SR' and 'CR_Z'"):
        cfg.with_overrides({"regions": narrow})


def test_declared_overlap_is_blinded_with_the_signal_region(cfg):
    regions = [
        {"name": "SR", "bjet_veto": "apply", "z_veto_gev": 15.0},
        {"name": "CR_ttbar", "bjet_veto": "invert"},
        {"name": "CR_Z", "bjet_veto": "apply", "z_window_gev": 15.0},
        {"name": "SR_loose", "bjet_veto": "ignore", "overlaps": ["SR", "CR_ttbar", "CR_Z"]},
    ]
    c = cfg.with_overrides({"regions": regions})
    assert c.postprocessing.blinded_regions == ("SR",)
    assert c.blinded_regions == ("SR", "CR_ttbar", "CR_Z", "SR_loose")
    assert cfg.blinded_regions == ("SR",)  # the default regions are disjoint
    with pytest.raises(ConfigError, match="unknown region"):
        cfg.with_overrides({"regions": [{"name": "SR", "overlaps": ["CR_nope"]}]})
