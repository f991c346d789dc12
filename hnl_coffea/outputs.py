"""Save and load processor outputs without pickle: histograms in the UHI layout, the rest JSON.

An output file is a plain zip archive (list it with any zip tool):

* ``hnl-coffea.json`` — ``{"format": "hnl-coffea-output", "version": 1, "content": TREE}``,
  where ``TREE`` is the output dict as JSON. Values JSON cannot hold are tagged objects:
  ``{"@hist": "h3"}`` (a histogram), ``{"@array": "a1.npy"}`` (a numpy array),
  ``{"@set": [...]}``, ``{"@tuple": [...]}``, ``{"@dataset": {...}}`` (dataset metadata that
  merges like :class:`~hnl_coffea.fileset.DatasetInfo`) and ``{"@items": [[key, value], ...]}``
  (a mapping whose keys are not all strings), ``{"@histset": {NAME: [[ID, [DATASET, ...]],
  ...]}}`` (a :class:`~hnl_coffea.accumulate.HistogramSet` kept as its per-dataset parts;
  reading it loads each part only when it is used).
* ``h<n>.json`` + ``h<n>_*.npy`` — each ``hist.Hist`` in the UHI zip layout (``uhi.io.zip``,
  written through ``hist.serialization``), so ROOT- and Python-side UHI readers understand it.
* ``a<n>.npy`` — other numpy arrays.

Reading never unpickles: JSON is parsed and arrays are read with ``allow_pickle=False``.
Files written by ``coffea.util.save`` (pickles) are read only when the caller allows it
(``allow_pickle=True``, the CLI's ``--allow-pickle``): unpickling a crafted file runs its code.

Writing is atomic: the archive is written to a temporary file in the target folder, flushed
to disk and renamed over the target, so an interrupted save never leaves a truncated output.
An existing output is refused unless ``overwrite=True``; ``backup=True`` keeps it as
``<name>.bak``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import hist
import numpy as np

__all__ = [
    "FORMAT",
    "OutputFileError",
    "check_output_path",
    "load_histogram",
    "load_output",
    "output_kind",
    "save_output",
]

FORMAT = "hnl-coffea-output"
VERSION = 1
_INDEX = "hnl-coffea.json"
_ZIP_MAGIC = b"PK\x03\x04"
_LZ4_MAGIC = b"\x04\x22\x4d\x18"  # coffea.util.save: lz4-framed pickle


class OutputFileError(ValueError):
    """An output file that cannot be read or written, with a one-line message."""


# ------------------------------------------------------------------------------ writing


def check_output_path(path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Fail early (before a long run) if ``path`` exists without ``overwrite`` or cannot be
    written; returns it as a :class:`~pathlib.Path`."""
    p = Path(path)
    if p.is_dir():
        raise OutputFileError(f"output {p} is a folder; give a file name")
    if p.exists() and not overwrite:
        raise OutputFileError(f"output {p} exists; pass --overwrite to replace it")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise OutputFileError(f"output {p}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputFileError(f"output {p}: folder {parent} is not writable")
    return p


class _Writer:
    def __init__(self, zf: zipfile.ZipFile) -> None:
        self.zf = zf
        self.n_hists = 0
        self.n_arrays = 0

    def encode(self, obj: Any, where: str) -> Any:
        from .accumulate import HistogramSet
        from .fileset import DatasetInfo

        if isinstance(obj, hist.Hist):
            return {"@hist": self._hist(obj)}
        if isinstance(obj, HistogramSet):  # part by part: never joined nor all in memory
            return {
                "@histset": {
                    name: [[self._hist(h), list(h.axes["dataset"])] for h in obj.parts(name)]
                    for name in obj
                }
            }
        if isinstance(obj, DatasetInfo):
            return {"@dataset": self.encode(dict(obj), where)}
        if isinstance(obj, Mapping):
            plain = all(isinstance(k, str) for k in obj)
            if plain and not (len(obj) == 1 and next(iter(obj)).startswith("@")):
                return {k: self.encode(v, f"{where}.{k}") for k, v in obj.items()}
            return {
                "@items": [
                    [self.encode(k, where), self.encode(v, f"{where}.{k}")] for k, v in obj.items()
                ]
            }
        if isinstance(obj, set | frozenset):
            items = [self.encode(v, where) for v in obj]
            return {"@set": sorted(items, key=json.dumps)}
        if isinstance(obj, tuple):
            return {"@tuple": [self.encode(v, where) for v in obj]}
        if isinstance(obj, list):
            return [self.encode(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        if isinstance(obj, np.ndarray):
            return {"@array": self._array(obj, where)}
        if isinstance(obj, np.generic):
            return obj.item()
        if obj is None or isinstance(obj, bool | int | float | str):
            return obj
        raise OutputFileError(
            f"cannot save {type(obj).__name__} at '{where}': outputs hold hist.Hist, numpy "
            "arrays, numbers, strings and dicts/lists/sets/tuples of them"
        )

    def _hist(self, h: hist.Hist) -> str:
        name = f"h{self.n_hists}"
        self.n_hists += 1
        ir, arrays = _hist_to_uhi(h)
        for key, arr in arrays.items():
            member = f"{name}_storage_{key}.npy"
            self._npy(member, arr)
            ir["storage"][key] = member
        self.zf.writestr(f"{name}.json", json.dumps(ir, default=_plain))
        return name

    def _npy(self, member: str, arr: np.ndarray) -> None:
        with self.zf.open(member, "w", force_zip64=arr.nbytes > 2**30) as fh:
            np.save(fh, arr, allow_pickle=False)

    def _array(self, arr: np.ndarray, where: str) -> str:
        if arr.dtype.hasobject:
            raise OutputFileError(f"cannot save an object array at '{where}'")
        name = f"a{self.n_arrays}.npy"
        self.n_arrays += 1
        self._npy(name, arr)
        return name


def _plain(obj: Any) -> Any:
    """JSON for the numpy values a UHI dict holds (e.g. a variable axis's edges)."""
    if isinstance(obj, np.ndarray | np.generic):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} in a histogram's description")


#: UHI storage types whose arrays map one-to-one onto fields of ``Hist.view(flow=True)``.
_FIELDS = {"weighted": {"values": "value", "variances": "variance"}, "double": {}, "int": {}}


def _hist_to_uhi(h: hist.Hist) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The UHI dict of ``h`` without storage arrays, and those arrays (views, no copies)."""
    from boost_histogram import serialization as bhs

    try:
        ir = bhs.to_uhi(h, keep_storage=False)
    except TypeError:  # boost-histogram < 1.7: drop the arrays it laid out
        ir = bhs.to_uhi(h)
        ir["storage"] = {"type": ir["storage"]["type"]}
    ir["writer_info"]["hist"] = {"version": hist.__version__}
    kind = ir["storage"]["type"]
    view = h.view(flow=True)
    if kind not in _FIELDS:  # mean storages: let the library lay the arrays out
        from hist.serialization import to_uhi

        full = to_uhi(h)
        arrays = {k: np.asarray(v) for k, v in full["storage"].items() if k != "type"}
        return {**full, "storage": {"type": kind}}, arrays
    fields = _FIELDS[kind]
    if not fields:
        return ir, {"values": np.asarray(view)}
    return ir, {key: view[field] for key, field in fields.items()}


def _hist_from_uhi(ir: dict[str, Any], arrays: dict[str, np.ndarray]) -> hist.Hist:
    from hist.serialization import from_uhi

    kind = ir["storage"]["type"]
    if kind not in _FIELDS:
        return from_uhi({**ir, "storage": {**ir["storage"], **arrays}})
    h = from_uhi({**ir, "storage": {"type": kind}})
    view = h.view(flow=True)
    fields = _FIELDS[kind]
    for key, arr in arrays.items():
        target = view[fields[key]] if fields else view
        if target.shape != arr.shape:
            raise ValueError(
                f"histogram storage {key}: shape {arr.shape}, axes need {target.shape}"
            )
        target[...] = arr
    return h


def save_output(
    output: Mapping[str, Any],
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    backup: bool = False,
) -> Path:
    """Write ``output`` (a processor output dict) to ``path`` atomically; returns the path.

    Raises :class:`OutputFileError` if ``path`` exists and ``overwrite`` is False, or if the
    output holds an object that has no safe representation (naming where it is).
    """
    p = check_output_path(path, overwrite or backup)
    if not isinstance(output, Mapping):
        raise OutputFileError(f"output must be a dict, got {type(output).__name__}")
    fd, tmp_name = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                content = _Writer(zf).encode(dict(output), "output")
                index = {"format": FORMAT, "version": VERSION, "content": content}
                zf.writestr(_INDEX, json.dumps(index, allow_nan=True))
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if backup and p.exists():
            bak = p.with_name(p.name + ".bak")
            bak.unlink(missing_ok=True)
            try:
                os.link(p, bak)
            except OSError:
                shutil.copy2(p, bak)
        os.replace(tmp, p)
        _fsync_dir(p.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return p


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ------------------------------------------------------------------------------ reading


def output_kind(path: str | os.PathLike[str]) -> str:
    """``"zip"`` (this module's format), ``"pickle"`` (``coffea.util.save``) or ``"unknown"``."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head == _ZIP_MAGIC:
        return "zip"
    if head == _LZ4_MAGIC or head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def load_output(
    path: str | os.PathLike[str],
    *,
    allow_pickle: bool = False,
    note: Callable[[str], None] | None = None,
    owner: Any = None,
) -> dict[str, Any]:
    """Read a processor output written by :func:`save_output` (no unpickling).

    Histogram sets saved part by part are read lazily: each part is loaded from ``path``
    when it is used (``owner``, a :class:`~hnl_coffea.accumulate.FileOwner`, removes the
    file once no part refers to it — for private copies).

    A ``coffea.util.save`` pickle is read only with ``allow_pickle=True`` (for your own
    files), after a one-line ``note``. Any unreadable file raises :class:`OutputFileError`.
    """
    p = Path(path)
    try:
        kind = output_kind(p)
    except OSError as err:
        raise OutputFileError(f"cannot read processor output {p}: {err.strerror or err}") from None
    if kind == "pickle":
        if not allow_pickle:
            raise OutputFileError(
                f"{p} is a pickle (coffea.util.save); reading it would run any code it holds: "
                "pass --allow-pickle if you made it yourself, or write outputs with hnl-coffea run"
            )
        if note is not None:
            note(
                f"note: reading {p} by unpickling it (--allow-pickle): only do this for your own files"
            )
        return _load_pickle(p)
    if kind != "zip":
        raise OutputFileError(
            f"cannot read processor output {p}: not an hnl-coffea output (zip) nor a coffea pickle"
        )
    try:
        with zipfile.ZipFile(p) as zf:
            index = json.loads(zf.read(_INDEX))
            if not isinstance(index, dict) or index.get("format") != FORMAT:
                raise OutputFileError(f"{p}: {_INDEX} does not describe an hnl-coffea output")
            if index.get("version") != VERSION:
                raise OutputFileError(
                    f"{p}: output format version {index.get('version')!r}; this hnl-coffea reads "
                    f"version {VERSION}"
                )
            out = _Reader(zf, p, owner).decode(index["content"])
    except OutputFileError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
        raise OutputFileError(
            f"cannot read processor output {p}: {type(err).__name__}: {_one_line(err)}"
        ) from None
    if not isinstance(out, dict):
        raise OutputFileError(f"{p} holds a {type(out).__name__}, not a processor output dict")
    return out


class _Reader:
    def __init__(self, zf: zipfile.ZipFile, path: Path, owner: Any = None) -> None:
        self.zf = zf
        self.path = path
        self.owner = owner  # a FileOwner when the file is a private copy

    def decode(self, obj: Any) -> Any:
        if isinstance(obj, list):
            return [self.decode(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        if len(obj) == 1:
            ((tag, value),) = obj.items()
            if tag in _TAGS:
                return _TAGS[tag](self, value)
        return {k: self.decode(v) for k, v in obj.items()}

    def _hist(self, name: str) -> hist.Hist:
        ir = json.loads(self.zf.read(f"{name}.json"))
        storage = ir["storage"]
        arrays = {k: self._array(v) for k, v in storage.items() if k != "type"}
        return _hist_from_uhi({**ir, "storage": {"type": storage["type"]}}, arrays)

    def _array(self, name: str) -> np.ndarray:
        return np.load(io.BytesIO(self.zf.read(str(name))), allow_pickle=False)

    def _dataset(self, value: Any) -> Any:
        from .fileset import DatasetInfo

        return DatasetInfo(self.decode(value))

    def _histset(self, value: Any) -> Any:
        from .accumulate import HistogramSet, StoredPart

        def part(member: str, labels: list[str]) -> StoredPart:
            return StoredPart(self.path, member, tuple(labels), self.owner)

        return HistogramSet.from_parts(
            {name: [part(m, labels) for m, labels in items] for name, items in value.items()}
        )


def load_histogram(path: str | os.PathLike[str], member: str) -> hist.Hist:
    """One histogram of an output file, by its id (``h<n>``) in the archive."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as zf:
            return _Reader(zf, p)._hist(member)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
        raise OutputFileError(
            f"cannot read histogram {member} of {p}: {type(err).__name__}: {_one_line(err)}"
        ) from None


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


_TAGS: dict[str, Callable[[_Reader, Any], Any]] = {
    "@hist": _Reader._hist,
    "@array": _Reader._array,
    "@dataset": _Reader._dataset,
    "@histset": _Reader._histset,
    "@set": lambda r, v: {_hashable(r.decode(x)) for x in v},
    "@tuple": lambda r, v: tuple(r.decode(x) for x in v),
    "@items": lambda r, v: {_hashable(r.decode(k)): r.decode(x) for k, x in v},
}


def _load_pickle(p: Path) -> dict[str, Any]:
    from coffea.util import load

    try:
        out = load(p)
    except Exception as err:  # noqa: BLE001 - any unpickling problem is a bad input file
        raise OutputFileError(
            f"cannot read processor output {p}: {type(err).__name__}: {_one_line(err)}"
        ) from None
    if not isinstance(out, dict):
        raise OutputFileError(f"{p} holds a {type(out).__name__}, not a processor output dict")
    return out


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or repr(err)
