"""``HNLProcessor``: the HNL → 3ℓ (with τh) analysis as a coffea processor.

Per chunk it composes the library: data rules (golden JSON, primary-dataset arbitration) →
objects → channels and regions → features → weights and systematic variations → model
inference (all mass hypotheses batched) → histograms. It holds no analysis logic itself.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import awkward as ak
import numpy as np
from coffea import processor

from hnl_coffea.accumulate import HistogramSet, hist_nbytes
from hnl_coffea.channels import may_enter_a_region, select
from hnl_coffea.config import AnalysisConfig, load_config
from hnl_coffea.corrections.evaluators import CorrectionProvider
from hnl_coffea.corrections.shifts import Shifted, TauScales, shape_variations
from hnl_coffea.corrections.weights import event_weights
from hnl_coffea.corrections.weights import weight_variations as weight_variation_names
from hnl_coffea.cutflow import cutflow
from hnl_coffea.data import (
    certification_record,
    fired_groups,
    lumi_mask,
    lumi_pairs,
    primary_dataset_mask,
)
from hnl_coffea.features import compute_features
from hnl_coffea.fileset import dataset_metadata
from hnl_coffea.filters import event_filters
from hnl_coffea.flat import column
from hnl_coffea.histograms import (
    NOMINAL,
    book_histograms,
    fill_entries,
    fill_mc_dropout,
    region_entries,
)
from hnl_coffea.models.outputs import evaluate_models
from hnl_coffea.nanoaod import NanoLayout
from hnl_coffea.objects import Objects, load_objects, preselection
from hnl_coffea.resolve import ProviderCache, era_view, nominal_selection

if TYPE_CHECKING:  # torch is imported only where a model is evaluated
    from hnl_coffea.models.inference import ModelRunner

__all__ = ["HNLProcessor"]


class HNLProcessor(processor.ProcessorABC):
    """The HNL search processor.

    Parameters
    ----------
    cfg : the analysis configuration, a path to a YAML overlay, or None for the default.
        A path is read lazily (no I/O at construction).
    models : evaluate the configured networks (``cfg.models``); False skips inference.
    systematics : fill systematic variations (default: ``cfg.corrections.systematics``).
    fast_variations : under a shape variation, select again only the events whose objects
        it shifts (identical results; False re-selects every event, for validation).
    """

    def __init__(
        self,
        cfg: AnalysisConfig | str | Path | None = None,
        *,
        models: bool = True,
        systematics: bool | None = None,
        fast_variations: bool = True,
    ) -> None:
        self._cfg_source = cfg
        self._cfg = cfg if isinstance(cfg, AnalysisConfig) else None
        self.models = models
        self.systematics = systematics
        self.fast_variations = fast_variations
        self._runners: dict[str, ModelRunner] | None = None
        self._booked_bytes: dict[tuple[str, bool], int] = {}
        self.providers = ProviderCache()

    # -- lazily built, never pickled with state -----------------------------------------------
    @property
    def cfg(self) -> AnalysisConfig:
        if self._cfg is None:
            self._cfg = load_config(self._cfg_source)
        return self._cfg

    @property
    def runners(self) -> dict[str, ModelRunner]:
        """Model runners (weights load lazily in each worker process on first use)."""
        if self._runners is None:
            self._runners = {}
            if self.models:
                from hnl_coffea.models.inference import ModelRunner

                for name in ("parametric", "transfer", "mass_regression"):
                    if getattr(self.cfg.models, name) is not None:
                        self._runners[name] = ModelRunner.from_config(self.cfg.models, name)
        return self._runners

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def _systematics(self, cfg: AnalysisConfig, is_data: bool):
        """Whether systematics are filled for a dataset, its shape variations and the names
        of every systematic it fills (weight variations first)."""
        with_syst = (
            cfg.corrections.systematics if self.systematics is None else self.systematics
        ) and not is_data
        variations = shape_variations(cfg, is_data=is_data) if with_syst else []
        systs = [v.name for v in variations]
        if with_syst:
            systs = weight_variation_names(cfg, self.providers(cfg)) + systs
        return with_syst, variations, systs

    def histogram_bytes(self, dataset: str, metadata: Mapping[str, Any]) -> int:
        """Bytes of the histograms of one dataset, booked as a chunk books them (every
        region, channel and systematic), so that :func:`hnl_coffea.runner.run_fileset` can
        size its rounds of datasets before processing any."""
        meta = dataset_metadata(dataset, dict(metadata), self.cfg.era)
        key = (meta.era, meta.is_data)
        if key not in self._booked_bytes:
            cfg = self.cfg.for_era(meta.era)
            systs = self._systematics(cfg, meta.is_data)[2]
            hists = book_histograms(cfg, dataset=dataset, systematics=systs)
            self._booked_bytes[key] = sum(hist_nbytes(h) for h in hists.values())
        return self._booked_bytes[key]

    # -- per chunk -------------------------------------------------------------------------------
    def process(self, events) -> dict[str, Any]:
        from hnl_coffea.daskmode import is_dask_events, run_partitions

        if is_dask_events(events):  # apply_to_fileset: this same code on every partition
            return run_partitions(self, events)
        meta = dataset_metadata(events.metadata["dataset"], events.metadata, self.cfg.era)
        # every step below reads the configuration as seen by this dataset's era
        cfg, layout = era_view(events, self.cfg, meta.era)
        dataset = meta.name
        filename = str(events.metadata.get("filename", "?"))
        n_total = len(events)
        if not meta.is_data and "genWeight" not in events.fields:
            raise KeyError(
                f"{filename}: dataset {dataset!r} is simulation but has no genWeight branch; "
                "mark collision data with is_data: true in the fileset metadata"
            )
        with_syst, variations, systs = self._systematics(cfg, meta.is_data)
        out: dict[str, Any] = {
            "hists": HistogramSet(book_histograms(cfg, dataset=dataset, systematics=systs)),
            "processed": {dataset: {filename: n_total}},
            "datasets": {dataset: meta.to_dict()},
            "sumw": {dataset: float(n_total if meta.is_data else ak.sum(events.genWeight))},
        }
        chunk = _Chunk(out["hists"], dataset, cfg, self.providers(cfg), layout, meta.is_data)
        pre_rows: dict[str, dict[str, float]] = {}
        if meta.is_data:
            events, pre_rows, lumis, cert = _data_rules(events, cfg, meta.primary_dataset)
            out["lumi"] = {dataset: lumis}
            out["certification"] = {dataset: cert}

        # MET filters and a good primary vertex: cutflow steps before the object selection
        per_event = _event_weights(events, meta.is_data)
        rows = pre_rows or {"total": _row(per_event)}
        keep = np.ones(len(events), dtype=bool)
        for step, passed in event_filters(events, cfg).items():
            keep &= passed
            rows[step] = _row(per_event[keep])
        events = events[keep]

        # Events that cannot have three leptons under any variation skip the heavy selection;
        # they would fail its first step (``three_leptons``) anyway.
        events = events[np.asarray(preselection(load_objects(events, cfg, layout), cfg))]
        nom = nominal_selection(
            events, cfg, layout, chunk.provider, is_data=meta.is_data, variations=with_syst
        )
        sel = nom.selection
        flow = cutflow(sel, _event_weights(events, meta.is_data))
        steps = {k: v for k, v in flow["all"].items() if k != "total"}
        flow["all"] = {**rows, **steps}
        out["cutflow"] = {dataset: flow}
        nominal_w = self._analyse(chunk, events, sel, NOMINAL, weight_variations=with_syst)
        if with_syst:
            taus = None  # the τh ES of every tau, up and down: once for all decay modes
            if any(var.stem == "tauES" for var in variations):
                taus = TauScales.of(nom.raw.taus, chunk.provider)
            for stem in dict.fromkeys(var.stem for var in variations):
                shifted = {
                    var.name: var.apply(
                        nom.raw, nom.objects, chunk.provider, jets=nom.jets, taus=taus
                    )
                    for var in variations
                    if var.stem == stem
                }
                self._shape_variations(chunk, events, shifted, sel, nominal_w)
        return out

    def _analyse(
        self,
        chunk: _Chunk,
        events,
        sel,
        syst: str | np.ndarray,
        *,
        weight_variations: bool = False,
        weight: np.ndarray | None = None,
    ) -> np.ndarray:
        """Weights and histogram filling for the events of ``sel`` in any region.

        ``syst``: the systematic of every event, or one label per event (shape variations
        selected together); ``weight``: per-event weights already known (events whose
        selected leptons are the nominal ones); returns the per-event weight used (0 outside
        the filled rows).
        """
        in_any = np.zeros(len(events), dtype=bool)
        for region_mask in sel.regions.values():
            in_any |= np.asarray(region_mask)
        rows = np.flatnonzero(in_any)
        per_event = np.zeros(len(events))
        if len(rows) == 0:
            return per_event
        label = syst if isinstance(syst, str) else np.asarray(syst, dtype=object)[rows]
        if weight is not None:
            weight_sets = [(label, np.asarray(weight)[rows])]
        else:
            weights = event_weights(
                sel.leptons[in_any],
                events[in_any],
                chunk.cfg,
                chunk.provider,
                is_data=chunk.is_data,
                systematics=weight_variations,
                jets=sel.jets[in_any],
            )
            weight_sets = [(label, weights.weight())]
            if weight_variations:
                for var in weights.variations:
                    weight_sets.append((var, weights.weight(modifier=var)))
        per_event[rows] = weight_sets[0][1]
        self._fill(chunk.hists, chunk.dataset, sel, in_any, rows, weight_sets)
        return per_event

    def _shape_variations(
        self, chunk: _Chunk, events, shifted: dict[str, Shifted], nominal_sel, nominal_w
    ) -> None:
        """Fill shape variations of one kind (τh energy scale, MET unclustered energy, JES,
        JER) from their shifted object records (variation name → record).

        Events whose selection inputs a variation leaves unchanged (``reselect`` false; only
        their MET may move, which no selection step reads) keep their nominal selection, and
        so do events failing a step that reads none of the shifted collections (e.g. a
        lepton step under a jet variation: they stay outside every region). A variation
        that changes no selection is filled with the nominal selection and weights and its
        shifted MET. The others have the events needing a new selection and those of the
        nominal regions (the same result as keeping their nominal selection) selected
        again, every variation of the kind in one selection and one filling (each event
        labelled with its variation). ``fast_variations=False`` re-selects every event.
        """
        in_nominal = np.zeros(len(events), dtype=bool)
        for region_mask in nominal_sel.regions.values():
            in_nominal |= np.asarray(region_mask, dtype=bool)
        parts: list[tuple[str, np.ndarray, Objects]] = []
        for name, var in shifted.items():
            changed = np.ones(len(events), dtype=bool)
            if self.fast_variations:
                changed = np.asarray(var.reselect, dtype=bool)
                changed &= may_enter_a_region(nominal_sel, var.collections)
                if not changed.any():
                    same = dataclasses.replace(nominal_sel, met=var.objects.met)
                    self._analyse(chunk, events, same, name, weight=nominal_w)
                    continue
                changed |= in_nominal
            parts.append((name, np.flatnonzero(changed), var.objects))
        if not parts:
            return
        rows = np.concatenate([r for _, r, _ in parts])
        labels = np.repeat([name for name, _, _ in parts], [len(r) for _, r, _ in parts])
        objs = Objects.concatenate([o.take(r) for _, r, o in parts])
        sub_events = events[rows]
        self._analyse(chunk, sub_events, select(sub_events, chunk.cfg, objs, chunk.layout), labels)

    def _fill(self, hists, dataset, sel, in_any, rows, weight_sets) -> None:
        """Fill every histogram for one shape variation (nominal: also weight variations).

        ``weight_sets``: (systematic, per-row weights) pairs, the first one the selection's
        own; a systematic is a name or one name per row of ``rows``' events."""
        if len(rows) == 0:
            return
        feats = compute_features(sel, in_any)
        channel = column(feats, "channel")
        names = np.asarray(sel.channel_names, dtype=object)
        regions = {name: np.asarray(mask)[rows] for name, mask in sel.regions.items()}
        idx, region_labels = region_entries(regions)
        chan_labels = names[channel[idx]]
        values = {"mt_total": column(feats, "mt_total")}
        for key in hists:
            if key.startswith("feature_"):
                values[key] = column(feats, key[len("feature_") :])
        charges = np.stack([column(feats, f"l{i}_charge") for i in (1, 2, 3)], axis=1)
        masses = self.cfg.mass_hypotheses
        models = self.cfg.models
        first = weight_sets[0][0]
        nominal = isinstance(first, str) and first == NOMINAL
        outputs = evaluate_models(
            self.runners, feats, channel, charges, masses,
            mc_passes=models.mc_dropout_passes if nominal else 0,
            mc_models=models.mc_dropout_models,
        )  # fmt: skip
        values.update(outputs.values)
        scores = outputs.scores
        n_m = len(masses)
        mhyp = np.tile(np.asarray(masses, dtype=np.int64), len(idx))
        for syst, w in weight_sets:
            w_sel = np.asarray(w)[idx]
            label = syst if isinstance(syst, str) else syst[idx]
            common = {
                "dataset": dataset,
                "systematic": label,
                "region": region_labels,
                "channel": chan_labels,
            }
            for key, v in values.items():
                fill_entries(hists[key], value=v[idx], weight=w_sel, **common)
            for key, s in scores.items():
                fill_entries(
                    hists[key],
                    value=s[idx].ravel(),
                    weight=np.repeat(w_sel, n_m),
                    dataset=dataset,
                    systematic=label if isinstance(label, str) else np.repeat(label, n_m),
                    region=np.repeat(region_labels, n_m),
                    channel=np.repeat(chan_labels, n_m),
                    mhyp=mhyp,
                )
        if outputs.mc:  # nominal selection and weights only
            w_nom = np.asarray(weight_sets[0][1])[idx]
            fill_mc_dropout(
                hists, outputs.mc, rows=idx, weight=w_nom, dataset=dataset,
                region=region_labels, channel=chan_labels, masses=masses,
            )  # fmt: skip

    def postprocess(self, accumulator):
        return accumulator


@dataclass(frozen=True)
class _Chunk:
    """What every step of one chunk shares: its histograms, dataset and era view."""

    hists: dict[str, Any]
    dataset: str
    cfg: AnalysisConfig
    provider: CorrectionProvider
    layout: NanoLayout
    is_data: bool


def _data_rules(events, cfg: AnalysisConfig, primary_dataset: str | None):
    """Golden-JSON mask and primary-dataset arbitration of the dataset's era; returns the kept
    events, their cutflow rows, the certified (run, lumi) pairs and the certification record."""
    era = cfg.era_config
    golden = lumi_mask(events, era)
    keep = golden
    rows = {"total": _row(np.ones(len(events))), "golden_json": _row(np.ones(int(golden.sum())))}
    if primary_dataset is not None and era.primary_datasets:
        keep = golden & primary_dataset_mask(fired_groups(events, era), era, primary_dataset)
        rows["primary_dataset"] = _row(np.ones(int(keep.sum())))
    else:
        warnings.warn(
            f"data dataset without primary_dataset metadata: no overlap removal "
            f"between primary datasets ({events.metadata.get('dataset')})",
            stacklevel=2,
        )
    cert = certification_record(events, golden, era)
    return events[keep], rows, lumi_pairs(events[golden]), cert


def _event_weights(events, is_data: bool) -> np.ndarray:
    """The per-event weight counted in the cutflow (genWeight; 1 for data)."""
    if is_data:
        return np.ones(len(events))
    return np.asarray(events.genWeight, dtype=np.float64)


def _row(weights: np.ndarray) -> dict[str, float]:
    """A cutflow row counting the events of ``weights``."""
    return {
        "events": len(weights),
        "sumw": float(weights.sum()),
        "sumw2": float((weights * weights).sum()),
    }
