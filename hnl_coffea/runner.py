"""Run any coffea processor over a fileset, proving that no event was silently lost.

:func:`run_fileset` does, in order:

1. **pre-flight**: every file is opened with uproot and its tree's ``num_entries`` read
   (retried ``retries`` times). Unreadable files make the run fail with one message naming
   every bad file and the reason — or, with ``skip_bad_files=True``, they are left out and
   listed in the summary with the events lost ("unknown" when the file cannot be opened).
   The entries and file UUIDs found here are handed to coffea as its file metadata, so
   that its preprocessing does not open every file again.
2. **processing** with ``coffea.processor.Runner`` (NanoAODSchema, ``chunksize``,
   ``maxchunks``) on the executor from :mod:`hnl_coffea.executors`. A chunk whose processing
   fails keeps its cause, on remote workers too (it travels back in the output): a
   transient error (I/O, timeouts, a dropped XRootD connection) is retried ``retries``
   times, a deterministic one (a missing branch, a schema or type error) is not retried.
   Failed chunks fail the run naming each chunk and cause, or with ``skip_bad_files`` are
   listed in the summary with their cause and the events lost.
3. **accounting**: the events actually processed per file are counted next to the
   processor's own output and compared with the file's entries (when ``maxchunks`` is not
   set). A difference is an error naming the file — or, with ``skip_bad_files``, a skipped
   file with the exact number of lost events. A processor output with the ``"processed"``
   key must agree with that count too. Dask workers lost during the run (a batch job killed,
   a node gone) are listed in the summary; their chunks are rescheduled by Dask.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import re
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hist
import numpy as np
import uproot
from coffea import processor
from coffea.nanoevents import NanoAODSchema

from .accumulate import HistogramSet, hist_nbytes
from .chunks import CountingProcessor, failed_chunks_message, file_cause, reason
from .executors import Backend, ExecutorOptions, open_backend
from .partial import load_partial, save_partial
from .progress import RunProgress, run_progress
from .runsummary import LostWorker, RunSummary, SkippedFile
from .watchdog import WorkerWatch

__all__ = [
    "RunError",
    "RunOptions",
    "RunSummary",
    "SkippedFile",
    "LostWorker",
    "run_fileset",
    "check_files",
]


class RunError(RuntimeError):
    """A run that cannot give a complete, trustworthy result (message names the files)."""


@dataclass
class RunOptions:
    """How a fileset is chunked and how failures are handled."""

    chunksize: int = 100_000
    maxchunks: int | None = None
    retries: int = 3
    skip_bad_files: bool = False
    treename: str = "Events"
    timeout: int = 60  # seconds for opening a (remote) file
    status: bool = True  # progress bars
    #: Save the output of finished rounds of files here (see :mod:`hnl_coffea.partial`);
    #: None: one round, nothing saved.
    partial: str | None = None
    rounds: int = 10  # with ``partial``: process the files in up to this many rounds
    resume: bool = False  # continue from ``partial`` (skip the files it lists as done)
    #: Histogram storage (MB) a round may hold: each round takes as many datasets as fit,
    #: sized by the processor's ``histogram_bytes(dataset, metadata)`` where it has one
    #: (HNLProcessor does), otherwise from the first round (one dataset) and the output of
    #: each round; after each round the histograms in memory beyond this are written to
    #: ``spill_dir``.
    memory_mb: float = 300.0
    #: Where histograms are spilled (default: a temporary folder); the parts are read back
    #: one at a time (see :mod:`hnl_coffea.accumulate`) and removed when no longer used.
    spill_dir: str | None = None

    def __post_init__(self) -> None:
        if self.chunksize < 1:
            raise ValueError(f"chunksize must be ≥ 1, got {self.chunksize}")
        if self.maxchunks is not None and self.maxchunks < 1:
            raise ValueError(f"maxchunks must be ≥ 1, got {self.maxchunks}")
        if self.retries < 0:
            raise ValueError(f"retries must be ≥ 0, got {self.retries}")
        if self.rounds < 1:
            raise ValueError(f"rounds must be ≥ 1, got {self.rounds}")
        if self.resume and not self.partial:
            raise ValueError("resume needs the partial result's path (partial=...)")
        if not self.memory_mb > 0:
            raise ValueError(f"memory_mb must be > 0, got {self.memory_mb}")


def _open_tree(path: str, treename: str, timeout: int, retries: int) -> tuple[int, Any]:
    """``(entries, file UUID)`` of one file's tree, retried ``retries`` times."""
    attempt = 0
    while True:
        try:
            with uproot.open(path, timeout=timeout) as f:
                return int(f[treename].num_entries), f.file.fUUID
        except FileNotFoundError:
            raise
        except Exception:
            if attempt >= retries:
                raise
            attempt += 1
            time.sleep(0.2 * attempt)


def _probe(job: tuple[str, str, str], timeout: int, retries: int) -> tuple[str, str, Any]:
    """``(dataset, path, (entries, uuid))`` of one file, or the one-line reason it cannot
    be read in place of the pair."""
    ds, path, tree = job
    try:
        return ds, path, _open_tree(path, tree, timeout, retries)
    except Exception as err:
        return ds, path, reason(err)


@dataclass(frozen=True)
class _Checked:
    """What opening every file found: entries and UUID per readable file, the others."""

    entries: dict[tuple[str, str], int]
    uuids: dict[tuple[str, str], Any]
    bad: list[SkippedFile]


def _check(fileset, treename: str, timeout: int, retries: int, client: Any) -> _Checked:
    jobs = [
        (ds, path, tree if isinstance(tree, str) else treename)
        for ds, spec in fileset.items()
        for path, tree in _files(spec).items()
    ]
    probe = functools.partial(_probe, timeout=timeout, retries=retries)
    if client is not None and jobs:
        results = client.gather(client.map(probe, jobs, pure=False))
    else:
        with ThreadPoolExecutor(max_workers=min(8, max(1, len(jobs)))) as pool:
            results = list(pool.map(probe, jobs))
    checked = _Checked({}, {}, [])
    for ds, path, res in results:
        if isinstance(res, str):
            checked.bad.append(SkippedFile(ds, path, res, None))
        else:
            checked.entries[(ds, path)], checked.uuids[(ds, path)] = res
    return checked


def check_files(
    fileset: Mapping[str, Mapping[str, Any]],
    treename: str = "Events",
    timeout: int = 60,
    retries: int = 0,
    client: Any = None,
) -> tuple[dict[tuple[str, str], int], list[SkippedFile]]:
    """Open every file once: ``({(dataset, path): entries}, [unreadable files])``.

    Files are opened by 8 threads of this process or, given a Dask ``client``, by its
    workers (parsing a NanoAOD tree's header holds the GIL: ~0.13 s per file here).
    """
    checked = _check(fileset, treename, timeout, retries, client)
    return checked.entries, checked.bad


def _metadata_cache(fileset: Mapping[str, Any], checked: _Checked, treename: str) -> dict:
    """coffea's per-file metadata (the dataset's own, ``numentries``, ``uuid``) for the files
    already opened by :func:`_check`, so that ``Runner.preprocess`` does not open them again."""
    cache = {}
    for ds, spec in fileset.items():
        user = spec.get("metadata") if isinstance(spec, Mapping) else None
        for path, tree in _files(spec).items():
            if (ds, path) in checked.entries:
                meta = {**(user or {}), "numentries": checked.entries[(ds, path)],
                        "uuid": checked.uuids[(ds, path)]}  # fmt: skip
                key = processor.executor.FileMeta(ds, path, tree or treename)
                cache[key] = meta
    return cache


def _files(spec: Any) -> dict[str, Any]:
    files = spec["files"] if isinstance(spec, Mapping) else spec
    return dict(files) if isinstance(files, Mapping) else {f: None for f in files}


def run_fileset(
    proc: processor.ProcessorABC,
    fileset: Mapping[str, Mapping[str, Any]],
    options: RunOptions | None = None,
    executor: ExecutorOptions | None = None,
    backend: Backend | None = None,
) -> tuple[dict[str, Any], RunSummary]:
    """Process ``fileset`` (coffea layout) with ``proc``; returns ``(output, summary)``.

    ``executor`` describes where to run (default: iterative); pass an open ``backend``
    from :func:`hnl_coffea.executors.open_backend` instead to reuse a cluster.
    Raises :class:`RunError` naming every unreadable file or file with missing events.
    """
    opts = options or RunOptions()
    t0 = time.time()
    client = backend.client if backend is not None else None  # an open cluster's workers
    checked = _check(fileset, opts.treename, opts.timeout, opts.retries, client)
    entries, bad = checked.entries, checked.bad
    if bad and not opts.skip_bad_files:
        raise RunError(
            f"{len(bad)} unreadable file(s) (use --skip-bad-files to continue without them): "
            + "; ".join(f"{b.path} [{b.dataset}] ({b.reason})" for b in bad)
        )
    good = {
        ds: {**dict(spec), "files": {p: t for p, t in _files(spec).items() if (ds, p) in entries}}
        for ds, spec in fileset.items()
    }
    good = {ds: spec for ds, spec in good.items() if spec["files"]}
    if not good:
        raise RunError("no readable files left in the fileset")

    n_events = sum(n for (ds, _), n in entries.items() if ds in good)
    cache = _metadata_cache(good, checked, opts.treename)
    with run_progress(opts.status, sum(len(s["files"]) for s in good.values()), n_events) as bar:
        if backend is None:
            exe = executor or ExecutorOptions(executor="iterative")
            with open_backend(exe, opts.retries, status=False) as be:  # our bar, not coffea's
                out, n_chunks, lost = _rounds(proc, good, opts, be, t0, bar, cache)
                desc = be.description
        else:
            out, n_chunks, lost = _rounds(proc, good, opts, backend, t0, bar, cache)
            desc = backend.description

    counts: dict[str, dict[str, int]] = out.get("counts", {}) if out else {}
    failed: dict[str, dict[str, list]] = out.get("failed", {}) if out else {}
    skipped = list(bad)
    errors = []
    for (ds, path), n_entries in entries.items():
        seen = int(counts.get(ds, {}).get(path, 0))
        if opts.maxchunks is None and seen != n_entries:
            if opts.skip_bad_files and seen < n_entries:
                why = file_cause(failed.get(ds, {}).get(path, []))
                skipped.append(SkippedFile(ds, path, why, n_entries - seen))
            else:
                errors.append(f"{path} [{ds}]: {seen} of {n_entries} events processed")
        elif seen > n_entries:
            errors.append(f"{path} [{ds}]: {seen} events processed but the file has {n_entries}")
    result = out.get("out", {}) if out else {}
    errors += _check_processor_counts(result, counts)
    if errors:
        raise RunError("event count check failed: " + "; ".join(errors))

    summary = RunSummary.build(
        executor=desc,
        counts=counts,
        entries=entries,
        n_chunks=n_chunks,
        wall_s=time.time() - t0,
        selected=_selected(result),
        skipped=skipped,
        lost_workers=lost,
    )
    if isinstance(result, Mapping):
        summary.lost_to_mask, summary.notes = _input_notes(result)
        result = dict(result)
        result["summary"] = summary.to_dict()
    return result, summary


def _rounds(
    proc, good: dict, opts: RunOptions, backend: Backend, t0: float, bar: RunProgress, cache: dict
):
    """Process ``good`` in rounds of files, saving the finished rounds to ``opts.partial``
    (``cache``: coffea's metadata of the files, see :func:`_metadata_cache`)."""
    items = [(ds, p) for ds, spec in good.items() for p in spec["files"]]
    acc: dict[str, Any] = {}
    done: set[tuple[str, str]] = set()
    if opts.resume and Path(opts.partial).exists():
        acc, done = load_partial(opts.partial)
        stray = sorted(done - set(items))
        if stray:
            raise RunError(
                f"--resume: {opts.partial} lists {len(stray)} file(s) not in this fileset, "
                f"e.g. {stray[0][1]} [{stray[0][0]}]; use the same fileset or remove it"
            )
    todo = [it for it in items if it not in done]
    bar.advance(len(done), sum(sum(f.values()) for f in acc.get("counts", {}).values()))
    n_rounds = min(opts.rounds, len(todo)) if opts.partial else 1
    per_round = -(-len(todo) // n_rounds) if todo else 0  # files per round (ceil)
    budget = opts.memory_mb * 2**20
    n_chunks, max_datasets, spill = 0, 1, None  # first round: one dataset, to learn its size
    declared = _declared_bytes(proc, {ds: good[ds] for ds, _ in todo})
    per_dataset = declared or 0
    if declared:  # the processor books its histograms in full: every round sized from here
        max_datasets = max(1, int(budget // declared))
    next_save = len(done) + per_round  # files done at which the partial result is saved
    while todo:
        group = _next_round(todo, per_round, max_datasets)
        todo = todo[len(group) :]
        sub = {ds: {**good[ds], "files": {}} for ds, _ in group}
        for ds, path in group:
            sub[ds]["files"][path] = good[ds]["files"][path]
        try:
            out, n = _process(proc, sub, opts, backend, cache)
            if out.get("failed") and not opts.skip_bad_files:
                raise RunError(failed_chunks_message(out["failed"]))
        except RunError as err:
            raise RunError(_stopped(str(err), acc, done, len(items), opts)) from err
        per_dataset = max(per_dataset, _bytes_per_dataset(out))
        fit = max(1, int(budget // max(per_dataset, 1)))
        if declared:
            max_datasets = fit
        else:  # at most twice the datasets of the round before: the estimate improves
            max_datasets = min(2 * len({ds for ds, _ in group}), fit)
        acc = processor.accumulate([out], acc) if acc else out
        done.update(group)
        n_chunks += n
        bar.advance(len(group), sum(sum(f.values()) for f in out.get("counts", {}).values()))
        del out
        sets = list(_histogram_sets(acc))
        held = sum(h.memory_nbytes() for h in sets)
        if todo and held + per_dataset * max_datasets > budget:  # the next round would not fit
            spill = spill or _SpillFolder(opts)
            for hists in sets:
                hists.spill(spill.name, keep=spill)
            _return_memory()
        if opts.partial and todo and len(items) - len(todo) >= next_save:
            save_partial(opts.partial, acc, done)  # at most ``opts.rounds`` times
            next_save = len(items) - len(todo) + per_round
    return acc, n_chunks, _lost_workers(backend, t0)


def _next_round(todo: list[tuple[str, str]], n_files: int, max_datasets: int) -> list:
    """The next round: up to ``n_files`` files of ``todo`` (ordered by dataset) from at
    most ``max_datasets`` datasets."""
    seen: set[str] = set()
    group = []
    for ds, path in todo[:n_files]:
        if ds not in seen and len(seen) == max_datasets:
            break
        seen.add(ds)
        group.append((ds, path))
    return group


def _declared_bytes(proc: Any, fileset: Mapping[str, Any]) -> int | None:
    """The largest histogram storage of one dataset of ``fileset`` as the processor declares
    it (``proc.histogram_bytes(dataset, metadata)``), or None when it declares none."""
    declare = getattr(proc, "histogram_bytes", None)
    if declare is None or not fileset:
        return None
    return max(int(declare(ds, spec.get("metadata") or {})) for ds, spec in fileset.items())


def _histogram_sets(acc: Any):
    """Every :class:`HistogramSet` in a (nested) output."""
    if isinstance(acc, HistogramSet):
        yield acc
    elif isinstance(acc, Mapping):
        for value in acc.values():
            yield from _histogram_sets(value)


def _bytes_per_dataset(out: Mapping[str, Any]) -> int:
    """An upper bound on the histogram storage of one dataset, from a round's output: each
    part's bytes per dataset, scaled as if it held every label that any part of its
    histogram holds on the other growing category axes (region, channel, systematic).
    A dataset that filled few categories does not make the next rounds too large."""
    per = 0
    for hists in _histogram_sets(out):
        for name in hists:
            parts = [p for p in hists.raw_parts(name) if isinstance(p, hist.Hist)]
            union: dict[int, set] = {}
            for part in parts:
                for i, ax in enumerate(part.axes):
                    if ax.name != "dataset" and ax.traits.growth:
                        union.setdefault(i, set()).update(ax)
            worst = 0.0
            for part in parts:
                n_ds = len(part.axes["dataset"]) if "dataset" in part.axes.name else 1
                scale = 1.0
                for i, labels in union.items():
                    scale *= len(labels) / max(len(part.axes[i]), 1)
                worst = max(worst, hist_nbytes(part) / max(n_ds, 1) * scale)
            per += int(worst)
    return per


def _return_memory() -> None:
    """Give freed heap memory back to the system (glibc keeps large freed blocks)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


class _SpillFolder:
    """The folder histograms are spilled to: ``opts.spill_dir``, or a temporary one that is
    removed once no spilled part refers to it."""

    def __init__(self, opts: RunOptions) -> None:
        if opts.spill_dir:
            Path(opts.spill_dir).mkdir(parents=True, exist_ok=True)
            self.name = opts.spill_dir
        else:
            self.name = tempfile.mkdtemp(prefix="hnl-coffea-spill-")
            weakref.finalize(self, shutil.rmtree, self.name, ignore_errors=True)


def _stopped(why: str, acc: dict, done: set, n_files: int, opts: RunOptions) -> str:
    """The run error, plus how much was done and where it was saved."""
    if not opts.partial:
        return why
    if not done:
        return f"{why}; no file was finished, nothing saved"
    save_partial(opts.partial, acc, done)
    return (
        f"{why}; {len(done)} of {n_files} files done, saved to {opts.partial} "
        "(run again with --resume to continue)"
    )


def _process(proc, fileset, opts: RunOptions, backend: Backend, cache: dict):
    runner = processor.Runner(
        executor=backend.executor,
        chunksize=opts.chunksize,
        maxchunks=opts.maxchunks,
        skipbadfiles=(Exception,) if opts.skip_bad_files else False,
        xrootdtimeout=opts.timeout,
        schema=NanoAODSchema,
        metadata_cache=dict(cache),
    )
    watch = contextlib.nullcontext()
    if backend.client is not None:
        watch = WorkerWatch(
            backend.client,
            backend.cluster,
            timeout=backend.lost_worker_timeout,
            start_timeout=backend.worker_timeout,
            resubmits=backend.resubmits,
            n_workers=backend.n_workers,
        )
    with watch:
        try:
            chunks = list(runner.preprocess(fileset, treename=opts.treename))
            if not chunks:
                raise RunError("no chunks to process (all files empty or unreadable)")
            out = runner(chunks, CountingProcessor(proc, opts.retries), treename=opts.treename)
        except RunError:
            raise
        except Exception as err:
            reason = getattr(watch, "reason", None)
            raise RunError(reason or _chunk_failure(err, opts.retries)) from err
    return out or {}, len(chunks)


_ITEM = re.compile(r"dataset='([^']*)', filename='([^']*)'.*?entrystart=(\d+), entrystop=(\d+)")


def _chunk_failure(err: BaseException, retries: int) -> str:
    """One line naming the failed chunk's file and entry range, and the root cause."""
    root = err
    while root.__cause__ is not None:
        root = root.__cause__
    text = str(err)
    cause = reason(root) if root is not err else text.rpartition("The error was: ")[2] or text
    m = _ITEM.search(text)
    where = f"chunk [{m[3]}, {m[4]}) of {m[2]} [{m[1]}]" if m else "a chunk"
    return f"{where} failed after {retries} retries: {cause[:300]}"


def _lost_workers(backend: Backend, since: float) -> list[LostWorker]:
    if backend.client is None:
        return []
    try:
        events = backend.client.get_events("all")
    except Exception:
        return []
    lost = []
    for stamp, msg in events:
        if (
            stamp >= since
            and isinstance(msg, dict)
            and msg.get("action") == "remove-worker"
            and not msg.get("expected", False)
        ):
            lost.append(LostWorker(str(msg.get("worker")), len(msg.get("processing-tasks", ()))))
    return lost


def _check_processor_counts(result: Any, counts: dict[str, dict[str, int]]) -> list[str]:
    reported = result.get("processed") if isinstance(result, dict) else None
    if not isinstance(reported, Mapping):
        return []
    errors = []
    for ds, files in counts.items():
        for path, n in files.items():
            got = reported.get(ds, {}).get(path)
            if got is not None and int(got) != n:
                errors.append(f"{path} [{ds}]: processor reports {got} events, {n} were read")
    return errors


def _input_notes(result: Mapping) -> tuple[dict[str, int], list[str]]:
    """Events lost to the golden JSON per data dataset, and the one-line remarks on the
    inputs: runs outside the golden JSON, metadata Σw that differs from the processed Σw."""
    from .data import certification_messages
    from .postprocessing.normalise import sumw_differences

    cert = result.get("certification") or {}
    lost = {ds: int(rec.get("events_lost", 0)) for ds, rec in cert.items()}
    return lost, certification_messages(result) + sumw_differences(result)


def _selected(result: Any) -> dict[str, int]:
    """Events passing the last cutflow step of ``cutflow[dataset]["all"]``, when present."""
    cutflow = result.get("cutflow") if isinstance(result, dict) else None
    out: dict[str, int] = {}
    if isinstance(cutflow, Mapping):
        for ds, per in cutflow.items():
            steps = per.get("all") if isinstance(per, Mapping) else None
            if isinstance(steps, Mapping) and steps:
                last = list(steps.values())[-1]
                if isinstance(last, Mapping):  # hnl_coffea.cutflow rows: {"events", "sumw", ...}
                    last = last.get("events", 0)
                out[ds] = int(np.ravel(last)[0])
    return out
