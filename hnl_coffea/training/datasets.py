"""From a skim table to training arrays: splits, mass hypotheses, class weights, scaling.

* Splits are a pure function of the event number (a 64-bit mix of it, modulo 10), so an
  event always lands in the same split whichever chunk, file or run of the skim it came from.
  Default: digits 0–6 train (70 %), 7–8 validation (20 %), 9 test (10 %), as in the di-τ seed.
* Background events get a mass hypothesis drawn uniformly from the signal mass list (the
  parametric-DNN seed); signal events keep their generated HNL mass.
* Class weights balance signal and background *per mass hypothesis* (Σw_sig = Σw_bkg at each
  m_hyp) while the physics weight (cross section × luminosity × generator weight / Σw)
  stays inside each event's loss weight.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "TRAIN",
    "VALIDATION",
    "TEST",
    "SPLIT_NAMES",
    "split_index",
    "assign_mass_hypotheses",
    "class_weights",
    "flat_weights",
    "cap_weights",
    "Standardizer",
]

TRAIN, VALIDATION, TEST = 0, 1, 2
SPLIT_NAMES = ("train", "validation", "test")
_DEFAULT_DIGITS = ((0, 1, 2, 3, 4, 5, 6), (7, 8), (9,))


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-mixed 64-bit hash of unsigned 64-bit integers."""
    z = x.astype(np.uint64, copy=True)
    with np.errstate(over="ignore"):
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def split_index(
    event: np.ndarray,
    digits: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] = _DEFAULT_DIGITS,
) -> np.ndarray:
    """Split of each event (``TRAIN``, ``VALIDATION``, ``TEST``) from its event number."""
    flat = sorted(d for group in digits for d in group)
    if flat != list(range(10)):
        raise ValueError(f"split digits must use each of 0..9 exactly once, got {digits}")
    ev = np.asarray(event)
    if ev.dtype.kind not in "iu":
        raise ValueError(f"event numbers must be integers, got dtype {ev.dtype}")
    digit = (_mix64(ev.astype(np.uint64)) % np.uint64(10)).astype(np.int64)
    lookup = np.empty(10, dtype=np.int8)
    for split, group in enumerate(digits):
        lookup[list(group)] = split
    return lookup[digit]


def assign_mass_hypotheses(
    is_signal: np.ndarray,
    m_true: np.ndarray,
    masses: tuple[float, ...] | np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Mass hypothesis per event: the true HNL mass for signal, a random list entry otherwise."""
    sig = np.asarray(is_signal, dtype=bool)
    m = np.asarray(masses, dtype=np.float64)
    if m.size == 0:
        raise ValueError("mass hypothesis list is empty")
    out = rng.choice(m, size=sig.size).astype(np.float32)
    mt = np.asarray(m_true, dtype=np.float64)
    if np.any(~np.isfinite(mt[sig]) | (mt[sig] <= 0)):
        raise ValueError("signal events need a positive true HNL mass (m_true)")
    out[sig] = mt[sig]
    return out


def class_weights(
    is_signal: np.ndarray, physics_weight: np.ndarray, mhyp: np.ndarray
) -> np.ndarray:
    """Loss weights: physics weight × a class factor so that, at each mass hypothesis,
    Σw(signal) = Σw(background); overall normalised to a mean of 1 per event.

    Mass hypotheses where one class is missing keep their events with factor 0.
    """
    sig = np.asarray(is_signal, dtype=bool)
    w = np.asarray(physics_weight, dtype=np.float64)
    mh = np.asarray(mhyp)
    out = np.zeros_like(w)
    values = np.unique(mh)
    n_points = 0
    for m in values:
        at = mh == m
        s, b = w[at & sig].sum(), w[at & ~sig].sum()
        if s <= 0 or b <= 0:
            continue
        n_points += 1
        out[at & sig] = w[at & sig] / s
        out[at & ~sig] = w[at & ~sig] / b
    if n_points == 0:
        raise ValueError("no mass hypothesis has both signal and background events with weight")
    total = out.sum()
    return (out * (len(w) / total)).astype(np.float32)


def flat_weights(values: np.ndarray, physics_weight: np.ndarray | None = None) -> np.ndarray:
    """Weights flattening the distribution of the discrete ``values`` (e.g. true HNL mass):
    every distinct value gets the same total weight; mean weight 1."""
    v = np.asarray(values)
    w = (
        np.ones(v.shape, np.float64)
        if physics_weight is None
        else np.asarray(physics_weight, float)
    )
    w = np.clip(w, 0.0, None)
    out = np.zeros_like(w)
    for x in np.unique(v):
        at = v == x
        s = w[at].sum()
        if s > 0:
            out[at] = w[at] / s
    if out.sum() <= 0:
        raise ValueError("flat_weights: all weights are zero")
    return (out * (len(v) / out.sum())).astype(np.float32)


def cap_weights(weight: np.ndarray, where: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """Clip ``|weight|`` of the events in ``where`` at ``factor`` × their median ``|weight|``.

    Small simulated samples of large-cross-section backgrounds (fake leptons from DY, W+jets,
    Zγ) enter the selection with a handful of events whose weights are thousands of times
    those of WZ; uncapped, those few events dominate a weighted loss. Returns the capped
    weights and the cap (``inf`` when ``factor`` ≤ 0 or no event is selected).
    """
    w = np.asarray(weight, dtype=np.float64).copy()
    sel = np.asarray(where, dtype=bool)
    if factor <= 0 or not sel.any():
        return w, float("inf")
    cap = float(factor * np.median(np.abs(w[sel])))
    w[sel] = np.clip(w[sel], -cap, cap)
    return w, cap


@dataclass(frozen=True)
class Standardizer:
    """Per-column ``(x − mean)/scale`` constants, computed on the training split."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, weight: np.ndarray | None = None) -> Standardizer:
        x = np.asarray(x, dtype=np.float64)
        w = np.ones(len(x)) if weight is None else np.clip(np.asarray(weight, float), 0, None)
        mean = np.average(x, axis=0, weights=w)
        var = np.average((x - mean) ** 2, axis=0, weights=w)
        scale = np.sqrt(var)
        scale[~(scale > 1e-8)] = 1.0
        return cls(mean.astype(np.float32), scale.astype(np.float32))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((np.asarray(x, dtype=np.float32) - self.mean) / self.scale).astype(np.float32)
