"""Collision-data rules: certified luminosity and primary-dataset arbitration.

* :func:`lumi_mask` keeps events in the era's golden JSON (``coffea.lumi_tools.LumiMask``).
* :func:`primary_dataset_mask` keeps an event in primary dataset *P* only if *P*'s trigger
  group fired and no trigger group of a higher-priority primary dataset fired (priority =
  order of ``primary_datasets`` in the era config), so an event recorded in several primary
  datasets is counted exactly once.
* :func:`lumi_pairs` / :func:`write_lumi_json` accumulate the processed (run, lumi) pairs
  and write them in the CMS JSON format (``{"run": [[first, last], ...]}``) for brilcalc.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path

import awkward as ak
import numpy as np
from coffea.lumi_tools import LumiMask

from .config import EraConfig
from .paths import data_path

__all__ = [
    "fired_groups",
    "lumi_mask",
    "lumi_pairs",
    "primary_dataset_mask",
    "compress_lumis",
    "write_lumi_json",
]


@lru_cache(maxsize=8)
def _mask(path: str) -> LumiMask:
    return LumiMask(path)


def lumi_mask(events, era: EraConfig) -> np.ndarray:
    """Boolean mask of events inside the era's certified-luminosity JSON.

    Raises a one-line ``FileNotFoundError`` when the era has no golden JSON configured or the
    file is missing (data must never be processed without one).
    """
    if era.golden_json is None:
        raise FileNotFoundError(f"era {era.name!r} has no golden_json configured; data needs one")
    path = data_path(era.golden_json)
    if not path.is_file():
        raise FileNotFoundError(f"golden JSON for era {era.name!r} not found: {path}")
    return np.asarray(
        _mask(str(path))(ak.to_numpy(events.run), ak.to_numpy(events.luminosityBlock))
    )


def fired_groups(events, era: EraConfig) -> dict[str, np.ndarray]:
    """Per trigger group of the era, whether any of its HLT paths fired (absent paths: not fired)."""
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
    keep = np.ones(n, dtype=bool)
    for pd in era.primary_datasets:
        group = fired.get(pd.trigger_group, np.zeros(n, dtype=bool))
        if pd.name == primary_dataset:
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
