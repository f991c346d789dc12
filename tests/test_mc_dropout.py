"""Monte-Carlo dropout in the analysis: runners refuse dropout-free models, the processor
fills the mean score, its per-event σ and the ±σ templates, and postprocessing turns them
into a template uncertainty. References are plain per-event loops over dropout passes."""

from __future__ import annotations

import sys
from pathlib import Path

import hist
import numpy as np
import pytest
import torch

from hnl_coffea.config import POG_FILES
from hnl_coffea.histograms import MC_DOWN, MC_UP, NOMINAL
from hnl_coffea.models import MassRegressor, ModelRunner, ParametricClassifier, load_artifact
from hnl_coffea.models import save_artifact as save
from hnl_coffea.paths import data_path

sys.path.insert(0, str(Path(__file__).parent))
from nanoaod_builder import open_events  # noqa: E402

NO_SF = {f"corrections.files.{k}": None for k in POG_FILES}
PASSES = 40
MASSES = (85.0, 300.0, 1000.0)


def test_runner_refuses_mc_dropout_without_dropout(tmp_path):
    """A dropout-free network used to give σ = 0 for every event (the shipped mass regressor):
    now it is a one-line error naming the model."""
    reg = MassRegressor(4, hidden=(8,), dropout=0.0)
    path = tmp_path / "reg.pt"
    save(reg, path, kind="mass_regression", feature_names=["a", "b", "c", "d"])
    with pytest.raises(ValueError, match=r"reg\.pt has no dropout"):
        ModelRunner(path).regress_mc(np.ones((3, 4)), n_passes=5)
    clf = ParametricClassifier(4, hidden=(8,), dropout=0.0)
    cpath = tmp_path / "clf.pt"
    save(clf, cpath, kind="parametric", feature_names=["a", "b", "c", "d"],
         mass_hypotheses=[100.0], channels=["x"] * 5)  # fmt: skip
    with pytest.raises(ValueError, match="no dropout"):
        ModelRunner(cpath).scores_mc(np.ones((3, 4)), np.zeros(3), np.ones((3, 3)), n_passes=5)


def test_shipped_mc_dropout_models_carry_dropout(cfg):
    for name in cfg.models.mc_dropout_models:
        side = load_artifact(data_path(getattr(cfg.models, name))).sidecar
        assert side.max_dropout > 0, name


def test_runner_mc_is_reproducible_and_keeps_the_global_rng(tmp_path):
    clf = ParametricClassifier(4, hidden=(16,), dropout=0.3)
    path = tmp_path / "clf.pt"
    save(clf, path, kind="parametric", feature_names=["a", "b", "c", "d"],
         mass_hypotheses=[100.0, 200.0], channels=["x"] * 5)  # fmt: skip
    rng = np.random.default_rng(1)
    x, ch, q = rng.normal(size=(50, 4)), rng.integers(0, 5, 50), np.ones((50, 3))
    runner = ModelRunner(path)
    torch.manual_seed(123)
    before = torch.get_rng_state()
    a = runner.scores_mc(x, ch, q, n_passes=10)
    assert torch.equal(torch.get_rng_state(), before)
    b = runner.scores_mc(x, ch, q, n_passes=10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    c = runner.scores_mc(x, ch, q, n_passes=10, seed=7)
    assert not np.array_equal(a[1], c[1])


@pytest.fixture(scope="module")
def mc_run(tmp_path_factory, cfg):
    """HNLProcessor with MC dropout on a toy signal + WZ chunk, and the skim of the same
    events (their features, for the per-event reference)."""
    from hnl_coffea.fileset import load_fileset
    from hnl_coffea.toymc import generate_fileset
    from hnl_coffea.training.pipeline import run_skim
    from hnl_coffea.training.skim import read_skim
    from processors import HNLProcessor

    out = tmp_path_factory.mktemp("mc")
    c = cfg.with_overrides({**NO_SF, "models.mc_dropout_passes": PASSES})
    fs_path = generate_fileset(out / "sample", 6000, seed=5, cfg=c,
                               samples=["HNL_M300", "WZTo3LNu"], signal_fraction=0.5)  # fmt: skip
    run_skim(load_fileset(fs_path), c, out / "skim")
    skim = read_skim(out / "skim")
    hists = {}
    proc = HNLProcessor(c, systematics=False)
    for dataset, spec in load_fileset(fs_path).items():
        ev = open_events(next(iter(spec["files"])))
        ev.metadata.update({"dataset": dataset, "filename": "f", **spec["metadata"]})
        h = proc.process(ev)["hists"]
        hists = h if not hists else {k: hists[k] + h[k] for k in h}
    return c, hists, skim


def _reference_mc(c, skim, model_name: str):
    """Per event, PASSES stochastic passes of ``model.forward`` one hypothesis at a time."""
    loaded = load_artifact(data_path(getattr(c.models, model_name)))
    side, model = loaded.sidecar, loaded.model
    x = torch.as_tensor(side.scaler.transform(skim.matrix(side.feature_names)))
    ch = torch.as_tensor(skim["channel"].astype(np.int64))
    q = torch.as_tensor(skim.matrix(["l1_charge", "l2_charge", "l3_charge"]))
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.train()
    torch.manual_seed(99)
    out = np.empty((PASSES, len(x), len(c.mass_hypotheses)))
    with torch.no_grad():
        for k, mass in enumerate(c.mass_hypotheses):
            m = torch.full((len(x),), float(mass))
            for p in range(PASSES):
                out[p, :, k] = model(x, ch, q, m).numpy()
    return out.mean(0), out.std(0)


@pytest.mark.parametrize("model_name", ["parametric", "transfer"])
def test_processor_fills_mc_dropout_histograms(mc_run, model_name):
    c, hists, skim = mc_run
    key = f"score_{model_name}"
    h_mc, h_std, h_det = hists[f"{key}_mc"], hists[f"{key}_mcstd"], hists[key]
    assert set(h_mc.axes["systematic"]) == {NOMINAL, MC_UP, MC_DOWN}
    sr = skim["region_SR"].astype(bool)
    mean_ref, std_ref = _reference_mc(c, skim, model_name)
    w = skim["gen_weight"]
    for k, mass in enumerate(c.mass_hypotheses):
        if mass not in MASSES:
            continue
        cut = {"region": "SR", "mhyp": hist.loc(int(mass))}
        det = h_det[{**cut, "systematic": NOMINAL}].project("score")
        nom = h_mc[{**cut, "systematic": NOMINAL}].project("score")
        # same events and weights as the deterministic score histogram
        assert nom.sum(flow=True).value == pytest.approx(det.sum(flow=True).value)
        assert nom.sum(flow=True).value == pytest.approx(w[sr].sum())
        # mean σ and mean score agree with the independent loop (different dropout masks:
        # statistical agreement, PASSES passes per event)
        s2 = h_std[{**cut, "systematic": NOMINAL}].project("score_std")
        centres = s2.axes[0].centers
        mean_sigma = np.sum(s2.values() * centres) / s2.values().sum()
        ref_sigma = np.average(std_ref[sr, k], weights=w[sr])
        assert std_ref[sr, k].mean() > 0.005
        assert mean_sigma == pytest.approx(ref_sigma, rel=0.15, abs=0.006)
        centres = nom.axes[0].centers
        mean_score = np.sum(nom.values() * centres) / nom.values().sum()
        ref_score = np.average(mean_ref[sr, k], weights=w[sr])
        assert mean_score == pytest.approx(ref_score, abs=0.02)
        # the ±σ templates move every event by its own σ
        up = h_mc[{**cut, "systematic": MC_UP}].project("score")
        dn = h_mc[{**cut, "systematic": MC_DOWN}].project("score")
        shift_up = np.sum(up.values() * centres) / up.values().sum() - mean_score
        shift_dn = mean_score - np.sum(dn.values() * centres) / dn.values().sum()
        ref_up = np.average(
            np.clip(mean_ref + std_ref, 0, 1)[sr, k] - mean_ref[sr, k], weights=w[sr]
        )
        ref_dn = np.average(
            mean_ref[sr, k] - np.clip(mean_ref - std_ref, 0, 1)[sr, k], weights=w[sr]
        )
        assert shift_up == pytest.approx(ref_up, rel=0.25, abs=0.01)
        assert shift_dn == pytest.approx(ref_dn, rel=0.25, abs=0.01)


def _reference_mass_mc(c, skim):
    """Per event, PASSES stochastic passes of the mass regressor (GeV)."""
    loaded = load_artifact(data_path(c.models.mass_regression))
    side, model = loaded.sidecar, loaded.model
    x = torch.as_tensor(side.scaler.transform(skim.matrix(side.feature_names)))
    model.eval()
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.train()
    torch.manual_seed(98)
    with torch.no_grad():
        out = np.stack([model(x).numpy().reshape(-1) for _ in range(PASSES)])
    return out.mean(0), out.std(0)


def test_processor_fills_mass_regression_mc_dropout(mc_run):
    """The regressed mass with MC dropout: mean mass, ±σ templates and σ / mean versus the
    mean mass, against the per-event loop over dropout passes (the shipped regressor used to
    carry no dropout, and the analysis could not run MC dropout on it)."""
    c, hists, skim = mc_run
    h_mc, h_std = hists["mass_regression_mc"], hists["mass_regression_mcstd"]
    assert set(h_mc.axes["systematic"]) == {NOMINAL, MC_UP, MC_DOWN}
    assert "mhyp" not in h_mc.axes.name and "mhyp" not in h_std.axes.name
    sr = skim["region_SR"].astype(bool)
    w = skim["gen_weight"][sr]
    mean_ref, std_ref = _reference_mass_mc(c, skim)
    mu, sd = mean_ref[sr], std_ref[sr]
    assert np.average(sd / mu, weights=w) > 0.005  # dropout gives a real spread
    nom = h_mc[{"region": "SR", "systematic": NOMINAL}].project("mass")
    det = hists["mass_regression"][{"region": "SR", "systematic": NOMINAL}].project("mass")
    assert nom.sum(flow=True).value == pytest.approx(w.sum())
    assert nom.sum(flow=True).value == pytest.approx(det.sum(flow=True).value)
    centres = nom.axes[0].centers
    mean_mass = np.sum(nom.values() * centres) / nom.values().sum()
    assert mean_mass == pytest.approx(np.average(mu, weights=w), rel=0.02)
    for syst, sign in ((MC_UP, 1), (MC_DOWN, -1)):
        v = h_mc[{"region": "SR", "systematic": syst}].project("mass").values()
        shift = sign * (np.sum(v * centres) / v.sum() - mean_mass)
        assert shift == pytest.approx(np.average(sd, weights=w), rel=0.2, abs=2.0)
    from hnl_coffea.postprocessing.mcdropout import sigma_profile

    s2 = h_std[{"region": "SR", "systematic": NOMINAL}].project("mass", "mass_rel_std")
    rel = s2.project("mass_rel_std")
    edges = rel.axes[0].edges[::5]  # 10 bins; different dropout masks: agreement in yield
    got = rel.values(flow=True).reshape(-1)
    got = np.r_[got[0], np.add.reduceat(got[1:-1], np.arange(0, len(got) - 2, 5)), got[-1]]
    ref = np.histogram(sd / mu, np.r_[-np.inf, edges, np.inf], weights=w)[0]
    np.testing.assert_allclose(got, ref, atol=0.05 * w.sum())
    centres, profile = sigma_profile(s2)
    assert len(centres) == c.histograms.mc_dropout_mass.bins
    assert np.isfinite(profile).any()


def test_no_mc_histograms_by_default(cfg):
    from hnl_coffea.histograms import book_histograms

    assert not any(k.endswith(("_mc", "_mcstd")) for k in book_histograms(cfg))


def test_postprocessing_template_uncertainty(mc_run):
    """Rebinned ±σ templates of one category against histograms of the per-event reference."""
    from hnl_coffea.postprocessing.binning import rebin
    from hnl_coffea.postprocessing.mcdropout import mc_dropout_uncertainty, sigma_profile

    c, hists, skim = mc_run
    k = list(c.mass_hypotheses).index(300.0)
    cut = {"dataset": "HNL_M300", "region": "SR", "mhyp": hist.loc(300)}
    h = hists["score_parametric_mc"][cut].project("systematic", "score")
    edges = h.axes["score"].edges[::40]  # 5 bins
    unc = mc_dropout_uncertainty(rebin(h, edges))
    mean_ref, std_ref = _reference_mc(c, skim, "parametric")
    use = skim["region_SR"].astype(bool) & (skim["dataset"] == "HNL_M300")
    w = skim["gen_weight"][use]
    mu, sd = mean_ref[use, k], std_ref[use, k]
    top = np.nextafter(1.0, 0.0)
    ref = {
        name: np.histogram(np.clip(v, 0, top), edges, weights=w)[0]
        for name, v in (("nominal", mu), ("up", mu + sd), ("down", mu - sd))
    }
    total = w.sum()
    assert unc.nominal.sum() == pytest.approx(total)
    for name in ("nominal", "up", "down"):
        # different dropout masks: agreement to a few per cent of the category's yield
        np.testing.assert_allclose(getattr(unc, name), ref[name], atol=0.05 * total)
    assert np.all(unc.relative >= 0) and unc.relative.max() > 0
    with pytest.raises(ValueError, match="no mcdropoutUp"):
        mc_dropout_uncertainty(hists["score_parametric"][cut].project("systematic", "score"))
    centres, mean_sigma = sigma_profile(
        hists["score_parametric_mcstd"][{**cut, "systematic": NOMINAL}].project(
            "score", "score_std"
        )
    )
    assert len(centres) == c.histograms.mc_dropout_score.bins
    filled = np.isfinite(mean_sigma)
    assert filled.any() and np.all(mean_sigma[filled] >= 0)
