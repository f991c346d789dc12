"""``SkimProcessor``: the training skim. Writes, for every selected event, the feature
record and the bookkeeping needed for training to one Parquet file per chunk, using the
same object/channel selection and feature code as :class:`HNLProcessor`.

Columns: every feature of :data:`hnl_coffea.features.FEATURES` (lepton charges included),
``channel`` (index in config order), ``region_<name>`` (bool, one per configured region),
``event``, ``run``, ``luminosityBlock``, ``gen_weight``
(``genWeight``, 1 for data), ``dataset``, ``process``, ``is_signal``, ``m_true`` (the
generated HNL mass of a signal sample, NaN otherwise).

The processor returns ``{"files": [...], "n_selected": {dataset: n}, "n_events": {dataset: n},
"sumw": {dataset: Σ genWeight}}`` so that the physics weight ``xsec × L × genWeight / Σw``
can be formed after the whole fileset has been processed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import awkward as ak
import numpy as np
from coffea import processor

from hnl_coffea.config import AnalysisConfig
from hnl_coffea.fileset import dataset_metadata

__all__ = ["SkimProcessor"]


class SkimProcessor(processor.ProcessorABC):
    """Write the selected events (:attr:`Selection.selected`) of each chunk to ``<outdir>/<dataset>/<file>_<start>_<stop>.parquet``."""

    def __init__(self, cfg: AnalysisConfig, outdir: str | Path) -> None:
        from hnl_coffea.resolve import ProviderCache

        self.cfg = cfg
        self.outdir = str(Path(outdir).resolve())
        self.providers = ProviderCache()

    def process(self, events):  # noqa: ANN001 - NanoEvents
        from hnl_coffea.features import FEATURE_NAMES, compute_features
        from hnl_coffea.filters import passes_filters
        from hnl_coffea.resolve import era_view, nominal_selection

        meta = events.metadata
        dataset = meta.get("dataset", "unknown")
        info = dataset_metadata(dataset, meta, default_era=self.cfg.era)
        n_events = len(events)
        is_mc = not info.is_data
        gen_w = (
            ak.to_numpy(events.genWeight).astype(np.float64)
            if is_mc and "genWeight" in events.fields
            else np.ones(n_events)
        )
        out = {
            "files": [],
            "n_selected": {dataset: 0},
            "n_events": {dataset: n_events},
            "sumw": {dataset: float(gen_w.sum())},
        }
        if n_events == 0:
            return out
        cfg, layout = era_view(events, self.cfg, info.era)  # the dataset's own era
        keep = passes_filters(events, cfg)  # MET filters, a good primary vertex
        events, gen_w = events[keep], gen_w[keep]
        sel = nominal_selection(
            events, cfg, layout, self.providers(cfg), is_data=info.is_data
        ).selection
        mask = ak.to_numpy(sel.selected).astype(bool)
        n_sel = int(mask.sum())
        out["n_selected"][dataset] = n_sel
        if n_sel == 0:
            return out
        feats = compute_features(sel)
        columns: dict[str, np.ndarray] = {
            name: ak.to_numpy(feats[name]).astype(np.float32) for name in FEATURE_NAMES
        }
        columns["channel"] = ak.to_numpy(feats["channel"]).astype(np.int8)
        for region, in_region in sel.regions.items():
            columns[f"region_{region}"] = ak.to_numpy(in_region)[mask].astype(bool)
        for branch in ("event", "run", "luminosityBlock"):
            columns[branch] = ak.to_numpy(events[branch])[mask].astype(np.uint64)
        columns["gen_weight"] = gen_w[mask].astype(np.float64)
        table = ak.Array(columns)
        table = ak.with_field(table, np.full(n_sel, info.is_signal), "is_signal")
        m_true = info.m_hnl if info.is_signal and info.m_hnl is not None else np.nan
        table = ak.with_field(table, np.full(n_sel, m_true, dtype=np.float32), "m_true")
        table = ak.with_field(table, [dataset] * n_sel, "dataset")
        table = ak.with_field(table, [info.process] * n_sel, "process")
        filename = str(meta.get("filename", "chunk"))
        tag = hashlib.sha1(filename.encode()).hexdigest()[:8]
        start, stop = meta.get("entrystart", 0), meta.get("entrystop", n_events)
        name = f"{Path(filename).stem}_{tag}_{start}_{stop}.parquet"
        target = Path(self.outdir) / dataset / name
        target.parent.mkdir(parents=True, exist_ok=True)
        ak.to_parquet(table, target)
        out["files"].append(str(target))
        return out

    def postprocess(self, accumulator):  # noqa: ANN001
        return accumulator
