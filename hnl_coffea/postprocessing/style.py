"""One plot style per run: process colours, stack order, labels and signal lines, as configured.

:func:`build_style` turns ``postprocessing.style`` and the processes of a run into a
:class:`Style`, so that a process has the same colour, label and stack position in every
plot. :func:`lumi_label` writes the luminosity and √s of the era(s) shown.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..config import AnalysisConfig
from ..postprocessing_config import PlotStyleConfig, SignalStyle

__all__ = ["Style", "build_style", "lumi_label", "signal_scale"]


@dataclass
class Style:
    """Colours, labels and order of every process of a run."""

    config: PlotStyleConfig
    colors: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    signals: dict[float, SignalStyle] = field(default_factory=dict)

    def color(self, process: str) -> str:
        """The colour of background ``process`` (every process of the run has one)."""
        if process not in self.colors:
            raise KeyError(f"process {process!r} has no colour in this run's style")
        return self.colors[process]

    def label(self, process: str) -> str:
        return self.labels.get(process, process)

    def stack_order(self, processes: Iterable[str]) -> list[str]:
        """``processes`` in stack order, bottom first (configured order, then the others)."""
        wanted = set(processes)
        return [p for p in self.order if p in wanted] + sorted(wanted - set(self.order))

    def signal(self, mass: float) -> SignalStyle:
        for m, s in self.signals.items():
            if math.isclose(m, mass, rel_tol=1e-6):
                return s
        styles = self.config.signals
        return styles[len(self.signals) % len(styles)]

    def signal_label(self, name: str, mass: float, scale: float = 1.0) -> str:
        text = self.config.signal_label.format(name=name, mass=mass)
        return text if scale == 1 else f"{text} $\\times${scale:g}"


def build_style(
    style: PlotStyleConfig, backgrounds: Iterable[str], signal_masses: Iterable[float]
) -> Style:
    """The style of a run whose plots show ``backgrounds`` and signals at ``signal_masses``.

    Configured processes keep their colour and label; the others take ``other_colors`` in
    alphabetical order (cycled). Signals take ``signals`` from the lowest mass up.
    """
    out = Style(config=style)
    for p in style.backgrounds:
        out.colors[p.name] = p.color
        out.labels[p.name] = p.label or p.name
        out.order.append(p.name)
    others = sorted(set(backgrounds) - set(out.colors))
    for i, name in enumerate(others):
        out.colors[name] = style.other_colors[i % len(style.other_colors)]
    for i, m in enumerate(sorted(set(float(m) for m in signal_masses))):
        out.signals[m] = style.signals[i % len(style.signals)]
    return out


def signal_scale(setting: float | str, signal_peak: float, background_peak: float) -> float:
    """The factor a signal is drawn with: the configured number, or (``auto``) the power of
    ten, at least 1, that brings its peak within a factor 10 below the background's."""
    if setting != "auto":
        return float(setting)
    if not signal_peak > 0 or not background_peak > 0:
        return 1.0
    return float(10 ** max(0, math.floor(math.log10(background_peak / signal_peak))))


def lumi_label(
    cfg: AnalysisConfig,
    eras: Sequence[str],
    *,
    luminosity_fb: float | None = None,
    plain: bool = False,
) -> str:
    """``"59.8 fb$^{-1}$ (13 TeV)"`` for the eras shown, luminosities summed per √s
    (``"138 fb$^{-1}$ (13 TeV) + 35 fb$^{-1}$ (13.6 TeV)"``); ``luminosity_fb`` replaces
    the luminosity (e.g. a projection) when all eras share one √s; ``plain`` writes fb⁻¹
    for text (tables) instead of matplotlib mathtext."""
    per_energy: dict[float, float] = {}
    for e in eras:
        ec = cfg.eras[e]
        per_energy[ec.sqrt_s_tev] = per_energy.get(ec.sqrt_s_tev, 0.0) + ec.luminosity_fb
    if luminosity_fb is not None and len(per_energy) == 1:
        per_energy = {next(iter(per_energy)): luminosity_fb}
    unit = "fb⁻¹" if plain else "fb$^{-1}$"
    return " + ".join(f"{lumi:.3g} {unit} ({e:g} TeV)" for e, lumi in per_energy.items())
