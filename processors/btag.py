"""``BtagEfficiencyProcessor``: the b-tagging efficiency of the analysis' selected jets in
simulation, per era, working point, hadron flavour, pT and |η| (for the fixed-WP b-tag
scale factors; ``hnl-coffea btag-efficiency`` writes the maps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
from coffea import processor

from hnl_coffea.config import AnalysisConfig, load_config

__all__ = ["BtagEfficiencyProcessor"]


class BtagEfficiencyProcessor(processor.ProcessorABC):
    """Fill ``{"btag_efficiency": hist}`` from the simulated datasets of a fileset (data
    are skipped); ``cfg``: the configuration (or a YAML path, read lazily)."""

    def __init__(self, cfg: AnalysisConfig | str | Path | None = None) -> None:
        self._cfg_source = cfg
        self._cfg = cfg if isinstance(cfg, AnalysisConfig) else None

    @property
    def cfg(self) -> AnalysisConfig:
        if self._cfg is None:
            self._cfg = load_config(self._cfg_source)
        return self._cfg

    def process(self, events) -> dict[str, Any]:
        from hnl_coffea.corrections.btag_efficiency import book_efficiency, fill_efficiency
        from hnl_coffea.corrections.evaluators import CorrectionProvider
        from hnl_coffea.fileset import dataset_metadata
        from hnl_coffea.flat import column, event_index
        from hnl_coffea.jets import correct_objects
        from hnl_coffea.nanoaod import detect_layout
        from hnl_coffea.objects import load_objects, object_masks

        meta = dataset_metadata(events.metadata["dataset"], events.metadata, self.cfg.era)
        out = {"btag_efficiency": book_efficiency()}
        if meta.is_data or len(events) == 0:
            return out
        cfg = self.cfg.for_era(meta.era)
        layout = detect_layout(events, cfg.objects.tau.deeptau_version, prefer=cfg.deeptau_version)
        cfg = cfg.for_era(meta.era, deeptau=layout.deeptau)
        raw = load_objects(events, cfg, layout)
        objs, _ = correct_objects(
            raw, events, cfg, CorrectionProvider(cfg), is_data=False, variations=False
        )
        counts, mask = object_masks(objs, cfg, layout)["jets"]
        jets = ak.flatten(objs.jets, axis=1)
        weight = np.asarray(events.genWeight, dtype=np.float64)[event_index(counts)][mask]
        fill_efficiency(
            out["btag_efficiency"], cfg,
            pt=column(jets, "pt")[mask], eta=column(jets, "eta")[mask],
            flavour=column(jets, "hadronFlavour")[mask],
            score=column(jets, cfg.era_config.btag.branch)[mask], weight=weight,
        )  # fmt: skip
        return out

    def postprocess(self, accumulator):
        return accumulator
