"""Partial results of a run that stopped early, and resuming from them.

:func:`hnl_coffea.runner.run_fileset` processes a fileset in rounds of files. After each
round (and when a round fails) it saves, with :mod:`hnl_coffea.outputs` (no pickle, atomic),
what the finished rounds produced together with the list of files they processed
completely. A later run with ``resume=True`` (``hnl-coffea run --resume``) loads it, skips
those files and adds its own output, so the final result is the same as in one go.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .accumulate import FileOwner, HistogramSet
from .outputs import load_output, save_output

__all__ = ["default_partial_path", "load_partial", "save_partial"]


def default_partial_path(output: str | os.PathLike[str]) -> Path:
    """Where ``hnl-coffea run -o OUTPUT`` keeps its partial result: ``OUTPUT.partial``."""
    p = Path(output)
    return p.with_name(p.name + ".partial")


def save_partial(
    path: str | os.PathLike[str], accumulator: Mapping[str, Any], done: Iterable[tuple[str, str]]
) -> Path:
    """Save the accumulated output of the finished rounds and the files they processed."""
    state = {"accumulator": dict(accumulator), "done": sorted([ds, f] for ds, f in done)}
    return save_output(state, path, overwrite=True)


def load_partial(path: str | os.PathLike[str]) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    """``(accumulator, {(dataset, file) done})`` from :func:`save_partial`'s file."""
    # read from a private copy: the histograms are loaded lazily, and the next round's save
    # replaces ``path``
    p = Path(path)
    fd, copy = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".read")
    os.close(fd)
    shutil.copyfile(p, copy)
    state = load_output(copy, owner=FileOwner(copy))
    if set(state) != {"accumulator", "done"}:
        raise ValueError(f"{path} is not a partial result of hnl-coffea run")
    acc = state["accumulator"]
    hists = acc.get("hists")
    if isinstance(hists, Mapping) and not isinstance(hists, HistogramSet):
        acc["hists"] = HistogramSet(hists)  # added like the processor's own outputs
    return acc, {(str(ds), str(f)) for ds, f in state["done"]}
