"""Columnar relativistic kinematics for the toy generator: production of resonances,
two- and three-body phase-space decays and τ decays, all on numpy arrays of events.

Four-vectors are :mod:`vector` numpy arrays (``vector.MomentumNumpy4D``); every function
works on whole chunks of events at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import vector

__all__ = [
    "MASS",
    "P4",
    "p4_from_xyzt",
    "p4_from_ptetaphim",
    "produce",
    "two_body",
    "three_body",
    "breit_wigner",
    "beta_by_class",
    "TauDecay",
    "decay_taus",
]

P4 = vector.MomentumNumpy4D

#: Particle masses in GeV by |pdgId| (0 stands for a massless neutrino).
MASS = {11: 0.000511, 13: 0.10566, 15: 1.77686, 12: 0.0, 14: 0.0, 16: 0.0, 22: 0.0, 5: 4.18}
M_W, G_W = 80.379, 2.085
M_Z, G_Z = 91.1876, 2.4952
M_TOP = 172.5


def p4_from_xyzt(px, py, pz, e) -> P4:
    """A four-vector array from Cartesian components."""
    return vector.array({"px": px, "py": py, "pz": pz, "E": e})


def p4_from_ptetaphim(pt, eta, phi, mass) -> P4:
    """A four-vector array from collider coordinates."""
    return vector.array({"pt": pt, "eta": eta, "phi": phi, "mass": mass})


def scaled(p: P4, x: np.ndarray, mass: np.ndarray | float) -> P4:
    """The four-vector with the 3-momentum of ``p`` scaled by ``x`` and the given mass."""
    px, py, pz = p.px * x, p.py * x, p.pz * x
    e = np.sqrt(px**2 + py**2 + pz**2 + np.asarray(mass) ** 2)
    return p4_from_xyzt(px, py, pz, e)


def beta_by_class(
    rng: np.random.Generator, classes: list[np.ndarray], params: list[tuple[float, float]]
) -> np.ndarray:
    """Beta-distributed values, Beta(a_k, b_k) for the entries where ``classes[k]`` is true.

    The last class may be ``None`` for "all other entries". Each entry gets exactly one draw.
    """
    n = len(classes[0]) if classes[0] is not None else len(classes[-2])
    out = np.empty(n)
    rest = np.ones(n, bool)
    for mask, (a, b) in zip(classes, params):
        sel = rest if mask is None else (mask & rest)
        out[sel] = rng.beta(a, b, int(sel.sum()))
        rest &= ~sel
    return out


def breit_wigner(
    rng: np.random.Generator, n: int, mass: float, width: float, lo: float, hi: float
) -> np.ndarray:
    """Relativistic-enough (Cauchy) line shape truncated to ``[lo, hi]`` by inverse CDF."""
    a = np.arctan(2 * (lo - mass) / width)
    b = np.arctan(2 * (hi - mass) / width)
    return mass + 0.5 * width * np.tan(a + (b - a) * rng.random(n))


def produce(
    rng: np.random.Generator, mass: np.ndarray, pt_scale: float, y_sigma: float = 1.6
) -> P4:
    """A system of the given mass produced in pp: pT from a Γ(1.5) spectrum, Gaussian rapidity."""
    n = len(mass)
    pt = rng.gamma(1.5, pt_scale, n)
    y = np.clip(rng.normal(0.0, y_sigma, n), -4.0, 4.0)
    phi = rng.uniform(-np.pi, np.pi, n)
    mt = np.sqrt(mass**2 + pt**2)
    return p4_from_xyzt(pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y))


def _pstar(m, m1, m2):
    """Daughter momentum in the rest frame of a two-body decay (0 below threshold)."""
    t = (m**2 - (m1 + m2) ** 2) * (m**2 - (m1 - m2) ** 2)
    return np.sqrt(np.clip(t, 0.0, None)) / (2 * m)


def _isotropic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cost = rng.uniform(-1.0, 1.0, n)
    sint = np.sqrt(1.0 - cost**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    return sint * np.cos(phi), sint * np.sin(phi), cost


def _rest_pair(rng, m, m1, m2) -> tuple[P4, P4]:
    n = len(m)
    p = _pstar(m, m1, m2)
    ux, uy, uz = _isotropic(rng, n)
    e1 = np.sqrt(p**2 + np.asarray(m1) ** 2)
    e2 = np.sqrt(p**2 + np.asarray(m2) ** 2)
    d1 = p4_from_xyzt(p * ux, p * uy, p * uz, e1 * np.ones(n))
    d2 = p4_from_xyzt(-p * ux, -p * uy, -p * uz, e2 * np.ones(n))
    return d1, d2


def two_body(rng: np.random.Generator, parent: P4, m1, m2) -> tuple[P4, P4]:
    """Isotropic two-body decay in the parent rest frame, boosted to the lab."""
    d1, d2 = _rest_pair(rng, parent.mass, m1, m2)
    return d1.boost_p4(parent), d2.boost_p4(parent)


def three_body(rng: np.random.Generator, parent: P4, m1, m2, m3) -> tuple[P4, P4, P4]:
    """Flat (constant matrix element) three-body phase space, boosted to the lab.

    The invariant mass m12 is drawn by accept-reject on the phase-space density
    ``p*(M; m12, m3) · p*(m12; m1, m2)``, iterating over the events still pending.
    """
    n = len(parent)
    mm = np.asarray(parent.mass, dtype=np.float64)
    m1 = np.broadcast_to(np.asarray(m1, dtype=np.float64), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=np.float64), (n,))
    m3 = np.broadcast_to(np.asarray(m3, dtype=np.float64), (n,))
    lo, hi = m1 + m2, mm - m3
    wmax = _pstar(mm, lo, m3) * _pstar(hi, m1, m2) * 1.0001 + 1e-12
    m12 = np.empty(n)
    todo = np.arange(n)
    while todo.size:
        cand = rng.uniform(lo[todo], hi[todo])
        w = _pstar(mm[todo], cand, m3[todo]) * _pstar(cand, m1[todo], m2[todo])
        ok = rng.random(todo.size) * wmax[todo] < w
        m12[todo[ok]] = cand[ok]
        todo = todo[~ok]
    p12_rest, p3_rest = _rest_pair(rng, mm, m12, m3)
    d1, d2 = _rest_pair(rng, m12, m1, m2)
    d1, d2 = d1.boost_p4(p12_rest), d2.boost_p4(p12_rest)
    return d1.boost_p4(parent), d2.boost_p4(parent), p3_rest.boost_p4(parent)


# ---------------------------------------------------------------- τ decays

#: τ branching fractions used by the toy: hadronic, τ→eνν, τ→μνν.
TAU_BR = {"had": 0.648, "e": 0.178, "mu": 0.174}
#: Hadronic decay modes (HPS numbering) and their relative fractions.
TAU_DM = (0, 1, 10, 11)
TAU_DM_FRAC = (0.17, 0.53, 0.21, 0.09)
_DM_MASS = {0: (0.13957, 0.0), 1: (0.77, 0.12), 10: (1.10, 0.15), 11: (1.20, 0.15)}


@dataclass
class TauDecay:
    """One τ decayed per event: visible and invisible four-vectors and the decay kind.

    ``kind`` is 15 for a hadronic decay (τh), 11 or 13 for leptonic decays; ``dm`` is the
    HPS decay mode of τh (-1 for leptonic decays).
    """

    kind: np.ndarray
    dm: np.ndarray
    visible: P4
    nu_tau: P4
    nu_lep: P4


def decay_taus(rng: np.random.Generator, tau: P4) -> TauDecay:
    """Decay τ leptons in the collinear approximation with a sampled visible fraction."""
    n = len(tau)
    u = rng.random(n)
    kind = np.where(u < TAU_BR["had"], 15, np.where(u < TAU_BR["had"] + TAU_BR["e"], 11, 13))
    dm = rng.choice(np.array(TAU_DM), size=n, p=np.array(TAU_DM_FRAC))
    dm = np.where(kind == 15, dm, -1)
    mvis = np.full(n, MASS[13])
    mvis[kind == 11] = MASS[11]
    for mode, (mean, sigma) in _DM_MASS.items():
        sel = dm == mode
        mvis[sel] = np.clip(rng.normal(mean, sigma, sel.sum()), 0.14, 1.7) if sigma else mean
    # visible momentum fraction: harder for 1-prong π, softer for leptonic decays
    x = beta_by_class(rng, [dm == 0, kind == 15, None], [(1.0, 1.0), (2.2, 1.6), (1.7, 2.2)])
    x = np.where(dm == 0, 0.02 + 0.98 * x, x)  # 1-prong π: uniform in [0.02, 1]
    x = np.clip(x, 0.02, 0.995)
    vis = scaled(tau, x, mvis)
    inv = tau - vis
    f = np.where(kind == 15, 1.0, rng.uniform(0.25, 0.75, n))
    nu_tau = scaled(inv, f, 0.0)
    nu_lep = scaled(inv, 1.0 - f, 0.0)
    return TauDecay(kind=kind, dm=dm, visible=vis, nu_tau=nu_tau, nu_lep=nu_lep)
