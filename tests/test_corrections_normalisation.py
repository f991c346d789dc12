"""Sample normalisation σ × L / Σ genWeight, the luminosity lnN, and the shipped files."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pytest

from hnl_coffea.config import ILLUSTRATIVE_POG_ROOT, POG_FILES
from hnl_coffea.corrections import mc_scale, normalisation_uncertainties
from hnl_coffea.corrections.evaluators import correction_file
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


def test_luminosity_is_split_into_lnn_parts_as_lum_recommends(cfg):
    """2018: 1.5 % uncorrelated, 2.0 % correlated over Run 2, 0.2 % correlated with 2017
    (total 2.5 %, the LUM POG recommendation); 2017 shares two of the three names."""
    parts = {u.name: u.value for u in normalisation_uncertainties(cfg)}
    assert all(u.kind == "lnN" and u.processes == "mc" for u in normalisation_uncertainties(cfg))
    assert parts == pytest.approx(
        {"lumi_13TeV_2018": 1.015, "lumi_13TeV_correlated": 1.020, "lumi_13TeV_1718": 1.002}
    )
    assert cfg.era_config.luminosity_uncertainty == pytest.approx(
        math.sqrt(0.015**2 + 0.020**2 + 0.002**2)
    )
    parts17 = {u.name for u in normalisation_uncertainties(cfg.for_era("2017"))}
    assert parts17 & set(parts) == {"lumi_13TeV_correlated", "lumi_13TeV_1718"}
    run3 = normalisation_uncertainties(cfg.for_era("2022EE"))
    assert [(u.name, u.value) for u in run3] == [("lumi_13p6TeV_2022", pytest.approx(1.014))]
    assert cfg.for_era("2022EE").era_config.energy_label == "13p6TeV"


def _read(path):
    raw = path.read_bytes()
    return (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()


def test_committed_files_equal_the_generator_output():
    files = build_all()
    root = data_path(ILLUSTRATIVE_POG_ROOT)
    assert sorted(files) == sorted(str(p.relative_to(root)) for p in root.rglob("*.json*"))
    for rel, text in files.items():
        path = root / rel
        assert _read(path) == text, (
            f"{path} is stale: run python -m hnl_coffea.corrections.make_illustrative"
        )


def test_every_era_has_its_illustrative_files_small_and_labelled(cfg):
    total = 0
    for era in cfg.eras:
        view = cfg.for_era(era)
        for kind in POG_FILES:
            path = correction_file(view, kind)
            if path is None:  # switched off for the era (e.g. no UL electron trigger SF)
                continue
            assert path.is_file(), (era, kind, path)
            total += path.stat().st_size
            doc = json.loads(_read(path))
            assert "ILLUSTRATIVE" in doc["description"]
            assert all("NOT a CMS measurement" in c["description"] for c in doc["corrections"])
    assert total < 150_000
