"""Run an eager, chunk-by-chunk coffea processor over a dask-awkward NanoEvents array.

``coffea.dataset_tools.apply_to_fileset`` hands a processor one ``dask_awkward.Array`` per
dataset. A processor written for ``coffea.processor.Runner`` (numpy conversions,
correctionlib on flat arrays, torch models) cannot trace such an array. Instead of
duplicating the analysis, :func:`run_partitions` puts one task per partition into the
Dask graph that runs the processor's ordinary ``process`` on that partition's events, and
sums the partial outputs in a tree of :func:`coffea.processor.accumulate` tasks::

    class MyProcessor(processor.ProcessorABC):
        def process(self, events):
            if dask.is_dask_collection(events):
                return run_partitions(self, events)
            ...  # eager analysis

    out = apply_to_fileset(MyProcessor(), preprocessed_fileset)
    (result,) = dask.compute(out)  # {dataset: the same dict the Runner returns}

How a partition's events are obtained (column-reading cost):

* **Straight from ROOT** (the array is what ``NanoEventsFactory.from_root(..., mode="dask")``
  or ``apply_to_fileset`` built, no operation applied): each task opens the partition's
  file and entry range as *virtual* NanoEvents, exactly like the Runner, so only the
  branches the processor touches are read. The metadata seen by ``process`` is the
  fileset's (``dataset`` and the dataset's metadata) plus ``filename``, ``treename``,
  ``entrystart`` and ``entrystop``.
* **Any other array** (already sliced or masked with dask-awkward operations): the
  partitions are materialised with ``to_delayed()``. The processor's column needs cannot be
  traced, so every branch of the tree is read — correct but slower; prefer passing the
  untouched events. ``filename``/``treename``/``entrystart``/``entrystop`` are still added
  when the partitions map one-to-one onto the source file slices.

The processor's ``postprocess`` is not applied (as in coffea's dask mode); the result is
the accumulated output of ``process``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import awkward as ak
import dask
import uproot
from coffea import processor
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory
from dask.delayed import Delayed

__all__ = ["FileSlice", "is_dask_events", "run_partitions", "source_slices"]

# uproot.dask options that are not options of uproot.open
_DASK_ONLY_OPTIONS = ("num_workers", "num_fallback_workers", "allow_read_errors_with_report")


@dataclass(frozen=True)
class FileSlice:
    """The entry range ``[entrystart, entrystop)`` of one tree that makes one partition."""

    filename: str
    treename: str
    entrystart: int
    entrystop: int

    def metadata(self) -> dict[str, Any]:
        """The per-chunk metadata keys that ``coffea.processor.Runner`` provides."""
        return {
            "filename": self.filename,
            "treename": self.treename,
            "entrystart": self.entrystart,
            "entrystop": self.entrystop,
        }


def is_dask_events(events: Any) -> bool:
    """True for a ``dask_awkward.Array`` (dask mode), False for eager/virtual arrays."""
    return dask.is_dask_collection(events)


def _input_layer(events: Any) -> Any | None:
    """The uproot input layer of ``events``' graph (None when there is not exactly one)."""
    layers = [
        layer
        for layer in events.dask.layers.values()
        if isinstance(getattr(layer, "io_func", None), uproot._dask.UprootReadMixin)
    ]
    return layers[0] if len(layers) == 1 else None


def _slices(layer: Any) -> list[FileSlice] | None:
    out = []
    for item in getattr(layer, "inputs", ()):
        if not (isinstance(item, tuple) and len(item) >= 4):
            return None
        path, tree, start, stop = item[:4]
        if not (isinstance(path, str) and isinstance(start, int) and isinstance(stop, int)):
            return None
        out.append(FileSlice(path, str(tree), start, stop))
    return out


def source_slices(events: Any) -> list[FileSlice] | None:
    """The file slice behind each partition of ``events``, or None when unknown.

    Known when ``events`` was read from ROOT files with explicit steps (a preprocessed
    fileset) and has as many partitions as the source.
    """
    layer = _input_layer(events)
    parts = None if layer is None else _slices(layer)
    if parts is None or len(parts) != events.npartitions:
        return None
    return parts


def _is_untouched_source(events: Any) -> bool:
    layer = _input_layer(events)
    return (
        layer is not None
        and len(events.dask.layers) == 1
        and events.name in events.dask.layers
        and getattr(layer.io_func, "form_mapping_info", None) is not None
        and not layer.io_func.allow_read_errors_with_report
    )


def process_file_slice(
    proc: processor.ProcessorABC,
    part: FileSlice,
    metadata: Mapping[str, Any],
    schemaclass: type = NanoAODSchema,
    uproot_options: Mapping[str, Any] | None = None,
) -> Any:
    """Run ``proc.process`` on one file slice opened as virtual NanoEvents."""
    md = {**metadata, **part.metadata()}
    try:
        file = uproot.open({part.filename: None}, **dict(uproot_options or {}))
    except Exception as err:
        raise OSError(f"cannot open {part.filename}: {err}") from err
    with file:
        events = NanoEventsFactory.from_root(
            file,
            treepath=part.treename,
            schemaclass=schemaclass,
            metadata=md,
            mode="virtual",
            entry_start=part.entrystart,
            entry_stop=part.entrystop,
        ).events()
        return proc.process(events)


def process_partition(
    proc: processor.ProcessorABC, events: ak.Array, extra: Mapping[str, Any] | None
) -> Any:
    """Run ``proc.process`` on one materialised partition, adding ``extra`` metadata."""
    if extra:
        md = {**(events.metadata or {}), **extra}
        events = ak.with_parameter(events, "metadata", md, highlevel=True)
    return proc.process(events)


def accumulate_outputs(outputs: Sequence[Any]) -> Any:
    """Sum partial processor outputs (:func:`coffea.processor.accumulate`)."""
    return processor.accumulate(outputs)


def _tree_reduce(outputs: list[Any], split_every: int) -> Any:
    reduce = dask.delayed(accumulate_outputs, pure=True)
    while len(outputs) > 1:
        outputs = [
            reduce(outputs[i : i + split_every]) for i in range(0, len(outputs), split_every)
        ]
    return outputs[0]


def run_partitions(proc: processor.ProcessorABC, events: Any, *, split_every: int = 8) -> Delayed:
    """A lazy ``Delayed`` whose ``dask.compute`` is ``proc``'s output summed over partitions.

    ``events`` is a dask-awkward NanoEvents array (one dataset, as given to
    ``process`` by ``apply_to_fileset``); ``split_every`` is the fan-in of the reduction.
    """
    if not is_dask_events(events):
        raise TypeError(f"run_partitions needs a dask_awkward.Array, got {type(events).__name__}")
    if split_every < 2:
        raise ValueError(f"split_every must be ≥ 2, got {split_every}")
    metadata = dict(events.metadata or {})
    if "dataset" not in metadata:
        raise ValueError("dask-mode events carry no 'dataset' in their metadata")
    proc_task = dask.delayed(proc, pure=True)
    parts = source_slices(events)
    if parts is not None and _is_untouched_source(events):
        io = events.dask.layers[events.name].io_func
        opts = {k: v for k, v in io.real_options.items() if k not in _DASK_ONLY_OPTIONS}
        task = dask.delayed(process_file_slice, pure=True)
        schema = io.form_mapping_info.schemaclass
        outputs = [task(proc_task, p, metadata, schema, opts) for p in parts]
    else:
        task = dask.delayed(process_partition, pure=True)
        extras = [p.metadata() for p in parts] if parts is not None else None
        outputs = [
            task(proc_task, part, extras[i] if extras else None)
            for i, part in enumerate(events.to_delayed())
        ]
    if not outputs:
        raise ValueError(f"dataset {metadata['dataset']!r} has no partitions to process")
    return _tree_reduce(outputs, split_every)
