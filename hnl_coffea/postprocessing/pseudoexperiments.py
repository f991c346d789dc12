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
* normalisation nuisances (log-normal): the template is multiplied by ``κ_up^θ`` for
  θ ≥ 0.5 and ``κ_down^(−θ)`` for θ ≤ −0.5, smoothly joined in between as combine's
  ``AsymPow`` does (exactly ``κ^θ`` for a symmetric uncertainty, ``κ_down = 1/κ_up``).

Test statistic: the one-sided discovery profile-likelihood ratio
``q0 = −2 ln [L(0, θ̂̂) / L(μ̂, θ̂)]`` of a common signal strength μ ≥ 0 over the bins of a
point, with every nuisance acting on those bins profiled (Gaussian constraint, the same
interpolation as in the toys; :mod:`.pseudoexperiments_fit`); ``Z = sqrt(q0)``. Profiling
makes the local Z nearly half-normal under the background-only hypothesis even when the
background uncertainty is much larger than its Poisson error. ``profile=False`` keeps the
background fixed at its nominal template in the fit (faster; with nuisance draws in the toys
the local Z distribution then widens with the systematic uncertainty, and only toy-based
p-values are meaningful). Compare an observed Z with the toys
(:meth:`ScanResult.local_pvalue`, :func:`global_pvalue`) rather than with 1 − Φ(Z).
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

from ..progress import Steps
from .pseudoexperiments_fit import fit_mu_fixed, interpolation_terms, point_groups, profile_fit
from .pseudoexperiments_fit import smooth_step as smooth_step

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
    "fit_points",
]

_B_FLOOR = 1e-9  # smallest expected background allowed in a bin after nuisance morphing


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
        return {
            "bins": bins,
            "sig": sig,
            "index": idx,
            "labels": labels,
            "mass_index": np.array(mass_of),
        }

    def point_groups(self) -> list:
        """Scan points grouped for the profiled fit (:func:`.pseudoexperiments_fit.point_groups`)."""
        if "groups" not in self._points:
            self._points["groups"] = point_groups(self)
        return self._points["groups"]

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
        b += theta @ half_diff + interpolation_terms(theta, 1.0, order=0)[0] @ half_sum
    j = len(t.lnn_names)
    if j:
        theta = rng.standard_normal((n_toys, j))
        hi, lo = np.log(t.lnn_up), -np.log(t.lnn_down)
        log_factor = theta @ (0.5 * (hi + lo)) + interpolation_terms(theta, 2.0, order=0)[0] @ (
            0.5 * (hi - lo)
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


@dataclass(frozen=True)
class PointFits:
    """Local fits of every toy at every scan point: (n_toys, n_points) arrays.

    ``z``: sqrt(q0) (NaN where the fit failed), ``mu``: μ̂ ≥ 0, ``rescued``: the vectorised
    Newton fit did not converge and ``scipy.optimize.minimize`` took over, ``failed``: that
    failed too.
    """

    z: np.ndarray
    mu: np.ndarray
    rescued: np.ndarray
    failed: np.ndarray


def fit_points(
    counts: np.ndarray, templates: Templates, *, profile: bool = True, max_iter: int = 30
) -> PointFits:
    """Fit μ (and, with ``profile``, the nuisances) at every scan point of every toy.

    ``counts``: (n_toys, B) (or (B,)). ``profile=False`` keeps the background at its nominal
    template. With ``profile`` the nuisances acting on a point's bins are profiled in both the
    background-only and the signal-plus-background fit (:func:`.pseudoexperiments_fit.profile_fit`).
    """
    n_all = np.atleast_2d(np.asarray(counts, dtype=float))
    if n_all.shape[1] != templates.n_bins:
        raise ValueError(f"counts must have {templates.n_bins} bins, got {n_all.shape[1]}")
    n_toys, n_points = n_all.shape[0], len(templates.point_labels)
    z = np.empty((n_toys, n_points))
    mu = np.empty((n_toys, n_points))
    rescued = np.zeros((n_toys, n_points), dtype=bool)
    failed = np.zeros((n_toys, n_points), dtype=bool)
    for g in templates.point_groups():
        n = n_all[:, g.bins].reshape(-1, g.bins.shape[1])  # (n_toys · P, L), toy-major
        point = np.tile(np.arange(g.points.size), n_toys)
        shape = (n_toys, g.points.size)
        if profile and g.n_nuisances:
            fit = profile_fit(n, g, point, max_iter=max_iter)
            q0, m = fit.q0, fit.mu
            rescued[:, g.points] = fit.rescued.reshape(shape)
            failed[:, g.points] = fit.failed.reshape(shape)
        else:
            m, q0 = fit_mu_fixed(n, g.signal[point], g.background[point])
        z[:, g.points] = np.sqrt(np.fmax(q0, 0.0)).reshape(shape)  # NaN stays NaN
        mu[:, g.points] = m.reshape(shape)
    return PointFits(z, mu, rescued, failed)


def local_significance(
    counts: np.ndarray, templates: Templates, *, profile: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Local significance Z = sqrt(q0) and best-fit μ̂ ≥ 0: two (n_toys, n_points) arrays.

    See :func:`fit_points` (which also reports the fits that needed the scalar fallback).
    """
    fits = fit_points(counts, templates, profile=profile)
    return fits.z, fits.mu


@dataclass(frozen=True)
class ScanResult:
    """Per toy: the largest local significance over all scan points and where it occurred.

    ``z_local`` (n_toys, n_points, float32) keeps every point's local Z, for local p-values
    from the toys. ``n_rescued``/``n_failed`` (n_toys,) count the points of each toy whose
    profiled fit needed the scalar fallback / failed (failed points are left out of the
    maximum; a toy with every point failed has ``max_z`` NaN).
    """

    max_z: np.ndarray
    best_point: np.ndarray
    best_mu: np.ndarray
    z_local: np.ndarray
    n_rescued: np.ndarray
    n_failed: np.ndarray

    def local_pvalue(self, z_obs: float, point: int) -> float:
        """Fraction of toys whose local Z at ``point`` is ≥ ``z_obs`` (nuisances included)."""
        z = self.z_local[:, point]
        z = z[~np.isnan(z)]
        return float(np.mean(z >= z_obs)) if z.size else float("nan")

    def fit_summary(self) -> dict:
        """Number of fits, fraction rescued by the scalar fallback and fraction failed."""
        n_fits = int(self.z_local.size)
        return {
            "n_fits": n_fits,
            "fraction_rescued": float(self.n_rescued.sum() / max(n_fits, 1)),
            "fraction_failed": float(self.n_failed.sum() / max(n_fits, 1)),
            "n_failed": int(self.n_failed.sum()),
        }

    @staticmethod
    def concatenate(parts: Sequence[ScanResult]) -> ScanResult:
        """Join the results of several blocks of toys, in order."""
        names = [f.name for f in fields(ScanResult)]
        return ScanResult(*(np.concatenate([getattr(p, f) for p in parts]) for f in names))


def scan(counts: np.ndarray, templates: Templates, *, profile: bool = True) -> ScanResult:
    """Maximum local Z over every (channel combination, m_hyp) point, per toy."""
    fits = fit_points(counts, templates, profile=profile)
    z = np.where(np.isnan(fits.z), -np.inf, fits.z)
    best = np.argmax(z, axis=1)
    rows = np.arange(z.shape[0])
    max_z = np.where(np.isfinite(z[rows, best]), z[rows, best], np.nan)
    return ScanResult(
        max_z,
        best,
        fits.mu[rows, best],
        fits.z.astype(np.float32),
        fits.rescued.sum(axis=1),
        fits.failed.sum(axis=1),
    )


def _toy_block(
    templates: Templates,
    n_toys: int,
    seed: np.random.SeedSequence,
    nuisances: bool,
    injected: tuple[float, float] | None,
    chunk: int,
    profile: bool = True,
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
        parts.append(scan(counts, templates, profile=profile))
    return ScanResult.concatenate(parts)


def run_toys(
    templates: Templates,
    n_toys: int,
    seed: int = 0,
    *,
    nuisances: bool = True,
    injected: tuple[float, float] | None = None,
    profile: bool = True,
    block_size: int = 1000,
    chunk: int | None = None,
    client=None,  # noqa: ANN001 - optional distributed.Client
    progress: bool = False,
) -> ScanResult:
    """Throw ``n_toys`` toys in seeded blocks and scan them, on a Dask client when given.

    ``nuisances`` draws the nuisances in the toys, ``profile`` profiles them in the fits.
    Block ``i`` always uses ``SeedSequence(seed).spawn(...)[i]``, so the result is the same
    with or without a client. ``chunk`` bounds the toys held in memory at once (default:
    about 4·10⁶ entries of the fits' bin × parameter arrays). ``progress`` shows a bar over
    the blocks.
    """
    if n_toys <= 0:
        raise ValueError(f"n_toys must be positive, got {n_toys}")
    if chunk is None:
        width = sum(
            g.bins.size * (1 + (g.n_nuisances if profile else 0)) for g in templates.point_groups()
        )
        chunk = int(np.clip(4_000_000 // max(width, 1), 16, block_size))
    sizes = [min(block_size, n_toys - s) for s in range(0, n_toys, block_size)]
    seeds = np.random.SeedSequence(seed).spawn(len(sizes))
    args = [(templates, n, s, nuisances, injected, chunk, profile) for n, s in zip(sizes, seeds)]
    with Steps("toys", len(args), enabled=progress) as step:
        if client is None:
            blocks = []
            for a in args:
                blocks.append(_toy_block(*a))
                step.advance(f"{a[1]} toys")
            return ScanResult.concatenate(blocks)
        from distributed import as_completed

        [tmpl_future] = client.scatter([templates], broadcast=True)
        futures = [client.submit(_toy_block, tmpl_future, *a[1:], pure=False) for a in args]
        for _ in as_completed(futures):
            step.advance()
        return ScanResult.concatenate(client.gather(futures))


def local_pvalue(z: np.ndarray | float) -> np.ndarray:
    """Asymptotic one-sided local p-value of Z = sqrt(q0): 1 − Φ(Z)."""
    return stats.norm.sf(np.asarray(z, dtype=float))


def global_pvalue(z_local_obs: np.ndarray | float, max_z_distribution: np.ndarray) -> np.ndarray:
    """Fraction of background-only toys whose maximum local Z is ≥ the observed local Z."""
    ref = np.asarray(max_z_distribution, dtype=float)
    ref = np.sort(ref[~np.isnan(ref)])  # toys whose every fit failed carry no information
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
    profile: bool = True,
    client=None,  # noqa: ANN001
) -> InjectionResult:
    """Toys with signal μ at ``mhyp``: best-fit m_hyp, local and global significance."""
    res = run_toys(
        templates,
        n_toys,
        seed,
        nuisances=nuisances,
        profile=profile,
        injected=(mu, mhyp),
        client=client,
    )
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
