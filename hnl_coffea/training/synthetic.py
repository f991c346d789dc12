""" "Infinite" synthetic kinematics for pre-training the regression backbone.

Each call to :meth:`SyntheticKinematics.sample` draws fresh events (new data every epoch,
as in the transfer-learning seed):

* η uniform in [−2.5, 2.5], φ uniform in [−π, π] for the three leptons; MET φ uniform;
* pT of each lepton slot and of MET from a shifted exponential fitted (maximum likelihood)
  to the skim's spectrum of that slot;
* lepton masses drawn jointly, row by row, from the skim (keeps the τh/μ/e composition);
* targets from :func:`hnl_coffea.features.kinematic_features` (never re-implemented here),
  events with any target outside the [0.03, 99.7] percentile range of the real skim are
  rejected; GeV-valued targets are then divided by E_tot (E_tot itself stays in GeV).

Input column order (the backbone's 14 raw inputs): ``l{i}_pt, l{i}_eta, l{i}_phi, l{i}_mass``
for i = 1..3, then ``met_pt, met_phi``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "RAW_INPUTS",
    "ETOT",
    "SyntheticKinematics",
    "fit_shifted_exponential",
    "is_gev",
    "compute_targets",
]

RAW_INPUTS: tuple[str, ...] = tuple(
    f"l{i}_{v}" for i in (1, 2, 3) for v in ("pt", "eta", "phi", "mass")
) + ("met_pt", "met_phi")
ETOT = "e_tot"
ETA_MAX = 2.5

TargetFn = Callable[..., Mapping[str, np.ndarray]]


def is_gev(name: str) -> bool:
    """Whether a kinematic target is measured in GeV (masses, momenta, MTs, energies)."""
    if name.endswith(("_pt", "_mass")):
        return True
    return name.split("_")[0] in {"m", "pt", "mt", "e", "ht"}


def fit_shifted_exponential(pt: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood ``(loc, scale)`` of a shifted exponential: loc = min, scale = mean − min."""
    x = np.asarray(pt, dtype=np.float64)
    x = x[np.isfinite(x)]
    if x.size < 2:
        raise ValueError("need at least 2 finite pT values to fit an exponential spectrum")
    loc = float(x.min())
    scale = float(x.mean() - loc)
    if scale <= 0:
        raise ValueError("pT spectrum has zero spread; cannot fit an exponential")
    return loc, scale


def _default_target_fn() -> TargetFn:
    from ..features import kinematic_features

    return kinematic_features


def compute_targets(x: np.ndarray, target_fn: TargetFn | None = None) -> dict[str, np.ndarray]:
    """Kinematic targets (GeV, unnormalised) of raw inputs ``x`` of shape (n, 14)."""
    fn = target_fn or _default_target_fn()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != len(RAW_INPUTS):
        raise ValueError(f"raw inputs must have shape (n, {len(RAW_INPUTS)}), got {x.shape}")
    lep = x[:, :12].reshape(-1, 3, 4)
    out = fn(lep[..., 0], lep[..., 1], lep[..., 2], lep[..., 3], x[:, 12], x[:, 13])
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


@dataclass
class SyntheticKinematics:
    """Generator of synthetic (inputs, targets) pairs matched to a real skim."""

    pt_loc: np.ndarray  # (4,) l1, l2, l3, MET
    pt_scale: np.ndarray  # (4,)
    masses: np.ndarray  # (m, 3) lepton masses sampled row-wise
    target_names: tuple[str, ...]
    lower: np.ndarray  # (T,) percentile bounds in GeV units
    upper: np.ndarray
    gev_mask: np.ndarray = field(repr=False)  # (T,) bool
    target_fn: TargetFn | None = field(default=None, repr=False)

    @classmethod
    def from_skim(
        cls,
        raw: np.ndarray,
        target_fn: TargetFn | None = None,
        percentiles: tuple[float, float] = (0.03, 99.7),
        targets: tuple[str, ...] | None = None,
        gev: Callable[[str], bool] = is_gev,
    ) -> SyntheticKinematics:
        """Fit the pT spectra and percentile ranges on real raw inputs of shape (n, 14).

        ``targets`` selects and orders the regression targets (default: every output of the
        target function); ``gev(name)`` says which are in GeV (divided by E_tot).
        """
        raw = np.asarray(raw, dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != len(RAW_INPUTS) or len(raw) < 10:
            raise ValueError(
                f"need ≥ 10 real events of shape (n, {len(RAW_INPUTS)}), got {raw.shape}"
            )
        fits = [fit_shifted_exponential(raw[:, c]) for c in (0, 4, 8, 12)]
        real = compute_targets(raw, target_fn)
        if ETOT not in real:
            raise ValueError(f"kinematic targets must contain {ETOT!r}")
        names = tuple(targets) if targets is not None else tuple(real)
        missing = [n for n in names if n not in real]
        if missing:
            raise ValueError(f"unknown kinematic target(s): {missing}")
        y = np.stack([real[n] for n in names], axis=1)
        lo, hi = np.nanpercentile(y, percentiles, axis=0)
        return cls(
            pt_loc=np.array([f[0] for f in fits]),
            pt_scale=np.array([f[1] for f in fits]),
            masses=raw[:, [3, 7, 11]].copy(),
            target_names=names,
            lower=lo,
            upper=hi,
            gev_mask=np.array([gev(n) and n != ETOT for n in names]),
            target_fn=target_fn,
        )

    @property
    def etot_index(self) -> int:
        return self.target_names.index(ETOT)

    def draw_inputs(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Raw synthetic inputs (n, 14) before any target cut."""
        x = np.empty((n, len(RAW_INPUTS)))
        m = self.masses[rng.integers(0, len(self.masses), size=n)]
        for i in range(3):
            c = 4 * i
            x[:, c] = self.pt_loc[i] + rng.exponential(self.pt_scale[i], size=n)
            x[:, c + 1] = rng.uniform(-ETA_MAX, ETA_MAX, size=n)
            x[:, c + 2] = rng.uniform(-np.pi, np.pi, size=n)
            x[:, c + 3] = m[:, i]
        x[:, 12] = self.pt_loc[3] + rng.exponential(self.pt_scale[3], size=n)
        x[:, 13] = rng.uniform(-np.pi, np.pi, size=n)
        return x

    def targets(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(normalised targets (n, T), in-range mask (n,))`` for raw inputs."""
        t = compute_targets(raw, self.target_fn)
        y = np.stack([t[n] for n in self.target_names], axis=1)
        ok = np.all((y >= self.lower) & (y <= self.upper), axis=1) & np.all(np.isfinite(y), axis=1)
        etot = y[:, self.etot_index : self.etot_index + 1]
        y = np.where(self.gev_mask, y / np.where(etot > 0, etot, 1.0), y)
        return y, ok

    def sample(
        self, n: int, rng: np.random.Generator, max_tries: int = 100
    ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` accepted events: raw inputs (n, 14) float32 and normalised targets (n, T)."""
        xs, ys, have, drawn = [], [], 0, 0
        for _ in range(max_tries):
            acceptance = max(have / drawn, 0.01) if drawn else 0.25
            k = int(1.2 * (n - have) / acceptance) + 256
            x = self.draw_inputs(k, rng)
            y, ok = self.targets(x)
            xs.append(x[ok])
            ys.append(y[ok])
            have += int(ok.sum())
            drawn += k
            if have >= n:
                break
        else:
            raise RuntimeError(
                f"synthetic generator accepted only {have} of the requested {n} events; "
                "the skim's percentile ranges are too narrow for the fitted spectra"
            )
        x, y = np.concatenate(xs)[:n], np.concatenate(ys)[:n]
        return x.astype(np.float32), y.astype(np.float32)

    def acceptance(self, rng: np.random.Generator, n: int = 20_000) -> float:
        """Fraction of drawn events inside every target's percentile range."""
        return float(self.targets(self.draw_inputs(n, rng))[1].mean())

    def to_dict(self) -> dict:
        """JSON-friendly description (for the artifact sidecar)."""
        return {
            "eta_range": [-ETA_MAX, ETA_MAX],
            "phi_range": [-np.pi, np.pi],
            "pt_exponential": {
                name: {"loc": float(lo), "scale": float(sc)}
                for name, lo, sc in zip(("l1", "l2", "l3", "met"), self.pt_loc, self.pt_scale)
            },
            "targets": list(self.target_names),
            "gev_targets_divided_by": ETOT,
            "percentile_cut": {
                n: [float(a), float(b)]
                for n, a, b in zip(self.target_names, self.lower, self.upper)
            },
        }
