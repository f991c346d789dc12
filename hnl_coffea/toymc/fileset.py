"""Generating toy samples and the coffea fileset JSON that describes them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ..config import AnalysisConfig, load_config
from .data import DEFAULT_DATA_LUMI_FB, generate_data
from .event import simulate
from .filters import GEN_DILEPTON, GenFilter
from .layout import LAYOUTS
from .samples import Sample, all_samples, signal_sample, split_events
from .writer import chunk_sizes, compression_for, sample_rng, to_branches, write_events

__all__ = ["generate_sample", "generate_fileset", "find_sample", "DEFAULT_CHUNK_SIZE"]

DEFAULT_CHUNK_SIZE = 25_000
#: Luminosity blocks per run and events per luminosity block of the toy simulation.
MC_EVENTS_PER_LUMI = 500


def find_sample(name: str, cfg: AnalysisConfig) -> Sample:
    """The sample called ``name`` (``HNL_M<mass>`` accepts any mass)."""
    for s in all_samples(cfg.mass_hypotheses):
        if s.name == name:
            return s
    m = re.fullmatch(r"HNL_M(\d+(?:\.\d+)?)", name)
    if m:
        return signal_sample(float(m.group(1)))
    known = ", ".join(s.name for s in all_samples(cfg.mass_hypotheses))
    raise ValueError(f"unknown toy sample {name!r}; known: {known}")


def _mc_chunks(
    sample: Sample, n_events: int, seed: int, layout: str, cfg, chunk_size: int, sums: dict
) -> Iterator[dict]:
    era = cfg.era_config
    start = 0
    for i, k in enumerate(chunk_sizes(n_events, chunk_size)):
        rng = sample_rng(seed, sample.name, i)
        chunk = simulate(rng, sample.build(rng, k), era)
        gw = np.where(rng.random(k) < sample.neg_weight_fraction, -1.0, 1.0).astype(np.float32)
        sums["sumw"] += float(gw.sum(dtype=np.float64))
        sums["sumw2"] += float((gw.astype(np.float64) ** 2).sum())
        index = np.arange(start, start + k, dtype=np.uint64)
        scalars = {
            "run": np.ones(k, np.uint32),
            "luminosityBlock": (1 + index // MC_EVENTS_PER_LUMI).astype(np.uint32),
            "event": index + np.uint64(1),
            "genWeight": gw,
            **chunk.scalars,
        }
        start += k
        yield to_branches(chunk, scalars, layout, is_data=False)


def generate_sample(
    name: str,
    n_events: int,
    path: str | Path,
    *,
    seed: int = 1,
    layout: str = "modern",
    compression: str = "zstd",
    compression_level: int | None = None,
    cfg: AnalysisConfig | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> dict:
    """Write ``n_events`` of one toy sample to ``path``; returns its fileset metadata.

    The metadata has ``process``, ``xsec`` (pb), ``sumw`` (Σ genWeight), ``is_signal``,
    ``m_hnl``, ``era``, ``is_data`` (False) and ``user: {n_events}``. The random stream depends on ``seed``,
    the sample name and ``chunk_size`` only.
    """
    cfg = cfg or load_config()
    sample = find_sample(name, cfg)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown NanoAOD layout {layout!r}; allowed: {', '.join(LAYOUTS)}")
    compression_for(compression, compression_level)
    if n_events <= 0:
        raise ValueError(f"sample {name!r}: n_events must be > 0, got {n_events}")
    sums = {"sumw": 0.0, "sumw2": 0.0}
    meta = {
        "sample": name,
        "seed": seed,
        "layout": layout,
        "n_events": n_events,
        "chunk_size": chunk_size,
    }

    def runs() -> dict[str, np.ndarray]:
        return {
            "run": np.ones(1, np.uint32),
            "genEventCount": np.array([n_events], np.int64),
            "genEventSumw": np.array([sums["sumw"]]),
            "genEventSumw2": np.array([sums["sumw2"]]),
        }

    write_events(
        Path(path),
        _mc_chunks(sample, n_events, seed, layout, cfg, chunk_size, sums),
        compression=compression,
        compression_level=compression_level,
        metadata=meta,
        runs=runs,
        n_chunks=-(-n_events // chunk_size),
    )
    return {
        "process": sample.process,
        "xsec": sample.xsec,
        "sumw": sums["sumw"],
        "is_signal": sample.is_signal,
        "m_hnl": sample.m_hnl,
        "era": cfg.era,
        "is_data": False,
        "user": {"n_events": n_events},
    }


def generate_fileset(
    output: str | Path,
    n_events: int,
    *,
    seed: int = 1,
    layout: str = "modern",
    compression: str = "zstd",
    compression_level: int | None = None,
    cfg: AnalysisConfig | None = None,
    samples: list[str] | None = None,
    signal_fraction: float = 0.3,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    with_data: bool = False,
    luminosity_fb: float | None = None,
    data_filter: GenFilter | None = GEN_DILEPTON,
    on_sample: Callable[[str, int], None] | None = None,
) -> Path:
    """Write one ROOT file per toy sample and ``output/fileset.json``; returns the JSON path.

    ``n_events`` is the total over all samples, split as documented in
    :mod:`hnl_coffea.toymc.samples` (``signal_fraction`` to the signal mass points, the rest
    to the backgrounds by their shares). ``samples`` restricts the list by name.

    ``with_data`` adds toy collision data (:mod:`hnl_coffea.toymc.data`): the background
    mixture at ``luminosity_fb`` (default :data:`~hnl_coffea.toymc.data.DEFAULT_DATA_LUMI_FB`),
    filtered at generator level by ``data_filter`` (default: ≥ 2 charged leptons, see
    :mod:`hnl_coffea.toymc.filters`), Poisson-fluctuated, one dataset per primary dataset
    (``data_SingleMuon`` …) with ``is_data: true``; its size does not count in ``n_events``.
    ``on_sample(name, n_events)`` is called after each sample is written (progress).
    """
    cfg = cfg or load_config()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    chosen = all_samples(cfg.mass_hypotheses)
    if samples is not None:
        chosen = [find_sample(s, cfg) for s in samples]
    counts = split_events(chosen, n_events, signal_fraction)
    fileset: dict[str, dict] = {}
    for s in chosen:
        k = counts[s.name]
        if k <= 0:
            continue
        fname = f"{s.name}.root"
        meta = generate_sample(
            s.name,
            k,
            out / fname,
            seed=seed,
            layout=layout,
            compression=compression,
            compression_level=compression_level,
            cfg=cfg,
            chunk_size=chunk_size,
        )
        fileset[s.name] = {"files": {str((out / fname).resolve()): "Events"}, "metadata": meta}
        if on_sample is not None:
            on_sample(s.name, k)
    if with_data:
        lumi = DEFAULT_DATA_LUMI_FB if luminosity_fb is None else luminosity_fb
        if on_sample is not None:
            on_sample("collision data", 0)
        fileset.update(
            generate_data(
                out,
                lumi,
                cfg=cfg,
                seed=seed,
                layout=layout,
                compression=compression,
                compression_level=compression_level,
                chunk_size=chunk_size,
                gen_filter=data_filter,
            )
        )
    path = out / "fileset.json"
    path.write_text(json.dumps(fileset, indent=2) + "\n")
    return path
