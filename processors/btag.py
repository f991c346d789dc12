"""``BtagEfficiencyProcessor``: the b-tagging efficiency of the analysis' selected jets in
simulation, per era, working point, hadron flavour, pT and |η| (for the fixed-WP b-tag
scale factors; ``hnl-coffea btag-efficiency`` writes the maps)."""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from coffea import processor

from hnl_coffea.config import AnalysisConfig, load_config

__all__ = ["BtagEfficiencyProcessor"]


class BtagEfficiencyProcessor(processor.ProcessorABC):
    """Fill ``{"btag_efficiency": hist}`` from the simulated datasets of a fileset (data
    are skipped); ``cfg``: the configuration (default: the shipped one)."""

    def __init__(self, cfg: AnalysisConfig | None = None) -> None:
        from hnl_coffea.resolve import ProviderCache

        self.cfg = cfg if cfg is not None else load_config()
        self.providers = ProviderCache()

    def process(self, events) -> dict[str, Any]:
        from hnl_coffea.corrections.btag_efficiency import book_efficiency, fill_efficiency
        from hnl_coffea.fileset import dataset_metadata
        from hnl_coffea.flat import column, event_index
        from hnl_coffea.objects import object_masks
        from hnl_coffea.resolve import corrected_objects, era_view

        meta = dataset_metadata(events.metadata["dataset"], events.metadata, self.cfg.era)
        out = {"btag_efficiency": book_efficiency()}
        if meta.is_data or len(events) == 0:
            return out
        cfg, layout = era_view(events, self.cfg, meta.era)
        # the analysis' nominal objects (jet energy corrections, τh energy scale)
        _, objs, _ = corrected_objects(events, cfg, layout, self.providers(cfg), is_data=False)
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
