"""Profile-likelihood fit of the signal strength with the background nuisances, for many toys.

For every (toy, scan point) the discovery test statistic is the one-sided profile-likelihood
ratio ``q0 = −2 ln [L(0, θ̂̂) / L(μ̂, θ̂)]`` (``q0 = 0`` when μ̂ would be negative), with

* ``L = Π_l Pois(n_l | μ s_l + b_l(θ)) · Π_i N(θ_i | 0, 1)`` over the bins of the point,
* ``b_l(θ) = [b_l + Σ_k Δ_kl(θ_k)] · exp(Σ_j φ_jl(θ_j))``: shape nuisances with combine's
  smooth vertical interpolation ``Δ = θ A + θ S(θ) B`` (``A = (u − d)/2``,
  ``B = (u + d − 2b)/2``), log-normal normalisations with combine's asymmetric log-normal
  ``φ = θ A + θ S(2θ) B`` (``A, B`` the half sum and half difference of ``ln κ_up`` and
  ``−ln κ_down``; a symmetric κ gives ``κ^θ`` exactly). ``S`` is the quintic smooth step.

The same functions throw the nuisances in the toys, so toys and fit share one model.

Both fits are Newton iterations on all fits at once: per fit a ``(1 + K + J)``-square Hessian
(exact second derivatives, shifted by a multiple of the identity where it is not positive
definite — the interpolation makes the likelihood non-convex away from its minimum) solved
with ``np.linalg.solve`` on the stacked matrices, a backtracking line search on the likelihood,
and bounds μ ≥ 0, ``|θ| ≤ THETA_MAX`` handled by projection (active bounds drop out of the step).
A converged fit has a Newton decrement below 1e-10, i.e. its NLL is within ~1e-10 of the
minimum.
The background-only fit starts at θ = 0; where its μ-gradient shows no excess, μ̂ = 0 and
q0 = 0; elsewhere the signal-plus-background fit starts at θ̂̂ with μ from the fit at fixed
background b(θ̂̂). Fits that do not converge within ``max_iter`` Newton steps go to
``scipy.optimize.minimize`` one by one (counted); fits that fail there too get ``NaN``.

Cost: per Newton step and fit ~``L (1 + K + J)²`` for a point of ``L`` bins; only the
nuisances that act on a point's bins enter its fit (the others decouple exactly, at θ = 0),
so a point sees its channels' nuisances only. On the 5-channel × 16-mass benchmark
(``benchmarks/bench_toys.py``, 96 points, 11 nuisances each) profiling costs ~100× the fit
at fixed background; 10,000 toys take ~2 min of CPU (4 min wall on a busy 2-core machine). Where a model has many
more nuisances per point, merge those with the same effect (e.g. per-process normalisations
of one channel) before building the templates.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
from scipy import optimize
from scipy.special import xlogy

__all__ = [
    "THETA_MAX",
    "PointGroup",
    "ProfileFit",
    "fit_mu_fixed",
    "interpolation_terms",
    "point_groups",
    "profile_fit",
    "smooth_step",
]

#: bound on every nuisance parameter in the fit (the linear extrapolation beyond ±1 stays sane)
THETA_MAX = 5.0
_DECREMENT_TOL = 1e-10  # Newton decrement g·H⁻¹g (≈ 2 × the remaining NLL) of a converged fit
_GRAD_TOL = 1e-6  # projected gradient accepted from the scalar fallback


def smooth_step(theta: np.ndarray) -> np.ndarray:
    """combine's smooth step: ``θ(3θ⁴ − 10θ² + 15)/8`` inside ``|θ| < 1``, ``sign θ`` outside."""
    return interpolation_terms(theta, 1.0, order=0)[0] / np.where(theta == 0, 1.0, theta)


def interpolation_terms(theta: np.ndarray, scale: float, order: int = 2) -> tuple[np.ndarray, ...]:
    """``f = θ S(cθ)`` and, up to ``order``, ``f'`` and ``f''`` (``c = scale``)."""
    t = np.asarray(theta, dtype=float)
    u = scale * t
    inside = np.abs(u) < 1.0
    u2 = u * u
    step = np.where(inside, 0.125 * u * (u2 * (3.0 * u2 - 10.0) + 15.0), np.sign(u))
    out = [t * step]
    if order >= 1:
        d1 = np.where(inside, 1.875 * (u2 - 1.0) ** 2, 0.0)  # S'(u)
        out.append(step + u * d1)
        if order >= 2:
            d2 = np.where(inside, 7.5 * u * (u2 - 1.0), 0.0)  # S''(u)
            out.append(scale * (2.0 * d1 + u * d2))
    return tuple(out)


@dataclass(frozen=True)
class PointGroup:
    """Scan points with the same number of bins and the same acting nuisances.

    ``points`` (P,) scan-point indices, ``bins`` (P, L) global bins, ``signal``/``background``
    (P, L), ``shape_a``/``shape_b`` (P, K, L) and ``lnn_a``/``lnn_b`` (P, J, L) the
    interpolation coefficients of the nuisances ``shape_index``/``lnn_index`` that act on them.
    """

    points: np.ndarray
    bins: np.ndarray
    signal: np.ndarray
    background: np.ndarray
    shape_index: np.ndarray
    shape_a: np.ndarray
    shape_b: np.ndarray
    lnn_index: np.ndarray
    lnn_a: np.ndarray
    lnn_b: np.ndarray

    @property
    def n_nuisances(self) -> int:
        return self.shape_index.size + self.lnn_index.size


def point_groups(templates) -> list[PointGroup]:  # noqa: ANN001 - pseudoexperiments.Templates
    """Split the scan points of ``templates`` into :class:`PointGroup` s (no padded bins)."""
    t = templates
    b = t.background
    a_s = 0.5 * (t.shape_up - t.shape_down)
    b_s = 0.5 * (t.shape_up + t.shape_down - 2.0 * b)
    hi, lo = np.log(t.lnn_up), -np.log(t.lnn_down)
    a_l, b_l = 0.5 * (hi + lo), 0.5 * (hi - lo)
    keys: dict[tuple, list[tuple[int, np.ndarray]]] = {}
    for p, idx in enumerate(t._points["index"]):
        ks = np.flatnonzero(np.any(a_s[:, idx] != 0, axis=1) | np.any(b_s[:, idx] != 0, axis=1))
        js = np.flatnonzero(np.any(a_l[:, idx] != 0, axis=1) | np.any(b_l[:, idx] != 0, axis=1))
        keys.setdefault((idx.size, tuple(ks), tuple(js)), []).append((p, idx))
    groups = []
    for (_, ks, js), members in keys.items():
        ks, js = np.array(ks, dtype=np.intp), np.array(js, dtype=np.intp)
        pts = np.array([p for p, _ in members])
        bins = np.stack([i for _, i in members])
        mass = t._points["mass_index"][pts]
        groups.append(
            PointGroup(
                points=pts,
                bins=bins,
                signal=t.signal[mass[:, None], bins],
                background=b[bins],
                shape_index=ks,
                shape_a=a_s[ks][:, bins].transpose(1, 0, 2),
                shape_b=b_s[ks][:, bins].transpose(1, 0, 2),
                lnn_index=js,
                lnn_a=a_l[js][:, bins].transpose(1, 0, 2),
                lnn_b=b_l[js][:, bins].transpose(1, 0, 2),
            )
        )
    return groups


def fit_mu_fixed(
    n: np.ndarray, s: np.ndarray, b: np.ndarray, *, max_iter: int = 200, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """μ̂ ≥ 0 and q0 at fixed background ``b``; ``n, s, b``: (N, L) (``s, b`` broadcastable).

    μ̂ solves ``Σ n r/(1 + μ r) = Σ s`` (``r = s/b``) by Newton iterations from μ = 0, which
    increase monotonically to the root (the score is convex and decreasing in μ).
    """
    r = np.broadcast_to(s / b, n.shape)
    s_tot = np.broadcast_to(s, n.shape).sum(axis=1)
    mu = np.zeros(n.shape[0])
    active = np.flatnonzero((n * r).sum(axis=1) - s_tot > 0)
    for _ in range(max_iter):
        if active.size == 0:
            break
        m, nn, rr = mu[active], n[active], r[active]
        x = rr / (1.0 + m[:, None] * rr)
        g = (nn * x).sum(axis=1) - s_tot[active]
        step = g / (nn * x * x).sum(axis=1)
        mu[active] = m + step
        active = active[np.abs(step) > tol * np.maximum(1.0, np.abs(m + step))]
    q0 = 2.0 * ((n * np.log1p(mu[:, None] * r)).sum(axis=1) - mu * s_tot)
    return mu, np.maximum(q0, 0.0)


@dataclass
class _Batch:
    """Flattened fits: counts and the templates of each fit's point."""

    n: np.ndarray  # (N, L)
    n0: np.ndarray  # (N,) Σ (n ln n − n): makes the NLL a deviance, O(L) near the minimum
    s: np.ndarray
    b: np.ndarray
    sa: np.ndarray  # (N, K, L)
    sb: np.ndarray
    la: np.ndarray  # (N, J, L)
    lb: np.ndarray

    def take(self, idx: np.ndarray) -> _Batch:
        return _Batch(*(getattr(self, f.name)[idx] for f in fields(self)))

    @property
    def k(self) -> int:
        return self.sa.shape[1]


def _evaluate(x: np.ndarray, bt: _Batch, order: int) -> dict:
    """NLL (+inf outside the physical region), and its gradient and Hessian for ``order=2``."""
    k = bt.k
    th_s, th_l = x[:, 1 : 1 + k], x[:, 1 + k :]
    ts = interpolation_terms(th_s, 1.0, order)
    tl = interpolation_terms(th_l, 2.0, order)
    c = bt.b + np.einsum("nk,nkl->nl", th_s, bt.sa) + np.einsum("nk,nkl->nl", ts[0], bt.sb)
    phi = np.einsum("nj,njl->nl", th_l, bt.la) + np.einsum("nj,njl->nl", tl[0], bt.lb)
    e = np.exp(phi)
    bkg = c * e
    lam = x[:, :1] * bt.s + bkg
    feasible = np.all(c > 0, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (lam - xlogy(bt.n, lam)).sum(axis=1) - bt.n0 + 0.5 * (x[:, 1:] ** 2).sum(axis=1)
    f = np.where(feasible & np.isfinite(f), f, np.inf)
    if order < 2:
        return {"f": f}
    dshape = bt.sa + ts[1][..., None] * bt.sb  # dΔ/dθ (N, K, L)
    dphi = bt.la + tl[1][..., None] * bt.lb  # dφ/dθ (N, J, L)
    jac = np.concatenate([bt.s[:, None, :], dshape * e[:, None, :], dphi * bkg[:, None, :]], 1)
    resid = 1.0 - bt.n / lam
    grad = np.einsum("ndl,nl->nd", jac, resid)
    grad[:, 1:] += x[:, 1:]
    w = bt.n / (lam * lam)
    hess = np.matmul(jac * w[:, None, :], jac.transpose(0, 2, 1))
    # second derivatives of λ: diagonal terms, and products with dφ/dθ for the log-normals
    diag = np.arange(1, x.shape[1])
    hess[:, diag, diag] += 1.0
    di = np.arange(1, 1 + k)
    hess[:, di, di] += ts[2] * np.einsum("nkl,nl->nk", bt.sb, resid * e)
    dj = np.arange(1 + k, x.shape[1])
    hess[:, dj, dj] += tl[2] * np.einsum("njl,nl->nj", bt.lb, resid * bkg)
    cross = np.matmul(jac[:, 1:] * resid[:, None, :], dphi.transpose(0, 2, 1))  # (N, K+J, J)
    hess[:, 1:, 1 + k :] += cross
    hess[:, 1 + k :, 1 : 1 + k] += cross[:, :k].transpose(0, 2, 1)
    return {"f": f, "g": grad, "h": hess, "jac": jac, "lam": lam}


def _not_positive_definite(h: np.ndarray) -> np.ndarray:
    """Per matrix of the stack ``h`` (N, D, D): True where the Cholesky factorisation fails."""
    low = np.zeros_like(h)
    fail = np.zeros(h.shape[0], dtype=bool)
    for j in range(h.shape[1]):
        d = h[:, j, j] - np.einsum("nk,nk->n", low[:, j, :j], low[:, j, :j])
        fail |= ~(d > 1e-12 * np.abs(h[:, j, j]))
        low[:, j, j] = np.sqrt(np.where(fail, 1.0, d))
        off = h[:, j + 1 :, j] - np.einsum("nik,nk->ni", low[:, j + 1 :, :j], low[:, j, :j])
        low[:, j + 1 :, j] = off / low[:, j, j][:, None]
    return fail


def _newton_direction(ev: dict, x: np.ndarray, lo: np.ndarray, hi: np.ndarray):
    """Projected, modified Newton step and its decrement ``−g·step``.

    Parameters at an active bound drop out (identity rows); where the Hessian is not positive
    definite (the interpolation makes the likelihood non-convex away from its minimum) it is
    shifted by ``τ·1`` with ``τ`` just above its most negative eigenvalue (Levenberg).
    """
    g, h = ev["g"].copy(), ev["h"]
    bound = ((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0)) | (lo >= hi)
    g[bound] = 0.0
    eye = np.eye(x.shape[1])
    h = np.where(bound[:, :, None] | bound[:, None, :], eye, h)
    try:
        np.linalg.cholesky(h)
    except np.linalg.LinAlgError:  # shift the matrices that are not positive definite
        bad = np.flatnonzero(_not_positive_definite(h))
        w_min = np.linalg.eigvalsh(h[bad])[:, 0]
        scale = np.abs(np.diagonal(h[bad], axis1=1, axis2=2)).max(axis=1)
        tau = np.maximum(1e-3 * (1.0 + scale) - 1.5 * w_min, 0.0)
        h = h.copy()
        h[bad] += tau[:, None, None] * eye
    step = -np.linalg.solve(h, g[..., None])[..., 0]
    dec = -np.einsum("nd,nd->n", g, step)
    return step, dec


def _newton(
    x: np.ndarray, bt: _Batch, lo: np.ndarray, hi: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projected Newton with backtracking on every fit; returns x, NLL and a converged flag."""
    x = np.clip(x, lo, hi)
    nll = np.full(len(x), np.inf)
    converged = np.zeros(len(x), dtype=bool)
    active = np.arange(len(x))
    sub, xa = bt, x
    ev = _evaluate(xa, sub, 2)
    for _ in range(max_iter):
        step, dec = _newton_direction(ev, xa, lo, hi)
        done = dec < _DECREMENT_TOL
        nll[active[done]], converged[active[done]] = ev["f"][done], True
        x[active[done]] = xa[done]
        keep = ~done & np.isfinite(dec)
        x[active[~done & ~keep]] = xa[~done & ~keep]  # no usable direction: fallback
        if not keep.any():
            return x, nll, converged
        active, sub, xa, step, f0 = (
            active[keep],
            sub.take(keep),
            xa[keep],
            step[keep],
            ev["f"][keep],
        )
        g = ev["g"][keep]
        alpha = np.ones(len(xa))
        x_new = np.clip(xa + step, lo, hi)
        pending = np.arange(len(xa))
        for _ in range(40):  # backtracking: Armijo condition on the projected path
            f_new = _evaluate(x_new[pending], sub.take(pending), 0)["f"]
            slope = np.einsum("nd,nd->n", g[pending], x_new[pending] - xa[pending])
            ok = f_new <= f0[pending] + 1e-4 * slope + 1e-12 * np.abs(f0[pending])
            pending = pending[~ok]
            if pending.size == 0:
                break
            alpha[pending] *= 0.5
            x_new[pending] = np.clip(xa[pending] + alpha[pending, None] * step[pending], lo, hi)
        moved = np.ones(len(xa), dtype=bool)
        moved[pending] = False  # no acceptable step: left for the scalar fallback
        x[active[~moved]] = xa[~moved]
        active, sub, xa = active[moved], sub.take(moved), x_new[moved]
        if active.size == 0:
            break
        ev = _evaluate(xa, sub, 2)
    x[active] = xa
    return x, nll, converged


def _scalar_fit(x0: np.ndarray, bt: _Batch, lo: np.ndarray, hi: np.ndarray):
    """One fit with ``scipy.optimize.minimize`` (L-BFGS-B) and a Newton polish; None if failed."""

    def fun(v: np.ndarray) -> tuple[float, np.ndarray]:
        ev = _evaluate(v[None], bt, 2)
        f = float(ev["f"][0])
        return (f, ev["g"][0]) if np.isfinite(f) else (1e300, np.zeros_like(v))

    res = optimize.minimize(
        fun, x0, jac=True, method="L-BFGS-B", bounds=list(zip(lo, hi)),
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
    )  # fmt: skip
    x, nll, conv = _newton(res.x[None].copy(), bt, lo, hi, 50)
    if conv[0]:
        return x[0], nll[0]
    ev = _evaluate(res.x[None], bt, 2)
    g = ev["g"][0]
    free = ~(((res.x <= lo) & (g > 0)) | ((res.x >= hi) & (g < 0)) | (lo >= hi))
    if np.isfinite(ev["f"][0]) and np.all(np.abs(g[free]) < _GRAD_TOL):
        return res.x, float(ev["f"][0])
    return None


def _minimise(
    x0: np.ndarray, bt: _Batch, lo: np.ndarray, hi: np.ndarray, max_iter: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Vectorised Newton, then the scalar fallback: x, NLL, rescued and failed flags."""
    x, nll, converged = _newton(x0.copy(), bt, lo, hi, max_iter)
    rescued = ~converged
    failed = np.zeros(len(x), dtype=bool)
    for i in np.flatnonzero(rescued):
        out = _scalar_fit(x[i], bt.take(np.array([i])), lo, hi)
        if out is None:
            failed[i], nll[i] = True, np.nan
        else:
            x[i], nll[i] = out
    return x, nll, rescued, failed


@dataclass(frozen=True)
class ProfileFit:
    """Per fit: q0, μ̂, whether the scalar fallback was needed and whether the fit failed."""

    q0: np.ndarray
    mu: np.ndarray
    rescued: np.ndarray
    failed: np.ndarray


def profile_fit(
    n: np.ndarray, group: PointGroup, point: np.ndarray, *, max_iter: int = 30
) -> ProfileFit:
    """Profiled one-sided q0 of the fits ``n`` (N, L) at points ``point`` (N,) of ``group``.

    ``point`` indexes ``group.points``. Failed fits (after the fallback) have ``q0 = NaN``.
    """
    n = np.asarray(n, dtype=float)
    tmpl = [group.signal, group.background, group.shape_a, group.shape_b, group.lnn_a]
    bt = _Batch(n, (xlogy(n, n) - n).sum(axis=1), *(a[point] for a in tmpl), group.lnn_b[point])
    dim = 1 + group.n_nuisances
    lo = np.r_[0.0, np.full(dim - 1, -THETA_MAX)]
    hi = np.r_[0.0, np.full(dim - 1, THETA_MAX)]
    x_b, nll_b, resc_b, fail_b = _minimise(np.zeros((len(n), dim)), bt, lo, hi, max_iter)
    q0 = np.where(fail_b, np.nan, 0.0)
    mu = np.where(fail_b, np.nan, 0.0)
    rescued, failed = resc_b.copy(), fail_b.copy()
    ok = np.flatnonzero(~fail_b)
    lam_b = _evaluate(x_b[ok], bt.take(ok), 2)
    excess = ok[lam_b["g"][:, 0] < 0]  # NLL falls with μ at μ = 0: an excess to fit
    if excess.size == 0:
        return ProfileFit(q0, mu, rescued, failed)
    sub = bt.take(excess)
    bkg = lam_b["lam"][np.searchsorted(ok, excess)]  # λ at μ = 0 is the profiled background
    x0 = x_b[excess].copy()
    x0[:, 0] = fit_mu_fixed(sub.n, sub.s, bkg)[0]
    hi[0] = np.inf
    x_s, nll_s, resc_s, fail_s = _minimise(x0, sub, lo, hi, max_iter)
    q0[excess] = np.where(fail_s, np.nan, np.maximum(2.0 * (nll_b[excess] - nll_s), 0.0))
    mu[excess] = np.where(fail_s, np.nan, x_s[:, 0])
    rescued[excess] |= resc_s
    failed[excess] |= fail_s
    return ProfileFit(q0, mu, rescued, failed)
