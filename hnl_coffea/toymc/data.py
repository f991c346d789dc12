"""Toy collision data: the background mixture at a chosen integrated luminosity.

Each background contributes a Poisson-fluctuated number of events, σ·L. Events get
2018-like run and luminosity-block numbers (some blocks lie outside the shipped toy golden
JSON ``data/lumi/toy_golden_2018.json``) and are written into one file per primary
dataset of the era, chosen by the trigger groups that fired: an event that fired several
groups sits in several files, as in real CMS data. No MC-only branches are written.

The expected number of events is large (≈ 13 500 per pb⁻¹, dominated by W+jets), so
toy data sets use small luminosities (default 0.01 fb⁻¹); pass the same luminosity to
the MC normalisation (``eras.<era>.luminosity_fb``) for data/MC comparisons.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..config import AnalysisConfig
from .event import simulate
from .samples import background_samples
from .writer import EventsWriter, chunk_sizes, compression_for, sample_rng, to_branches

__all__ = ["TOY_RUNS", "generate_data", "DEFAULT_DATA_LUMI_FB"]

DEFAULT_DATA_LUMI_FB = 0.01
#: Toy 2018 runs and their number of luminosity blocks (events spread uniformly in lumi).
TOY_RUNS = {
    315257: 120,
    315259: 90,
    315264: 250,
    315267: 60,
    316187: 400,
    316199: 180,
    319077: 300,
    320500: 220,
}


def _event_ids(rng: np.random.Generator, n: int, first: int) -> dict[str, np.ndarray]:
    runs = np.array(list(TOY_RUNS), np.uint32)
    n_lumi = np.array(list(TOY_RUNS.values()))
    pick = rng.choice(len(runs), size=n, p=n_lumi / n_lumi.sum())
    lumi = 1 + (rng.random(n) * n_lumi[pick]).astype(np.uint32)
    return {
        "run": runs[pick],
        "luminosityBlock": lumi.astype(np.uint32),
        "event": (
            np.arange(first, first + n, dtype=np.uint64) * np.uint64(7) + np.uint64(1_000_003)
        ),
    }


def generate_data(
    output: Path,
    luminosity_fb: float,
    *,
    cfg: AnalysisConfig,
    seed: int = 1,
    layout: str = "modern",
    compression: str = "zstd",
    compression_level: int | None = None,
    chunk_size: int = 25_000,
) -> dict[str, dict]:
    """Write pseudo-data files ``data_<PrimaryDataset>.root``; returns their fileset entries."""
    if luminosity_fb <= 0:
        raise ValueError(f"luminosity_fb must be > 0, got {luminosity_fb}")
    era = cfg.era_config
    if not era.primary_datasets:
        raise ValueError(f"era {era.name!r} defines no primary_datasets for toy data")
    comp = compression_for(compression, compression_level)
    out = Path(output)
    writers = {
        pd.name: EventsWriter(
            out / f"data_{pd.name}.root",
            comp,
            {
                "sample": f"data_{pd.name}",
                "seed": seed,
                "layout": layout,
                "luminosity_fb": luminosity_fb,
            },
        )
        for pd in era.primary_datasets
    }
    rng_n = np.random.default_rng([seed, 0xDA7A])
    first = 0
    try:
        for sample in background_samples():
            n = int(rng_n.poisson(sample.xsec * luminosity_fb * 1000.0))
            for i, k in enumerate(chunk_sizes(n, chunk_size)):
                rng = sample_rng(seed, f"data:{sample.name}", i)
                chunk = simulate(rng, sample.build(rng, k), era.triggers)
                scalars = {**_event_ids(rng, k, first), **chunk.scalars}
                first += k
                for name in ("Pileup_nTrueInt", "genWeight"):
                    scalars.pop(name, None)
                data = to_branches(chunk, scalars, layout, is_data=True)
                for pd in era.primary_datasets:
                    fired = chunk.trigger_groups[pd.trigger_group]
                    if fired.any():
                        writers[pd.name].extend({key: v[fired] for key, v in data.items()})
    finally:
        for w in writers.values():
            w.close()
    fileset = {}
    for pd in era.primary_datasets:
        w = writers[pd.name]
        if w.n_events == 0:
            continue
        fileset[f"data_{pd.name}"] = {
            "files": {str(w.path.resolve()): "Events"},
            "metadata": {
                "process": "data",
                "xsec": None,
                "is_data": True,
                "is_signal": False,
                "m_hnl": None,
                "era": cfg.era,
                "sumw": None,
                "primary_dataset": pd.name,
                "luminosity_fb": luminosity_fb,
                "n_events": w.n_events,
            },
        }
    return fileset
