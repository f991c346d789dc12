"""Adding chunk histograms into the total without boost-histogram's slow path.

Every chunk fills growing category axes (dataset, region, channel, systematic) in the order
its events arrive, so two chunks rarely have identical axes. ``Hist.__iadd__`` then maps each
bin of one onto the other one by one: adding one dataset's chunk to a total that already holds
20 datasets of a score histogram took seconds, and accumulating the outputs dominated a full
run. :func:`add_histograms` aligns the category axes by label instead (growing the total by
the chunk's new labels), turns each label mapping into a slice where it can and adds whole
numpy blocks; identical axes use boost-histogram's own fast addition.

:class:`HistogramSet` is the ``"hists"`` entry of a processor output: a ``dict`` of name →
``hist.Hist`` that coffea's accumulation (``processor.accumulate``) adds with
:func:`add_histograms`.
"""

from __future__ import annotations

from collections.abc import Mapping

import hist
import numpy as np

__all__ = ["HistogramSet", "add_histograms"]

_CATEGORY = (hist.axis.StrCategory, hist.axis.IntCategory)


def _growing_category(ax) -> bool:
    return isinstance(ax, _CATEGORY) and bool(ax.traits.growth)


def _flow_size(ax) -> int:
    return len(ax) + int(ax.traits.underflow) + int(ax.traits.overflow)


def _as_index(positions: np.ndarray) -> slice | np.ndarray:
    """A slice when ``positions`` are consecutive (the common case), else the array."""
    if len(positions) and np.all(np.diff(positions) == 1):
        return slice(int(positions[0]), int(positions[-1]) + 1)
    return positions


def _copy_into(target: hist.Hist, source: hist.Hist, index: tuple, add: bool) -> None:
    """``target.view()[index] (+)= source.view()`` over every storage field."""
    vt, vs = target.view(flow=True), source.view(flow=True)
    arrays = [i for i in index if isinstance(i, np.ndarray)]
    if len(arrays) > 1:  # several label maps that are not slices: an outer-product index
        full = [i if isinstance(i, np.ndarray) else np.arange(n)[i]
                for i, n in zip(index, vt.shape)]  # fmt: skip
        index = np.ix_(*full)
    fields = vt.dtype.names or (None,)
    for f in fields:
        t = vt if f is None else vt[f]
        s = vs if f is None else vs[f]
        if add:
            t[index] += s
        else:
            t[index] = s


def add_histograms(total: hist.Hist, other: hist.Hist) -> hist.Hist:
    """``total + other`` with growing category axes matched by label; returns ``total``
    (updated in place) or, when ``other`` brings new labels, a grown copy of it.

    Every other axis must be identical, as must the storage type; anything else raises
    ``ValueError`` naming the axis."""
    if len(total.axes) != len(other.axes) or total.storage_type is not other.storage_type:
        raise ValueError("cannot add histograms with different axes or storage")
    if total.axes == other.axes:
        total += other
        return total
    grown: dict[int, list] = {}
    for i, (a, b) in enumerate(zip(total.axes, other.axes)):
        if a == b:
            continue
        if not (_growing_category(a) and type(a) is type(b) and a.name == b.name):
            raise ValueError(f"cannot add histograms: axis {a.name!r} differs")
        known = set(a)
        new = [c for c in b if c not in known]
        if new:
            grown[i] = [*a, *new]
    if grown:
        total = _grow(total, grown)
    index = []
    for a, b in zip(total.axes, other.axes):
        if a == b:
            index.append(slice(None))
        else:
            pos = {c: k for k, c in enumerate(a)}
            index.append(_as_index(np.array([pos[c] for c in b], dtype=np.intp)))
    _copy_into(total, other, tuple(index), add=True)
    return total


def _grow(h: hist.Hist, labels: dict[int, list]) -> hist.Hist:
    """A copy of ``h`` whose category axes ``labels`` name have those labels (old first)."""
    axes = [
        type(ax)(labels[i], name=ax.name, label=ax.label, growth=True) if i in labels else ax
        for i, ax in enumerate(h.axes)
    ]
    out = hist.Hist(*axes, storage=h.storage_type())
    index = tuple(slice(0, len(ax)) if i in labels else slice(None) for i, ax in enumerate(h.axes))
    _copy_into(out, h, index, add=False)
    return out


class HistogramSet(dict):
    """The histograms of a processor output (a ``dict`` of name → ``hist.Hist``) that
    coffea's accumulation adds name by name with :func:`add_histograms`."""

    def __iadd__(self, other: Mapping[str, hist.Hist]) -> HistogramSet:
        for name, h in other.items():
            mine = self.get(name)
            self[name] = h.copy() if mine is None else add_histograms(mine, h)
        return self

    def __add__(self, other: Mapping[str, hist.Hist]) -> HistogramSet:
        out = HistogramSet({k: h.copy() for k, h in self.items()})
        out += other
        return out
