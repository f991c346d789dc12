"""Toy collision data: the background mixture at a chosen integrated luminosity.

Each background contributes a Poisson-fluctuated number of events, σ × L × ε, where ε is
the efficiency of a generator-level filter (:mod:`hnl_coffea.toymc.filters`; by default
:data:`~hnl_coffea.toymc.filters.GEN_DILEPTON`, at least two charged leptons e/μ/τ from the
hard process), as for CMS filtered samples. Unfiltered, the toy data would have ≈ 13 500
events per pb⁻¹, almost all W+jets with a single lepton, which never passes the
three-lepton selection (in the simulation neither); filtered, ≈ 1 240 events per pb⁻¹
remain (tt̄, DY, Zγ, WZ, ZZ) and the pseudo-data still correspond to L for everything the
selection can see. The filter, its definition and the per-process efficiencies are stored
in the file metadata and the fileset metadata (``generator_filter``).

Events get run and luminosity-block numbers of the era (:func:`toy_runs`: runs of the
era's CMS golden JSON, some blocks outside its certified ranges), fire the HLT paths in use
in their run (``eras.<era>.trigger_paths.<path>.data_runs``: 2018 non-HPS di-τ paths
before run 317509, the HPS path from it on) and are written into one
file per primary dataset of the era, chosen by the trigger groups that fired: an event that fired
several groups sits in several files, as in real CMS data. No MC-only branches are written.

The default luminosity, :data:`DEFAULT_DATA_LUMI_FB`, (0.2 fb⁻¹) gives ≈ 250 k generated
collisions and ≈ 150 events passing the three-lepton selection; pass
the same luminosity to the MC normalisation (``eras.<era>.luminosity_fb``) for data/MC
comparisons.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..config import AnalysisConfig, EraConfig
from .event import simulate
from .filters import GEN_DILEPTON, GenFilter, filter_efficiency
from .samples import Sample, background_samples
from .writer import EventsWriter, compression_for, sample_rng, to_branches

__all__ = ["toy_runs", "generate_data", "DEFAULT_DATA_LUMI_FB", "expected_data_events"]

DEFAULT_DATA_LUMI_FB = 0.2
#: Runs of the toy data per era, and the share of luminosity blocks added after the last
#: certified block of each run (never certified, so some toy events fail the golden JSON).
N_TOY_RUNS = 8
UNCERTIFIED_TAIL = 0.12


def toy_runs(era: EraConfig) -> dict[int, int]:
    """Toy run numbers and their number of luminosity blocks for ``era``: ``N_TOY_RUNS`` runs
    spread over the era's certified runs (its golden JSON within its ``runs`` range), each
    with its blocks up to the last certified one plus an uncertified tail."""
    from ..data import golden_json_path

    certified = json.loads(golden_json_path(era).read_text())
    first, last = era.runs or (0, 10**9)
    runs = sorted(int(r) for r in certified if first <= int(r) <= last)
    if not runs:
        raise ValueError(f"era {era.name!r}: its golden JSON has no run in {first}-{last}")
    pick = [runs[i] for i in np.linspace(0, len(runs) - 1, min(N_TOY_RUNS, len(runs))).astype(int)]
    out = {}
    for run in dict.fromkeys(pick):
        top = max(hi for _, hi in certified[str(run)])
        out[run] = int(np.ceil(top * (1 + UNCERTIFIED_TAIL)))
    return out


def _event_ids(
    rng: np.random.Generator, n: int, first: int, table: dict[int, int]
) -> dict[str, np.ndarray]:
    runs = np.array(list(table), np.uint32)
    n_lumi = np.array(list(table.values()))
    pick = rng.choice(len(runs), size=n, p=n_lumi / n_lumi.sum())
    lumi = 1 + (rng.random(n) * n_lumi[pick]).astype(np.uint32)
    return {
        "run": runs[pick],
        "luminosityBlock": lumi.astype(np.uint32),
        "event": (
            np.arange(first, first + n, dtype=np.uint64) * np.uint64(7) + np.uint64(1_000_003)
        ),
    }


def expected_data_events(
    luminosity_fb: float, gen_filter: GenFilter | None = GEN_DILEPTON, *, seed: int = 1
) -> dict[str, tuple[float, float]]:
    """Per background: (filter efficiency, expected events σ × L × ε) at ``luminosity_fb``."""
    out = {}
    for sample in background_samples():
        eff = 1.0 if gen_filter is None else filter_efficiency(gen_filter, sample.build, seed=seed)
        out[sample.name] = (eff, sample.xsec * luminosity_fb * 1000.0 * eff)
    return out


def _filtered_chunks(
    sample: Sample,
    n: int,
    eff: float,
    gen_filter: GenFilter | None,
    seed: int,
    chunk_size: int,
):
    """Chunks (rng, truth, keep mask) until ``n`` events have passed the filter."""
    done, i = 0, 0
    while done < n:
        todo = n - done
        k = todo if eff >= 1.0 else math.ceil(todo / eff * 1.1) + 20
        k = min(chunk_size, k)
        rng = sample_rng(seed, f"data:{sample.name}", i)
        truth = sample.build(rng, k)
        keep = np.ones(k, bool) if gen_filter is None else gen_filter.passes(truth)
        keep &= np.cumsum(keep) <= todo
        done += int(keep.sum())
        i += 1
        yield rng, truth, keep


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
    gen_filter: GenFilter | None = GEN_DILEPTON,
) -> dict[str, dict]:
    """Write pseudo-data files ``data_<PrimaryDataset>.root``; returns their fileset entries.

    ``gen_filter`` (default: ≥ 2 generator-level charged leptons) selects the generated
    events; each process contributes Poisson(σ × L × ε) events that pass it. ``None``
    generates the unfiltered mixture (≈ 13 500 events per pb⁻¹).
    """
    if luminosity_fb <= 0:
        raise ValueError(f"luminosity_fb must be > 0, got {luminosity_fb}")
    era = cfg.era_config
    if not era.primary_datasets:
        raise ValueError(f"era {era.name!r} defines no primary_datasets for toy data")
    comp = compression_for(compression, compression_level)
    runs = toy_runs(era)
    expected = expected_data_events(luminosity_fb, gen_filter, seed=seed)
    filter_meta = (
        None
        if gen_filter is None
        else gen_filter.metadata({name: eff for name, (eff, _) in expected.items()})
    )
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
                "generator_filter": filter_meta,
            },
        )
        for pd in era.primary_datasets
    }
    rng_n = np.random.default_rng([seed, 0xDA7A])
    first = 0
    n_generated = 0
    try:
        for sample in background_samples():
            eff, mean = expected[sample.name]
            n = int(rng_n.poisson(mean))
            if n == 0:
                continue
            for rng, truth, keep in _filtered_chunks(sample, n, eff, gen_filter, seed, chunk_size):
                k = truth.n
                ids = _event_ids(rng.spawn(1)[0], k, first, runs)
                chunk = simulate(rng, truth, era, ids["run"].astype(np.int64))
                scalars = {**ids, **chunk.scalars}
                first += k
                n_generated += int(keep.sum())
                for name in ("Pileup_nTrueInt", "genWeight"):
                    scalars.pop(name, None)
                data = to_branches(chunk, scalars, layout, is_data=True)
                for pd in era.primary_datasets:
                    fired = chunk.trigger_groups[pd.trigger_group] & keep
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
                "user": {
                    "luminosity_fb": luminosity_fb,
                    "n_events": w.n_events,
                    "n_collisions_generated": n_generated,
                    "generator_filter": filter_meta,
                },
            },
        }
    return fileset
