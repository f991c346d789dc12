"""Adding chunk histograms into the total without boost-histogram's slow path.

Every chunk fills growing category axes (dataset, region, channel, systematic) in the order
its events arrive, so two chunks rarely have identical axes. ``Hist.__iadd__`` then maps each
bin of one onto the other one by one: adding one dataset's chunk to a total that already holds
20 datasets of a score histogram took seconds, and accumulating the outputs dominated a full
run. :func:`add_histograms` aligns the category axes by label instead (growing the total by
the chunk's new labels), turns each label mapping into a slice where it can and adds whole
numpy blocks; identical axes use boost-histogram's own fast addition.

Growing the total by a new dataset still copies it, so a run over N datasets would copy
O(N²) bins. :class:`HistogramSet`, the ``"hists"`` entry of a processor output, therefore
keeps one part per dataset while coffea accumulates chunk outputs (each chunk is added to
its own dataset's part) and joins the parts once, with :func:`sum_histograms`, when a
histogram is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping

import hist
import numpy as np

__all__ = ["HistogramSet", "add_histograms", "sum_histograms"]

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


def _check_compatible(hists: list[hist.Hist]) -> None:
    first = hists[0]
    for h in hists[1:]:
        if len(h.axes) != len(first.axes) or h.storage_type is not first.storage_type:
            raise ValueError("cannot add histograms with different axes or storage")
        for a, b in zip(first.axes, h.axes):
            if a != b and not (_growing_category(a) and type(a) is type(b) and a.name == b.name):
                raise ValueError(f"cannot add histograms: axis {a.name!r} differs")


def _union(hists: list[hist.Hist]) -> hist.Hist:
    """An empty histogram whose growing category axes hold every label of ``hists`` (in
    the order first seen); every other axis as in ``hists[0]``."""
    first = hists[0]
    axes = []
    for i, ax in enumerate(first.axes):
        if all(h.axes[i] == ax for h in hists[1:]):
            axes.append(ax)
            continue
        labels = dict.fromkeys(c for h in hists for c in h.axes[i])
        axes.append(type(ax)(list(labels), name=ax.name, label=ax.label, growth=True))
    return hist.Hist(*axes, storage=first.storage_type())


def _add_by_label(total: hist.Hist, other: hist.Hist) -> None:
    """``total += other`` where ``total``'s category axes hold every label of ``other``."""
    index = []
    for a, b in zip(total.axes, other.axes):
        if a == b:
            index.append(slice(None))
        else:
            pos = {c: k for k, c in enumerate(a)}
            index.append(_as_index(np.array([pos[c] for c in b], dtype=np.intp)))
    _copy_into(total, other, tuple(index), add=True)


def add_histograms(total: hist.Hist, other: hist.Hist) -> hist.Hist:
    """``total + other`` with growing category axes matched by label; returns ``total``
    (updated in place) or, when ``other`` brings new labels, a grown copy of it.

    Every other axis must be identical, as must the storage type; anything else raises
    ``ValueError`` naming the axis."""
    _check_compatible([total, other])
    if total.axes == other.axes:
        total += other
        return total
    differing = [(set(a), b) for a, b in zip(total.axes, other.axes) if a != b]
    if any(c not in known for known, b in differing for c in b):
        grown = _union([total, other])
        _add_by_label(grown, total)
        total = grown
    _add_by_label(total, other)
    return total


def sum_histograms(hists: Iterable[hist.Hist]) -> hist.Hist:
    """The sum of ``hists`` (category axes matched by label), allocated once."""
    hists = list(hists)
    if not hists:
        raise ValueError("nothing to sum")
    _check_compatible(hists)
    if len(hists) == 1:
        return hists[0].copy()
    total = _union(hists)
    for h in hists:
        _add_by_label(total, h)
    return total


def _dataset_key(h: hist.Hist) -> tuple:
    names = [ax.name for ax in h.axes]
    return tuple(h.axes["dataset"]) if "dataset" in names else ()


class HistogramSet(MutableMapping[str, hist.Hist]):
    """The histograms of a processor output, name → ``hist.Hist``.

    coffea's accumulation (``processor.accumulate``) adds two sets name by name, keeping one
    part per set of ``dataset`` labels (one per dataset for chunk outputs); reading a
    histogram joins its parts once. Saved outputs hold the joined histograms."""

    def __init__(self, hists: Mapping[str, hist.Hist] | None = None) -> None:
        self._parts: dict[str, list[hist.Hist]] = {}
        for name, h in (hists or {}).items():
            self[name] = h

    def __getitem__(self, name: str) -> hist.Hist:
        parts = self._parts[name]
        if len(parts) > 1:
            parts[:] = [sum_histograms(parts)]
        return parts[0]

    def __setitem__(self, name: str, h: hist.Hist) -> None:
        self._parts[name] = [h]

    def __delitem__(self, name: str) -> None:
        del self._parts[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def __len__(self) -> int:
        return len(self._parts)

    def __repr__(self) -> str:
        return f"HistogramSet({', '.join(self._parts)})"

    def __iadd__(self, other: Mapping[str, hist.Hist]) -> HistogramSet:
        theirs = (
            other._parts if isinstance(other, HistogramSet) else {k: [v] for k, v in other.items()}
        )
        for name, incoming in theirs.items():
            # keyed now: a part's dataset labels change when it is filled
            mine = {_dataset_key(h): h for h in self._parts.get(name, [])}
            for h in incoming:
                key = _dataset_key(h)
                mine[key] = add_histograms(mine[key], h) if key in mine else h.copy()
            self._parts[name] = list(mine.values())
        return self

    def __add__(self, other: Mapping[str, hist.Hist]) -> HistogramSet:
        out = HistogramSet()
        out._parts = {k: [h.copy() for h in v] for k, v in self._parts.items()}
        out += other
        return out
