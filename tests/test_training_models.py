"""The shipped models in data/models: they load, fit the analysis inputs, and their sidecar
metrics are reproduced on a freshly generated toy sample (other seed, other events)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hnl_coffea.features import FEATURE_NAMES
from hnl_coffea.fileset import load_fileset
from hnl_coffea.models import ModelRunner, check_compatible, load_artifact
from hnl_coffea.paths import data_path
from hnl_coffea.training.metrics import weighted_auc
from hnl_coffea.training.pipeline import run_skim
from hnl_coffea.training.prepare import REGRESSOR_INPUTS
from hnl_coffea.training.skim import read_skim
from hnl_coffea.training.synthetic import RAW_INPUTS

INPUTS = {"parametric": FEATURE_NAMES, "transfer": RAW_INPUTS, "mass_regression": REGRESSOR_INPUTS}
MASSES = (300.0, 600.0, 1000.0)


def _auc_error(auc: float, n_sig: int, n_bkg: int) -> float:
    """Hanley & McNeil (1982) standard error of an AUC from n_sig and n_bkg events."""
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = auc * (1 - auc) + (n_sig - 1) * (q1 - auc**2) + (n_bkg - 1) * (q2 - auc**2)
    return math.sqrt(var / (n_sig * n_bkg))


def _path(cfg, kind):
    return data_path(getattr(cfg.models, kind))


def test_shipped_artifacts_load_and_fit_the_analysis(cfg):
    total = 0
    for kind, names in INPUTS.items():
        path = _path(cfg, kind)
        loaded = load_artifact(path)
        assert loaded.sidecar.kind == kind
        check_compatible(loaded.sidecar, names, cfg.channel_names, cfg.mass_hypotheses)
        assert loaded.sidecar.provenance["sample"]["generated"] is True
        total += path.stat().st_size
    assert total < 5_000_000  # small enough to ship in the repository


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, cfg):
    from hnl_coffea.toymc import generate_fileset

    out = tmp_path_factory.mktemp("fresh")
    names = [f"HNL_M{m:.0f}" for m in MASSES] + ["WZTo3LNu", "ZZTo4L"]
    path = generate_fileset(
        out / "sample", 30_000, seed=97531, cfg=cfg, samples=names, signal_fraction=0.5
    )
    run_skim(load_fileset(path), cfg, out / "skim")
    skim = read_skim(out / "skim")
    return skim.subset(skim[f"region_{cfg.postprocessing.signal_region}"].astype(bool))


@pytest.mark.parametrize("kind", ["parametric", "transfer"])
def test_shipped_classifier_auc_reproduced(fresh, cfg, kind):
    runner = ModelRunner(_path(cfg, kind), threads=None)
    side = load_artifact(_path(cfg, kind)).sidecar
    charges = fresh.matrix(["l1_charge", "l2_charge", "l3_charge"])
    scores = runner.scores(fresh.columns, fresh["channel"], charges, list(MASSES))
    sig = fresh["is_signal"].astype(bool)
    for k, m in enumerate(MASSES):
        use = ~sig | np.isclose(fresh["m_true"], m)
        assert use.sum() > 200 and (use & sig).sum() > 50
        auc = weighted_auc(scores[use, k], sig[use])
        expected = side.metrics["test_auc_by_mass_unweighted"][f"{m:g}"]
        counts = side.metrics["test_counts_by_mass"][f"{m:g}"]
        # 3 combined standard errors (Hanley & McNeil) of the two finite-sample AUCs
        err = math.hypot(
            _auc_error(expected, counts["signal"], counts["background"]),
            _auc_error(auc, int((use & sig).sum()), int((~sig).sum())),
        )
        assert auc == pytest.approx(expected, abs=3 * err), f"{kind} at {m:g} GeV"


def test_shipped_mass_regressor_reproduced(fresh, cfg):
    runner = ModelRunner(_path(cfg, "mass_regression"), threads=None)
    side = load_artifact(_path(cfg, "mass_regression")).sidecar
    sig = fresh["is_signal"].astype(bool)
    pred = runner.regress(fresh.subset(sig).columns)
    m_true = fresh["m_true"][sig]
    for m in MASSES:
        at = np.isclose(m_true, m)
        rel = pred[at] / m_true[at] - 1.0
        q16, q50, q84 = np.percentile(rel, [16, 50, 84])
        expected = side.metrics["by_mass"][f"{m:g}"]
        assert q50 == pytest.approx(expected["bias"], abs=0.1), f"bias at {m:g} GeV"
        assert (q84 - q16) / 2 == pytest.approx(expected["resolution"], abs=0.1)


def test_shipped_transfer_model_is_fine_tuned(cfg):
    """The transfer model's backbone was trained past the frozen stage: it differs from the
    shipped pre-trained backbone, and the fine-tuned validation loss beats the frozen one."""
    import torch

    transfer = load_artifact(_path(cfg, "transfer"))
    backbone = load_artifact(data_path("models/backbone.pt"))
    tuned = transfer.model.backbone.state_dict()
    pre = backbone.model.state_dict()
    assert tuned.keys() == pre.keys()
    moved = max(float((tuned[k] - pre[k]).abs().max()) for k in pre)
    assert moved > 1e-3
    assert not all(torch.equal(tuned[k], pre[k]) for k in pre)
    fit = transfer.sidecar.provenance["fit"]
    stages = {s["stage"]: s for s in fit["stages"]}
    frozen, tune = stages["head_on_frozen_backbone"], stages["fine_tune"]
    assert frozen["frozen"] == ["backbone"] and tune["frozen"] == []
    assert stages["backbone_pretraining"]["trainable"] == ["backbone"]
    assert fit["chosen_stage"] == "fine_tune"
    assert tune["fit"]["best_val_loss"] < frozen["fit"]["best_val_loss"]
    for s in fit["stages"]:  # every stage's losses are recorded
        assert len(s["fit"]["history"]) == s["fit"]["epochs_run"] > 0
        assert all({"train_loss", "val_loss"} <= set(h) for h in s["fit"]["history"])
    assert transfer.sidecar.architecture_kwargs["freeze"] is False
    assert transfer.sidecar.provenance["backbone_max_abs_change"] == pytest.approx(moved, rel=1e-6)


def test_shipped_files_are_small():
    for f in data_path("models").iterdir():
        assert f.stat().st_size < 5_000_000, f.name


def test_readme_comparison_is_the_shipped_one(cfg):
    """The README's significance table quotes the shipped comparison.json (Run 2, ± error)."""
    import json
    import re
    from pathlib import Path

    summary = json.loads(data_path(cfg.models.comparison).read_text())["z_combined_and_error"]
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    header = re.search(r"^\| m_hyp \[GeV\] \|(.*)\|$", text[text.index("## Models") :], re.M)
    masses = [m.strip() for m in header.group(1).split("|")]
    rows = {"mt_total": "MT_total", "parametric": "parametric DNN", "transfer": "transfer"}
    for name, label in rows.items():
        row = re.search(rf"^\| Z {label} \|(.*)\|$", text, re.M).group(1).split("|")
        for m, cell in zip(masses, row, strict=True):
            z, err = (float(v) for v in cell.split("±"))
            assert (z, err) == pytest.approx(tuple(summary[name][m]), abs=0.006), (name, m)
