"""Analysis categories: one discriminant, channel, region and mass hypothesis, adaptively binned.

A :class:`BinnedCategory` holds, for one (discriminant, channel, mass hypothesis) in the signal
region, the normalised background processes, the signal and (optionally) the data, all
rebinned onto the same adaptive edges. The edges are computed from the nominal signal and the
nominal total background, then applied to every process and systematic variation.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import hist
import numpy as np

from ..histograms import NOMINAL
from .binning import BinningWarning, constant_signal_edges, increasing_signal_edges, rebin
from .normalise import ProcessHists

__all__ = [
    "DISCRIMINANTS",
    "BinnedCategory",
    "bin_category",
    "choose_discriminant",
    "masses_for",
    "nominal",
    "select",
]

#: Discriminants compared in the significance plots, with their legend labels.
DISCRIMINANTS: dict[str, str] = {
    "mt_total": r"$M_T^{tot}$",
    "score_parametric": "Parametric DNN",
    "score_transfer": "Transfer model",
}

SCHEMES = {"increasing": increasing_signal_edges, "constant": constant_signal_edges}


@dataclass
class BinnedCategory:
    """Rebinned histograms (axes: systematic, variable) of one analysis category."""

    discriminant: str
    channel: str
    mass: float
    edges: np.ndarray
    backgrounds: dict[str, hist.Hist]
    signal: hist.Hist
    signal_name: str
    data: hist.Hist | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def signal_yields(self) -> np.ndarray:
        return nominal(self.signal).values()

    @property
    def background_yields(self) -> np.ndarray:
        if not self.backgrounds:
            return np.zeros(len(self.edges) - 1)
        return sum(nominal(h).values() for h in self.backgrounds.values())


def select(h: hist.Hist, **cats: str | float | None) -> hist.Hist:
    """Slice categorical axes by value, removing them; a missing category gives zeros."""
    idx: dict = {}
    missing = False
    names = [a.name for a in h.axes]
    for ax, val in cats.items():
        if val is None or ax not in names:
            continue
        axis = h.axes[ax]
        if isinstance(axis, hist.axis.IntCategory):
            val = int(round(float(val)))
            idx[ax] = hist.loc(val)
        else:
            idx[ax] = val
        if val not in list(axis):
            missing = True
    if not missing:
        return h[idx]
    keep = [a for a in h.axes if a.name not in idx]
    return hist.Hist(*keep, storage=h.storage_type())


def nominal(h: hist.Hist) -> hist.Hist:
    """The nominal variation of a histogram with a ``systematic`` axis (zeros if absent)."""
    return select(h, systematic=NOMINAL)


def masses_for(ph: ProcessHists, h: hist.Hist) -> list[float]:
    """Mass hypotheses with a signal sample (and, for scores, an ``mhyp`` category)."""
    masses = sorted(ph.signals)
    if "mhyp" in [a.name for a in h.axes]:
        cats = [float(m) for m in h.axes["mhyp"]]
        masses = [m for m in masses if any(math.isclose(m, c) for c in cats)]
    return masses


def clip_negative_bins(h: hist.Hist) -> tuple[hist.Hist, int]:
    """A copy of ``h`` with negative bin contents (from negative generator weights) set to
    zero, and how many bins were clipped. Variances are kept."""
    out = h.copy()
    view = out.view(flow=True)
    values = view["value"] if out.storage_type is hist.storage.Weight else view
    neg = values < 0
    values[neg] = 0.0
    return out, int(neg.sum())


def bin_category(
    ph: ProcessHists,
    discriminant: str,
    channel: str,
    mass: float,
    *,
    region: str = "SR",
    scheme: str = "increasing",
    max_rel_unc: float = 0.15,
    require_signal: bool = False,
) -> BinnedCategory:
    """Adaptive edges from the nominal signal and background, applied to every histogram."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown binning scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    cut = {"region": region, "channel": channel, "mhyp": mass}
    bkgs = {p: select(h, **cut) for p, h in ph.backgrounds.items()}
    sig_full = ph.signal_at(mass)
    if sig_full is None:
        raise ValueError(f"no signal sample with m_hnl = {mass:g} GeV")
    sig = select(sig_full, **cut)
    s_nom = nominal(sig)
    b_nom = [nominal(h) for h in bkgs.values()]
    fine = s_nom.axes[-1].edges
    # a process cannot contribute a negative yield (negative generator weights): clip per
    # process and fine bin when choosing edges, and per process and final bin below
    b_val = sum((np.clip(h.values(), 0, None) for h in b_nom), np.zeros(len(fine) - 1))
    b_var = sum((h.variances() for h in b_nom), np.zeros(len(fine) - 1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BinningWarning)
        edges = SCHEMES[scheme](
            s_nom.values(),
            s_nom.variances(),
            b_val,
            b_var,
            fine,
            max_rel_unc=max_rel_unc,
            require_signal=require_signal,
        )
    data = None
    if ph.data is not None:
        data = rebin(select(ph.data, **cut), edges)
    backgrounds, notes = {}, [str(w.message) for w in caught]
    for p, h in bkgs.items():
        backgrounds[p], n_clipped = clip_negative_bins(rebin(h, edges))
        if n_clipped:
            notes.append(f"{channel} m={mass:g}: {p}: {n_clipped} negative bin(s) clipped to 0")
    return BinnedCategory(
        discriminant=discriminant,
        channel=channel,
        mass=mass,
        edges=edges,
        backgrounds=backgrounds,
        signal=rebin(sig, edges),
        signal_name=ph.signal_name_at(mass),
        data=data,
        warnings=notes,
    )


def choose_discriminant(norm: dict[str, ProcessHists], wanted: str = "auto") -> str:
    """``wanted`` if present, else the first filled of transfer, parametric, MT_total."""
    if wanted != "auto":
        if wanted not in norm:
            raise ValueError(f"no histogram {wanted!r}; available: {', '.join(norm)}")
        return wanted
    for name in ("score_transfer", "score_parametric", "mt_total"):
        ph = norm.get(name)
        if ph is not None and any(h.values().sum() > 0 for h in ph.backgrounds.values()):
            return name
    raise ValueError(
        "no filled discriminant histogram (score_transfer, score_parametric, mt_total)"
    )
