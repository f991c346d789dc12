"""Sample normalisation σ × L / Σ genWeight, the luminosity lnN, and the shipped files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hnl_coffea.corrections import mc_scale, normalisation_uncertainties
from hnl_coffea.corrections.make_illustrative import build_all
from hnl_coffea.paths import data_path


def test_weighted_toy_yield_equals_sigma_times_lumi():
    """Toy with negative weights: Σ(w × scale) over all events is σ × L exactly, and in a
    selected subset (30 % efficiency, independent of the weight) σ × L × 0.3 within errors."""
    rng = np.random.default_rng(20261125)
    n = 200_000
    xsec_pb, lumi_fb = 0.75, 59.8
    magnitude = rng.gamma(4.0, 0.25, n)
    genweight = np.where(rng.random(n) < 0.15, -magnitude, magnitude)  # 15 % negative
    x = rng.random(n)
    scale = mc_scale(xsec_pb, lumi_fb, float(genweight.sum()))
    expected_total = xsec_pb * 1000.0 * lumi_fb
    assert math.isclose(float(np.sum(genweight * scale)), expected_total, rel_tol=1e-9)
    sel = x < 0.3
    yield_sel = float(np.sum(genweight[sel]) * scale)
    stat = math.sqrt(float(np.sum(genweight[sel] ** 2))) * scale
    assert abs(yield_sel - 0.3 * expected_total) < 5 * stat
    assert stat < 0.02 * yield_sel  # the check is meaningful, not swamped by noise


def test_mc_scale_errors():
    with pytest.raises(ValueError, match="sum of generator weights"):
        mc_scale(1.0, 59.8, 0.0)
    with pytest.raises(ValueError, match="sum of generator weights"):
        mc_scale(1.0, 59.8, -5.0)
    with pytest.raises(ValueError, match="cross section missing"):
        mc_scale(None, 59.8, 10.0)
    with pytest.raises(ValueError, match="luminosity"):
        mc_scale(1.0, 0.0, 10.0)


def test_luminosity_is_a_lnn_normalisation_uncertainty(cfg):
    (lumi,) = normalisation_uncertainties(cfg)
    assert lumi.kind == "lnN" and lumi.processes == "mc"
    assert lumi.name == "lumi_13TeV_2018"
    assert lumi.value == pytest.approx(1.025)
    run3 = normalisation_uncertainties(cfg.with_overrides({"era": "2022postEE"}))
    assert run3[0].name == "lumi_13p6TeV_2022postEE" and run3[0].value == pytest.approx(1.014)


def test_committed_files_equal_the_generator_output():
    for stem, text in build_all().items():
        path = data_path(f"corrections/{stem}.json")
        assert path.read_text() == text, (
            f"{path} is stale: run python -m hnl_coffea.corrections.make_illustrative"
        )


def test_shipped_files_are_small_and_labelled(cfg):
    total = 0
    for kind in ("tau", "muon", "electron", "pileup", "btag", "trigger"):
        path = data_path(getattr(cfg.corrections, kind))
        total += path.stat().st_size
        doc = json.loads(path.read_text())
        assert "ILLUSTRATIVE" in doc["description"]
        assert all("NOT a CMS measurement" in c["description"] for c in doc["corrections"])
    assert total < 200_000
