"""Expected significance from binned signal and background yields.

Both figures of merit are evaluated per bin and combined in quadrature,
``Z = sqrt(Σ_i Z_i²)``. Bins with background ``b <= 0`` carry no information and are
skipped; negative signal yields are clipped to zero.

* :func:`s_over_sqrt_b`: ``Z_i = s_i / sqrt(b_i)``
* :func:`asimov`: the median discovery significance of the Asimov data set,
  ``Z_i = sqrt(2 ((s_i + b_i) ln(1 + s_i/b_i) - s_i))``, which tends to ``s/sqrt(b)``
  for ``s << b``.

Across channels, :func:`combine_channels` adds in quadrature and :func:`average_channels`
takes the mean (the figure of merit of the original HNL model comparison).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "asimov",
    "asimov_per_bin",
    "average_channels",
    "combine_channels",
    "s_over_sqrt_b",
    "s_over_sqrt_b_per_bin",
]


def _prepare(s: Sequence[float] | float, b: Sequence[float] | float):
    s_arr = np.atleast_1d(np.asarray(s, dtype=float))
    b_arr = np.atleast_1d(np.asarray(b, dtype=float))
    if s_arr.shape != b_arr.shape:
        raise ValueError(f"signal and background shapes differ: {s_arr.shape} vs {b_arr.shape}")
    good = b_arr > 0
    return np.clip(s_arr, 0, None), b_arr, good


def s_over_sqrt_b_per_bin(s: Sequence[float] | float, b: Sequence[float] | float) -> np.ndarray:
    """Per-bin ``s/sqrt(b)`` (0 where ``b <= 0``)."""
    s_arr, b_arr, good = _prepare(s, b)
    out = np.zeros_like(s_arr)
    out[good] = s_arr[good] / np.sqrt(b_arr[good])
    return out


def asimov_per_bin(s: Sequence[float] | float, b: Sequence[float] | float) -> np.ndarray:
    """Per-bin Asimov significance (0 where ``b <= 0``)."""
    s_arr, b_arr, good = _prepare(s, b)
    out = np.zeros_like(s_arr)
    sg, bg = s_arr[good], b_arr[good]
    q = 2.0 * ((sg + bg) * np.log1p(sg / bg) - sg)
    out[good] = np.sqrt(np.clip(q, 0, None))
    return out


def s_over_sqrt_b(s: Sequence[float] | float, b: Sequence[float] | float) -> float:
    """``sqrt(Σ (s_i/sqrt(b_i))²)`` over bins with positive background."""
    return float(np.sqrt(np.sum(s_over_sqrt_b_per_bin(s, b) ** 2)))


def asimov(s: Sequence[float] | float, b: Sequence[float] | float) -> float:
    """Asimov significance per bin, combined in quadrature."""
    return float(np.sqrt(np.sum(asimov_per_bin(s, b) ** 2)))


def combine_channels(z: Sequence[float]) -> float:
    """Combination of independent channels: ``sqrt(Σ Z_c²)``."""
    return float(np.sqrt(np.sum(np.square(np.asarray(z, dtype=float)))))


def average_channels(z: Sequence[float]) -> float:
    """Mean significance over channels (0 for no channels)."""
    arr = np.asarray(z, dtype=float)
    return float(arr.mean()) if arr.size else 0.0
