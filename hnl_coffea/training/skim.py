"""Reading the training skim written by :class:`processors.skim.SkimProcessor`.

A skim is a folder of Parquet files (one per processed chunk, any sub-folder layout). Reading
returns a :class:`SkimTable`: numpy columns plus the physics weight
``xsec [pb] × L [pb⁻¹] × genWeight / Σ genWeight`` per event (1 for data, and the bare
generator weight for MC samples without a cross section).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np

__all__ = ["BOOKKEEPING", "SkimTable", "read_skim", "physics_weights"]

#: Non-feature columns the skim processor writes.
BOOKKEEPING = (
    "channel",
    "event",
    "run",
    "luminosityBlock",
    "gen_weight",
    "is_signal",
    "m_true",
    "dataset",
    "process",
)


@dataclass
class SkimTable:
    """Columns of a skim as numpy arrays (strings as object arrays)."""

    columns: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.columns["event"]) if self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        try:
            return self.columns[name]
        except KeyError:
            raise KeyError(f"skim has no column {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.columns

    def matrix(self, names: Sequence[str]) -> np.ndarray:
        """(n, len(names)) float32 matrix of the named columns."""
        missing = [n for n in names if n not in self.columns]
        if missing:
            raise KeyError(f"skim lacks column(s) {missing}")
        return np.stack([self.columns[n].astype(np.float32) for n in names], axis=1)

    def subset(self, mask: np.ndarray) -> SkimTable:
        return SkimTable({k: v[mask] for k, v in self.columns.items()})


def read_skim(path: str | Path | Sequence[str | Path]) -> SkimTable:
    """Read every ``*.parquet`` file under a folder (or a list of files) into one table."""
    if isinstance(path, str | Path):
        root = Path(path)
        if root.is_dir():
            files = sorted(root.rglob("*.parquet"))
        elif root.is_file():
            files = [root]
        else:
            raise FileNotFoundError(f"skim {root} does not exist")
    else:
        files = [Path(p) for p in path]
    if not files:
        raise FileNotFoundError(f"no Parquet files in skim {path}")
    parts = []
    for f in files:
        try:
            parts.append(ak.from_parquet(f))
        except Exception as err:  # pyarrow raises several types for corrupt files
            raise ValueError(f"skim file {f} cannot be read: {err}") from None
    arr = ak.concatenate(parts) if len(parts) > 1 else parts[0]
    missing = [c for c in BOOKKEEPING if c not in arr.fields]
    if missing:
        raise ValueError(f"skim {path} lacks bookkeeping column(s) {missing}")
    cols = {}
    for name in arr.fields:
        col = arr[name]
        cols[name] = (
            np.asarray(ak.to_list(col), dtype=object)
            if name in ("dataset", "process")
            else ak.to_numpy(col)
        )
    return SkimTable(cols)


def physics_weights(
    skim: SkimTable,
    xsec: Mapping[str, float | None],
    sumw: Mapping[str, float],
    lumi_fb: float,
) -> np.ndarray:
    """``xsec × 1000 × lumi_fb × genWeight / Σw(dataset)`` per event (pb, fb⁻¹ → events)."""
    w = skim["gen_weight"].astype(np.float64).copy()
    ds = skim["dataset"]
    for name in np.unique(ds):
        at = ds == name
        xs = xsec.get(name)
        if xs is None:
            continue
        total = sumw.get(name)
        if not total:
            raise ValueError(f"dataset {name!r}: Σ genWeight is missing or zero")
        w[at] *= xs * 1000.0 * lumi_fb / total
    return w
