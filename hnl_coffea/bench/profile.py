"""Where the processor's time goes: a cProfile of one chunk, summarised by function.

Used by ``hnl-coffea bench`` so that a missed throughput target comes with the functions
that cost the time (cumulative seconds of hnl-coffea's own functions, largest first).
"""

from __future__ import annotations

import cProfile
import pstats
import warnings
from typing import Any

__all__ = ["profile_chunk"]

_OURS = ("hnl_coffea", "processors")


def profile_chunk(
    make_processor: Any, path: str, dataset: str, metadata: dict, n_events: int, top: int = 12
) -> dict[str, Any]:
    """Profile ``make_processor().process`` on the first ``n_events`` of ``path``.

    Returns the total seconds and the ``top`` hnl-coffea functions by cumulative time.
    """
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    proc = make_processor()

    def chunk():
        events = NanoEventsFactory.from_root(
            {path: "Events"}, schemaclass=NanoAODSchema, mode="virtual", entry_stop=n_events
        ).events()
        events.metadata.update({**metadata, "dataset": dataset, "filename": path})
        return events

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proc.process(chunk())  # warm up: imports, correction files, models
        events = chunk()
        profiler = cProfile.Profile()
        profiler.enable()
        proc.process(events)
        profiler.disable()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, func), (_cc, _nc, _tt, cum, _callers) in stats.stats.items():
        if any(f"/{pkg}/" in filename for pkg in _OURS) and func not in ("<module>",):
            short = (
                filename[filename.rfind("/hnl_coffea/") + 1 :]
                if "/hnl_coffea/" in filename
                else (filename[filename.rfind("/processors/") + 1 :])
            )
            rows.append({"function": f"{short}:{line}({func})", "cumulative_s": round(cum, 3)})
    rows.sort(key=lambda r: -r["cumulative_s"])
    return {"events": len(events), "total_s": round(stats.total_tt, 3), "functions": rows[:top]}
