"""Every histogram hnl-coffea fills, declared in one place.

All histograms share the categorical axes ``dataset``, ``region``, ``channel`` and
``systematic`` (growing string categories: nothing is hard-coded per channel or region);
classifier scores add an ``mhyp`` axis with the configured HNL mass hypotheses. Storage is
``Weight`` (sum of weights and sum of squared weights) so postprocessing can compute
statistical uncertainties.

Histogram names (keys of the processor's ``"hists"`` accumulator):

* ``score_parametric``, ``score_transfer`` — classifier score per mass hypothesis
* ``mass_regression`` — regressed HNL mass
* ``mt_total`` — MT_total
* ``feature_<name>`` — the configured feature histograms
* with ``models.mc_dropout_passes`` > 0, per model of ``models.mc_dropout_models``
  (nominal selection and weights only; see ``docs/mc_dropout.md``):

  - ``score_<model>_mc`` — the MC-dropout mean score per mass hypothesis; its
    ``systematic`` axis holds ``nominal`` (mean), ``mcdropoutUp`` (mean + σ) and
    ``mcdropoutDown`` (mean − σ), every event shifted by its own standard deviation σ
  - ``score_<model>_mcstd`` — σ versus the mean score (2-D, coarse score axis)
  - ``mass_regression_mc`` / ``mass_regression_mcstd`` — the same for the regressed mass
    (no mhyp axis; the spread axis is the relative σ / mean mass)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import hist
import numpy as np

from .config import AnalysisConfig, Binning

__all__ = [
    "MC_DOWN",
    "MC_UP",
    "MCDropoutHists",
    "NOMINAL",
    "SCORE_HISTS",
    "book_histograms",
    "category_axes",
    "fill_entries",
    "fill_mc_dropout",
    "in_score_range",
    "mc_dropout_hists",
    "variable_axis",
]

NOMINAL = "nominal"
SCORE_HISTS = ("score_parametric", "score_transfer")
#: Systematic categories of the ``score_<model>_mc`` histograms: every event's mean score
#: shifted up / down by its MC-dropout standard deviation.
MC_UP, MC_DOWN = "mcdropoutUp", "mcdropoutDown"


def category_axes(
    with_mhyp: bool,
    mass_hypotheses: tuple[float, ...] = (),
    *,
    dataset: Sequence[str] = (),
    regions: Sequence[str] = (),
    channels: Sequence[str] = (),
    systematics: Sequence[str] = (),
) -> list:
    """The categorical axes every histogram carries (mhyp only for classifier scores),
    holding the given labels from the start (they still grow for others)."""
    axes = [
        hist.axis.StrCategory(list(dataset), name="dataset", growth=True, label="Dataset"),
        hist.axis.StrCategory(list(regions), name="region", growth=True, label="Region"),
        hist.axis.StrCategory(list(channels), name="channel", growth=True, label="Channel"),
    ]
    if with_mhyp:
        axes.append(
            hist.axis.IntCategory(
                [int(m) for m in mass_hypotheses], name="mhyp", label=r"$m_{hyp}$ [GeV]"
            )
        )
    axes.append(
        hist.axis.StrCategory(list(systematics), name="systematic", growth=True, label="Systematic")
    )
    return axes


def variable_axis(name: str, binning: Binning) -> hist.axis.Regular:
    """A regular axis for one variable, from a configured binning."""
    return hist.axis.Regular(
        binning.bins, binning.start, binning.stop, name=name, label=binning.label or name
    )


def book_histograms(
    cfg: AnalysisConfig, *, dataset: str | None = None, systematics: Sequence[str] = ()
) -> dict[str, hist.Hist]:
    """Empty histograms for one chunk, with all axes declared from the configuration.

    With ``dataset`` the category axes hold that dataset, every region and channel and the
    given ``systematics`` from the start: a growing axis copies the whole histogram each
    time it gains a label, which with ~40 systematics filled one after the other cost more
    than the filling itself. (The MC-dropout histograms, filled for the nominal selection
    only, are booked with their own labels.)"""
    h = cfg.histograms
    labels: dict[str, Any] = {}
    if dataset is not None:
        labels = {
            "dataset": [dataset],
            "regions": [r.name for r in cfg.regions],
            "channels": list(cfg.channel_names),
            "systematics": list(dict.fromkeys([NOMINAL, *systematics])),
        }
    nominal_only = {**labels, "systematics": [NOMINAL]} if labels else {}
    mc_shifts = {**labels, "systematics": [NOMINAL, MC_UP, MC_DOWN]} if labels else {}

    def axes(with_mhyp: bool, **kw: Any) -> list:
        return category_axes(with_mhyp, cfg.mass_hypotheses if with_mhyp else (), **kw)

    out: dict[str, hist.Hist] = {}
    for name in SCORE_HISTS:
        out[name] = hist.Hist(
            *axes(True, **labels), variable_axis("score", h.score), storage=hist.storage.Weight()
        )
    out["mass_regression"] = hist.Hist(
        *axes(False, **labels),
        variable_axis("mass", h.mass_regression),
        storage=hist.storage.Weight(),
    )
    out["mt_total"] = hist.Hist(
        *axes(False, **labels),
        variable_axis("mt_total", h.mt_total),
        storage=hist.storage.Weight(),
    )
    for feat, binning in h.features.items():
        out[f"feature_{feat}"] = hist.Hist(
            *axes(False, **labels), variable_axis(feat, binning), storage=hist.storage.Weight()
        )
    for spec in mc_dropout_hists(cfg).values():
        value, coarse, spread = spec.binnings(h)
        per_m = spec.per_hypothesis
        out[spec.mean] = hist.Hist(
            *axes(per_m, **mc_shifts), variable_axis(spec.variable, value),
            storage=hist.storage.Weight(),
        )  # fmt: skip
        out[spec.std] = hist.Hist(
            *axes(per_m, **nominal_only),
            variable_axis(spec.variable, coarse),
            variable_axis(spec.spread, spread),
            storage=hist.storage.Weight(),
        )
    return out


@dataclass(frozen=True)
class MCDropoutHists:
    """The two MC-dropout histograms of one network output (``source``: the histogram of
    its deterministic output, ``score_<model>`` or ``mass_regression``)."""

    source: str

    @property
    def per_hypothesis(self) -> bool:
        """A classifier score: one value per mass hypothesis (``mhyp`` axis)."""
        return self.source != "mass_regression"

    @property
    def mean(self) -> str:
        """Mean output, with the ±σ templates on its ``systematic`` axis."""
        return f"{self.source}_mc"

    @property
    def std(self) -> str:
        """Spread versus the mean output (2-D)."""
        return f"{self.source}_mcstd"

    @property
    def variable(self) -> str:
        return "score" if self.per_hypothesis else "mass"

    @property
    def spread(self) -> str:
        """σ for a score (in [0, 0.5]); σ / mean for the mass, whose σ grows with it."""
        return "score_std" if self.per_hypothesis else "mass_rel_std"

    def binnings(self, h: Any) -> tuple[Binning, Binning, Binning]:
        """(mean-output axis, coarse mean-output axis of the spread histogram, spread axis)
        from the configured :class:`~hnl_coffea.config.HistogramConfig` ``h``."""
        if self.per_hypothesis:
            return h.score, h.mc_dropout_score, h.mc_dropout_std
        return h.mass_regression, h.mc_dropout_mass, h.mc_dropout_mass_rel_std

    def shifted(self, mean: np.ndarray, std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean + σ, mean − σ) kept in the output's range ([0, 1] score, ≥ 0 mass)."""
        hi = 1.0 if self.per_hypothesis else np.inf
        return np.clip(mean + std, 0.0, hi), np.clip(mean - std, 0.0, hi)

    def spread_of(self, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
        """The value filled on the spread axis (σ, or σ / mean; +inf where mean ≤ 0)."""
        if self.per_hypothesis:
            return std
        safe = np.where(mean > 0, mean, 1.0)
        return np.where(mean > 0, std / safe, np.inf)


def mc_dropout_hists(cfg: AnalysisConfig) -> dict[str, MCDropoutHists]:
    """``{deterministic output histogram: its MC-dropout histograms}`` that the
    configuration asks for (empty unless ``models.mc_dropout_passes`` > 0)."""
    m = cfg.models
    if m.mc_dropout_passes <= 0:
        return {}
    names = [n for n in m.mc_dropout_models if getattr(m, n) is not None]
    sources = [n if n == "mass_regression" else f"score_{n}" for n in names]
    return {s: MCDropoutHists(s) for s in sources}


def _cat(values, n: int) -> np.ndarray:
    """A category column: a scalar broadcast to ``n`` entries, or an array as given."""
    if isinstance(values, str):
        return np.full(n, values, dtype=object)
    return np.asarray(values)


def fill_entries(
    h: hist.Hist,
    *,
    value: np.ndarray,
    weight: np.ndarray,
    dataset: str,
    systematic: str,
    region: np.ndarray,
    channel: np.ndarray,
    mhyp: np.ndarray | None = None,
) -> None:
    """Fill one histogram in a single call (all regions, channels and hypotheses at once).

    ``region`` and ``channel`` are per-entry label arrays; ``value``/``weight`` per entry.
    """
    n = len(value)
    if n == 0:
        return
    cats = {
        "dataset": _cat(dataset, n),
        "region": region,
        "channel": channel,
        "systematic": _cat(systematic, n),
    }
    if mhyp is not None:
        cats["mhyp"] = mhyp
    var = h.axes[-1].name
    h.fill(**cats, **{var: in_score_range(value) if var == "score" else value}, weight=weight)


def in_score_range(score: np.ndarray) -> np.ndarray:
    """Scores with 1.0 moved just below it: a float32 sigmoid saturates at exactly 1.0 for
    confident events, which a [0, 1) axis would put into the overflow bin, where the
    adaptive binning and the datacards do not look."""
    return np.minimum(np.asarray(score, dtype=np.float64), np.nextafter(1.0, 0.0))


def fill_mc_dropout(
    hists: dict[str, hist.Hist],
    mc: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    rows: np.ndarray,
    weight: np.ndarray,
    dataset: str,
    region: np.ndarray,
    channel: np.ndarray,
    masses: tuple[float, ...],
) -> None:
    """Fill the MC-dropout histograms from per-event (mean, std) arrays: (n, H) for a
    classifier score (keyed ``score_<model>``), (n,) for ``mass_regression``.

    ``rows`` picks one event per fill entry (an event in several regions appears once per
    region), ``weight``/``region``/``channel`` are per entry. Shifted outputs stay in their
    range (see :meth:`MCDropoutHists.shifted`).
    """
    n_m = len(masses)
    for key, (mean, std) in mc.items():
        spec = MCDropoutHists(key)
        per_m = spec.per_hypothesis
        rep = n_m if per_m else 1
        cats: dict[str, Any] = {
            "dataset": dataset,
            "region": np.repeat(region, rep),
            "channel": np.repeat(channel, rep),
            "weight": np.repeat(weight, rep),
        }
        if per_m:
            cats["mhyp"] = np.tile(np.asarray(masses, dtype=np.int64), len(rows))
        mu, sigma = mean[rows].ravel(), std[rows].ravel()
        up, down = spec.shifted(mu, sigma)
        h_mean, h_std = hists[spec.mean], hists[spec.std]
        for syst, value in ((NOMINAL, mu), (MC_UP, up), (MC_DOWN, down)):
            fill_entries(h_mean, value=value, systematic=syst, **cats)
        h_std.fill(
            **{k: _cat(v, len(mu)) if k == "dataset" else v for k, v in cats.items()},
            systematic=_cat(NOMINAL, len(mu)),
            **{spec.variable: in_score_range(mu) if per_m else mu,
               spec.spread: spec.spread_of(mu, sigma)},
        )  # fmt: skip


def region_entries(regions: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and region labels for filling: one entry per (event, region it is in).

    ``regions`` maps region name → boolean mask over the same rows.
    """
    idx = [np.flatnonzero(np.asarray(m)) for m in regions.values()]
    labels = [np.full(len(i), name, dtype=object) for name, i in zip(regions, idx)]
    if not idx:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=object)
    return np.concatenate(idx), np.concatenate(labels)
