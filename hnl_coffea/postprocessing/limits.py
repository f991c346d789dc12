"""Expected upper limits on the signal strength: asymptotic CLs on the Asimov data set.

The binned likelihood is the one of the datacards: in bin ``i`` the expected count is
``λ_i(μ, θ) = μ s_i κ_s^θ + Σ_p b_pi κ_p^θ`` (log-normal nuisances θ, unit Gaussian
constraints), counts are Poisson. As combine's ``AsymptoticLimits`` does for the expected
limits, the data are the background-only Asimov set ``n_i = Σ_p b_pi`` and the test statistic
is the profile likelihood ratio

    q_μ,A = −2 ln [ L(μ, θ̂_μ) / L(0, 0) ]        (on Asimov data μ̂ = 0, θ̂ = 0).

Under the background-only hypothesis, the expected limit at quantile ``N`` of the ±Nσ band
solves (Cowan, Cranmer, Gross, Vitells, EPJC 71 (2011) 1554, with CL_b = Φ(N))

    sqrt(q_μ,A) = Φ⁻¹(1 − α Φ(N)) + N,    α = 1 − CL,

so the median (N = 0) at 95 % CL is where ``sqrt(q_μ,A) = Φ⁻¹(0.975) = 1.96``.
Shape systematics are not included (the datacards carry them to combine).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, stats

__all__ = ["BAND_QUANTILES", "CountingModel", "expected_limits", "q_asimov"]

#: Quantiles of the expected-limit band, in σ of the background-only distribution.
BAND_QUANTILES: dict[str, float] = {"m2": -2.0, "m1": -1.0, "median": 0.0, "p1": 1.0, "p2": 2.0}


@dataclass
class CountingModel:
    """Signal ``(n_bins,)``, backgrounds ``(n_processes, n_bins)`` and log-normal nuisances:
    ``log_kappa`` ``(n_nuisances, 1 + n_processes, n_bins)``, row 0 the signal (0: none)."""

    signal: np.ndarray
    backgrounds: np.ndarray
    log_kappa: np.ndarray = field(default_factory=lambda: np.zeros((0, 1, 0)))
    names: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.signal = np.clip(np.asarray(self.signal, dtype=float), 0, None)
        self.backgrounds = np.clip(
            np.atleast_2d(np.asarray(self.backgrounds, dtype=float)), 0, None
        )
        n_proc, n_bins = self.backgrounds.shape
        if self.signal.shape != (n_bins,):
            raise ValueError(f"signal has shape {self.signal.shape}, backgrounds {n_bins} bins")
        lk = np.asarray(self.log_kappa, dtype=float)
        if lk.size == 0:
            lk = np.zeros((0, 1 + n_proc, n_bins))
        if lk.shape[1:] != (1 + n_proc, n_bins):
            raise ValueError(f"log_kappa must be (n, {1 + n_proc}, {n_bins}), got {lk.shape}")
        self.log_kappa = lk

    @property
    def asimov(self) -> np.ndarray:
        """The background-only Asimov data."""
        return self.backgrounds.sum(axis=0)

    def scaled(self, factor: float) -> CountingModel:
        """The same model at ``factor`` × the luminosity (all yields scaled)."""
        return CountingModel(self.signal * factor, self.backgrounds * factor, self.log_kappa,
                             self.names)  # fmt: skip


def _terms(theta: np.ndarray, mu: float, m: CountingModel):  # noqa: ANN202
    """Per-process yields (1 + P, B) at (μ, θ) and the expected counts λ (B,)."""
    yields = np.vstack([mu * m.signal, m.backgrounds])
    per = yields * np.exp(np.tensordot(theta, m.log_kappa, axes=1)) if theta.size else yields
    return per, per.sum(axis=0)


def _nll(theta: np.ndarray, mu: float, m: CountingModel, n: np.ndarray) -> float:
    """−ln L up to a constant: Poisson terms plus the unit Gaussian constraints."""
    _, lam = _terms(theta, mu, m)
    good = lam > 0
    return float(np.sum(lam) - np.sum(n[good] * np.log(lam[good])) + 0.5 * theta @ theta)


#: Largest change of a nuisance parameter (in σ) in one Newton step.
MAX_STEP = 1.0


def _profile(mu: float, m: CountingModel, n: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """θ̂(μ) by damped Newton steps with the analytic gradient and Hessian."""
    eye = np.eye(len(theta))
    value = _nll(theta, mu, m, n)
    for _ in range(50):
        per, lam = _terms(theta, mu, m)
        lam = np.where(lam > 0, lam, 1e-300)
        lk = m.log_kappa.reshape(len(theta), -1)  # (K, (1 + P) B)
        d = (lk * per.ravel()).reshape(m.log_kappa.shape).sum(axis=1)  # ∂λ_b/∂θ_k
        w = 1.0 - n / lam
        grad = d @ w + theta
        hess = (d * (n / lam**2)) @ d.T + (lk * (per * w).ravel()) @ lk.T + eye
        damp = 0.0
        while True:
            try:
                step = np.linalg.solve(hess + damp * eye, grad)
            except np.linalg.LinAlgError:
                step = grad
            size = np.max(np.abs(step))
            if size > MAX_STEP:  # a trust region: θ moves at most MAX_STEP σ per iteration
                step = step * (MAX_STEP / size)
            trial = theta - step
            with np.errstate(over="ignore", invalid="ignore"):
                new = _nll(trial, mu, m, n)
            if (np.isfinite(new) and new <= value + 1e-12) or damp > 1e6:
                break
            damp = max(10 * damp, 1e-3)
        if not np.isfinite(new) or new > value + 1e-12:
            break  # no step lowers −ln L: θ is at the minimum
        converged = abs(value - new) < 1e-10 * max(1.0, abs(value))
        theta, value = trial, min(new, value)
        if converged or np.max(np.abs(step)) < 1e-9:
            break
    return theta


def q_asimov(model: CountingModel, mu: float, start: np.ndarray | None = None) -> float:
    """``q_μ,A`` of the module docstring (nuisances profiled, from θ = ``start`` or 0)."""
    return _QAsimov(model)(mu, start)


class _QAsimov:
    """q_μ,A of one model, each profile fit starting from the previous θ̂."""

    def __init__(self, model: CountingModel) -> None:
        self.model, self.n = model, model.asimov
        k = model.log_kappa.shape[0]
        self.theta = np.zeros(k)
        self.ref = _nll(self.theta, 0.0, model, self.n)

    def __call__(self, mu: float, start: np.ndarray | None = None) -> float:
        if self.theta.size:
            init = self.theta if start is None else np.asarray(start, dtype=float)
            self.theta = _profile(mu, self.model, self.n, init)
        return max(0.0, 2.0 * (_nll(self.theta, mu, self.model, self.n) - self.ref))


def _solve(q: _QAsimov, target: float, sigma: float) -> float:
    """μ with ``sqrt(q_μ,A) = target`` (q rises monotonically with μ), bracketed around the
    Gaussian estimate ``target × sigma``."""
    f = lambda mu: np.sqrt(q(mu)) - target  # noqa: E731
    hi = 1.5 * target * sigma
    while f(hi) < 0:
        hi *= 2.0
        if hi > 1e15:
            return float("inf")
    lo = hi / 2.0
    while lo > 1e-15 and f(lo) > 0:
        lo /= 2.0
    return float(optimize.brentq(f, lo, hi, xtol=1e-12, rtol=1e-5))


def expected_limits(
    model: CountingModel, cl: float = 0.95, quantiles: dict[str, float] | None = None
) -> dict[str, float]:
    """Expected upper limits on μ (median and band) at confidence level ``cl``."""
    alpha = 1.0 - cl
    quantiles = BAND_QUANTILES if quantiles is None else quantiles
    s, b = model.signal.sum(), model.asimov.sum()
    if not s > 0:
        return {k: float("inf") for k in quantiles}
    qa = _QAsimov(model)
    guess = 2.0 * np.sqrt(max(b, 1e-3)) / s  # the s ≪ b order of magnitude
    q = qa(guess)
    while not q > 1e-6 and guess < 1e15:
        guess *= 10.0
        q = qa(guess)
    sigma = guess / np.sqrt(q) if q > 0 else guess  # σ(μ̂) of the Gaussian approximation
    out = {}
    for key, nq in quantiles.items():
        target = stats.norm.ppf(1.0 - alpha * stats.norm.cdf(nq)) + nq
        out[key] = _solve(qa, float(target), sigma) if target > 0 else 0.0
    return out
