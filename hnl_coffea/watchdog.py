"""Keep a Dask run from hanging when its workers disappear.

Dask waits forever for workers that will never come back: a cancelled batch job, a wall
time or a pre-emption leaves the scheduler with tasks and no one to run them, and
dask-jobqueue does not submit replacement jobs. :class:`WorkerWatch` watches the scheduler
during a run; when no worker has been connected for ``timeout`` seconds it either
resubmits the cluster's jobs (a ``SpecCluster`` such as a dask-jobqueue or local cluster,
at most ``resubmits`` times) or gives up: it records one line saying why in ``reason`` and
closes the client, so the waiting run returns at once (the runner then saves what was done).
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

__all__ = ["WorkerWatch"]


class WorkerWatch:
    """A background thread watching ``client``'s workers during a run (a context manager)."""

    def __init__(
        self,
        client: Any,
        cluster: Any = None,
        *,
        timeout: float = 300.0,
        start_timeout: float = 300.0,
        resubmits: int = 2,
        n_workers: int = 1,
        poll: float = 1.0,
    ) -> None:
        self.client = client
        self.cluster = cluster
        self.timeout = timeout
        self.start_timeout = start_timeout  # for resubmitted workers to connect
        self.resubmits = resubmits
        self.n_workers = max(1, n_workers)
        self.poll = poll
        self.reason: str | None = None
        self.resubmitted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="hnl-worker-watch", daemon=True)

    def __enter__(self) -> WorkerWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _connected(self) -> set[str] | None:
        try:
            workers = self.client.scheduler_info(n_workers=-1)["workers"]
        except TypeError:  # older distributed: no n_workers argument
            workers = self.client.scheduler_info()["workers"]
        except Exception:  # noqa: BLE001 - scheduler busy or client closing: look again later
            return None
        return {str(w.get("name", addr)) for addr, w in workers.items()}

    def _watch(self) -> None:
        gone_since: float | None = None
        allowed = self.timeout
        while not self._stop.wait(self.poll):
            names = self._connected()
            if names is None:
                continue
            if names:
                gone_since, allowed = None, self.timeout
                continue
            now = time.monotonic()
            gone_since = gone_since or now
            if now - gone_since < allowed:
                continue
            if self.resubmitted < self.resubmits and self._resubmit(names):
                self.resubmitted += 1
                gone_since, allowed = None, self.start_timeout  # new jobs may wait in a queue
                continue
            tried = f"; resubmitted {self.resubmitted} time(s)" if self.resubmitted else ""
            self.reason = (
                f"no Dask worker connected for {self.timeout:g} s (all workers lost{tried})"
            )
            self._give_up()
            return

    def _resubmit(self, connected: set[str]) -> bool:
        """Forget the workers that are gone and ask the cluster for new ones."""
        cluster = self.cluster
        if cluster is None or not hasattr(cluster, "worker_spec") or not hasattr(cluster, "scale"):
            return False  # an external scheduler: nothing we can start
        try:
            for name in [n for n in cluster.worker_spec if str(n) not in connected]:
                # gone already (a cancelled job): forget it without closing it again, which
                # would fail (scancel of a finished job) and block the new submission
                cluster.worker_spec.pop(name, None)
                getattr(cluster, "workers", {}).pop(name, None)
            while len(cluster.worker_spec) < self.n_workers:
                cluster.worker_spec.update(cluster.new_worker_spec())
            cluster.sync(cluster._correct_state)  # submit now, so that a refusal is seen here
        except Exception:  # noqa: BLE001 - a refused submission: give up with the reason above
            return False
        return True

    def _give_up(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the reason is recorded
            self.client.close(timeout=10)
