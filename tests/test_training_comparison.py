"""The model comparison: orientation chosen on validation events, oriented AUCs, binned
significance per channel at the Run-2 luminosity, bootstrap errors — against plain
references (pair loops, np.histogram, the analytic error of S/√B)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hnl_coffea.postprocessing.binning import increasing_signal_edges
from hnl_coffea.training.comparison import EvalEvents, compare, luminosities, orientations

MASSES = (100.0, 500.0)


def _events(n: int, seed: int) -> EvalEvents:
    """'mt_total' is signal-like LOW at 100 GeV and HIGH at 500 GeV (as MT_total is);
    'parametric' is signal-like high at both."""
    rng = np.random.default_rng(seed)
    is_sig = rng.random(n) < 0.4
    m_true = np.where(is_sig, rng.choice(MASSES, n), np.nan)
    shift = np.where(m_true == 100.0, -150.0, np.where(m_true == 500.0, 250.0, 0.0))
    mt = np.clip(400.0 + shift + rng.normal(0, 120, n), 1, 1990)
    p = np.clip(0.5 + np.where(is_sig, 0.2, -0.1) + rng.normal(0, 0.15, n), 0, 1)
    return EvalEvents(
        channel=rng.integers(0, 5, n), is_signal=is_sig, m_true=m_true,
        weight=rng.uniform(0.5, 1.5, n) * np.where(is_sig, 0.02, 0.2),
        scores={"mt_total": mt, "parametric": np.stack([p, p], axis=1)},
    )  # fmt: skip


def _pair_auc(s_sig: np.ndarray, s_bkg: np.ndarray) -> float:
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(s_sig, s_bkg))
    return wins / (len(s_sig) * len(s_bkg))


def test_orientation_from_validation_and_oriented_auc(cfg):
    val, ev = _events(3000, seed=1), _events(400, seed=2)
    signs = orientations(val, MASSES)
    assert signs["mt_total"] == {"100": -1, "500": 1}
    assert signs["parametric"] == {"100": 1, "500": 1}
    out = compare(ev, signs, MASSES, cfg, n_boot=2)
    for m in MASSES:
        sig = ev.is_signal & (ev.m_true == m)
        bkg = ~ev.is_signal
        raw = _pair_auc(ev.scores["mt_total"][sig], ev.scores["mt_total"][bkg])
        want = 1 - raw if m == 100.0 else raw
        assert out["auc"]["mt_total"]["unweighted"][f"{m:g}"] == pytest.approx(want)
        assert want > 0.5  # the old report gave 1 - want < 0.5 at low mass
    assert out["orientation"]["mt_total"]["100"] == -1


def _plain_z(values, is_sig, is_bkg, w, fine, cfg):
    """np.histogram + the analysis binning on the given (already oriented) values."""
    pp = cfg.postprocessing
    v = np.clip(values, fine[0], fine[-1] - 1e-9)
    s, _ = np.histogram(v[is_sig], fine, weights=w[is_sig])
    sv, _ = np.histogram(v[is_sig], fine, weights=w[is_sig] ** 2)
    b, _ = np.histogram(v[is_bkg], fine, weights=w[is_bkg])
    bv, _ = np.histogram(v[is_bkg], fine, weights=w[is_bkg] ** 2)
    edges = increasing_signal_edges(s, sv, b, bv, fine, max_rel_unc=pp.max_rel_unc)
    s_r, _ = np.histogram(v[is_sig], edges, weights=w[is_sig])
    b_r, _ = np.histogram(v[is_bkg], edges, weights=w[is_bkg])
    good = b_r > 0
    return float(np.sqrt(np.sum(s_r[good] ** 2 / b_r[good])))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_significance_per_channel_at_run2_luminosity(cfg):
    ev = _events(6000, seed=3)
    signs = {"mt_total": {"100": -1, "500": 1}, "parametric": {"100": 1, "500": 1}}
    out = compare(ev, signs, MASSES, cfg, n_boot=3)
    lumi = sum(e.luminosity_fb for e in cfg.eras.values() if e.run == 2)
    assert out["luminosity_fb"]["Run 2"] == pytest.approx(lumi)
    assert out["reference_luminosity"] == "Run 2"
    fine = np.linspace(cfg.histograms.mt_total.start, cfg.histograms.mt_total.stop,
                       cfg.histograms.mt_total.bins + 1)  # fmt: skip
    mirrored = fine[0] + fine[-1] - ev.scores["mt_total"]
    for m in MASSES:
        z_ch = []
        for c, ch in enumerate(cfg.channel_names):
            in_ch = ev.channel == c
            sig = ev.is_signal & (ev.m_true == m) & in_ch
            bkg = ~ev.is_signal & in_ch
            vals = mirrored if m == 100.0 else ev.scores["mt_total"]
            z = _plain_z(vals, sig, bkg, ev.weight * lumi, fine, cfg)
            got = out["significance"]["mt_total"]["per_channel"][ch][f"{m:g}"]["z"]
            assert got == pytest.approx(z, rel=1e-9), (m, ch)
            z_ch.append(z)
        comb = out["significance"]["mt_total"]["combined"][f"{m:g}"]["z"]
        assert comb == pytest.approx(np.sqrt(np.sum(np.square(z_ch))))


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bootstrap_error_matches_the_analytic_error_of_one_bin(cfg):
    """With a requirement no merged bin can pass, every category is one bin and
    Z = S/√B: δZ/Z = sqrt(Σw_s²/S² + Σw_b²/(4 B²))."""
    c = cfg.with_overrides({"postprocessing.max_rel_unc": 1e-6})
    ev = _events(4000, seed=4)
    signs = {"mt_total": {"100": -1, "500": 1}, "parametric": {"100": 1, "500": 1}}
    out = compare(ev, signs, MASSES, c, n_boot=300, seed=9)
    for m in MASSES:
        for cidx, ch in enumerate(c.channel_names):
            sig = ev.is_signal & (ev.m_true == m) & (ev.channel == cidx)
            bkg = ~ev.is_signal & (ev.channel == cidx)
            ws, wb = ev.weight[sig], ev.weight[bkg]
            rel = np.sqrt(np.sum(ws**2) / ws.sum() ** 2 + np.sum(wb**2) / (4 * wb.sum() ** 2))
            got = out["significance"]["parametric"]["per_channel"][ch][f"{m:g}"]
            assert got["rel_error"] == pytest.approx(rel, rel=0.2), (m, ch)
            assert out["significance"]["parametric"]["n_bins"][ch][f"{m:g}"] == 1


def test_claims_and_best(cfg):
    ev = _events(6000, seed=5)
    signs = orientations(_events(3000, seed=6), MASSES)
    out = compare(ev, signs, MASSES, cfg, n_boot=10)
    pair = out["pairs"]["parametric_vs_mt_total"]
    for k in ("100", "500"):
        zp = out["significance"]["parametric"]["combined"][k]["z"]
        zm = out["significance"]["mt_total"]["combined"][k]["z"]
        assert pair[k]["diff"] == pytest.approx(zp - zm)
        assert pair[k]["ratio"] == pytest.approx(zp / zm)
    claim = out["claims"]["dnn_beats_mt_total"]
    assert set(claim["better_at"]) | set(claim["worse_at"]) <= {"100", "500"}
    assert out["best"]["overall"] in ("mt_total", "score_parametric")
    assert set(out["best"]["by_mass"]) == {"100", "500"}


def test_luminosities_per_run(cfg):
    lumis = luminosities(cfg)
    assert list(lumis)[0] == "Run 2"
    for name, value in lumis.items():
        run = int(name.split()[1])
        assert value == pytest.approx(
            sum(e.luminosity_fb for e in cfg.eras.values() if e.run == run)
        )


def test_evaluation_sample_allocation_by_hand():
    from hnl_coffea.training.evalsample import plan_counts

    eff = {"A": 0.04, "B": 1e-4, "C": 0.0, "S1": 0.01, "S2": 0.2}
    xsec = {"A": 4.0, "B": 1000.0, "C": 1e4, "S1": 1.0, "S2": 0.1}
    plan = plan_counts(eff, xsec, ["S1", "S2"], n_background=1_000_000, signal_selected=2000,
                       unseen_events=50_000, min_events=10_000)  # fmt: skip
    a, b = 4.0 * 0.2, 1000.0 * 0.01  # σ √ε
    assert plan.counts["A"] == pytest.approx(1_000_000 * a / (a + b), abs=1)
    assert plan.counts["B"] == pytest.approx(1_000_000 * b / (a + b), abs=1)
    assert plan.counts["C"] == 50_000
    assert plan.counts["S1"] == 200_000 and plan.counts["S2"] == 10_000  # 2000/0.2 → minimum
    assert plan.to_dict()["total_events"] == sum(plan.counts.values())


def test_evaluation_sample_generated_in_parts_and_skimmed(tmp_path, cfg):
    """Parts of one sample are summed (events, Σ genWeight); the ROOT files are removed."""
    from hnl_coffea.training.evalsample import EvalSamplePlan, generate_and_skim
    from hnl_coffea.training.skim import read_skim

    plan = EvalSamplePlan({"WZTo3LNu": 5000, "HNL_M300": 2000}, {}, "by hand")
    info = generate_and_skim(plan, tmp_path, cfg, seed=3, part_events=2000)
    assert info["WZTo3LNu"]["parts"] == 3 and info["HNL_M300"]["parts"] == 1
    meta = info["WZTo3LNu"]["metadata"]
    assert meta["user"]["n_events"] == 5000
    assert abs(meta["sumw"]) <= 5000 and meta["sumw"] > 0.5 * 5000  # ±1 generator weights
    assert not (tmp_path / "root").exists()
    skim = read_skim(tmp_path / "skim")
    ds = skim["dataset"]
    for name in plan.counts:
        assert info[name]["selected"] == int((ds == name).sum()) > 0
