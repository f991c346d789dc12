"""Collision-data rules: certified luminosity and primary-dataset arbitration.

* :func:`lumi_mask` keeps events in the era's golden JSON (``coffea.lumi_tools.LumiMask``).
* :func:`primary_dataset_mask` keeps an event in primary dataset *P* only if *P*'s trigger
  group fired and no trigger group of a higher-priority primary dataset fired (priority =
  order of ``primary_datasets`` in the era config), so an event recorded in several primary
  datasets is counted exactly once.
* :func:`certification_record` notes, per chunk, the runs seen, the events the mask removed
  and the runs the golden JSON does not cover at all; :func:`certification_messages` turns
  the accumulated records into one line per dataset for the run summary.
* :func:`lumi_pairs` / :func:`write_lumi_json` accumulate the processed (run, lumi) pairs
  and write them in the CMS JSON format (``{"run": [[first, last], ...]}``) for brilcalc.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from .config import EraConfig
from .paths import data_path

__all__ = [
    "certification_messages",
    "certification_record",
    "fired_groups",
    "lumi_mask",
    "lumi_pairs",
    "primary_dataset_mask",
    "compress_lumis",
    "write_lumi_json",
]


@lru_cache(maxsize=8)
def _mask(path: str) -> Any:
    from coffea.lumi_tools import LumiMask  # numba-compiled: imported only for data

    return LumiMask(path)


@lru_cache(maxsize=8)
def _certified_runs(path: str) -> frozenset[int]:
    return frozenset(int(r) for r in json.loads(Path(path).read_text()))


def golden_json_path(era: EraConfig) -> Path:
    """The era's certified-luminosity JSON; a one-line ``FileNotFoundError`` when the era has
    none configured or the file is missing (data must never be processed without one)."""
    if era.golden_json is None:
        raise FileNotFoundError(f"era {era.name!r} has no golden_json configured; data needs one")
    path = data_path(era.golden_json)
    if not path.is_file():
        raise FileNotFoundError(f"golden JSON for era {era.name!r} not found: {path}")
    return path


def lumi_mask(events, era: EraConfig) -> np.ndarray:
    """Boolean mask of events inside the era's certified-luminosity JSON."""
    path = golden_json_path(era)
    return np.asarray(
        _mask(str(path))(ak.to_numpy(events.run), ak.to_numpy(events.luminosityBlock))
    )


def certification_record(events, golden: np.ndarray, era: EraConfig) -> dict:
    """What the golden-JSON step did to one chunk: ``{"events_lost": n, "runs_seen": {...},
    "runs_uncovered": {...}, "mask": {...}}`` (sets: coffea's accumulate adds the counts and
    joins the sets across chunks; ``mask`` names the era's golden JSON and its run range)."""
    path = golden_json_path(era)
    runs = np.unique(ak.to_numpy(events.run).astype(np.int64))
    certified = _certified_runs(str(path))
    span = f"runs {min(certified)}-{max(certified)}" if certified else "no runs"
    return {
        "events_lost": int(len(golden) - int(np.count_nonzero(golden))),
        "runs_seen": {int(r) for r in runs},
        "runs_uncovered": {int(r) for r in runs if int(r) not in certified},
        "mask": {f"era {era.name}: {path.name}, {span}"},
    }


def _run_list(runs: Iterable[int]) -> str:
    runs = sorted(runs)
    shown = ", ".join(str(r) for r in runs[:6])
    return shown + (f", ... ({len(runs)} runs)" if len(runs) > 6 else "")


def certification_messages(output: Mapping) -> list[str]:
    """One line per data dataset with runs that its era's golden JSON does not cover, naming
    those runs, the runs seen, the mask's run range and the events the mask removed."""
    lines = []
    for name, rec in sorted((output.get("certification") or {}).items()):
        uncovered = rec.get("runs_uncovered") or set()
        if uncovered:
            lines.append(
                f"{name}: run(s) {_run_list(uncovered)} not in the golden JSON "
                f"({'; '.join(sorted(rec.get('mask') or ()))}); runs seen: "
                f"{_run_list(rec.get('runs_seen') or set())}; "
                f"{int(rec.get('events_lost', 0))} event(s) removed by the mask"
            )
    return lines


def fired_groups(events, era: EraConfig) -> dict[str, np.ndarray]:
    """Per trigger group of the era, whether any of its HLT paths fired (absent paths: not
    fired; :func:`hnl_coffea.triggers.paths_fired` also warns about them)."""
    hlt_fields = set(events.HLT.fields) if "HLT" in events.fields else set()
    out = {}
    n = len(events)
    for group, paths in era.triggers.items():
        fired = np.zeros(n, dtype=bool)
        for p in paths:
            if p in hlt_fields:
                fired |= ak.to_numpy(events.HLT[p])
        out[group] = fired
    return out


def primary_dataset_mask(
    fired: Mapping[str, np.ndarray], era: EraConfig, primary_dataset: str
) -> np.ndarray:
    """Events that belong to ``primary_dataset`` after arbitration between primary datasets."""
    order = [pd.name for pd in era.primary_datasets]
    if primary_dataset not in order:
        raise ValueError(
            f"primary dataset {primary_dataset!r} not configured for era {era.name!r}; "
            f"allowed: {', '.join(order) or '(none)'}"
        )
    n = len(next(iter(fired.values()))) if fired else 0
    own = next(pd.trigger_group for pd in era.primary_datasets if pd.name == primary_dataset)
    keep = np.ones(n, dtype=bool)
    for pd in era.primary_datasets:
        group = fired.get(pd.trigger_group, np.zeros(n, dtype=bool))
        if pd.trigger_group == own:
            # several primary datasets may share a trigger group (2023: Muon0, Muon1): they
            # hold different events, so none vetoes another
            return keep & group
        keep &= ~group
    raise AssertionError("unreachable")


def lumi_pairs(events) -> set[tuple[int, int]]:
    """The set of (run, luminosity block) pairs present in ``events``."""
    runs = ak.to_numpy(events.run).astype(np.int64)
    lumis = ak.to_numpy(events.luminosityBlock).astype(np.int64)
    if len(runs) == 0:
        return set()
    pairs = np.unique(np.stack([runs, lumis], axis=1), axis=0)
    return {(int(r), int(lb)) for r, lb in pairs}


def compress_lumis(pairs: Iterable[tuple[int, int]]) -> dict[str, list[list[int]]]:
    """(run, lumi) pairs → CMS JSON ``{"run": [[first, last], ...]}`` with merged ranges."""
    by_run: dict[int, list[int]] = {}
    for run, lumi in pairs:
        by_run.setdefault(int(run), []).append(int(lumi))
    out: dict[str, list[list[int]]] = {}
    for run in sorted(by_run):
        ranges: list[list[int]] = []
        for lb in sorted(set(by_run[run])):
            if ranges and lb == ranges[-1][1] + 1:
                ranges[-1][1] = lb
            else:
                ranges.append([lb, lb])
        out[str(run)] = ranges
    return out


def write_lumi_json(pairs: Iterable[tuple[int, int]], path: str | Path) -> Path:
    """Write processed (run, lumi) pairs as a CMS-style luminosity JSON."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(compress_lumis(pairs), indent=1))
    return p
