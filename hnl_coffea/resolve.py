"""What every processor does first with a chunk: resolve the configuration for the dataset's
era and the NanoAOD layout of the file, and select with the nominal object corrections."""

from __future__ import annotations

from typing import Any

from .channels import Selection, select
from .config import AnalysisConfig
from .corrections.evaluators import CorrectionProvider
from .corrections.shifts import nominal_objects
from .nanoaod import NanoLayout, detect_layout
from .objects import Objects, load_objects

__all__ = ["ProviderCache", "era_view", "nominal_selection"]


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


def nominal_selection(
    events: Any,
    cfg: AnalysisConfig,
    layout: NanoLayout,
    provider: CorrectionProvider,
    *,
    is_data: bool,
) -> tuple[Objects, Objects, Selection]:
    """The uncorrected objects, the nominally corrected ones and their selection."""
    raw = load_objects(events, cfg, layout)
    objs = nominal_objects(raw, cfg, provider, is_data=is_data)
    return raw, objs, select(events, cfg, objs, layout)
