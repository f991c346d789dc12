"""Event filters applied before the object selection: the MET noise filters of the era
(NanoAOD ``Flag_*``, the JME recommendation per era in ``eras.<era>.met_filters``) and a
good primary vertex (``PV_npvsGood >= event.min_good_vertices``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import AnalysisConfig
from .nanoaod import MissingBranchError

__all__ = ["FILTER_STEPS", "event_filters", "passes_filters"]

#: The filter steps, in cutflow order.
FILTER_STEPS = ("met_filters", "good_vertex")


def event_filters(events: Any, cfg: AnalysisConfig) -> dict[str, np.ndarray]:
    """Per step of :data:`FILTER_STEPS`, whether each event passes it.

    A filter flag or ``PV_npvsGood`` missing from the file is a one-line
    :class:`~hnl_coffea.nanoaod.MissingBranchError` naming the branch: an event is never
    counted as filtered, or not, on a guess.
    """
    era = cfg.era_config
    n = len(events)
    flags = set(events.Flag.fields) if "Flag" in events.fields else set()
    met_ok = np.ones(n, dtype=bool)
    for name in era.met_filters:
        if name not in flags:
            raise MissingBranchError(
                f"Flag_{name}", f"the MET filters of era {era.name}, eras.{era.name}.met_filters"
            )
        met_ok &= np.asarray(events.Flag[name], dtype=bool)
    if "PV" not in events.fields or "npvsGood" not in events.PV.fields:
        raise MissingBranchError("PV_npvsGood", "the good-primary-vertex requirement")
    pv_ok = np.asarray(events.PV.npvsGood) >= cfg.event.min_good_vertices
    return {"met_filters": met_ok, "good_vertex": pv_ok}


def passes_filters(events: Any, cfg: AnalysisConfig) -> np.ndarray:
    """Events passing every step of :func:`event_filters`."""
    masks = list(event_filters(events, cfg).values())
    return np.logical_and.reduce(masks) if masks else np.ones(len(events), dtype=bool)
