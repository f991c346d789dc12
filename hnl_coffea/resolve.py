"""What every processor does first with a chunk: resolve the configuration for the dataset's
era and the NanoAOD layout of the file, and select with the nominal object corrections
(jet energy corrections and the type-1 MET, then the τh energy scale of simulation)."""

from __future__ import annotations

from typing import Any, NamedTuple

from .channels import Selection, select
from .config import AnalysisConfig
from .corrections.evaluators import CorrectionProvider
from .corrections.shifts import nominal_objects
from .jets import JetShifts, correct_objects
from .nanoaod import NanoLayout, detect_layout
from .objects import Objects, load_objects

__all__ = ["Nominal", "ProviderCache", "corrected_objects", "era_view", "nominal_selection"]


def era_view(
    events: Any, cfg: AnalysisConfig, era: str | None
) -> tuple[AnalysisConfig, NanoLayout]:
    """The configuration as seen by a chunk of ``era`` (its DeepTau version pinned to the one
    found in the file) and the file's NanoAOD layout."""
    view = cfg.for_era(era)
    layout = detect_layout(events, view.objects.tau.deeptau_version, prefer=view.deeptau_version)
    return view.for_era(era, deeptau=layout.deeptau), layout


class ProviderCache:
    """One :class:`CorrectionProvider` per era view, built lazily in each worker (never
    pickled with its loaded files)."""

    def __init__(self) -> None:
        self._providers: dict[tuple[str, str], CorrectionProvider] = {}

    def __call__(self, cfg: AnalysisConfig) -> CorrectionProvider:
        key = (cfg.era, cfg.deeptau_version)
        if key not in self._providers:
            self._providers[key] = CorrectionProvider(cfg)
        return self._providers[key]

    def __getstate__(self) -> dict[str, Any]:
        return {"_providers": {}}


class Nominal(NamedTuple):
    """A chunk's objects as loaded, with their nominal corrections, their selection, and
    the JES/JER shifts of the jets (None for data, without variations or jet corrections)."""

    raw: Objects
    objects: Objects
    selection: Selection
    jets: JetShifts | None


def corrected_objects(
    events: Any,
    cfg: AnalysisConfig,
    layout: NanoLayout,
    provider: CorrectionProvider,
    *,
    is_data: bool,
    variations: bool = False,
) -> tuple[Objects, Objects, JetShifts | None]:
    """The uncorrected objects, the nominally corrected ones (JEC, JER in simulation,
    type-1 MET, then the τh energy scale) and, with ``variations``, the JES/JER shifts."""
    raw = load_objects(events, cfg, layout)
    jet_corrected, shifts = correct_objects(
        raw, events, cfg, provider, is_data=is_data, variations=variations
    )
    return raw, nominal_objects(jet_corrected, cfg, provider, is_data=is_data), shifts


def nominal_selection(
    events: Any,
    cfg: AnalysisConfig,
    layout: NanoLayout,
    provider: CorrectionProvider,
    *,
    is_data: bool,
    variations: bool = False,
) -> Nominal:
    """The uncorrected objects, the nominally corrected ones, their selection and (with
    ``variations``) the jet shifts the JES/JER variations start from."""
    raw, objs, shifts = corrected_objects(
        events, cfg, layout, provider, is_data=is_data, variations=variations
    )
    return Nominal(raw, objs, select(events, cfg, objs, layout), shifts)
