"""Collision-data rules: golden-JSON mask, primary-dataset arbitration, lumi JSON output."""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pytest

from hnl_coffea.data import (
    compress_lumis,
    fired_groups,
    lumi_mask,
    lumi_pairs,
    primary_dataset_mask,
)


def _events(runs, lumis, hlt: dict[str, list[bool]]):
    return ak.zip(
        {
            "run": np.asarray(runs, dtype=np.uint32),
            "luminosityBlock": np.asarray(lumis, dtype=np.uint32),
            "HLT": ak.zip({k: np.asarray(v) for k, v in hlt.items()}),
        },
        depth_limit=1,
    )


def test_compress_lumis_by_hand():
    pairs = {(1, 3), (1, 1), (1, 2), (1, 7), (2, 5), (1, 8)}
    assert compress_lumis(pairs) == {"1": [[1, 3], [7, 8]], "2": [[5, 5]]}


def test_lumi_mask_against_ranges(cfg, tmp_path):
    golden = {"315000": [[1, 10], [20, 20]], "315100": [[5, 6]]}
    path = tmp_path / "golden.json"
    path.write_text(json.dumps(golden))
    era = cfg.era_config.model_copy(update={"golden_json": str(path)})
    rng = np.random.default_rng(1)
    runs = rng.choice([315000, 315100, 315200], size=500)
    lumis = rng.integers(1, 25, size=500)
    ev = _events(runs, lumis, {"IsoMu24": np.ones(500, bool)})
    got = lumi_mask(ev, era)
    expected = [
        any(lo <= lb <= hi for lo, hi in golden.get(str(r), [])) for r, lb in zip(runs, lumis)
    ]
    assert got.tolist() == expected
    assert lumi_pairs(ev) == {(int(r), int(lb)) for r, lb in zip(runs, lumis)}


def test_missing_golden_json_is_one_line(cfg, tmp_path):
    era = cfg.era_config.model_copy(update={"golden_json": str(tmp_path / "nope.json")})
    ev = _events([1], [1], {"IsoMu24": [True]})
    with pytest.raises(FileNotFoundError, match="golden JSON for era '2018' not found"):
        lumi_mask(ev, era)


def test_primary_dataset_arbitration_counts_each_event_once(cfg):
    era = cfg.era_config  # SingleMuon (single_mu) > EGamma (single_e) > Tau (ditau)
    rng = np.random.default_rng(7)
    n = 400
    hlt = {
        "IsoMu24": rng.random(n) < 0.4,
        "Ele32_WPTight_Gsf": rng.random(n) < 0.4,
        "DoubleMediumChargedIsoPFTauHPS35_Trk1_eta2p1_Reg": rng.random(n) < 0.4,
    }
    ev = _events(np.ones(n), np.arange(n), hlt)
    fired = fired_groups(ev, era)
    masks = {pd.name: primary_dataset_mask(fired, era, pd.name) for pd in era.primary_datasets}
    # independent per-event reference: the first primary dataset (priority order) whose path fired
    for i in range(n):
        mu, e, tt = (bool(hlt[k][i]) for k in hlt)
        owner = "SingleMuon" if mu else "EGamma" if e else "Tau" if tt else None
        for name, m in masks.items():
            assert bool(m[i]) == (name == owner)
    total = sum(m.sum() for m in masks.values())
    assert total == sum(any(bool(hlt[k][i]) for k in hlt) for i in range(n))
    with pytest.raises(ValueError, match="primary dataset 'JetHT' not configured"):
        primary_dataset_mask(fired, era, "JetHT")


def test_absent_hlt_path_counts_as_not_fired(cfg):
    ev = _events([1, 1], [1, 2], {"IsoMu24": [True, False]})
    fired = fired_groups(ev, cfg.era_config)
    assert fired["single_mu"].tolist() == [True, False]
    assert fired["ditau"].tolist() == [False, False]
