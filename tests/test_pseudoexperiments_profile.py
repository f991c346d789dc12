"""Profiled local fits of the pseudo-experiments: per-toy scipy fits, Wilks, fallback counting.

References are independent: per-bin Python likelihoods written with ``math`` and minimised
with ``scipy.optimize.minimize`` from several starting points, and the asymptotic
half-normal distribution of sqrt(q0) (Wilks/Chernoff) from ``scipy.stats``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from hnl_coffea.postprocessing import pseudoexperiments as pe

B3 = [40.0, 90.0, 25.0]
S3 = [1.0, 3.0, 6.0]
KAPPA = 1.15
UP3 = [44.0, 92.0, 23.0]  # asymmetric shape variation
DOWN3 = [37.0, 89.0, 26.5]


def _nll(mu: float, thetas: list[float], n: list[float], shape: bool) -> float:
    """−ln L up to a constant: Poisson per bin, κ^θ_lnN, combine's vertical interpolation."""
    th_n = thetas[0]
    th_s = thetas[1] if shape else 0.0
    total = 0.5 * sum(t * t for t in thetas)
    for i, (ni, bi, si) in enumerate(zip(n, B3, S3)):
        bkg = bi
        if shape:
            u, d = UP3[i], DOWN3[i]
            if abs(th_s) >= 1:
                bkg += (u - bi) * th_s if th_s > 0 else (bi - d) * th_s
            else:
                step = th_s * (3 * th_s**4 - 10 * th_s**2 + 15) / 8
                bkg += 0.5 * th_s * ((u - d) + step * (u + d - 2 * bi))
        if bkg <= 0:
            return 1e30
        lam = mu * si + bkg * KAPPA**th_n
        total += lam - (ni * math.log(lam) if ni > 0 else 0.0)
    return total


def _scipy_q0(n: list[float], shape: bool) -> float:
    """q0 from scipy.optimize.minimize, best of several starting points per fit."""
    dim = 2 if shape else 1
    starts = [np.zeros(dim), np.full(dim, -0.8)]
    bkg_only = min(
        optimize.minimize(
            lambda t: _nll(0.0, list(t), n, shape), x0, method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000},
        ).fun
        for x0 in starts
    )  # fmt: skip
    bounds = [(0.0, None)] + [(-5.0, 5.0)] * dim
    best = bkg_only
    for mu0 in (1.0, 10.0):
        for x0 in starts:
            res = optimize.minimize(
                lambda p: _nll(p[0], list(p[1:]), n, shape), np.r_[mu0, x0], method="L-BFGS-B",
                bounds=bounds, options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000},
            )  # fmt: skip
            best = min(best, res.fun)
    return max(2.0 * (bkg_only - best), 0.0)


def _three_bin(shape: bool) -> pe.Templates:
    extra = {"shape_names": ("tilt",), "shape_up": [UP3], "shape_down": [DOWN3]} if shape else {}
    return pe.Templates(
        B3, [S3], [100.0], ["c"] * 3, [0] * 3, lnn_names=("norm",),
        lnn_up=[[KAPPA] * 3], lnn_down=[[1 / KAPPA] * 3], **extra,
    )  # fmt: skip


@pytest.mark.parametrize("shape", [False, True])
def test_profiled_q0_matches_scipy_per_toy(shape):
    t = _three_bin(shape)
    rng = np.random.default_rng(21)
    counts = np.concatenate(
        [pe.throw_toys(t, 12, rng), pe.throw_toys(t, 12, rng, injected=(8.0, 100.0))]
    )
    fits = pe.fit_points(counts, t)
    assert not fits.failed.any()
    for k in range(counts.shape[0]):
        q0_ref = _scipy_q0(counts[k].tolist(), shape)
        assert fits.z[k, 0] ** 2 == pytest.approx(q0_ref, abs=1e-4)
    # the fit without profiling differs: the nuisances matter in this model
    z_fixed, _ = pe.local_significance(counts, t, profile=False)
    assert np.max(np.abs(z_fixed - fits.z)) > 0.1


def _large_flat(n_bins: int = 5, b: float = 2000.0) -> pe.Templates:
    """One point, flat background with a 10% normalisation and a ±4% tilt; signal peaked high."""
    tilt = np.linspace(-0.04, 0.04, n_bins)
    bkg = np.full(n_bins, b)
    return pe.Templates(
        bkg, [np.linspace(0.5, 3.0, n_bins) ** 2], [100.0], ["c"] * n_bins, [0] * n_bins,
        shape_names=("tilt",), shape_up=[bkg * (1 + tilt)], shape_down=[bkg * (1 - tilt)],
        lnn_names=("norm",), lnn_up=[[1.10] * n_bins], lnn_down=[[1 / 1.10] * n_bins],
    )  # fmt: skip


def test_profiled_local_z_is_half_normal_with_large_background():
    """Wilks: with nuisances thrown and profiled, P(Z > z) = 1 − Φ(z) for the local Z."""
    t = _large_flat()
    n_toys = 6000
    res = pe.run_toys(t, n_toys, seed=31, nuisances=True, profile=True)
    assert res.fit_summary()["n_failed"] == 0
    z = res.z_local[:, 0].astype(float)
    for z_cut in (0.0, 1.0, 2.0):
        p_ref = stats.norm.sf(z_cut)
        sigma = math.sqrt(p_ref * (1 - p_ref) / n_toys)
        # Z = 0 exactly when μ̂ would be negative: half the toys
        frac = np.mean(z > z_cut + 1e-9)
        assert abs(frac - p_ref) < 4 * sigma, (z_cut, frac, p_ref)
    # without profiling the 10% normalisation (200 events against √2000 ≈ 45) swamps the fit
    fixed = pe.run_toys(t, 2000, seed=31, nuisances=True, profile=False)
    frac_fixed = np.mean(fixed.z_local[:, 0] > 2.0)
    assert frac_fixed > 10 * stats.norm.sf(2.0)


def test_fallback_is_counted_and_agrees():
    """Fits not converged in the vectorised Newton go to scipy, counted, with the same q0."""
    t = _three_bin(shape=True)
    counts = pe.throw_toys(t, 20, np.random.default_rng(5), injected=(4.0, 100.0))
    full = pe.fit_points(counts, t)
    short = pe.fit_points(counts, t, max_iter=1)
    assert short.rescued.sum() > 5 and not full.rescued.any()
    assert not short.failed.any()
    assert np.allclose(short.z**2, full.z**2, atol=1e-6)
    summary = pe.scan(counts, t).fit_summary()
    assert summary == {"n_fits": 20, "fraction_rescued": 0.0, "fraction_failed": 0.0, "n_failed": 0}


def test_points_without_nuisances_keep_the_fixed_fit():
    """A nuisance acting on one channel leaves the other channel's fit at fixed background."""
    nb = 4
    bkg = np.full(2 * nb, 30.0)
    up = bkg * np.r_[np.full(nb, 1.2), np.ones(nb)]
    t = pe.Templates(
        bkg, [np.tile([0.5, 1.0, 2.0, 4.0], 2)], [100.0], ["a"] * nb + ["b"] * nb, [0] * (2 * nb),
        shape_names=("eff_a",), shape_up=[up], shape_down=[2 * bkg - up],
    )  # fmt: skip
    counts = pe.throw_toys(t, 30, np.random.default_rng(8), nuisances=False, injected=(5, 100))
    labels = [c for c, _ in t.point_labels]
    z_prof, _ = pe.local_significance(counts, t)
    z_fix, _ = pe.local_significance(counts, t, profile=False)
    b_only = labels.index("b")
    s = [0.5, 1.0, 2.0, 4.0]
    for k in range(counts.shape[0]):  # closed form of the fixed-background fit, by bisection
        n = counts[k, nb:]

        def score(mu, n=n):
            return sum(ni * si / (30.0 + mu * si) for ni, si in zip(n, s)) - sum(s)

        mu = 0.0
        if score(0.0) > 0:
            lo, hi = 0.0, 1e3
            for _ in range(200):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if score(mid) > 0 else (lo, mid)
            mu = lo
        q0 = 2 * sum(ni * math.log(1 + mu * si / 30.0) - mu * si for ni, si in zip(n, s))
        assert z_prof[k, b_only] == pytest.approx(math.sqrt(max(q0, 0)), abs=1e-6)
    assert np.any(np.abs(z_prof[:, labels.index("a")] - z_fix[:, labels.index("a")]) > 1e-3)
