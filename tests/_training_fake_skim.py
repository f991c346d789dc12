"""A small fake skim (feature record of random kinematics) for the training tests."""

from __future__ import annotations

import numpy as np

from hnl_coffea.features import FEATURE_NAMES, kinematic_features
from hnl_coffea.training.skim import SkimTable


def fake_skim(n: int, masses, seed: int = 0, signal_fraction: float = 0.4) -> SkimTable:
    """Signal leptons harder with the HNL mass; background soft. Not physics, just separable."""
    rng = np.random.default_rng(seed)
    is_sig = rng.random(n) < signal_fraction
    m_true = np.where(is_sig, rng.choice(np.asarray(masses, float), n), np.nan)
    scale = np.where(is_sig, 0.25 * np.nan_to_num(m_true, nan=0.0) + 15, 30.0)
    pt = 20 + rng.exponential(1.0, (n, 3)) * scale[:, None]
    pt = -np.sort(-pt, axis=1)
    eta = rng.uniform(-2.3, 2.3, (n, 3))
    phi = rng.uniform(-np.pi, np.pi, (n, 3))
    mass = np.tile([1.2, 0.5, 0.105], (n, 1))
    met_pt = rng.exponential(1.0, n) * np.where(is_sig, 0.2 * scale, 25.0)
    met_phi = rng.uniform(-np.pi, np.pi, n)
    cols = {
        k: np.asarray(v, np.float32)
        for k, v in kinematic_features(pt, eta, phi, mass, met_pt, met_phi).items()
    }
    q = rng.choice([-1.0, 1.0], (n, 3)).astype(np.float32)
    for i in range(3):
        cols[f"l{i + 1}_charge"] = q[:, i]
    cols["n_jets"] = rng.poisson(1.0, n).astype(np.float32)
    cols["n_bjets"] = np.zeros(n, np.float32)
    cols["ht"] = cols["n_jets"] * 40
    cols["j1_pt"] = np.where(cols["n_jets"] > 0, 40.0, -1.0).astype(np.float32)
    cols["j1_eta"] = np.zeros(n, np.float32)
    cols["j1_phi"] = np.zeros(n, np.float32)
    assert set(FEATURE_NAMES) <= set(cols)
    cols["channel"] = rng.integers(0, 5, n).astype(np.int8)
    cols["event"] = rng.permutation(10 * n)[:n].astype(np.uint64)
    cols["run"] = np.ones(n, np.uint64)
    cols["luminosityBlock"] = np.ones(n, np.uint64)
    cols["gen_weight"] = np.ones(n)
    cols["is_signal"] = is_sig
    cols["m_true"] = m_true.astype(np.float32)
    names = np.where(is_sig, "HNL", "WZ").astype(object)
    cols["dataset"] = names
    cols["process"] = names
    return SkimTable(cols)
