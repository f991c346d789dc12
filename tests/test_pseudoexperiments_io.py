"""Pseudo-experiment templates from a processor-shaped output, the report, the CLI and Dask."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from hnl_coffea.histograms import book_histograms
from hnl_coffea.postprocessing import pseudoexperiments as pe
from hnl_coffea.postprocessing.pseudoexperiments_io import (
    equal_background_groups,
    run_pseudoexperiments,
    templates_from_output,
)

CHANNELS = ("tautaumu", "taumumu")
MASSES = (100, 200, 300)


def _output(cfg, with_data: bool = False) -> dict:
    """Processor-shaped output: WZ and ttbar backgrounds, three signal masses, optional data."""
    rng = np.random.default_rng(0)
    cfg = cfg.with_overrides({"mass_hypotheses": list(MASSES)})
    h = book_histograms(cfg)["score_parametric"]
    datasets = {
        "WZ": {"process": "WZ", "xsec": 2.0, "is_data": False, "is_signal": False, "m_hnl": None},
        "TT": {"process": "TT", "xsec": 1.0, "is_data": False, "is_signal": False, "m_hnl": None},
    }
    sumw = {"WZ": 1000.0, "TT": 500.0}
    for m in MASSES:
        datasets[f"HNL_M{m}"] = {"process": "HNL", "xsec": 0.01, "is_signal": True, "m_hnl": m}
        sumw[f"HNL_M{m}"] = 100.0
    if with_data:
        datasets["data"] = {"process": "data", "is_data": True}
    for name, meta in datasets.items():
        n = 400
        for ch in CHANNELS:
            for mh in MASSES:
                if meta.get("is_signal"):
                    score = rng.beta(6, 1, n) if meta["m_hnl"] == mh else rng.beta(2, 3, n)
                else:
                    score = rng.beta(1, 4, n)
                for syst, w in (("nominal", 1.0), ("tauIDUp", 1.05), ("tauIDDown", 0.96)):
                    if meta.get("is_data") and syst != "nominal":
                        continue
                    h.fill(
                        dataset=name, region="SR", channel=ch, mhyp=mh, systematic=syst,
                        score=score, weight=np.full(n, w),
                    )  # fmt: skip
    for meta in datasets.values():
        meta.update(name="x", era="2018", sumw=None, primary_dataset=None)
    return {
        "hists": {"score_parametric": h},
        "sumw": sumw,
        "datasets": datasets,
        "config": cfg.to_dict(),
    }


def test_equal_background_groups_reference():
    b = np.array([0.0, 0.0, 5.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # total 10
    starts = equal_background_groups(b, n_bins=5)
    merged = np.add.reduceat(b, starts)
    assert merged.sum() == pytest.approx(10.0)
    assert np.all(merged >= 2.0 - 1e-12) and len(merged) <= 5
    assert starts[0] == 0
    with pytest.raises(ValueError, match="without background"):
        equal_background_groups(np.zeros(4))


def test_templates_normalised_and_rebinned(cfg):
    out = _output(cfg)
    t, observed, blocks = templates_from_output(out, cfg, n_bins=6)
    assert observed is None and len(blocks) == len(CHANNELS) * len(MASSES)
    lumi = cfg.era_config.luminosity_fb
    # background: every fine entry of WZ weighs 2 pb·1000·L/1000, TT 1 pb·1000·L/500
    per_hist = 400 * (2.0 * 1000 * lumi / 1000 + 1.0 * 1000 * lumi / 500)
    assert t.background.sum() == pytest.approx(per_hist * len(blocks), rel=1e-9)
    assert t.signal[0].sum() == pytest.approx(0.01 * 1000 * lumi / 100 * 400 * len(blocks))
    assert t.shape_names == ("tauID", "norm_TT", "norm_WZ")
    tau_up = t.shape_up[0] / t.background
    assert np.allclose(tau_up, 1.05) and np.allclose(t.shape_down[0] / t.background, 0.96)
    assert t.lnn_names == ("lumi",) and np.allclose(
        t.lnn_up, 1 + cfg.era_config.luminosity_uncertainty
    )
    assert len(t.point_labels) == 3 * len(MASSES)  # two channels + their combination


def test_bad_output_is_named(cfg):
    out = _output(cfg)
    with pytest.raises(ValueError, match="'score_transfer' not in the output"):
        templates_from_output(out, cfg, hist_name="score_transfer")
    with pytest.raises(ValueError, match="region 'CR_Z' not filled"):
        templates_from_output(out, cfg, region="CR_Z")


def test_report_and_cli(cfg, tmp_path):
    from hnl_coffea.cli import main
    from hnl_coffea.outputs import save_output as save

    out = _output(cfg, with_data=True)
    rep = run_pseudoexperiments(
        out, tmp_path / "a", None, n_toys=400, seed=1, inject=(3.0, 200.0), n_injection_toys=20,
        unblind=True,
    )  # fmt: skip
    assert "observed" in rep and rep["injected"]["most_common_best_mhyp"] == 200.0
    assert rep["nuisances_profiled"] is True and rep["nuisances_thrown"] is True
    assert rep["fits"]["n_fits"] == 400 * rep["n_points"] and rep["fits"]["n_failed"] == 0
    on_disk = json.loads((tmp_path / "a" / "toys.json").read_text())
    assert on_disk["max_z"]["quantiles"] == rep["max_z"]["quantiles"]
    assert (tmp_path / "a" / "toys_max_z.png").stat().st_size > 0
    assert 0.0 <= rep["observed"]["p_global"] <= 1.0
    save(out, tmp_path / "out.zip")
    res = CliRunner().invoke(
        main,
        ["toys", str(tmp_path / "out.zip"), "--outdir", str(tmp_path / "b"), "--ntoys", "300",
         "--seed", "4", "--inject-mu", "3", "--inject-mhyp", "300"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "global p-value" in res.output
    on_disk = json.loads((tmp_path / "b" / "toys.json").read_text())
    assert on_disk["n_toys"] == 300 and on_disk["nuisances_profiled"] is True
    fixed = CliRunner().invoke(
        main,
        ["toys", str(tmp_path / "out.zip"), "--outdir", str(tmp_path / "d"), "--ntoys", "50",
         "--no-profile"],
    )  # fmt: skip
    assert fixed.exit_code == 0, fixed.output
    assert json.loads((tmp_path / "d" / "toys.json").read_text())["nuisances_profiled"] is False
    bad = CliRunner().invoke(
        main,
        ["toys", str(tmp_path / "out.zip"), "--outdir", str(tmp_path / "c"),
         "--inject-mu", "1", "--inject-mhyp", "999"],
    )  # fmt: skip
    assert bad.exit_code != 0 and "m_hyp 999" in bad.output


def test_dask_client_gives_same_toys(cfg):
    from distributed import Client, LocalCluster

    t, _, _ = templates_from_output(_output(cfg), cfg)
    local = pe.run_toys(t, 600, seed=8, block_size=200)
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1") as lc,
        Client(lc) as client,
    ):
        remote = pe.run_toys(t, 600, seed=8, block_size=200, client=client)
    assert np.array_equal(local.max_z, remote.max_z)
    assert np.array_equal(local.best_point, remote.best_point)
