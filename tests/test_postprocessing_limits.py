"""Expected limits (asymptotic CLs, Asimov) against hand-computed counting experiments.

The references are written here from scratch: the Poisson likelihood of one bin, the CLs
construction of Cowan et al. with CL_b = Φ(N) for the ±Nσ band, and a brute-force scan of
μ (and of θ for a log-normal nuisance) — nothing from hnl_coffea.postprocessing.limits.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from hnl_coffea.postprocessing.limits import CountingModel, expected_limits, q_asimov


def _nll(n, lam):  # noqa: ANN001, ANN202 - numbers or arrays
    return lam - n * np.log(lam)


def _q_hand(s: float, b: float, mu, kappa: float | None = None):  # noqa: ANN001, ANN202
    """q_μ (μ: number or array) on the Asimov data n = b; with ``kappa`` a log-normal
    nuisance on b, profiled by a grid scan of θ (unit Gaussian constraint)."""
    n = b
    mu = np.atleast_1d(np.asarray(mu, dtype=float))
    if kappa is None:
        return 2 * (_nll(n, mu * s + b) - _nll(n, b))
    thetas = np.linspace(-4, 4, 8001)[None, :]
    vals = _nll(n, mu[:, None] * s + b * kappa**thetas) + 0.5 * thetas**2
    return 2 * (vals.min(axis=1) - _nll(n, b))


N_SCAN = 4000


def _limit_scan(s: float, b: float, n_sigma: float, kappa: float | None = None) -> float:
    """The smallest μ on a fine grid with CLs ≤ 0.05 at band quantile n_sigma."""
    mus = np.linspace(0.005, 20, N_SCAN) * (2 * math.sqrt(b) / s)
    qa = _q_hand(s, b, mus, kappa)
    clsb = 1 - stats.norm.cdf(np.sqrt(qa) - n_sigma)  # √q_μ at the quantile: √q_A − N
    below = np.flatnonzero(clsb / stats.norm.cdf(n_sigma) <= 0.05)
    assert below.size, "no limit in the scan"
    return float(mus[below[0]])


@pytest.mark.parametrize(("s", "b"), [(10.0, 100.0), (3.0, 2.0), (0.5, 40.0)])
def test_single_bin_matches_closed_form_and_scan(s, b):
    lim = expected_limits(CountingModel(np.array([s]), np.array([[b]])))
    # median: 2 (μs − b ln(1 + μs/b)) = 1.96², solved here by bisection on the closed form
    lo, hi = 0.0, 1e3 * (1 + b) / s
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        q = 2 * (mid * s - b * math.log1p(mid * s / b))
        lo, hi = (mid, hi) if q < stats.norm.ppf(0.975) ** 2 else (lo, mid)
    assert lim["median"] == pytest.approx(lo, rel=1e-4)
    assert q_asimov(CountingModel(np.array([s]), np.array([[b]])), lo) == pytest.approx(
        _q_hand(s, b, lo)[0], rel=1e-9
    )
    step = 20 * 2 * math.sqrt(b) / s / N_SCAN  # grid spacing of the scan
    for key, n_sigma in (("median", 0), ("m1", -1), ("p1", 1), ("p2", 2), ("m2", -2)):
        assert lim[key] == pytest.approx(_limit_scan(s, b, n_sigma), abs=step * 1.01)
    assert lim["m2"] < lim["m1"] < lim["median"] < lim["p1"] < lim["p2"]


def test_large_background_tends_to_gaussian():
    # s ≪ b: μ_up = 1.96 √b / s (Gaussian), and the ±1σ band is μ at √q = Φ⁻¹(1 − αΦ(N)) + N
    s, b = 1.0, 1e6
    lim = expected_limits(CountingModel(np.array([s]), np.array([[b]])))
    sigma = math.sqrt(b) / s
    assert lim["median"] == pytest.approx(1.959964 * sigma, rel=1e-3)
    for key, n in (("p1", 1.0), ("m1", -1.0)):
        assert lim[key] == pytest.approx(
            sigma * (stats.norm.ppf(1 - 0.05 * stats.norm.cdf(n)) + n), rel=1e-3
        )


def test_lognormal_nuisance_matches_profiled_scan():
    s, b, kappa = 10.0, 100.0, 1.1
    lk = np.log(np.array([[[1.0], [kappa]]]))  # nuisance 0: nothing on signal, κ on b
    model = CountingModel(np.array([s]), np.array([[b]]), lk, ["norm_b"])
    for mu in (0.5, 2.0, 5.0):
        assert q_asimov(model, mu) == pytest.approx(_q_hand(s, b, mu, kappa)[0], rel=1e-4)
    lim = expected_limits(model)
    step = 20 * 2 * math.sqrt(b) / s / N_SCAN
    assert lim["median"] == pytest.approx(_limit_scan(s, b, 0, kappa), abs=step * 1.01)
    # the uncertainty weakens the limit: √(b + (0.1 b)²) instead of √b, roughly
    assert lim["median"] > expected_limits(CountingModel(np.array([s]), np.array([[b]])))["median"]


def test_independent_bins_combine_and_luminosity_scales():
    # two identical independent bins: q adds, so μ_up is that of one bin with s, b doubled
    # only approximately; exactly, q(μ; two bins) = 2 q(μ; one bin)
    one = CountingModel(np.array([4.0]), np.array([[30.0]]))
    two = CountingModel(np.array([4.0, 4.0]), np.array([[30.0, 30.0]]))
    for mu in (1.0, 3.0):
        assert q_asimov(two, mu) == pytest.approx(2 * q_asimov(one, mu), rel=1e-12)
    # ×k luminosity: for s ≪ b the limit on μ scales as 1/√k
    big = CountingModel(np.array([1.0]), np.array([[1e8]]))
    ratio = expected_limits(big.scaled(100.0))["median"] / expected_limits(big)["median"]
    assert ratio == pytest.approx(0.1, rel=2e-3)


def test_no_signal_gives_no_limit():
    lim = expected_limits(CountingModel(np.array([0.0]), np.array([[5.0]])))
    assert all(math.isinf(v) for v in lim.values())
