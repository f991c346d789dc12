"""Evaluation of the trained classifiers on the test split, under several event weightings."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..config import AnalysisConfig
from . import report as rep
from .datasets import TEST
from .prepare import Prepared, hypothesis_scores

__all__ = ["WEIGHTINGS", "evaluate_classifiers", "auc_metrics"]

#: Event weightings of the report: physical yields; the same with the background weights
#: capped as in the training loss; every event weight 1. The last two are diagnostics for
#: toy samples where a few fake-lepton background events carry most of the weight.
WEIGHTINGS = ("physics", "capped", "unweighted")


def evaluate_classifiers(
    prep: Prepared,
    parametric: torch.nn.Module,
    transfer: torch.nn.Module,
    masses: Sequence[float],
    cfg: AnalysisConfig,
    device: torch.device,
) -> dict[str, dict]:
    """AUC tables, binned significances and the headline check for every weighting."""
    a = prep.arrays
    test = a.split == TEST
    scale = 1.0 / max(np.mean(test), 1e-12)  # test yields → full-sample yields
    scores = {
        "mt_total": prep.mt_total[test],
        "parametric": hypothesis_scores(
            parametric, a.x[test], a.channel[test], a.charges[test], masses, device
        ),
        "transfer": hypothesis_scores(
            transfer, a.raw[test], a.channel[test], a.charges[test], masses, device
        ),
    }
    weights = {
        "physics": prep.physics_weight[test] * scale,
        "capped": prep.capped_weight[test] * scale,
        "unweighted": np.ones(int(test.sum())),
    }
    out: dict[str, dict] = {}
    for name in WEIGHTINGS:
        sample = rep.TestSample(
            channel=a.channel[test],
            is_signal=prep.is_signal[test],
            m_true=prep.m_true[test],
            weight=weights[name],
            scores=scores,
        )
        entry = {"auc": rep.auc_table(sample, masses, cfg.channel_names)}
        entry["significance"] = rep.significance_table(sample, masses, cfg.channel_names, cfg)
        entry["headline"] = rep.headline(entry["significance"], masses)
        out[name] = entry
    sig, m_true = prep.is_signal[test], prep.m_true[test]
    out["counts"] = {
        f"{m:g}": {
            "signal": int(np.sum(sig & np.isclose(m_true, m))),
            "background": int(np.sum(~sig)),
        }
        for m in masses
    }
    return out


def auc_metrics(evaluation: dict[str, dict], model: str) -> dict:
    """Sidecar metrics of one classifier: test AUC per mass hypothesis for every weighting."""
    metrics: dict = {"test_counts_by_mass": evaluation["counts"]}
    for name in WEIGHTINGS:
        entry = evaluation[name]
        by_mass = entry["auc"][model]["all"]
        finite = [v for v in by_mass.values() if np.isfinite(v)]
        metrics[f"test_auc_by_mass_{name}"] = by_mass
        metrics[f"test_auc_mean_{name}"] = float(np.mean(finite)) if finite else None
    return metrics
