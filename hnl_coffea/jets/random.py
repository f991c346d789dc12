"""Reproducible per-jet random numbers for the stochastic JER smearing.

Each jet's standard normal number is a function of (seed, run, luminosity block, event,
index of the jet in its event) only — a counter-based generator (SplitMix64 finalizer,
then Box–Muller) — so a jet is smeared the same way whatever the chunking, the worker or
the other jets of the chunk. (coffea's ``CorrectedJetsFactory`` seeds one generator per
chunk from the first and last jet pT, so its numbers change with the chunk boundaries.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["jet_normals", "splitmix64"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finalizer of ``x + golden ratio`` (uint64, wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def _mix(*keys: np.ndarray) -> np.ndarray:
    h = np.zeros(len(keys[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for key in keys:
            h = splitmix64(h ^ np.asarray(key).astype(np.uint64))
    return h


def jet_normals(
    run: np.ndarray, lumi: np.ndarray, event: np.ndarray, index: np.ndarray, seed: int
) -> np.ndarray:
    """One standard normal number per jet (all arguments one entry per jet, ``seed`` an int)."""
    n = len(index)
    base = _mix(np.full(n, seed, dtype=np.uint64), run, lumi, event, index)
    bits1 = splitmix64(base)
    bits2 = splitmix64(bits1)
    # 53-bit uniforms in (0, 1] and [0, 1)
    u1 = ((bits1 >> np.uint64(11)).astype(np.float64) + 1.0) / 2.0**53
    u2 = (bits2 >> np.uint64(11)).astype(np.float64) / 2.0**53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
