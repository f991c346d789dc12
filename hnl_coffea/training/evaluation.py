"""Evaluating the trained classifiers: per-event scores for the comparison, and the test-split
AUCs stored in the artifact sidecars."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..config import AnalysisConfig
from ..features import FEATURE_NAMES
from ..models import Scaler
from .comparison import EvalEvents
from .datasets import TEST
from .metrics import weighted_auc
from .prepare import Prepared, hypothesis_scores
from .skim import SkimTable
from .synthetic import RAW_INPUTS

__all__ = ["WEIGHTINGS", "auc_metrics", "skim_events", "split_events", "test_split_auc"]

#: Event weightings of the test-split AUCs in the sidecars: physical yields; every event 1.
WEIGHTINGS = ("physics", "unweighted")


def _scores(models, x, raw, channel, charges, masses, device) -> dict[str, np.ndarray]:
    parametric, transfer = models
    return {
        "parametric": hypothesis_scores(parametric, x, channel, charges, masses, device),
        "transfer": hypothesis_scores(transfer, raw, channel, charges, masses, device),
    }


def split_events(
    prep: Prepared, split: int, models, masses: Sequence[float], lumi_fb: float, device
) -> EvalEvents:
    """One split of the training sample as :class:`EvalEvents` (weights per fb⁻¹ of the
    whole sample: the split's share is divided out)."""
    a = prep.arrays
    m = a.split == split
    share = max(float(np.mean(m)), 1e-12)
    scores = _scores(models, a.x[m], a.raw[m], a.channel[m], a.charges[m], masses, device)
    return EvalEvents(
        channel=a.channel[m], is_signal=prep.is_signal[m], m_true=prep.m_true[m],
        weight=prep.physics_weight[m] / lumi_fb / share,
        scores={"mt_total": prep.mt_total[m], **scores},
    )  # fmt: skip


def skim_events(
    skim: SkimTable,
    weight_per_fb: np.ndarray,
    models,
    scalers: tuple[Scaler, Scaler],
    masses: Sequence[float],
    device: torch.device,
) -> EvalEvents:
    """An independent skim (the evaluation sample) as :class:`EvalEvents`."""
    x = scalers[0].transform(skim.matrix(FEATURE_NAMES))
    raw = scalers[1].transform(skim.matrix(RAW_INPUTS))
    channel = skim["channel"].astype(np.int64)
    charges = skim.matrix(["l1_charge", "l2_charge", "l3_charge"])
    return EvalEvents(
        channel=channel, is_signal=skim["is_signal"].astype(bool),
        m_true=skim["m_true"].astype(np.float64), weight=np.asarray(weight_per_fb),
        scores={"mt_total": skim["mt_total"].astype(np.float64),
                **_scores(models, x, raw, channel, charges, masses, device)},
    )  # fmt: skip


def test_split_auc(
    prep: Prepared, models, masses: Sequence[float], cfg: AnalysisConfig, device
) -> dict:
    """Classifier AUC (as trained: high = signal-like) on the test split, per weighting."""
    test = split_events(prep, TEST, models, masses, 1.0, device)
    out: dict = {"counts": {}}
    for name in WEIGHTINGS:
        out[name] = {}
        for model in ("parametric", "transfer"):
            out[name][model] = {}
            for k, m in enumerate(masses):
                use, label = test.at_mass(m)
                w = test.weight[use] if name == "physics" else None
                out[name][model][f"{m:g}"] = weighted_auc(test.score(model, k)[use], label[use], w)
    for m in masses:
        use, label = test.at_mass(m)
        n_bkg = int((use & ~label).sum())
        out["counts"][f"{m:g}"] = {"signal": int(label.sum()), "background": n_bkg}
    return out


def auc_metrics(evaluation: dict, model: str) -> dict:
    """Sidecar metrics of one classifier: test AUC per mass hypothesis for every weighting."""
    metrics: dict = {"test_counts_by_mass": evaluation["counts"]}
    for name in WEIGHTINGS:
        by_mass = evaluation[name][model]
        finite = [v for v in by_mass.values() if np.isfinite(v)]
        metrics[f"test_auc_by_mass_{name}"] = by_mass
        metrics[f"test_auc_mean_{name}"] = float(np.mean(finite)) if finite else None
    return metrics
