"""Build coffea executors, Dask clients and dask-jobqueue clusters from plain options.

One :class:`ExecutorOptions` object describes where chunks run:

* ``iterative`` — one process, one chunk after the other (debugging);
* ``futures`` — a local process pool of ``workers`` processes;
* ``dask`` — a local ``distributed.LocalCluster`` (one single-threaded worker process per
  core, bound to 127.0.0.1), or an existing scheduler (``scheduler="tcp://host:8786"``), or a
  batch system through dask-jobqueue (``cluster="slurm" | "htcondor" | "pbs" | "lsf"``).

Batch-system settings can live in a site YAML file (see ``data/site/*.yaml``) whose keys are
the field names of :class:`ExecutorOptions`; options given explicitly override the file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "CLUSTERS",
    "EXECUTORS",
    "ClusterError",
    "ExecutorOptions",
    "Backend",
    "load_site",
    "make_jobqueue_cluster",
    "open_backend",
]

EXECUTORS = ("iterative", "futures", "dask")
CLUSTERS = ("slurm", "htcondor", "pbs", "lsf")


class ClusterError(RuntimeError):
    """The batch system or Dask cluster could not provide workers (one-line reason)."""


@dataclass
class ExecutorOptions:
    """Where and how chunks are processed; every field has a CLI flag of the same name."""

    executor: str = "dask"
    workers: int | None = None  # local processes, or batch jobs (fixed scale)
    scheduler: str | None = None  # join an existing Dask scheduler at this address
    cluster: str | None = None  # slurm | htcondor | pbs | lsf
    cores: int = 1  # per batch job (= threads of its single worker)
    memory: str = "2GB"  # per batch job
    walltime: str | None = "01:00:00"
    queue: str | None = None  # SLURM partition / HTCondor -, PBS/LSF queue
    account: str | None = None
    disk: str = "4GB"  # HTCondor request_disk
    job_extra: list[str] = field(default_factory=list)  # extra directives, e.g. "--qos=short"
    job_script_prologue: list[str] = field(default_factory=list)  # shell lines before the worker
    pass_env: list[str] = field(default_factory=list)  # variables exported into jobs
    interface: str | None = None  # network interface of scheduler and workers, e.g. "lo"
    host: str | None = None  # scheduler host address, e.g. "127.0.0.1"
    min_workers: int | None = None  # adaptive scaling bounds (batch jobs)
    max_workers: int | None = None
    local_directory: str | None = None  # worker scratch space
    log_directory: str | None = None  # batch job stdout/stderr
    python: str | None = None  # python on the worker nodes (default: this interpreter)
    worker_timeout: float = 300.0  # seconds to wait for the first worker
    lost_worker_timeout: float = 300.0  # all workers gone this long: resubmit or stop
    resubmit: int = 2  # times the cluster's jobs are resubmitted after all workers were lost
    dashboard: bool = False  # LocalCluster dashboard on 127.0.0.1 (random port)
    #: Dask's statistical profiler in the workers (the dashboard's "Profile" page). It
    #: samples every worker thread's stack every 10 ms, which costs ~12 % of a worker's CPU
    #: on this analysis's deep awkward call stacks (``hnl-coffea bench``), so it is off
    #: unless asked for. Not applied to an existing scheduler's workers (``scheduler``).
    worker_profile: bool = False

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ValueError(
                f"executor must be one of {', '.join(EXECUTORS)}, not {self.executor!r}"
            )
        if self.cluster is not None and self.cluster not in CLUSTERS:
            raise ValueError(f"cluster must be one of {', '.join(CLUSTERS)}, not {self.cluster!r}")
        if self.cluster and self.scheduler:
            raise ValueError("give either --cluster or --scheduler, not both")
        if (self.cluster or self.scheduler) and self.executor != "dask":
            raise ValueError("--cluster/--scheduler need --executor dask")
        if self.lost_worker_timeout <= 0 or self.resubmit < 0:
            raise ValueError("lost_worker_timeout must be > 0 and resubmit ≥ 0")
        for name in ("workers", "min_workers", "max_workers", "cores"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be ≥ 1, got {value}")
        lo, hi = self.min_workers, self.max_workers
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"min_workers ({lo}) > max_workers ({hi})")

    @classmethod
    def from_site(cls, site: str | Path | None = None, **overrides: Any) -> ExecutorOptions:
        """Options from a site YAML file, then ``overrides`` whose value is not None."""
        values = load_site(site) if site else {}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


_FIELDS = {f.name for f in dataclasses.fields(ExecutorOptions)}


def load_site(path: str | Path) -> dict[str, Any]:
    """Read a site YAML file of :class:`ExecutorOptions` fields; unknown keys are errors."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except OSError as err:
        raise ValueError(f"site file {p}: {err.strerror or err}") from None
    except yaml.YAMLError as err:
        raise ValueError(f"site file {p}: invalid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"site file {p}: must be a mapping of option → value")
    data = {str(k).replace("-", "_"): v for k, v in data.items()}
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(
            f"site file {p}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_FIELDS))}"
        )
    for key in ("job_extra", "job_script_prologue", "pass_env"):
        if isinstance(data.get(key), str):
            data[key] = [data[key]]
    return data


#: The worker setting of :attr:`ExecutorOptions.worker_profile` (dask configuration key).
PROFILE_KEY = "distributed.worker.profile.enabled"


def _prologue(opts: ExecutorOptions) -> list[str]:
    lines = list(opts.job_script_prologue)
    # dask reads DASK_* variables as configuration when the worker starts
    lines.append(f"export DASK_{PROFILE_KEY.upper().replace('.', '__')}={opts.worker_profile}")
    for name in opts.pass_env:
        if name not in os.environ:
            raise ValueError(f"pass_env: environment variable {name} is not set here")
        lines.append(f"export {name}={_shell_quote(os.environ[name])}")
    return lines


def _shell_quote(value: str) -> str:
    import shlex

    return shlex.quote(value)


def make_jobqueue_cluster(opts: ExecutorOptions):
    """A dask-jobqueue cluster for ``opts.cluster`` with no jobs submitted yet."""
    import dask_jobqueue

    if opts.cluster is None:
        raise ValueError("make_jobqueue_cluster needs opts.cluster")
    kwargs: dict[str, Any] = {
        "cores": opts.cores,
        "memory": opts.memory,
        "processes": 1,
        "walltime": opts.walltime,
        "job_script_prologue": _prologue(opts),
        "python": opts.python,
        "local_directory": opts.local_directory,
        "log_directory": opts.log_directory,
        "interface": opts.interface,
    }
    # the dashboard listens on loopback only (reach it with ssh -L)
    kwargs["scheduler_options"] = {"dashboard_address": "127.0.0.1:0"}
    if opts.host:
        kwargs["scheduler_options"]["host"] = opts.host
    if opts.cluster == "htcondor":
        cls = dask_jobqueue.HTCondorCluster
        kwargs["disk"] = opts.disk
        kwargs["job_extra_directives"] = _condor_directives(opts)
        del kwargs["walltime"]
        if opts.walltime:
            kwargs["job_extra_directives"].setdefault("+MaxRuntime", str(_seconds(opts.walltime)))
    else:
        cls = {
            "slurm": dask_jobqueue.SLURMCluster,
            "pbs": dask_jobqueue.PBSCluster,
            "lsf": dask_jobqueue.LSFCluster,
        }[opts.cluster]
        kwargs["job_extra_directives"] = list(opts.job_extra)
        kwargs["queue"] = opts.queue
        kwargs["account"] = opts.account
    return cls(**{k: v for k, v in kwargs.items() if v is not None})


def _condor_directives(opts: ExecutorOptions) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in opts.job_extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"HTCondor job_extra entries are 'key = value', got {item!r}")
        out[key.strip()] = value.strip()
    if opts.queue:
        out.setdefault("+JobFlavour", f'"{opts.queue}"')
    if opts.pass_env and "X509_USER_PROXY" in opts.pass_env:
        out.setdefault("use_x509userproxy", "true")
    return out


def _seconds(walltime: str) -> int:
    parts = [int(p) for p in walltime.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    h, m, s = parts[-3:]
    return h * 3600 + m * 60 + s


@dataclass
class Backend:
    """A ready coffea executor and, for Dask, the client (plus the cluster we started)."""

    executor: Any  # coffea.processor.ExecutorBase
    client: Any = None  # distributed.Client
    cluster: Any = None  # LocalCluster / JobQueueCluster we own
    description: str = ""
    lost_worker_timeout: float = 300.0  # see hnl_coffea.watchdog
    worker_timeout: float = 300.0  # for (resubmitted) workers to connect
    resubmits: int = 2
    n_workers: int = 1  # workers (jobs) to ask for again when all are lost

    def job_ids(self) -> list[str]:
        """Batch job ids of a dask-jobqueue cluster (empty otherwise)."""
        workers = getattr(self.cluster, "workers", {}) or {}
        return [str(j.job_id) for j in workers.values() if getattr(j, "job_id", None)]


@contextlib.contextmanager
def open_backend(opts: ExecutorOptions, retries: int = 3, status: bool = True) -> Iterator[Backend]:
    """Start what ``opts`` asks for, yield a :class:`Backend`, and stop what was started.

    ``retries`` is how often a failing chunk is retried; ``status`` shows progress bars.
    """
    from coffea import processor

    if opts.executor == "iterative":
        yield Backend(
            processor.IterativeExecutor(status=status, retries=retries), None, None, "iterative"
        )
        return
    if opts.executor == "futures":
        n = opts.workers or os.cpu_count() or 1
        yield Backend(
            processor.FuturesExecutor(workers=n, status=status, retries=retries),
            description=f"futures ({n} processes)",
        )
        return

    import dask
    from distributed import Client, LocalCluster

    cluster = None
    if opts.scheduler:
        client = Client(opts.scheduler, timeout=opts.worker_timeout)
        desc = f"dask scheduler {opts.scheduler}"
    elif opts.cluster:
        cluster = make_jobqueue_cluster(opts)
        client = Client(cluster)
        desc = f"dask-jobqueue {opts.cluster}"
    else:
        n = opts.workers or os.cpu_count() or 1
        with dask.config.set({PROFILE_KEY: opts.worker_profile}):  # the nannies pass it on
            cluster = LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host=opts.host or "127.0.0.1",
                dashboard_address="127.0.0.1:0" if opts.dashboard else None,
                local_directory=opts.local_directory,
            )
        client = Client(cluster)
        desc = f"dask LocalCluster ({n} workers)"
    backend = Backend(
        processor.DaskExecutor(client=client, status=status, retries=retries),
        client,
        cluster,
        desc,
        lost_worker_timeout=opts.lost_worker_timeout,
        worker_timeout=opts.worker_timeout,
        resubmits=opts.resubmit if cluster is not None else 0,
        n_workers=opts.min_workers
        or opts.workers
        or (os.cpu_count() or 1 if not opts.cluster else 1),
    )
    try:
        if opts.cluster:
            _start_jobs(backend, opts)
        _wait_for_workers(backend, opts)
        yield backend
    finally:
        client.close()
        if cluster is not None:
            cluster.close()  # cancels the batch jobs we submitted


def _start_jobs(backend: Backend, opts: ExecutorOptions) -> None:
    cluster = backend.cluster
    adaptive = opts.min_workers is not None or opts.max_workers is not None
    n = (opts.min_workers or 1) if adaptive else (opts.workers or 1)
    # What SpecCluster.scale(n) does, but awaited here so that a refused submission
    # (sbatch/condor_submit error) is raised instead of only logged in the background.
    while len(cluster.worker_spec) < n:
        cluster.worker_spec.update(cluster.new_worker_spec())
    try:
        cluster.sync(cluster._correct_state)
    except Exception as err:
        from distributed.core import Status

        for name, job in list(cluster.workers.items()):  # forget jobs that were refused
            if getattr(job, "job_id", None) is None:
                job.status = Status.failed
                del cluster.workers[name]
                cluster.worker_spec.pop(name, None)
        text = str(err)
        reason = text.split("stderr:", 1)[1] if "stderr:" in text else text
        raise ClusterError(f"{opts.cluster}: job submission failed: {_one_line(reason)}") from None
    if adaptive:
        hi = opts.max_workers or max(n, opts.workers or n)
        cluster.adapt(minimum=n, maximum=hi)


def _wait_for_workers(backend: Backend, opts: ExecutorOptions) -> None:
    try:
        backend.client.wait_for_workers(1, timeout=opts.worker_timeout)
    except TimeoutError:
        msg = f"{backend.description}: no Dask worker connected within {opts.worker_timeout:g} s"
        ids = backend.job_ids()
        if ids and opts.cluster == "slurm":
            msg += "; " + _slurm_states(ids)
        elif ids:
            msg += f"; batch job(s) {', '.join(ids)} did not start (check the queue)"
        raise ClusterError(msg) from None


def _slurm_states(ids: list[str]) -> str:
    try:
        res = subprocess.run(
            ["squeue", "-h", "-j", ",".join(ids), "-o", "%i %T %r"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        lines = [ln.strip() for ln in res.stdout.splitlines() if ln.strip()]
    except (OSError, subprocess.SubprocessError):
        lines = []
    if not lines:
        return f"SLURM job(s) {', '.join(ids)} are gone (see their log files)"
    return "SLURM job(s): " + "; ".join(f"{ln} (id state reason)" for ln in lines)


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text[:500]
