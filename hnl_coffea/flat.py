"""Flat-array helpers: collections as one numpy entry per object (events concatenated) plus
per-event counts, the form every selection step of hnl-coffea computes on.

hnl-coffea's selection runs on eager (virtual) NanoEvents chunks, as coffea's ``Runner``
gives them. Under ``coffea.dataset_tools.apply_to_fileset`` (dask-awkward arrays),
:func:`hnl_coffea.daskmode.run_partitions` runs the same code on every partition, so no step
is written twice; :func:`require_eager` says so to anyone passing a dask array directly.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

__all__ = [
    "column",
    "delta_r",
    "event_index",
    "pair_indices",
    "per_event_product",
    "require_eager",
]


def require_eager(array: Any, what: str) -> None:
    """A one-line ``TypeError`` unless ``array`` is an eager (or virtual) array."""
    if type(array).__module__.startswith("dask_awkward"):
        raise TypeError(
            f"{what} runs on eager (virtual) NanoEvents chunks, got a dask_awkward.Array; "
            "under apply_to_fileset, hnl_coffea.daskmode.run_partitions runs it on every "
            "partition (HNLProcessor.process does this for you)"
        )


def event_index(counts: np.ndarray) -> np.ndarray:
    """The event number of every object: ``[0, 0, 1, 2, 2, 2]`` for counts ``[2, 1, 3]``."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.repeat(np.arange(len(counts)), counts)


def column(records: Any, field: str) -> np.ndarray:
    """One field of a flat (one entry per object) awkward record array as a numpy array.

    Lazily indexed records (e.g. after an event mask) are gathered straight from the
    field's buffer, which is much cheaper than projecting the awkward array.
    """
    layout = records.layout
    index = None
    if isinstance(layout, ak.contents.IndexedArray):
        index, layout = np.asarray(layout.index), layout.content
    if isinstance(layout, ak.contents.RecordArray) and field in layout.fields:
        content = layout.content(field)
        if isinstance(content, ak.contents.NumpyArray) and len(content.inner_shape) == 0:
            data = np.asarray(content.data)[: layout.length]
            return data if index is None else data[index]
    return np.asarray(records[field])


def delta_r(eta1: Any, phi1: Any, eta2: Any, phi2: Any) -> Any:
    """ΔR = sqrt(Δφ² + Δη²), Δφ wrapped into [−π, π); the same arithmetic as ``vector``."""
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.sqrt(dphi**2 + (eta1 - eta2) ** 2)


def pair_indices(counts_a: np.ndarray, counts_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices ``(ia, ib)`` of every same-event pair of objects of ``a`` and ``b``."""
    event_a = event_index(counts_a)
    k = np.asarray(counts_b)[event_a]
    ia = np.repeat(np.arange(len(event_a)), k)
    start_b = np.cumsum(counts_b) - counts_b
    local = np.arange(int(k.sum())) - np.repeat(np.cumsum(k) - k, k)
    return ia, np.repeat(start_b[event_a], k) + local


def per_event_product(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-event product of per-object ``values`` (1 for events without objects)."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.ones(len(counts))
    filled = counts > 0
    if filled.any():
        starts = (np.cumsum(counts) - counts)[filled]
        out[filled] = np.multiply.reduceat(np.asarray(values, dtype=np.float64), starts)
    return out
