"""Fake signal from training: how often a classifier sculpts background into an excess.

The frequentist study of fake significance in semi-supervised classifiers, adapted: one
column of the background feature matrix is a mass variable that defines a pseudo signal
window and its sidebands. In each pseudo-experiment

1. a training sample of synthetic background events is drawn from the input (Gaussian kernel
   density estimate, ``scipy.stats.gaussian_kde``, or bootstrap), weighted by the event weights;
2. a small classifier learns window (label 1) against sidebands (label 0) from the other
   features (the mass column is left out unless ``use_mass_feature=True``);
3. an independent background-only test sample (Poisson-fluctuated size) is classified and,
   in a background-rejection scan, the events above several score thresholds (quantiles of
   the training-sample score) are kept;
4. the local significance of the window count ``n_on`` against the sidebands ``n_off`` with
   the window/sideband ratio α of the background model (the weighted input for bootstrap, a
   large draw for the KDE, which smooths the mass spectrum) is the Li–Ma significance
   (Li & Ma 1983, eq. 17), signed by the sign of ``n_on − α n_off``.

Bootstrap training and test samples share input events, so a classifier that memorises events
finds them again in the test sample: use ``sampler="kde"`` (default) for independent samples,
bootstrap to see that effect. Without fake signal each local Z follows a standard normal; the study reports the mean,
standard deviation, tail fractions and a Kolmogorov–Smirnov test against N(0, 1), and the
maximum over the scan per experiment (its own look-elsewhere effect).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["FakeSignalResult", "fake_signal_study", "li_ma_significance", "sample_events"]


def li_ma_significance(n_on: np.ndarray, n_off: np.ndarray, alpha: float) -> np.ndarray:
    """Signed Li–Ma significance of ``n_on`` window events over ``α · n_off`` expected."""
    n_on = np.asarray(n_on, dtype=float)
    n_off = np.asarray(n_off, dtype=float)
    tot = n_on + n_off
    with np.errstate(divide="ignore", invalid="ignore"):
        t_on = np.where(n_on > 0, n_on * np.log((1 + alpha) / alpha * n_on / tot), 0.0)
        t_off = np.where(n_off > 0, n_off * np.log((1 + alpha) * n_off / tot), 0.0)
    z = np.sqrt(np.maximum(2.0 * (t_on + t_off), 0.0))
    return np.where(tot > 0, np.sign(n_on - alpha * n_off) * z, 0.0)


def sample_events(
    features: np.ndarray,
    weights: np.ndarray | None,
    n: int,
    rng: np.random.Generator,
    method: str = "kde",
    kde=None,  # noqa: ANN001 - a prebuilt scipy gaussian_kde, to reuse between draws
) -> np.ndarray:
    """``n`` synthetic events: weighted bootstrap of the rows, or a draw from the weighted KDE."""
    if method == "bootstrap":
        p = None if weights is None else weights / weights.sum()
        return features[rng.choice(len(features), size=n, replace=True, p=p)]
    if method == "kde":
        kde = kde or stats.gaussian_kde(features.T, weights=weights)
        return kde.resample(n, seed=rng).T
    raise ValueError(f"sampling method {method!r} unknown; allowed: kde, bootstrap")


def _default_model(n_features: int):  # noqa: ANN202
    import torch

    return torch.nn.Sequential(
        torch.nn.Linear(n_features, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 1),
    )


def _train(x: np.ndarray, y: np.ndarray, model, epochs: int, seed: int):  # noqa: ANN001, ANN202
    """Adam (lr 1e-3, batch 256) with class-balanced binary cross entropy; returns a scorer."""
    import torch

    torch.manual_seed(seed)
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-12
    xt = torch.as_tensor((x - mean) / std, dtype=torch.float32)
    yt = torch.as_tensor(y, dtype=torch.float32)[:, None]
    pos_weight = torch.tensor([(len(y) - y.sum()) / max(y.sum(), 1.0)])
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=gen).split(256):
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()

    def score(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            zt = torch.as_tensor((z - mean) / std, dtype=torch.float32)
            return torch.sigmoid(model(zt)).numpy()[:, 0]

    return score


@dataclass(frozen=True)
class FakeSignalResult:
    """Local Z per experiment and score threshold; the maximum over thresholds per experiment."""

    z_local: np.ndarray  # (n_experiments, n_thresholds)
    z_max: np.ndarray  # (n_experiments,)
    selection_quantiles: tuple[float, ...]
    alpha: float
    window: tuple[float, float]

    def summary(self) -> dict:
        """Mean, std, tail fractions and KS p-value of the local Z against N(0, 1)."""
        z = self.z_local.ravel()
        return {
            "n_experiments": int(self.z_local.shape[0]),
            "selection_quantiles": list(self.selection_quantiles),
            "window": list(self.window),
            "alpha": self.alpha,
            "mean": float(z.mean()),
            "std": float(z.std(ddof=1)) if z.size > 1 else float("nan"),
            "fraction_z_gt_2": float(np.mean(z > 2)),
            "expected_fraction_z_gt_2": float(stats.norm.sf(2)),
            "fraction_z_gt_3": float(np.mean(z > 3)),
            "expected_fraction_z_gt_3": float(stats.norm.sf(3)),
            "ks_pvalue_vs_normal": float(stats.kstest(z, "norm").pvalue),
            "per_threshold_mean": self.z_local.mean(axis=0).tolist(),
            "z_max_quantiles": {
                f"{q:g}": float(v) for q, v in zip((0.5, 0.9), np.quantile(self.z_max, (0.5, 0.9)))
            },
        }


def fake_signal_study(
    background_features: np.ndarray,
    weights: np.ndarray | None = None,
    *,
    n_experiments: int = 10,
    rng: np.random.Generator,
    mass_column: int = 0,
    window: tuple[float, float] | None = None,
    sampler: str = "kde",
    n_train: int = 4000,
    n_test: int = 20000,
    selection_quantiles: Sequence[float] = (0.5, 0.8, 0.9),
    epochs: int = 5,
    use_mass_feature: bool = False,
    model_factory: Callable[[int], object] | None = None,
) -> FakeSignalResult:
    """Repeat train-on-background / count-in-the-window pseudo-experiments (module docstring).

    ``window`` defaults to the central 20% of the mass distribution (weighted quantiles 0.4 to
    0.6); the sidebands are everything else between the 0.1 and 0.9 quantiles.
    ``model_factory(n_features)`` builds a torch module mapping (N, F) to logits (N, 1);
    default: a 16-16 ReLU MLP.
    """
    x = np.asarray(background_features, dtype=float)
    if x.ndim != 2 or x.shape[0] < 10 or x.shape[1] < 2:
        raise ValueError(
            f"background_features must be (n_events ≥ 10, n_features ≥ 2), got {x.shape}"
        )
    if not 0 <= mass_column < x.shape[1]:
        raise ValueError(f"mass_column {mass_column} out of range for {x.shape[1]} features")
    w = None if weights is None else np.asarray(weights, dtype=float)
    if w is not None and (w.shape != (x.shape[0],) or np.any(w < 0) or w.sum() <= 0):
        raise ValueError("weights must be one non-negative number per event with a positive sum")
    mass = x[:, mass_column]
    order = np.argsort(mass)
    cum = np.cumsum(np.ones_like(mass) if w is None else w[order])
    cum /= cum[-1]
    q = {p: float(mass[order][np.searchsorted(cum, p)]) for p in (0.1, 0.4, 0.6, 0.9)}
    lo, hi = window or (q[0.4], q[0.6])
    sb_lo, sb_hi = min(q[0.1], lo), max(q[0.9], hi)
    in_win = (mass >= lo) & (mass < hi)
    in_sb = ((mass >= sb_lo) & (mass < lo)) | ((mass >= hi) & (mass < sb_hi))
    if not in_win.any() or not in_sb.any():
        raise ValueError(f"window {lo, hi} or its sidebands hold no event")
    kde = stats.gaussian_kde(x.T, weights=w) if sampler == "kde" else None
    if kde is None:  # bootstrap: the window/sideband ratio of the weighted input itself
        ww = np.ones_like(mass) if w is None else w
        alpha = float(ww[in_win].sum() / ww[in_sb].sum())
    else:  # the KDE smooths the mass spectrum: measure α on a large draw of the model
        m_ref = kde.resample(max(50 * n_test, 200_000), seed=rng)[mass_column]
        n_win = np.count_nonzero((m_ref >= lo) & (m_ref < hi))
        n_sb = np.count_nonzero(
            ((m_ref >= sb_lo) & (m_ref < lo)) | ((m_ref >= hi) & (m_ref < sb_hi))
        )
        alpha = n_win / n_sb
    cols = [c for c in range(x.shape[1]) if use_mass_feature or c != mass_column]
    z_local = np.zeros((n_experiments, len(selection_quantiles)))
    for k in range(n_experiments):
        train = sample_events(x, w, n_train, rng, sampler, kde)
        m_tr = train[:, mass_column]
        keep = ((m_tr >= sb_lo) & (m_tr < sb_hi)).nonzero()[0]
        label = ((m_tr[keep] >= lo) & (m_tr[keep] < hi)).astype(float)
        model = (model_factory or _default_model)(len(cols))
        score = _train(train[keep][:, cols], label, model, epochs, int(rng.integers(2**31)))
        thresholds = np.quantile(score(train[keep][:, cols]), selection_quantiles)
        test = sample_events(x, w, int(rng.poisson(n_test)), rng, sampler, kde)
        m_te, s_te = test[:, mass_column], score(test[:, cols])
        on = (m_te >= lo) & (m_te < hi)
        off = ((m_te >= sb_lo) & (m_te < lo)) | ((m_te >= hi) & (m_te < sb_hi))
        passed = s_te[:, None] >= thresholds[None, :]
        n_on = (passed & on[:, None]).sum(axis=0)
        n_off = (passed & off[:, None]).sum(axis=0)
        z_local[k] = li_ma_significance(n_on, n_off, alpha)
    return FakeSignalResult(
        z_local=z_local,
        z_max=z_local.max(axis=1),
        selection_quantiles=tuple(float(s) for s in selection_quantiles),
        alpha=alpha,
        window=(float(lo), float(hi)),
    )
