"""From the processor output to normalised histograms per physics process.

The processor fills simulation with the raw per-event weight. Here every simulated dataset is
scaled by ``xsec [pb] × 1000 × L [fb⁻¹] / Σw`` (``Σw``: sum of generator weights before any
cut — the dataset metadata's ``sumw`` when given, as for pre-skimmed inputs, else the Σw the
run accumulated (output ``"sumw"``); ``L``: the luminosity of the dataset's own era in the
configuration). Values are multiplied by the scale and variances by its
square. Datasets are then summed into

* backgrounds: one histogram per ``process`` metadata value,
* signals: one histogram per generated HNL mass ``m_hnl`` (``is_signal`` datasets),
* data: the sum of all ``is_data`` datasets (weight 1, never scaled),

each without the ``dataset`` axis.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import hist
import numpy as np

from ..accumulate import HistogramSet
from ..config import AnalysisConfig

__all__ = [
    "OutputError",
    "ProcessHists",
    "dataset_scale",
    "dataset_era",
    "dataset_scales",
    "output_eras",
    "at_own_hypothesis",
    "group_processes",
    "histogram_parts",
    "luminosity_fb",
    "normalise_output",
    "sumw_differences",
    "validate_output",
]


class OutputError(ValueError):
    """The processor output is malformed, with a one-line message naming what is wrong."""


@dataclass
class ProcessHists:
    """One histogram split into physics processes, normalised (``dataset`` axis removed)."""

    backgrounds: dict[str, hist.Hist] = field(default_factory=dict)
    signals: dict[float, hist.Hist] = field(default_factory=dict)
    signal_names: dict[float, str] = field(default_factory=dict)
    data: hist.Hist | None = None

    def signal_at(self, mass: float) -> hist.Hist | None:
        """The signal histogram generated at ``mass`` (None when there is none)."""
        for m, h in self.signals.items():
            if math.isclose(m, mass, rel_tol=1e-6):
                return h
        return None

    def signal_name_at(self, mass: float) -> str:
        for m, name in self.signal_names.items():
            if math.isclose(m, mass, rel_tol=1e-6):
                return name
        return "HNL"


def validate_output(output: Any) -> None:
    """Raise :class:`OutputError` unless ``output`` looks like the processor's output dict."""
    if not isinstance(output, Mapping):
        raise OutputError(f"processor output must be a dict, got {type(output).__name__}")
    for key in ("hists", "datasets"):
        if key not in output:
            raise OutputError(f"processor output has no {key!r} entry; keys: {', '.join(output)}")
    if not isinstance(output["hists"], Mapping):
        raise OutputError("processor output 'hists' must be a dict of hist.Hist")
    if isinstance(output["hists"], HistogramSet):
        return  # histograms by construction, read part by part where they are used
    for name, h in output["hists"].items():
        if not isinstance(h, hist.Hist):
            raise OutputError(f"histogram {name!r} is a {type(h).__name__}, not a hist.Hist")
        if "dataset" not in [a.name for a in h.axes]:
            raise OutputError(f"histogram {name!r} has no 'dataset' axis")


def luminosity_fb(cfg: AnalysisConfig, era: str | None = None) -> float:
    """Integrated luminosity in fb⁻¹ of ``era`` (default: the configured era)."""
    era = era or cfg.era
    if era not in cfg.eras:
        raise OutputError(f"era {era!r} not in the configuration; known: {', '.join(cfg.eras)}")
    return cfg.eras[era].luminosity_fb


def dataset_scale(
    name: str, meta: Mapping[str, Any], sumw: float | None, cfg: AnalysisConfig
) -> float:
    """The factor turning raw weights of dataset ``name`` into expected yields."""
    if meta.get("is_data"):
        return 1.0
    xsec = meta.get("xsec")
    if xsec is None:
        warnings.warn(f"dataset {name!r} has no cross section; left unnormalised", stacklevel=2)
        return 1.0
    if meta.get("sumw") is not None:  # given by the user (e.g. the unskimmed sample's Σw)
        sumw = meta["sumw"]
    if sumw is None or not sumw > 0:
        raise OutputError(f"dataset {name!r}: sum of generator weights is missing or not positive")
    return float(xsec) * 1000.0 * luminosity_fb(cfg, dataset_era(meta, cfg)) / float(sumw)


#: Relative difference between metadata and accumulated Σw above which the run says so.
SUMW_TOLERANCE = 1e-3


def sumw_differences(output: Mapping[str, Any]) -> list[str]:
    """One line per simulated dataset whose metadata ``sumw`` (which wins) differs from the
    Σw accumulated in the run by more than :data:`SUMW_TOLERANCE`."""
    lines = []
    accumulated = output.get("sumw", {}) or {}
    for name, meta in sorted((output.get("datasets") or {}).items()):
        given, seen = meta.get("sumw"), accumulated.get(name)
        if meta.get("is_data") or given is None or seen is None:
            continue
        if abs(float(given) - float(seen)) > SUMW_TOLERANCE * max(abs(float(given)), 1e-300):
            lines.append(
                f"{name}: metadata sumw {float(given):.6g} is used for the normalisation; the "
                f"processed events sum to {float(seen):.6g} "
                f"({100 * (float(seen) / float(given) - 1):+.2f} %)"
            )
    return lines


def dataset_scales(output: Mapping[str, Any], cfg: AnalysisConfig) -> dict[str, float]:
    """:func:`dataset_scale` for every dataset in ``output["datasets"]``."""
    sumws = output.get("sumw", {}) or {}
    return {
        name: dataset_scale(name, meta, sumws.get(name), cfg)
        for name, meta in output["datasets"].items()
    }


def histogram_parts(
    hists: Mapping[str, hist.Hist], name: str, datasets: Collection[str] | None = None
) -> Iterator[hist.Hist]:
    """Histogram ``name`` of an output as parts that sum to it: one per dataset, read one at
    a time, for a :class:`~hnl_coffea.accumulate.HistogramSet` (only parts holding one of
    ``datasets`` when given); else the histogram itself."""
    if isinstance(hists, HistogramSet):
        return hists.parts(name, datasets)
    return iter([hists[name]])


def group_processes(
    h: hist.Hist | Iterable[hist.Hist],
    datasets: Mapping[str, Mapping[str, Any]],
    scales: Mapping[str, float],
    keep: Collection[str] | None = None,
) -> ProcessHists:
    """Split ``h`` (or the sum of the parts ``h`` yields) by its ``dataset`` axis into
    normalised backgrounds, signals and data (only the datasets in ``keep`` when given)."""
    out = ProcessHists()
    for part in [h] if isinstance(h, hist.Hist) else h:
        _group_into(out, part, datasets, scales, keep)
    return out


def _group_into(
    out: ProcessHists,
    h: hist.Hist,
    datasets: Mapping[str, Mapping[str, Any]],
    scales: Mapping[str, float],
    keep: Collection[str] | None,
) -> None:
    for name in h.axes["dataset"]:
        if name not in datasets:
            raise OutputError(f"dataset {name!r} is in the histograms but has no metadata")
        if keep is not None and name not in keep:
            continue
        meta = datasets[name]
        part = h[{"dataset": name}]
        if meta.get("is_data"):
            out.data = part if out.data is None else out.data + part
            continue
        part = part * scales.get(name, 1.0)  # values × k, Weight variances × k²
        if meta.get("is_signal"):
            m = meta.get("m_hnl")
            if m is None:
                raise OutputError(f"signal dataset {name!r} has no m_hnl in its metadata")
            m = float(m)
            part = at_own_hypothesis(part, m)
            out.signals[m] = part if m not in out.signals else out.signals[m] + part
            out.signal_names.setdefault(m, str(meta.get("process") or "HNL"))
        else:
            proc = str(meta.get("process") or name)
            out.backgrounds[proc] = (
                part if proc not in out.backgrounds else out.backgrounds[proc] + part
            )


def at_own_hypothesis(h: hist.Hist, mass: float) -> hist.Hist:
    """A signal histogram with an ``mhyp`` axis cut to the sample's own mass hypothesis
    (the only one templates use); unchanged without that axis or hypothesis. A signal
    sample filled at 16 hypotheses otherwise costs 16 times the memory it needs."""
    if "mhyp" not in h.axes.name:
        return h
    ax = h.axes["mhyp"]
    m = int(round(mass))
    if m not in list(ax):
        return h
    k = h.axes.name.index("mhyp")
    axes = [hist.axis.IntCategory([m], name="mhyp", label=ax.label) if i == k else a
            for i, a in enumerate(h.axes)]  # fmt: skip
    out = hist.Hist(*axes, storage=h.storage_type())
    src, dst = h.view(flow=True), out.view(flow=True)
    at = [slice(None)] * h.ndim
    at[k] = slice(0, 1)
    for f in src.dtype.names or (None,):
        s_f, d_f = (src, dst) if f is None else (src[f], dst[f])
        d_f[tuple(at)] = np.take(s_f, [ax.index(m)], axis=k)
    return out


def dataset_era(meta: Mapping[str, Any], cfg: AnalysisConfig) -> str:
    """The era of a dataset: its ``era`` metadata, else the configured era."""
    era = meta.get("era")
    return cfg.era if era in (None, "") else str(era)


def output_eras(output: Mapping[str, Any], cfg: AnalysisConfig) -> list[str]:
    """The eras of the output's datasets, in the order of the configuration's era table."""
    validate_output(output)
    seen = {dataset_era(meta, cfg) for meta in output["datasets"].values()}
    unknown = sorted(seen - set(cfg.eras))
    if unknown:
        raise OutputError(f"era(s) {unknown} of the output are not in the configuration")
    return [e for e in cfg.eras if e in seen]


def normalise_output(
    output: Mapping[str, Any], cfg: AnalysisConfig, *, eras: Collection[str] | None = None
) -> dict[str, ProcessHists]:
    """Every histogram of the processor output, normalised and grouped by process
    (only the datasets of ``eras`` when given)."""
    validate_output(output)
    scales = dataset_scales(output, cfg)
    keep = None
    if eras is not None:
        keep = {n for n, m in output["datasets"].items() if dataset_era(m, cfg) in set(eras)}
    hists = output["hists"]
    return {
        name: group_processes(histogram_parts(hists, name, keep), output["datasets"], scales, keep)
        for name in hists
    }
