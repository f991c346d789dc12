"""Analysis categories: one discriminant, channel, region and mass hypothesis, adaptively binned.

A :class:`BinnedCategory` holds, for one (discriminant, channel, mass hypothesis) in the signal
region, the normalised background processes, the signal and (optionally) the data, all
rebinned onto the same adaptive edges. The edges are computed from the nominal signal and the
nominal total background, then applied to every process and systematic variation.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import hist
import numpy as np

from ..config import AnalysisConfig
from ..histograms import NOMINAL
from .binning import BinningWarning, constant_signal_edges, increasing_signal_edges, rebin
from .normalise import ProcessHists, histogram_parts
from .ranking import FALLBACK_ORDER

__all__ = [
    "ALL_ERAS",
    "DISCRIMINANTS",
    "BinnedCategory",
    "bin_category",
    "binned_categories",
    "choose_discriminant",
    "first_era_choice",
    "masses_for",
    "nominal",
    "plot_masses",
    "project",
    "take_categories",
    "usable_templates",
]

#: Discriminants compared in the significance plots, with their legend labels.
DISCRIMINANTS: dict[str, str] = {
    "mt_total": r"$M_T^{tot}$",
    "score_parametric": "Parametric DNN",
    "score_transfer": "Transfer model",
}

#: The ``era`` of results combining several eras.
ALL_ERAS = "all"

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
    era: str = ""

    @property
    def signal_yields(self) -> np.ndarray:
        return nominal(self.signal).values()

    def backgrounds_nominal(self, process: str) -> np.ndarray:
        """Nominal yields per bin of one background process."""
        return nominal(self.backgrounds[process]).values()

    @property
    def background_yields(self) -> np.ndarray:
        if not self.backgrounds:
            return np.zeros(len(self.edges) - 1)
        return sum(nominal(h).values() for h in self.backgrounds.values())


def take_categories(h: hist.Hist, **cats: str | float | None) -> hist.Hist:
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
    return take_categories(h, systematic=NOMINAL)


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


def usable_templates(
    processes: dict[str, hist.Hist], where: str = ""
) -> tuple[dict[str, hist.Hist], list[str]]:
    """The templates every output uses — plots, significances and datacards alike.

    A bin with a negative yield (negative generator weights) is floored at 0 and keeps its
    statistical variance (so the plotted band and combine's ``autoMCStats`` see the same
    uncertainty); a process whose total nominal yield is not positive is removed. Returns
    the templates and one note per change.
    """
    out, notes = {}, []
    for p, h in processes.items():
        clipped, n = clip_negative_bins(h)
        total = float(nominal(clipped).values().sum()) if _has_syst(h) else clipped.values().sum()
        if not total > 0:
            notes.append(
                f"{where}{p}: no positive yield, left out of plots, significance and cards"
            )
            continue
        if n:
            notes.append(f"{where}{p}: {n} negative bin(s) set to 0 (statistical error kept)")
        out[p] = clipped
    return out, notes


def _has_syst(h: hist.Hist) -> bool:
    return "systematic" in [a.name for a in h.axes]


def project(h: hist.Hist, region: str, channel: str | None) -> hist.Hist:
    """``h`` in one region and channel (``None``: summed over channels), mhyp-free."""
    out = take_categories(h, region=region, channel=channel)
    if channel is None and "channel" in [a.name for a in out.axes]:
        out = out[{"channel": sum}]
    return out


def plot_masses(masses: Sequence[float], wanted: Sequence[float]) -> list[float]:
    """The configured plot masses, else the lowest, middle and highest available."""
    if wanted:
        return [m for m in masses if any(math.isclose(m, w) for w in wanted)]
    ms = sorted(masses)
    return sorted({ms[0], ms[len(ms) // 2], ms[-1]}) if ms else []


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
    era: str = "",
) -> BinnedCategory:
    """Adaptive edges from the nominal signal and background, applied to every histogram."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown binning scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    cut = {"region": region, "channel": channel, "mhyp": mass}
    bkgs = {p: take_categories(h, **cut) for p, h in ph.backgrounds.items()}
    sig_full = ph.signal_at(mass)
    if sig_full is None:
        raise ValueError(f"no signal sample with m_hnl = {mass:g} GeV")
    sig = take_categories(sig_full, **cut)
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
        data = rebin(take_categories(ph.data, **cut), edges)
    backgrounds, notes = usable_templates(
        {p: rebin(h, edges) for p, h in bkgs.items()}, f"{channel} m={mass:g}: "
    )
    where = f"{era} " if era else ""
    notes = [f"{where}{channel} m={mass:g}: {w.message}" for w in caught] + [
        where + n for n in notes
    ]
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
        era=era,
    )


def choose_discriminant(
    norm: dict[str, ProcessHists],
    wanted: str = "auto",
    ranking: Sequence[str] = FALLBACK_ORDER,
) -> str:
    """``wanted`` if present; for ``auto`` / ``auto_per_mass`` the first filled histogram of
    ``ranking`` (best first, e.g. from the model comparison)."""
    if wanted not in ("auto", "auto_per_mass"):
        if wanted not in norm:
            raise ValueError(f"no histogram {wanted!r}; available: {', '.join(norm)}")
        return wanted
    for name in ranking:
        ph = norm.get(name)
        if ph is not None and any(h.values().sum() > 0 for h in ph.backgrounds.values()):
            return name
    raise ValueError(f"no filled discriminant histogram ({', '.join(ranking)})")


def first_era_choice(
    norms: Mapping[str, dict[str, ProcessHists]],
    wanted: str = "auto",
    ranking: Sequence[str] = FALLBACK_ORDER,
) -> str:
    """:func:`choose_discriminant` of the first era (in order) that has one."""
    errors = []
    for norm in norms.values():
        try:
            return choose_discriminant(norm, wanted, ranking)
        except ValueError as err:
            errors.append(str(err))
    raise ValueError(errors[0] if errors else "no era in the output")


def binned_categories(
    norms: Mapping[str, dict[str, ProcessHists]],
    output: Mapping[str, Any],
    cfg: AnalysisConfig,
    discriminants: Sequence[str],
    *,
    scheme: str | None = None,
    max_rel_unc: float | None = None,
) -> list[BinnedCategory]:
    """Every (era, discriminant, mass hypothesis, channel) category of the signal region,
    from per-era normalised histograms ``norms`` (era → :func:`~.normalise_output`)."""
    pp = cfg.postprocessing
    cats = []
    for era, norm in norms.items():
        for disc in discriminants:
            ph = norm.get(disc)
            if ph is None or not any(h.values().sum() != 0 for h in ph.backgrounds.values()):
                continue
            for mass in masses_for(ph, next(histogram_parts(output["hists"], disc))):
                for ch in cfg.channel_names:
                    cats.append(
                        bin_category(ph, disc, ch, mass, region=pp.signal_region,
                                     scheme=scheme or pp.binning_scheme,
                                     max_rel_unc=max_rel_unc or pp.max_rel_unc,
                                     require_signal=pp.require_signal, era=era)
                    )  # fmt: skip
    return cats
