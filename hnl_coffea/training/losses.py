"""Loss functions of the seed analyses.

* :func:`weighted_bce` — binary cross-entropy with per-event weights (class balance ×
  physics weight), normalised by the sum of weights.
* :func:`mape_sqrt_loss` — the di-τ mass DNN loss: ``|y_pred − y_true| / sqrt(y_true)``
  with the *mirrored-boundary* treatment. An event whose prediction lies further from the
  truth than the prediction lies from a training-range boundary does not count
  (upper boundary: weight 0; lower boundary: a small ``low_factor``, 0.1 in the seed,
  which keeps the training stable). Predictions outside the training range always count.
* :func:`kinematic_regression_loss` — MSE on the E_tot-normalised kinematic targets plus a
  relative MSE for E_tot itself (backbone pre-training).
"""

from __future__ import annotations

import torch

__all__ = [
    "weighted_bce",
    "weighted_bce_logits",
    "mirrored_boundary_factor",
    "mape_sqrt_loss",
    "kinematic_regression_loss",
]


def _weighted_mean(values: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    if weight is None:
        return values.mean()
    total = weight.sum()
    if not torch.isfinite(total) or total == 0:
        raise ValueError("sum of event weights is zero or not finite")
    return (values * weight).sum() / total


def weighted_bce(
    score: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ w·BCE(score, label) / Σ w for scores in (0, 1) (clamped to avoid log(0))."""
    eps = 1e-7
    s = score.clamp(eps, 1 - eps)
    bce = -(label * torch.log(s) + (1 - label) * torch.log1p(-s))
    return _weighted_mean(bce, weight)


def mirrored_boundary_factor(
    y_pred: torch.Tensor,
    y_true: torch.Tensor,
    low: float,
    high: float,
    low_factor: float = 0.1,
) -> torch.Tensor:
    """Per-event factor of the mirrored-boundary loss.

    For predictions inside the training range [low, high]: 0 where
    ``y_pred − y_true ≥ high − y_pred`` (the error points past the mirrored upper boundary),
    ``low_factor`` where ``y_true − y_pred ≥ y_pred − low`` (past the mirrored lower boundary),
    1 otherwise — the seed's ``where`` cascade (upper test first). Predictions outside
    [low, high] always count fully: otherwise predicting far above the range for every event
    is a trivial zero-loss minimum (the seed's "loss = 0 does not imply y_pred = y_true").
    """
    one = torch.ones_like(y_pred)
    lower = torch.where(y_true - y_pred >= y_pred - low, low_factor * one, one)
    factor = torch.where(y_pred - y_true >= high - y_pred, torch.zeros_like(y_pred), lower)
    inside = (y_pred >= low) & (y_pred <= high)
    return torch.where(inside, factor, one)


def mape_sqrt_loss(
    y_pred: torch.Tensor,
    y_true: torch.Tensor,
    low: float,
    high: float,
    weight: torch.Tensor | None = None,
    low_factor: float = 0.1,
) -> torch.Tensor:
    """Weighted mean of ``|y_pred − y_true| / sqrt(y_true)`` × mirrored-boundary factor."""
    if torch.any(y_true <= 0):
        raise ValueError("mape_sqrt_loss needs strictly positive true values")
    factor = mirrored_boundary_factor(y_pred.detach(), y_true, low, high, low_factor)
    per_event = torch.abs(y_pred - y_true) / torch.sqrt(y_true) * factor
    return _weighted_mean(per_event, weight)


def kinematic_regression_loss(
    pred: torch.Tensor, target: torch.Tensor, etot_index: int
) -> torch.Tensor:
    """Mean over outputs of the per-output loss: MSE, except relative MSE for E_tot.

    ``pred`` and ``target`` are ``(n, n_outputs)``; column ``etot_index`` holds E_tot in GeV
    (its relative error ``(pred − true)/true`` is squared), the other columns are already
    dimensionless (GeV quantities divided by E_tot, angles).
    """
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {tuple(pred.shape)} != target {tuple(target.shape)}")
    sq = (pred - target) ** 2
    rel = ((pred[:, etot_index] - target[:, etot_index]) / target[:, etot_index]) ** 2
    sq = torch.cat([sq[:, :etot_index], rel[:, None], sq[:, etot_index + 1 :]], dim=1)
    return sq.mean()


def weighted_bce_logits(
    logits: torch.Tensor, label: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Σ w·BCE(sigmoid(logits), label) / Σ w, computed stably from the logits."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, label, reduction="none")
    return _weighted_mean(bce, weight)
