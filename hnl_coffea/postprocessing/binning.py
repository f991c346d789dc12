"""Adaptive binning of finely binned histograms (the two schemes of the HNL analysis).

Both schemes merge adjacent fine bins, so every output edge is one of the fine edges. A
merged bin *passes* when

* its background sum ``B = Σw`` is positive and ``sqrt(Σw²) / Σw < max_rel_unc``, and
* with ``require_signal=True``, its signal sum is positive and passes the same test.

Only the in-range bins are used (under/overflow stay where they are).
:func:`rebin` applies the edges to any :class:`hist.Hist`, summing values and variances, so
every process and systematic variation of a channel is rebinned identically.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import hist
import numpy as np

__all__ = [
    "BinningWarning",
    "bin_passes",
    "constant_signal_edges",
    "increasing_signal_edges",
    "rebin",
]

_EPS = 1e-9


class BinningWarning(UserWarning):
    """No binning satisfies the statistical requirement; a single bin is returned."""


def bin_passes(
    sig: float,
    sig_var: float,
    bkg: float,
    bkg_var: float,
    max_rel_unc: float = 0.15,
    require_signal: bool = False,
) -> bool:
    """Whether one merged bin passes the statistical requirement (see the module docstring)."""
    if not bkg > 0 or not np.sqrt(max(bkg_var, 0.0)) < max_rel_unc * bkg:
        return False
    return not require_signal or (sig > 0 and np.sqrt(max(sig_var, 0.0)) < max_rel_unc * sig)


def _arrays(*arrays: Sequence[float], fine_edges: Sequence[float]) -> tuple[np.ndarray, ...]:
    edges = np.asarray(fine_edges, dtype=float)
    n = len(edges) - 1
    if n < 1 or np.any(np.diff(edges) <= 0):
        raise ValueError("fine_edges must be strictly increasing with at least two entries")
    out = []
    for a in arrays:
        arr = np.asarray(a, dtype=float)
        if arr.shape != (n,):
            raise ValueError(
                f"per-bin arrays must have {n} entries (one per fine bin), got shape {arr.shape}"
            )
        out.append(arr)
    return (edges, *out)


def _all_pass(idx: np.ndarray, s, sv, b, bv, max_rel_unc: float, require_signal: bool) -> bool:
    """``idx`` are fine-edge indices [0, ..., n]; test every merged bin at once."""
    starts = idx[:-1]
    bs, bvs = np.add.reduceat(b, starts), np.add.reduceat(bv, starts)
    ok = (bs > 0) & (np.sqrt(np.clip(bvs, 0, None)) < max_rel_unc * bs)
    if require_signal:
        ss, svs = np.add.reduceat(s, starts), np.add.reduceat(sv, starts)
        ok &= (ss > 0) & (np.sqrt(np.clip(svs, 0, None)) < max_rel_unc * ss)
    return bool(np.all(ok))


def _single_bin(edges: np.ndarray, why: str) -> np.ndarray:
    warnings.warn(f"adaptive binning: {why}; using a single bin", BinningWarning, stacklevel=3)
    return edges[[0, -1]]


def constant_signal_edges(
    sig_values: Sequence[float],
    sig_variances: Sequence[float],
    bkg_values: Sequence[float],
    bkg_variances: Sequence[float],
    fine_edges: Sequence[float],
    *,
    max_rel_unc: float = 0.15,
    require_signal: bool = False,
) -> np.ndarray:
    """Edges of bins holding equal signal yields, left to right.

    Algorithm: let ``S_j`` be the cumulative (negative bins clipped to 0) signal of the first
    ``j`` fine bins and ``S = S_N`` the total. For ``n = N, N-1, ..., 1`` the candidate edges
    are fine edge 0, fine edge ``j_k`` for ``k = 1..n-1`` with ``j_k`` the smallest ``j``
    such that ``S_j >= k S / n`` (duplicates dropped), and fine edge ``N``. The first
    (largest) ``n`` whose bins all pass the requirement gives the result. Leading and
    trailing fine bins without signal join the first and last bin. If no ``n`` passes, or
    the signal is empty, a single bin is returned with a :class:`BinningWarning`.
    """
    edges, s, sv, b, bv = _arrays(
        sig_values, sig_variances, bkg_values, bkg_variances, fine_edges=fine_edges
    )
    nfine = len(s)
    cum = np.cumsum(np.clip(s, 0, None))
    total = cum[-1]
    if not total > 0:
        return _single_bin(edges, "no positive signal for constant-signal bins")
    for n in range(nfine, 0, -1):
        targets = total * np.arange(1, n) / n
        inner = np.searchsorted(cum, targets - _EPS * total, side="left") + 1
        idx = np.unique(np.concatenate(([0], inner, [nfine])))
        if _all_pass(idx, s, sv, b, bv, max_rel_unc, require_signal):
            return edges[idx]
    return _single_bin(edges, "even one bin fails the statistical requirement")


def increasing_signal_edges(
    sig_values: Sequence[float],
    sig_variances: Sequence[float],
    bkg_values: Sequence[float],
    bkg_variances: Sequence[float],
    fine_edges: Sequence[float],
    *,
    max_rel_unc: float = 0.15,
    require_signal: bool = False,
) -> np.ndarray:
    """Edges of bins built right to left, each holding more signal than the one to its right.

    Algorithm: start a bin at the right edge and widen it to the left one fine bin at a time
    until it passes the requirement *and* (except for the first, rightmost bin) its signal is
    strictly larger than the signal of the bin just closed to its right; then close it and
    start the next bin. Fine bins left over at the left end form the leftmost bin if they pass
    the requirement (only the growing-signal condition is waived for them); otherwise they
    are merged into the last closed bin. Finally, while a bin fails the requirement (possible
    after that merge), it is merged with its right-hand neighbour. If nothing passes, a single
    bin is returned with a :class:`BinningWarning`.
    """
    edges, s, sv, b, bv = _arrays(
        sig_values, sig_variances, bkg_values, bkg_variances, fine_edges=fine_edges
    )
    nfine = len(s)
    cuts = [nfine]  # fine-edge indices, right to left
    prev_sig: float | None = None
    acc = np.zeros(4)  # signal, signal var, background, background var of the open bin
    for j in range(nfine - 1, -1, -1):
        acc += (s[j], sv[j], b[j], bv[j])
        if bin_passes(acc[0], acc[1], acc[2], acc[3], max_rel_unc, require_signal) and (
            prev_sig is None or acc[0] > prev_sig
        ):
            cuts.append(j)
            prev_sig = float(acc[0])
            acc[:] = 0
    if cuts[-1] != 0:  # leftover at the left end
        lo = cuts[-1]
        own = bin_passes(
            s[:lo].sum(), sv[:lo].sum(), b[:lo].sum(), bv[:lo].sum(), max_rel_unc, require_signal
        )
        if own or len(cuts) == 1:
            cuts.append(0)
        else:
            cuts[-1] = 0
    idx = np.array(cuts[::-1])
    idx = _merge_failing(idx, s, sv, b, bv, max_rel_unc, require_signal)
    if len(idx) == 2 and not _all_pass(idx, s, sv, b, bv, max_rel_unc, require_signal):
        return _single_bin(edges, "even one bin fails the statistical requirement")
    return edges[idx]


def _merge_failing(idx: np.ndarray, s, sv, b, bv, max_rel_unc: float, require_signal: bool):
    """Merge each failing bin with its right-hand neighbour (the last one with its left)."""
    idx = list(idx)
    k = 0
    while len(idx) > 2 and k < len(idx) - 1:
        lo, hi = idx[k], idx[k + 1]
        ok = bin_passes(
            s[lo:hi].sum(), sv[lo:hi].sum(), b[lo:hi].sum(), bv[lo:hi].sum(), max_rel_unc,
            require_signal,
        )  # fmt: skip
        if ok:
            k += 1
            continue
        del idx[k + 1 if k + 1 < len(idx) - 1 else k]
        k = max(k - 1, 0)
    return np.array(idx)


def _axis_name(h: hist.Hist, axis: int | str | None) -> str:
    names = [a.name for a in h.axes]
    if axis is None:
        return names[-1]
    if isinstance(axis, str):
        if axis not in names:
            raise ValueError(f"histogram has no axis {axis!r}; axes: {', '.join(names)}")
        return axis
    return names[int(axis)]


def rebin(h: hist.Hist, edges: Sequence[float], axis: int | str | None = None) -> hist.Hist:
    """``h`` with one axis (default: the last) merged onto ``edges``, a subset of its edges.

    hist's own slicing and ``hist.rebin(edges=...)``: values and (``Weight`` storage)
    variances are summed; content outside ``[edges[0], edges[-1]]`` goes into the
    under/overflow bins of the new axis. All other axes are kept unchanged.
    """
    name = _axis_name(h, axis)
    old = h.axes[name]
    new = np.asarray(edges, dtype=float)
    if len(new) < 2 or np.any(np.diff(new) <= 0):
        raise ValueError("rebin edges must be strictly increasing with at least two entries")
    fine = np.asarray(old.edges, dtype=float)
    tol = 1e-9 * max(1.0, float(np.abs(fine).max()))
    pos = np.clip(np.searchsorted(fine, new - tol), 0, len(fine) - 1)
    foreign = np.abs(fine[pos] - new) > tol
    if np.any(foreign):
        raise ValueError(f"rebin edge {new[foreign][0]:g} is not an edge of axis {name!r}")
    full = pos[0] == 0 and pos[-1] == len(fine) - 1
    if not full and not (old.traits.underflow and old.traits.overflow):
        raise ValueError(f"axis {name!r} has no flow bins: edges must span its full range")
    # crop first (hist moves the cropped content into the flow bins), then merge
    cropped = h if full else h[{name: slice(int(pos[0]), int(pos[-1]))}]
    return cropped[{name: hist.rebin(edges=list(fine[pos]))}]
