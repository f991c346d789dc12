"""The ``postprocessing`` section of the analysis configuration (see ``data/config/default.yaml``).

Binning, blinding, datacard nuisances and their correlation across eras, luminosity
projections, and the plot style (process colours, stack order, labels, signal line styles
and scaling) are data here, so every plot, table and card of a run uses the same choices.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "PlotStyleConfig",
    "PostprocessingConfig",
    "ProcessStyle",
    "ProjectionConfig",
    "SignalStyle",
]

#: The CMS-recommended ten-colour palette (Petroff 2021), used where the config gives none.
PETROFF10 = (
    "#3f90da", "#ffa90e", "#bd1f01", "#94a4a2", "#832db6",
    "#a96b59", "#e76300", "#b9ac70", "#717581", "#92dadd",
)  # fmt: skip


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class ProcessStyle(_Model):
    """Colour and legend label of one background process (``name``: its ``process`` metadata)."""

    name: str
    label: str | None = None
    color: str


class SignalStyle(_Model):
    """Line colour and style of one signal hypothesis (assigned in order of mass)."""

    color: str
    linestyle: Literal["-", "--", "-.", ":"] = "-"


class PlotStyleConfig(_Model):
    """One style for every plot of a run."""

    #: Background processes in stack order, bottom first, with their colour and label.
    backgrounds: tuple[ProcessStyle, ...] = ()
    #: Colours of background processes not listed above (taken in alphabetical order).
    other_colors: tuple[str, ...] = PETROFF10
    #: Signal line styles, assigned to the signal masses of a run from the lowest mass up
    #: (and cycled when there are more masses than styles).
    signals: tuple[SignalStyle, ...] = (
        SignalStyle(color="#e42536", linestyle="-"),
        SignalStyle(color="#1b9e77", linestyle="--"),
        SignalStyle(color="#e7298a", linestyle="-."),
        SignalStyle(color="#d95f02", linestyle=":"),
    )
    #: Legend label of a signal: ``{name}`` its process, ``{mass}`` its mass in GeV.
    signal_label: str = "HNL {mass:g} GeV"
    #: Factor applied to drawn signals: a number, or ``auto`` (a power of ten, at least 1,
    #: that brings each signal's peak within a factor 10 of the total background's peak).
    signal_scale: float | Literal["auto"] = "auto"
    data_color: str = "black"
    #: Word after "CMS" on plots with (pseudo-)data; simulation-only plots add "Simulation".
    cms_text: str = "Preliminary"
    #: y range of the data/simulation ratio panels (points outside are drawn as arrows).
    ratio_range: tuple[float, float] = (0.0, 2.0)

    @model_validator(mode="after")
    def _unique(self) -> PlotStyleConfig:
        names = [p.name for p in self.backgrounds]
        if len(set(names)) != len(names):
            raise ValueError(f"style.backgrounds names must be unique, got {names}")
        colors = [p.color for p in self.backgrounds] + [s.color for s in self.signals]
        if len(set(colors)) != len(colors):
            raise ValueError("style colours of backgrounds and signals must all differ")
        if not self.signals or not self.other_colors:
            raise ValueError("style.signals and style.other_colors must not be empty")
        lo, hi = self.ratio_range
        if not hi > lo:
            raise ValueError(f"style.ratio_range must be increasing, got {self.ratio_range}")
        return self


class ProjectionConfig(_Model):
    """A luminosity at which expected significances and limits are also quoted.

    The expectation of the analysed samples (normalised to the analysed luminosity) is scaled
    by ``luminosity_fb / analysed luminosity``; cross sections stay those of the samples.
    """

    name: str
    luminosity_fb: float = Field(gt=0)
    sqrt_s_tev: float = Field(default=13.0, gt=0)


class PostprocessingConfig(_Model):
    """Adaptive binning, significance, plots and combine export (on histograms only)."""

    #: ``increasing``: right-to-left bins of growing signal; ``constant``: equal signal per bin.
    binning_scheme: Literal["increasing", "constant"] = "increasing"
    #: Largest allowed relative statistical uncertainty sqrt(Σw²)/Σw of a merged bin.
    max_rel_unc: float = Field(default=0.15, gt=0)
    #: Also require the signal in every bin to pass ``max_rel_unc``.
    require_signal: bool = False
    #: Region used for significances and datacards.
    signal_region: str = "SR"
    #: Regions whose data stay hidden (plots and datacards) unless unblinded.
    blinded_regions: tuple[str, ...] = ("SR",)
    #: Relative lnN normalisation uncertainty per background process (datacards).
    norm_uncertainties: dict[str, Annotated[float, Field(ge=0)]] = {}
    #: lnN normalisation uncertainty of background processes not listed above.
    default_norm_uncertainty: float = Field(default=0.10, ge=0)
    #: Nuisances (shell patterns on card names, e.g. ``norm_*``) fully correlated across
    #: eras; every other shape and normalisation nuisance gets the era as suffix
    #: (``tauID`` → ``tauID_2018``). Luminosity nuisances follow
    #: ``eras.<era>.luminosity_uncertainties`` (a shared name is correlated).
    correlated_across_eras: tuple[str, ...] = ("norm_*", "pileup")
    #: Histogram used in the datacards: ``auto`` picks the best discriminant of the model
    #: comparison (``models.comparison``), ``auto_per_mass`` the best at each mass hypothesis
    #: (the next filled one of its ranking if a histogram is empty; without a comparison:
    #: transfer model, parametric DNN, MT_total), or a histogram name.
    datacard_discriminant: str = "auto"
    #: Mass hypotheses drawn in the default plots (empty: lowest, middle and highest).
    plot_mass_hypotheses: tuple[Annotated[float, Field(gt=0)], ...] = ()
    #: Confidence level of the expected upper limits.
    limit_cl: float = Field(default=0.95, gt=0, lt=1)
    #: Luminosities at which expected significances and limits are also quoted.
    projections: tuple[ProjectionConfig, ...] = (
        ProjectionConfig(name="Run 2", luminosity_fb=138.0, sqrt_s_tev=13.0),
    )
    style: PlotStyleConfig = PlotStyleConfig()
    #: File formats of every plot (PNG is always written: the report embeds it).
    plot_formats: tuple[Literal["png", "pdf", "svg"], ...] = ("png", "pdf")

    @model_validator(mode="after")
    def _png(self) -> PostprocessingConfig:
        if "png" not in self.plot_formats:
            raise ValueError(f"plot_formats must include png, got {list(self.plot_formats)}")
        names = [p.name for p in self.projections]
        if len(set(names)) != len(names):
            raise ValueError(f"projection names must be unique, got {names}")
        return self
