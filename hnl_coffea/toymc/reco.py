"""Small columnar helpers: from rectangular (event × slot) tables to NanoAOD-style
flat arrays with per-event counts, sorted and with slot → index maps for cross references.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Collection", "Flat", "select", "stack"]


@dataclass
class Collection:
    """A jagged NanoAOD collection: per-event ``counts`` and flat per-object ``fields``."""

    counts: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def offsets(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.counts)])


@dataclass
class Flat:
    """Selected (event, slot) pairs of a rectangular table, in output order."""

    n: int
    ev: np.ndarray
    slot: np.ndarray

    def take(self, table: np.ndarray) -> np.ndarray:
        """Pick the selected entries of an (event × slot) table."""
        return table.ravel()[self.ev * table.shape[1] + self.slot]

    def sort_by(self, key: np.ndarray) -> np.ndarray:
        """Reorder by event, then ``key`` (≥ 0, e.g. pT) descending; returns the permutation."""
        # one float sort key: event number, then 0.5/(1 + key) in (0, 0.5]
        composite = self.ev.astype(np.float64) + 0.5 / (1.0 + np.maximum(key, 0.0))
        order = np.argsort(composite, kind="stable")
        self.ev, self.slot = self.ev[order], self.slot[order]
        return order

    @property
    def counts(self) -> np.ndarray:
        return np.bincount(self.ev, minlength=self.n).astype(np.int32)

    def local_index(self) -> np.ndarray:
        """Index of each selected object inside its event."""
        offsets = np.concatenate([[0], np.cumsum(self.counts)])
        return (np.arange(len(self.ev)) - offsets[self.ev]).astype(np.int32)

    def slot_map(self, n_slots: int) -> np.ndarray:
        """(event × slot) table of the output index of each slot, -1 where not selected."""
        out = np.full((self.n, n_slots), -1, np.int32)
        out[self.ev, self.slot] = self.local_index()
        return out


def select(mask: np.ndarray) -> Flat:
    """The (event, slot) pairs where ``mask`` is true, event-major."""
    ev, slot = np.nonzero(mask)
    return Flat(mask.shape[0], ev, slot)


def stack(columns: list[np.ndarray], dtype=None) -> np.ndarray:
    """Stack per-slot arrays into an (event × slot) table."""
    if not columns:
        return np.zeros((0, 0), dtype=dtype or np.float64)
    return np.stack([np.asarray(c) for c in columns], axis=1).astype(dtype or columns[0].dtype)


def remap(index_table: np.ndarray, slot_map: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """Translate per-object slot indices (-1 = none) into output indices via ``slot_map``."""
    idx = np.asarray(index_table)
    out = np.full(len(idx), -1, np.int32)
    ok = idx >= 0
    out[ok] = slot_map[ev[ok], idx[ok]]
    return out
