"""Timed measurements: read limit, processors on an executor, Dask scaling, peak memory."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from pathlib import Path
from typing import Any

__all__ = [
    "Timing",
    "machine_info",
    "peak_memory",
    "processor_branches",
    "read_limit",
    "time_processor",
]


def _files(fileset: Mapping[str, Any]) -> list[str]:
    return [p for spec in fileset.values() for p in spec["files"]]


def n_events(fileset: Mapping[str, Any]) -> int:
    """Total entries of the ``Events`` trees of a fileset."""
    import uproot

    total = 0
    for path in _files(fileset):
        with uproot.open(path) as f:
            total += f["Events"].num_entries
    return total


class Timing(dict):
    """``{"events", "seconds": [...], "rate": {min, median, max}}`` (events/s, wall clock)."""

    @classmethod
    def from_seconds(cls, events: int, seconds: list[float], cores: int = 1) -> Timing:
        rates = [events / s / cores for s in seconds]
        return cls(
            events=events,
            cores=cores,
            seconds=[round(s, 3) for s in seconds],
            rate={
                "min": min(rates),
                "median": statistics.median(rates),
                "max": max(rates),
            },
        )


def repeat(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, and the versions of the packages that set the pace."""
    import awkward
    import coffea
    import dask
    import distributed
    import numpy
    import torch
    import uproot

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import psutil

        mem_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        mem_gb = None
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": mem_gb,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            m.__name__: m.__version__
            for m in (coffea, awkward, uproot, numpy, torch, dask, distributed)
        },
    }


def processor_branches(proc: Any, path: str, dataset: str, metadata: dict, n: int = 20_000):
    """The branches ``proc.process`` reads, from NanoEvents' access log on the first ``n``
    events of ``path``."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    log: list = []
    events = NanoEventsFactory.from_root(
        {path: "Events"},
        mode="virtual",
        entry_stop=n,
        schemaclass=NanoAODSchema,
        access_log=log,
        metadata={**metadata, "dataset": dataset, "filename": path},
    ).events()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proc.process(events)
    return sorted({a.branch for a in log})


def read_limit(fileset: Mapping[str, Any], branches: list[str], chunksize: int) -> None:
    """Read and decompress ``branches`` of every file chunk by chunk into awkward arrays."""
    import uproot

    for path in _files(fileset):
        with uproot.open(path) as f:
            tree = f["Events"]
            names = [b for b in branches if b in tree]
            for start in range(0, tree.num_entries, chunksize):
                tree.arrays(names, entry_start=start, entry_stop=start + chunksize, how=dict)


#: Events per dataset (one chunk) a processor runs on before it is timed.
WARM_EVENTS = 2_000


def time_processor(
    make: Callable[[], Any],
    fileset: Mapping[str, Any],
    chunksize: int,
    repeats: int,
    backend: Any = None,
) -> list[float]:
    """Wall-clock seconds of ``repeats`` full runs of ``hnl_coffea.runner.run_fileset``,
    after the processor has run once on the first events of every dataset in this process
    (or in every worker of ``backend``): the first run would otherwise also time model and
    correction loading (measured: 5.5 s against 4.2 s for the next on the skimmed set)."""
    from ..runner import RunOptions, run_fileset

    def once() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_fileset(make(), fileset, RunOptions(chunksize=chunksize, status=False),
                        backend=backend)  # fmt: skip

    if backend is None or backend.client is None:
        _warm(make, dict(fileset), WARM_EVENTS)
    else:
        warm_workers(backend, make, fileset)
    return repeat(once, repeats)


def warm_workers(
    backend: Any, make: Callable[[], Any], fileset: Mapping[str, Any], chunksize: int = WARM_EVENTS
) -> dict[int, list[str]]:
    """Run the processor in every worker of ``backend`` on the first ``chunksize`` events of
    each dataset (one pinned task per worker), so that no timed run pays a worker's imports,
    model and correction loading. Returns the datasets each worker process (by PID) ran.

    A run through the scheduler cannot do this: it may give every chunk to the worker that
    is free first and leave the other cold.
    """
    client = backend.client
    futures = [
        client.submit(
            _warm,
            make,
            dict(fileset),
            chunksize,
            workers=[addr],
            allow_other_workers=False,
            pure=False,
        )
        for addr in client.scheduler_info()["workers"]
    ]
    return dict(client.gather(futures))


def _warm(make: Callable[[], Any], fileset: dict, chunksize: int) -> tuple[int, list[str]]:
    import os

    from ..runner import RunOptions, run_fileset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, summary = run_fileset(make(), fileset, RunOptions(chunksize=chunksize, maxchunks=1,
                                                             status=False))  # fmt: skip
    return os.getpid(), sorted(d for d, n in summary.events_read.items() if n > 0)


def dask_backend(workers: int):
    """A LocalCluster of ``workers`` single-threaded processes on 127.0.0.1 (context manager)."""
    from ..executors import ExecutorOptions, open_backend

    opts = ExecutorOptions(executor="dask", workers=workers, host="127.0.0.1")
    return open_backend(opts, retries=0, status=False) if workers else nullcontext()


def peak_memory(
    path: str, dataset: str, metadata: dict, chunksize: int, cfg_overrides: dict, models: bool
) -> dict[str, float]:
    """Peak RSS (MB) of a fresh process running ``HNLProcessor`` on one chunk of ``path``.

    Also reports the RSS after imports and model loading (``baseline_mb``), so the chunk's own
    share is ``peak_mb - baseline_mb``.
    """
    spec = {
        "path": path, "dataset": dataset, "metadata": metadata, "chunksize": chunksize,
        "overrides": cfg_overrides, "models": models,
    }  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "hnl_coffea.bench.measure", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"memory probe failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _memory_probe(spec: dict) -> dict[str, float]:
    import psutil
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from ..config import load_config
    from ..processors import HNLProcessor

    warnings.simplefilter("ignore")
    cfg = load_config().with_overrides(spec["overrides"])
    proc = HNLProcessor(cfg, models=spec["models"], systematics=False)
    for runner in proc.runners.values():
        runner.model  # noqa: B018  (load weights before the baseline)
    me = psutil.Process()
    baseline = me.memory_info().rss / 2**20
    events = NanoEventsFactory.from_root(
        {spec["path"]: "Events"},
        mode="virtual",
        entry_stop=spec["chunksize"],
        schemaclass=NanoAODSchema,
        metadata={**spec["metadata"], "dataset": spec["dataset"], "filename": spec["path"]},
    ).events()
    n = len(events)
    proc.process(events)
    peak = _high_water_mb()
    return {"events": n, "baseline_mb": round(baseline, 1), "peak_mb": round(peak, 1)}


def _high_water_mb() -> float:
    """Peak RSS of this process in MB: ``VmHWM`` (reset at exec, unlike ``ru_maxrss``, which
    keeps the forking parent's peak)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    print(json.dumps(_memory_probe(json.loads(sys.argv[1]))))
