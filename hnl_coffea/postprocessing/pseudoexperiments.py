"""Pseudo-experiments over the HNL mass scan: local significance, look-elsewhere effect.

Everything here works on plain numpy templates (no histogram objects) and is vectorised over
toys: a block of toys is a ``(n_toys, n_bins)`` array and every operation is an array
operation, so 10,000 toys over a realistic scan take seconds.

Model
-----
All histogram bins of the analysis (every channel, every mass-hypothesis score histogram) are
laid out in one *global bin* vector. A scan *point* is a channel combination at one mass
hypothesis; it uses the bins of its channels that belong to that mass hypothesis (or to no
particular hypothesis, e.g. a mass-window variable shared by all). Points share bins, and
therefore Poisson fluctuations and nuisance draws, exactly where the histograms do.

Nuisances per toy (all Gaussian-constrained, θ ~ N(0, 1)):

* shape nuisances (Up/Down background templates), with combine's smooth vertical
  interpolation (``CMSHistFunc``): ``Δ(θ) = θ/2 · [(u − d) + S(θ) (u + d − 2n)]`` with the
  quintic smooth step ``S(θ) = θ(3θ⁴ − 10θ² + 15)/8`` for ``|θ| < 1`` and ``S = sign θ``
  beyond (linear extrapolation);
* normalisation nuisances (log-normal): the template is multiplied by ``κ_up^θ`` for θ ≥ 0
  and ``κ_down^(−θ)`` for θ < 0 (``κ_down = 1/κ_up`` for a symmetric uncertainty).

Test statistic: the one-sided discovery profile-likelihood ratio ``q0`` of a common signal
strength μ ≥ 0 over the bins of a point, with the background fixed at its nominal template
(nuisances enter the toys, i.e. the reference distribution, not the fit); ``Z = sqrt(q0)``.
With nuisance draws the p-values are hybrid (prior-predictive, Cousins–Highland): the spread of
the background widens both the local and the maximum-Z distributions, so compare the observed
Z with the toys (:meth:`ScanResult.local_pvalue`, :func:`global_pvalue`), not with 1 − Φ(Z).
Score histograms of different mass hypotheses are filled from the same events, but the
histograms carry no event-level correlation, so their bins fluctuate independently here: the
trials factor is then an upper bound (conservative). Variables shared by all hypotheses
(``bin_mass = -1``) are treated exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from scipy import stats

__all__ = [
    "Templates",
    "ScanResult",
    "InjectionResult",
    "throw_toys",
    "expected_background",
    "local_significance",
    "scan",
    "run_toys",
    "global_pvalue",
    "local_pvalue",
    "trials_factor",
    "inject_and_recover",
    "smooth_step",
]

_B_FLOOR = 1e-9  # smallest expected background allowed in a bin after nuisance morphing


def smooth_step(theta: np.ndarray) -> np.ndarray:
    """combine's smooth step: ``θ(3θ⁴ − 10θ² + 15)/8`` inside ``|θ| < 1``, ``sign θ`` outside."""
    t = np.asarray(theta, dtype=float)
    t2 = t * t
    inner = 0.125 * t * (t2 * (3.0 * t2 - 10.0) + 15.0)
    return np.where(np.abs(t) >= 1.0, np.sign(t), inner)


@dataclass(frozen=True)
class Templates:
    """Expected background and signal per global bin, nuisances and scan points.

    ``background``: (B,) nominal background; ``signal``: (M, B) expected signal of mass
    hypothesis ``masses[m]`` at μ = 1 in every bin; ``bin_channel``: (B,) channel name of each
    bin; ``bin_mass``: (B,) index into ``masses`` of the hypothesis a bin belongs to, −1 for
    bins shared by all hypotheses. ``shape_up``/``shape_down``: (K, B) absolute background
    templates of the shape nuisances ``shape_names``; ``lnn_up``/``lnn_down``: (J, B)
    multiplicative factors (1 where a nuisance does not act) of ``lnn_names``.
    ``combinations``: the channel combinations scanned (default: every channel alone and all
    channels together).
    """

    background: np.ndarray
    signal: np.ndarray
    masses: np.ndarray
    bin_channel: np.ndarray
    bin_mass: np.ndarray
    shape_names: tuple[str, ...] = ()
    shape_up: np.ndarray | None = None
    shape_down: np.ndarray | None = None
    lnn_names: tuple[str, ...] = ()
    lnn_up: np.ndarray | None = None
    lnn_down: np.ndarray | None = None
    combinations: tuple[tuple[str, ...], ...] | None = None
    _points: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        b = np.asarray(self.background, dtype=float)
        nb = b.shape[0] if b.ndim == 1 else -1
        if b.ndim != 1 or nb == 0:
            raise ValueError(f"background must be a non-empty 1D array, got shape {b.shape}")
        if not np.all(np.isfinite(b)) or np.any(b <= 0):
            raise ValueError("background must be finite and > 0 in every bin (rebin first)")
        sig = np.atleast_2d(np.asarray(self.signal, dtype=float))
        masses = np.atleast_1d(np.asarray(self.masses, dtype=float))
        if sig.shape != (masses.size, nb):
            raise ValueError(f"signal must have shape (n_masses, n_bins)={(masses.size, nb)}")
        if np.any(sig < 0):
            raise ValueError("signal templates must be >= 0")
        k = len(self.shape_names)
        j = len(self.lnn_names)
        checks = {"shape_up": k, "shape_down": k, "lnn_up": j, "lnn_down": j}
        for name, rows in checks.items():
            arr = getattr(self, name)
            arr = np.zeros((0, nb)) if arr is None and rows == 0 else np.asarray(arr, float)
            if arr.shape != (rows, nb):
                raise ValueError(f"{name} must have shape {(rows, nb)}, got {arr.shape}")
            object.__setattr__(self, name, arr)
        if np.any(self.lnn_up <= 0) or np.any(self.lnn_down <= 0):
            raise ValueError("log-normal factors κ must be > 0")
        bc = np.asarray(self.bin_channel).astype(str)
        bm = np.asarray(self.bin_mass, dtype=int)
        if bc.shape != (nb,) or bm.shape != (nb,):
            raise ValueError("bin_channel and bin_mass need one entry per bin")
        if np.any(bm >= masses.size) or np.any(bm < -1):
            raise ValueError("bin_mass must index masses (or be -1 for shared bins)")
        object.__setattr__(self, "background", b)
        object.__setattr__(self, "signal", sig)
        object.__setattr__(self, "masses", masses)
        object.__setattr__(self, "bin_channel", bc)
        object.__setattr__(self, "bin_mass", bm)
        if self.combinations is None:
            chans = tuple(dict.fromkeys(bc.tolist()))
            combos = tuple((c,) for c in chans) + ((chans,) if len(chans) > 1 else ())
            object.__setattr__(self, "combinations", combos)
        object.__setattr__(self, "_points", self._build_points())

    @property
    def n_bins(self) -> int:
        return self.background.size

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.bin_channel.tolist()))

    def _build_points(self) -> dict:
        idx, labels, mass_of = [], [], []
        for combo, m in itertools.product(self.combinations, range(self.masses.size)):
            sel = np.isin(self.bin_channel, combo) & ((self.bin_mass == m) | (self.bin_mass < 0))
            sel &= self.signal[m] > 0
            if not sel.any():
                continue
            idx.append(np.flatnonzero(sel))
            labels.append(("+".join(combo), float(self.masses[m])))
            mass_of.append(m)
        if not idx:
            raise ValueError("no scan point has a bin with signal > 0")
        width = max(len(i) for i in idx)
        bins = np.zeros((len(idx), width), dtype=np.intp)
        sig = np.zeros((len(idx), width))
        for p, (i, m) in enumerate(zip(idx, mass_of)):
            bins[p, : len(i)] = i
            sig[p, : len(i)] = self.signal[m, i]  # padding: bin 0 with zero signal, no effect
        return {"bins": bins, "sig": sig, "labels": labels, "mass_index": np.array(mass_of)}

    @property
    def point_labels(self) -> list[tuple[str, float]]:
        """(channel combination, m_hyp) of every scan point, in scan order."""
        return list(self._points["labels"])

    @property
    def point_mass_index(self) -> np.ndarray:
        return self._points["mass_index"]

    def mass_index(self, mhyp: float) -> int:
        """Index of a mass hypothesis in ``masses`` (ValueError naming the allowed values)."""
        hit = np.flatnonzero(np.isclose(self.masses, mhyp))
        if hit.size == 0:
            raise ValueError(f"m_hyp {mhyp} not in the templates; allowed: {self.masses.tolist()}")
        return int(hit[0])


def expected_background(templates: Templates, n_toys: int, rng: np.random.Generator) -> np.ndarray:
    """Background expectation per toy after drawing every nuisance θ ~ N(0, 1): (n_toys, B)."""
    t = templates
    b = np.broadcast_to(t.background, (n_toys, t.n_bins)).copy()
    k = len(t.shape_names)
    if k:
        theta = rng.standard_normal((n_toys, k))
        half_diff = 0.5 * (t.shape_up - t.shape_down)
        half_sum = 0.5 * (t.shape_up + t.shape_down - 2.0 * t.background)
        b += theta @ half_diff + (theta * smooth_step(theta)) @ half_sum
    j = len(t.lnn_names)
    if j:
        theta = rng.standard_normal((n_toys, j))
        log_factor = np.maximum(theta, 0) @ np.log(t.lnn_up) + np.maximum(-theta, 0) @ np.log(
            t.lnn_down
        )
        b *= np.exp(log_factor)
    return np.maximum(b, _B_FLOOR)


def throw_toys(
    templates: Templates,
    n_toys: int,
    rng: np.random.Generator,
    *,
    nuisances: bool = True,
    injected: tuple[float, float] | None = None,
) -> np.ndarray:
    """Poisson pseudo-data per global bin: (n_toys, B) counts.

    ``injected=(mu, mhyp)`` adds μ times the signal of that mass hypothesis to every bin.
    """
    if nuisances:
        lam = expected_background(templates, n_toys, rng)
    else:
        lam = np.broadcast_to(templates.background, (n_toys, templates.n_bins)).copy()
    if injected is not None:
        mu, mhyp = injected
        if mu < 0:
            raise ValueError(f"injected signal strength must be >= 0, got {mu}")
        lam += mu * templates.signal[templates.mass_index(mhyp)]
    return rng.poisson(lam).astype(float)


def local_significance(
    counts: np.ndarray, templates: Templates, *, max_iter: int = 200, tol: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """Local significance Z = sqrt(q0) and best-fit μ̂ ≥ 0 per toy and scan point.

    ``counts``: (n_toys, B) (or (B,)). Returns two (n_toys, n_points) arrays. μ̂ solves
    ``Σ n r/(1 + μ r) = Σ s`` (``r = s/b``) by Newton iterations on all toys at once; from
    μ = 0 the iteration increases monotonically to the root (the score is convex and
    decreasing in μ), so no step control is needed.
    """
    n_all = np.atleast_2d(np.asarray(counts, dtype=float))
    if n_all.shape[1] != templates.n_bins:
        raise ValueError(f"counts must have {templates.n_bins} bins, got {n_all.shape[1]}")
    bins, sig = templates._points["bins"], templates._points["sig"]
    r = sig / templates.background[bins]  # (P, L)
    s_tot = sig.sum(axis=1)  # (P,)
    n = n_all[:, bins]  # (T, P, L)
    mu = np.zeros(n.shape[:2])
    g0 = np.einsum("tpl,pl->tp", n, r) - s_tot
    active = np.flatnonzero((g0 > 0).ravel())
    mu_flat = mu.ravel()
    n_flat = n.reshape(-1, n.shape[-1])
    r_flat = np.broadcast_to(r, n.shape).reshape(-1, n.shape[-1])
    s_flat = np.broadcast_to(s_tot, n.shape[:2]).ravel()
    for _ in range(max_iter):
        if active.size == 0:
            break
        m, nn, rr = mu_flat[active], n_flat[active], r_flat[active]
        x = rr / (1.0 + m[:, None] * rr)
        g = (nn * x).sum(axis=1) - s_flat[active]
        dg = -(nn * x * x).sum(axis=1)
        step = -g / dg
        mu_flat[active] = m + step
        active = active[np.abs(step) > tol * np.maximum(1.0, np.abs(m + step))]
    mu = mu_flat.reshape(n.shape[:2])
    q0 = 2.0 * (np.einsum("tpl,tpl->tp", n, np.log1p(mu[..., None] * r)) - mu * s_tot)
    return np.sqrt(np.maximum(q0, 0.0)), mu


@dataclass(frozen=True)
class ScanResult:
    """Per toy: the largest local significance over all scan points and where it occurred.

    ``z_local`` (n_toys, n_points, float32) keeps every point's local Z, for local p-values
    from the toys (which, unlike 1 − Φ(Z), include the nuisance draws).
    """

    max_z: np.ndarray
    best_point: np.ndarray
    best_mu: np.ndarray
    z_local: np.ndarray

    def local_pvalue(self, z_obs: float, point: int) -> float:
        """Fraction of toys whose local Z at ``point`` is ≥ ``z_obs`` (nuisances included)."""
        return float(np.mean(self.z_local[:, point] >= z_obs))

    @staticmethod
    def concatenate(parts: Sequence[ScanResult]) -> ScanResult:
        """Join the results of several blocks of toys, in order."""
        names = [f.name for f in fields(ScanResult)]
        return ScanResult(*(np.concatenate([getattr(p, f) for p in parts]) for f in names))


def scan(counts: np.ndarray, templates: Templates) -> ScanResult:
    """Maximum local Z over every (channel combination, m_hyp) point, per toy."""
    z, mu = local_significance(counts, templates)
    best = np.argmax(z, axis=1)
    rows = np.arange(z.shape[0])
    return ScanResult(z[rows, best], best, mu[rows, best], z.astype(np.float32))


def _toy_block(
    templates: Templates,
    n_toys: int,
    seed: np.random.SeedSequence,
    nuisances: bool,
    injected: tuple[float, float] | None,
    chunk: int,
) -> ScanResult:
    rng = np.random.default_rng(seed)
    parts = []
    for start in range(0, n_toys, chunk):
        counts = throw_toys(
            templates,
            min(chunk, n_toys - start),
            rng,
            nuisances=nuisances,
            injected=injected,
        )
        parts.append(scan(counts, templates))
    return ScanResult.concatenate(parts)


def run_toys(
    templates: Templates,
    n_toys: int,
    seed: int = 0,
    *,
    nuisances: bool = True,
    injected: tuple[float, float] | None = None,
    block_size: int = 1000,
    chunk: int | None = None,
    client=None,  # noqa: ANN001 - optional distributed.Client
) -> ScanResult:
    """Throw ``n_toys`` toys in seeded blocks and scan them, on a Dask client when given.

    Block ``i`` always uses ``SeedSequence(seed).spawn(...)[i]``, so the result is the same
    with or without a client. ``chunk`` bounds the toys held in memory at once (default:
    about 2·10⁶ gathered bin entries).
    """
    if n_toys <= 0:
        raise ValueError(f"n_toys must be positive, got {n_toys}")
    if chunk is None:
        width = templates._points["bins"].size
        chunk = int(np.clip(2_000_000 // max(width, 1), 16, block_size))
    sizes = [min(block_size, n_toys - s) for s in range(0, n_toys, block_size)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    args = [(templates, n, s, nuisances, injected, chunk) for n, s in zip(sizes, seeds)]
    if client is None:
        return ScanResult.concatenate([_toy_block(*a) for a in args])
    [tmpl_future] = client.scatter([templates], broadcast=True)
    futures = [client.submit(_toy_block, tmpl_future, *a[1:], pure=False) for a in args]
    return ScanResult.concatenate(client.gather(futures))


def local_pvalue(z: np.ndarray | float) -> np.ndarray:
    """Asymptotic one-sided local p-value of Z = sqrt(q0): 1 − Φ(Z)."""
    return stats.norm.sf(np.asarray(z, dtype=float))


def global_pvalue(z_local_obs: np.ndarray | float, max_z_distribution: np.ndarray) -> np.ndarray:
    """Fraction of background-only toys whose maximum local Z is ≥ the observed local Z."""
    ref = np.sort(np.asarray(max_z_distribution, dtype=float))
    if ref.size == 0:
        raise ValueError("the max-Z distribution is empty")
    z = np.asarray(z_local_obs, dtype=float)
    return (ref.size - np.searchsorted(ref, z, side="left")) / ref.size


def trials_factor(
    z_local_obs: float, max_z_distribution: np.ndarray, p_local: float | None = None
) -> float:
    """Effective trials factor p_global / p_local at the observed local significance.

    ``p_local`` defaults to the asymptotic 1 − Φ(Z); pass the toy-based local p-value
    (:meth:`ScanResult.local_pvalue`) when the toys include nuisance draws.
    """
    p_loc = float(local_pvalue(z_local_obs)) if p_local is None else float(p_local)
    if p_loc <= 0:
        return float("nan")
    return float(global_pvalue(z_local_obs, max_z_distribution)) / p_loc


@dataclass(frozen=True)
class InjectionResult:
    """Signal injected at ``mhyp`` with strength ``mu``: what the scan recovers."""

    mu: float
    mhyp: float
    z_local: np.ndarray  # max local Z per toy
    best_mhyp: np.ndarray  # m_hyp of the maximum per toy
    best_combination: list[str]
    best_mu: np.ndarray
    p_global: np.ndarray
    n_reference: int  # background-only toys behind p_global (p = 0 means p < 1/n_reference)

    def summary(self) -> dict:
        """Medians and the fraction of toys whose maximum is at the injected m_hyp."""
        p_med = float(np.median(self.p_global))
        return {
            "mu": self.mu,
            "mhyp": self.mhyp,
            "median_z_local": float(np.median(self.z_local)),
            "median_p_global": p_med,
            "median_p_global_upper_limit": p_med == 0.0,
            "median_z_global": _z_from_p(p_med, self.n_reference),
            "median_best_mu": float(np.median(self.best_mu)),
            "fraction_at_injected_mhyp": float(np.mean(np.isclose(self.best_mhyp, self.mhyp))),
            "most_common_best_mhyp": float(stats.mode(self.best_mhyp, keepdims=False).mode),
        }


def inject_and_recover(
    templates: Templates,
    mu: float,
    mhyp: float,
    background_only: ScanResult,
    n_toys: int = 200,
    seed: int = 1,
    *,
    nuisances: bool = True,
    client=None,  # noqa: ANN001
) -> InjectionResult:
    """Toys with signal μ at ``mhyp``: best-fit m_hyp, local and global significance."""
    res = run_toys(templates, n_toys, seed, nuisances=nuisances, injected=(mu, mhyp), client=client)
    labels = templates.point_labels
    return InjectionResult(
        mu=float(mu),
        mhyp=float(mhyp),
        z_local=res.max_z,
        best_mhyp=np.array([labels[p][1] for p in res.best_point]),
        best_combination=[labels[p][0] for p in res.best_point],
        best_mu=res.best_mu,
        p_global=global_pvalue(res.max_z, background_only.max_z),
        n_reference=int(background_only.max_z.size),
    )


def _z_from_p(p: float, n_toys: int) -> float:
    """One-sided Z of a toy p-value, ≥ 0; p = 0 is taken as 0.5/n_toys (a lower bound on Z)."""
    return float(max(stats.norm.isf(max(p, 0.5 / n_toys)), 0.0))
