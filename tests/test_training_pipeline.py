"""The training pipeline on a small fake skim: artifacts, sidecars and the report agree."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hnl_coffea.models import load_artifact
from hnl_coffea.training.datasets import TEST, split_index
from hnl_coffea.training.metrics import weighted_auc
from hnl_coffea.training.pipeline import QUICK, train_on_skim
from hnl_coffea.training.stages import TrainingOptions

sys.path.insert(0, str(Path(__file__).parent))
from _training_fake_skim import fake_skim  # noqa: E402


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cfg):
    skim = fake_skim(12000, cfg.mass_hypotheses, seed=11)
    opts = replace(TrainingOptions(progress=False, seed=3), **QUICK)
    out = tmp_path_factory.mktemp("train")
    report = train_on_skim(cfg, skim, np.full(len(skim), 0.01), out, opts)
    return skim, out, report


def test_artifacts_and_report_written(trained, cfg):
    _, out, report = trained
    for name in ("parametric", "transfer", "backbone", "mass_regression"):
        assert (out / "models" / f"{name}.pt").is_file()
        assert (out / "models" / f"{name}.pt.json").is_file()
    on_disk = json.loads((out / "report" / "report.json").read_text())
    comp = on_disk["comparison"]
    assert set(comp["auc"]) == {"mt_total", "parametric", "transfer"}
    sig = comp["significance"]["transfer"]
    assert len(sig["combined"]) == len(cfg.mass_hypotheses)
    assert set(sig["per_channel"]) == set(cfg.channel_names)
    run2 = [e.luminosity_fb for e in cfg.eras.values() if e.run == 2]
    assert comp["luminosity_fb"]["Run 2"] == pytest.approx(sum(run2)) and len(run2) == 4
    assert comp["events"]["source"] == "test split of the training sample"
    assert all(c["summary"] for c in comp["claims"].values())
    assert set(on_disk["test_split_auc"]) == {"physics", "unweighted", "counts"}
    summary = json.loads((out / "models" / "comparison.json").read_text())
    assert summary["best"]["overall"] in ("mt_total", "score_parametric", "score_transfer")
    for png in on_disk["plots"]:
        assert (out / "report" / png).stat().st_size > 1000
    side = json.loads((out / "models" / "parametric.pt.json").read_text())
    assert side["provenance"]["training_options"]["seed"] == 3
    assert side["provenance"]["events_per_split"]["test"] > 0


def test_sidecar_auc_matches_independent_reevaluation(trained, cfg):
    """Reload the artifact, standardise with the sidecar constants, evaluate one hypothesis at
    a time through ``forward`` (not the batched path the pipeline used): same AUCs."""
    skim, out, _ = trained
    test = split_index(skim["event"]) == TEST
    for kind in ("parametric", "transfer"):
        loaded = load_artifact(out / "models" / f"{kind}.pt")
        side = loaded.sidecar
        x = skim.matrix(side.feature_names)[test]
        x = (x - np.asarray(side.feature_mean)) / np.asarray(side.feature_std)
        ch = torch.as_tensor(skim["channel"][test].astype(np.int64))
        q = torch.as_tensor(skim.matrix(["l1_charge", "l2_charge", "l3_charge"])[test])
        sig, m_true = skim["is_signal"][test], skim["m_true"][test]
        for m in (100.0, 500.0, 1000.0):
            with torch.no_grad():
                s = loaded.model(
                    torch.as_tensor(x, dtype=torch.float32), ch, q, torch.full((len(x),), m)
                ).numpy()
            use = ~sig | np.isclose(m_true, m)
            for weighting in ("physics", "unweighted"):
                # physics weights are uniform here, so both must equal the unweighted AUC
                expected = side.metrics[f"test_auc_by_mass_{weighting}"][f"{m:g}"]
                assert weighted_auc(s[use], sig[use]) == pytest.approx(expected, abs=2e-3)


def test_mass_regressor_outputs_gev(trained):
    skim, out, report = trained
    loaded = load_artifact(out / "models" / "mass_regression.pt")
    side = loaded.sidecar
    sig = skim["is_signal"]
    x = (skim.matrix(side.feature_names)[sig] - np.asarray(side.feature_mean)) / np.asarray(
        side.feature_std
    )
    with torch.no_grad():
        pred = loaded.model(torch.as_tensor(x, dtype=torch.float32)).numpy()
    # even a 2-epoch network lands within the search's mass range on average
    assert 85 * 0.5 < np.median(pred) < 1000 * 1.5
    assert report["regression"]["mass_regressor"]["1000"]["n"] > 0


def test_backbone_etot_output_in_gev(trained):
    skim, out, _ = trained
    loaded = load_artifact(out / "models" / "backbone.pt")
    side = loaded.sidecar
    x = (skim.matrix(side.feature_names) - np.asarray(side.feature_mean)) / np.asarray(
        side.feature_std
    )
    with torch.no_grad():
        pred = loaded.model(torch.as_tensor(x, dtype=torch.float32)).numpy()[:, -1]
    true = skim["e_tot"]
    # the last output is E_tot in GeV: right order of magnitude after a 2-epoch pre-training
    assert 0.3 < np.median(pred / true) < 3.0


@pytest.mark.slow
def test_cli_train_quick_end_to_end(tmp_path):
    """Generate → skim (coffea Runner) → train → artifacts + report through the CLI."""
    from click.testing import CliRunner

    from hnl_coffea.cli import main

    result = CliRunner().invoke(
        main,
        ["train", "--outdir", str(tmp_path), "--events", "20000", "--quick", "--no-progress"],
    )
    assert result.exit_code == 0, result.output
    assert "report.json" in result.output
    for kind in ("parametric", "transfer", "mass_regression"):
        loaded = load_artifact(tmp_path / "models" / f"{kind}.pt")
        assert loaded.sidecar.provenance["sample"]["n_events"] == 20000
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    n_sel = sum(d["selected"] for d in report["provenance"]["datasets"].values())
    n_sr = sum(report["provenance"]["events_per_split"].values())  # SR: b-jet veto on top
    assert 0 < n_sr <= n_sel


def test_cli_train_rejects_missing_cuda(tmp_path):
    from click.testing import CliRunner

    from hnl_coffea.cli import main

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = CliRunner().invoke(main, ["train", "--outdir", str(tmp_path), "--device", "cuda"])
    assert result.exit_code == 1
    assert "CUDA" in result.output
