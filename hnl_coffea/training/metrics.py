"""Figures of merit for the training report: weighted ROC AUC and regression residual
summaries (bias, resolution). Binned significances come from
:mod:`hnl_coffea.postprocessing`."""

from __future__ import annotations

import numpy as np

__all__ = [
    "weighted_auc",
    "residual_summary",
]


def weighted_auc(score: np.ndarray, label: np.ndarray, weight: np.ndarray | None = None) -> float:
    """Area under the ROC curve with event weights (ties count one half).

    Equals the weighted probability that a signal event scores above a background event.
    Returns NaN when either class has no positive total weight.
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(label).astype(bool)
    w = np.ones_like(s) if weight is None else np.asarray(weight, dtype=np.float64)
    ws, wb = w[y], w[~y]
    if ws.sum() <= 0 or wb.sum() <= 0:
        return float("nan")
    sb, order = np.sort(s[~y]), np.argsort(s[~y], kind="stable")
    cum = np.concatenate([[0.0], np.cumsum(wb[order])])
    lo = np.searchsorted(sb, s[y], side="left")
    hi = np.searchsorted(sb, s[y], side="right")
    below = cum[lo]
    equal = cum[hi] - cum[lo]
    return float(np.sum(ws * (below + 0.5 * equal)) / (ws.sum() * wb.sum()))


def residual_summary(pred: np.ndarray, true: np.ndarray, relative: bool = True) -> dict[str, float]:
    """Bias (median residual) and resolution (half the 16–84 % inter-quantile range)."""
    p, t = np.asarray(pred, float), np.asarray(true, float)
    r = (p - t) / t if relative else p - t
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"n": 0, "bias": float("nan"), "resolution": float("nan"), "rms": float("nan")}
    q16, q50, q84 = np.percentile(r, [16, 50, 84])
    return {
        "n": int(r.size),
        "bias": float(q50),
        "resolution": float((q84 - q16) / 2),
        "rms": float(np.sqrt(np.mean(r**2))),
    }
