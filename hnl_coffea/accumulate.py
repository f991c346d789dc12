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

At analysis scale the parts themselves outgrow memory (a score histogram with 16 mass
hypotheses and 40 systematics is ~30 MB per dataset; 400 datasets are 12 GB).
:meth:`HistogramSet.spill` writes every part held in memory to a file of its own and keeps
only a reference (:class:`StoredPart`); :meth:`HistogramSet.parts` yields the parts one at
a time, so consumers that work dataset by dataset (saving an output, normalising it) never
hold more than one part. :func:`hnl_coffea.runner.run_fileset` spills between rounds of
datasets when the histograms in memory exceed its budget.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import weakref
from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path

import hist
import numpy as np

__all__ = [
    "FileOwner",
    "HistogramSet",
    "StoredPart",
    "add_histograms",
    "hist_nbytes",
    "sum_histograms",
]

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


def hist_nbytes(h: hist.Hist) -> int:
    """Bytes of a histogram's storage (flow bins included)."""
    return int(h.view(flow=True).nbytes)


def _dataset_key(h: hist.Hist) -> tuple:
    names = [ax.name for ax in h.axes]
    return tuple(h.axes["dataset"]) if "dataset" in names else ()


_SPILLED = itertools.count()


class FileOwner:
    """Removes a file once nothing refers to this object (the parts spilled into it);
    ``keep`` (e.g. the temporary folder the file is in) lives at least as long."""

    def __init__(self, path: str | os.PathLike[str], keep: object = None) -> None:
        self.path = Path(path)
        self.keep = keep
        weakref.finalize(self, _remove, str(self.path))

    def __deepcopy__(self, memo: dict) -> FileOwner:  # one owner per file, shared by copies
        return self


def _remove(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


@dataclass(frozen=True, eq=False)
class StoredPart:
    """One part of a :class:`HistogramSet` kept in a file instead of in memory.

    ``path`` is an hnl-coffea output zip and ``member`` the histogram's id in it (see
    :mod:`hnl_coffea.outputs`); ``key`` the part's dataset labels. ``owner`` (a
    :class:`FileOwner`) removes the file once no part refers to it. Reading a file that
    changed since the part was made is refused."""

    path: Path
    member: str
    key: tuple
    owner: FileOwner | None = None
    stamp: tuple[int, int] = field(default=(0, 0), repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path).resolve())
        object.__setattr__(self, "stamp", _stamp(self.path))

    def __deepcopy__(self, memo: dict) -> StoredPart:  # immutable: copies share the file
        return self

    def load(self) -> hist.Hist:
        from .outputs import OutputFileError, load_histogram

        if _stamp(self.path) != self.stamp:
            raise OutputFileError(
                f"{self.path} changed after it was read; its histograms are no longer valid"
            )
        return load_histogram(self.path, self.member)


def _load(part: hist.Hist | StoredPart) -> hist.Hist:
    return part.load() if isinstance(part, StoredPart) else part


def _key(part: hist.Hist | StoredPart) -> tuple:
    return part.key if isinstance(part, StoredPart) else _dataset_key(part)


class HistogramSet(MutableMapping[str, hist.Hist]):
    """The histograms of a processor output, name → ``hist.Hist``.

    coffea's accumulation (``processor.accumulate``) adds two sets name by name, keeping one
    part per set of ``dataset`` labels (one per dataset for chunk outputs); reading a
    histogram joins its parts once. Parts may live in files (:meth:`spill`); :meth:`parts`
    reads them one at a time. Saved outputs keep the parts (see :mod:`hnl_coffea.outputs`)."""

    def __init__(self, hists: Mapping[str, hist.Hist] | None = None) -> None:
        self._parts: dict[str, list[hist.Hist | StoredPart]] = {}
        for name, h in (hists or {}).items():
            self[name] = h

    @classmethod
    def from_parts(cls, parts: Mapping[str, Iterable[hist.Hist | StoredPart]]) -> HistogramSet:
        """A set whose histogram ``name`` is the sum of ``parts[name]``."""
        out = cls()
        out._parts = {name: list(p) for name, p in parts.items()}
        return out

    def __getitem__(self, name: str) -> hist.Hist:
        parts = self._parts[name]
        if len(parts) > 1 or isinstance(parts[0], StoredPart):
            parts[:] = [sum_histograms(_load(p) for p in parts)]
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

    def parts(self, name: str, datasets: Collection[str] | None = None) -> Iterator[hist.Hist]:
        """The parts of histogram ``name`` (one per set of dataset labels), read one at a
        time; their sum is ``self[name]``. With ``datasets``: only the parts that hold one
        of them."""
        for p in self._parts[name]:
            key = _key(p)
            if datasets is None or not key or any(d in datasets for d in key):
                yield _load(p)

    def raw_parts(self, name: str) -> list[hist.Hist | StoredPart]:
        """The parts of ``name`` as held: histograms in memory or :class:`StoredPart`."""
        return list(self._parts[name])

    def memory_nbytes(self) -> int:
        """Bytes of histogram storage held in memory (stored parts not counted)."""
        return sum(
            hist_nbytes(p) for ps in self._parts.values() for p in ps if isinstance(p, hist.Hist)
        )

    def spill(self, folder: str | os.PathLike[str], keep: object = None) -> int:
        """Write every part held in memory to its own file in ``folder`` and keep a
        :class:`StoredPart` instead; returns the bytes moved out of memory. The files are
        removed when nothing refers to them any more (``keep``: see :class:`FileOwner`)."""
        from .outputs import save_output

        folder = Path(folder)
        moved = 0
        for parts in self._parts.values():
            for i, p in enumerate(parts):
                if not isinstance(p, hist.Hist):
                    continue
                path = folder / f"part-{os.getpid()}-{next(_SPILLED)}.zip"
                save_output({"hist": p}, path)
                nbytes = hist_nbytes(p)
                parts[i] = StoredPart(path, "h0", _dataset_key(p), FileOwner(path, keep))
                moved += nbytes
        return moved

    def __iadd__(self, other: Mapping[str, hist.Hist]) -> HistogramSet:
        theirs = (
            other._parts if isinstance(other, HistogramSet) else {k: [v] for k, v in other.items()}
        )
        for name, incoming in theirs.items():
            # keyed now: a part's dataset labels change when it is filled
            mine = {_key(h): h for h in self._parts.get(name, [])}
            for h in incoming:
                key = _key(h)
                if key in mine:
                    mine[key] = add_histograms(_load(mine[key]), _load(h))
                else:
                    mine[key] = h.copy() if isinstance(h, hist.Hist) else h
            self._parts[name] = list(mine.values())
        return self

    def __add__(self, other: Mapping[str, hist.Hist]) -> HistogramSet:
        out = HistogramSet()
        out._parts = {
            k: [h.copy() if isinstance(h, hist.Hist) else h for h in v]
            for k, v in self._parts.items()
        }
        out += other
        return out
