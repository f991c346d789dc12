"""Small columnar helpers: from rectangular (event × slot) tables to NanoAOD-style
flat arrays with per-event counts, sorted and with slot → index maps for cross references.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import vector

__all__ = ["Collection", "Flat", "slots_where", "stack", "p4_tables", "ptetaphim", "kin_tables"]


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
    _flat: dict[int, np.ndarray] = field(default_factory=dict, repr=False)

    def flat_index(self, n_slots: int) -> np.ndarray:
        """Positions of the selected entries in a raveled (event × ``n_slots``) table."""
        idx = self._flat.get(n_slots)
        if idx is None:
            idx = self._flat[n_slots] = self.ev * n_slots + self.slot
        return idx

    def take(self, table: np.ndarray) -> np.ndarray:
        """Pick the selected entries of an (event × slot) table."""
        return table.ravel()[self.flat_index(table.shape[1])]

    def sort_by(self, key: np.ndarray) -> np.ndarray:
        """Reorder by event, then ``key`` (≥ 0, e.g. pT) descending; returns the permutation."""
        # one float sort key: event number, then 0.5/(1 + key) in (0, 0.5]
        composite = self.ev.astype(np.float64) + 0.5 / (1.0 + np.maximum(key, 0.0))
        order = np.argsort(composite, kind="stable")
        self.ev, self.slot = self.ev[order], self.slot[order]
        self._flat.clear()
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


def slots_where(mask: np.ndarray) -> Flat:
    """The (event, slot) pairs where ``mask`` is true, event-major."""
    ev, slot = np.nonzero(mask)
    return Flat(mask.shape[0], ev, slot)


def stack(columns: list[np.ndarray], dtype=None) -> np.ndarray:
    """Stack per-slot arrays into an (event × slot) table."""
    if not columns:
        return np.zeros((0, 0), dtype=dtype or np.float64)
    dtype = dtype or np.asarray(columns[0]).dtype
    return np.stack(columns, axis=1, dtype=dtype, casting="unsafe")


def remap(index_table: np.ndarray, slot_map: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """Translate per-object slot indices (-1 = none) into output indices via ``slot_map``."""
    idx = np.asarray(index_table)
    out = np.full(len(idx), -1, np.int32)
    ok = idx >= 0
    out[ok] = slot_map[ev[ok], idx[ok]]
    return out


def p4_tables(p4s: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(event × slot) tables of px, py, pz, E of a list of per-slot four-vector arrays."""
    return tuple(stack([getattr(p, c) for p in p4s], np.float64) for c in ("px", "py", "pz", "E"))


def take_p4(sel: Flat, p4s: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """px, py, pz, E of the selected (event, slot) entries, gathered without full tables."""
    if not all(p.dtype.names == ("x", "y", "z", "t") for p in p4s):
        return tuple(sel.take(t) for t in p4_tables(p4s))
    # slot-major copy of the (x, y, z, t) records, then one gather in output order
    records = np.concatenate([p.view(np.ndarray) for p in p4s])[sel.slot * sel.n + sel.ev]
    return tuple(np.ascontiguousarray(records[c]) for c in ("x", "y", "z", "t"))


def ptetaphim(px, py, pz, e) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """pT, η, φ and mass (negative m² clipped to 0) of flat Cartesian four-vectors."""
    p = vector.array({"px": px, "py": py, "pz": pz, "E": e})
    return p.pt, p.eta, p.phi, np.maximum(p.mass, 0.0)


def kin_tables(p4s: list, valid: np.ndarray) -> tuple[np.ndarray, ...]:
    """(event × slot) tables of pT, η, φ, mass, computed where ``valid`` (0 elsewhere)."""
    sel = slots_where(valid)
    flat = ptetaphim(*take_p4(sel, p4s))
    out = []
    for values in flat:
        table = np.zeros(valid.shape)
        table.ravel()[sel.flat_index(valid.shape[1])] = values
        out.append(table)
    return tuple(out)
