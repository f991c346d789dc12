"""Fixtures that start real services on 127.0.0.1 (one-node SLURM, XRootD) for this folder.

Where the Debian packages are missing the tests skip with a one-line reason — except when
``CI`` is set: then they fail, so a CI run cannot pass without exercising them.
Every service listens on 127.0.0.1 only (checked by ``test_loopback_only.py``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import dask
import pytest

from .services import SLURM_BINARIES, XROOTD_BINARIES, missing, slurm_cluster, xrootd_server
from .toyproc import write_fileset

LAYOUT = {"WZ": [260, 140], "HNL_M300": [120]}
# Dask workers in batch jobs: their HTTP server (dashboard, /health) would listen on 0.0.0.0
WORKER_EXTRA_ARGS = ["--dashboard-address", "127.0.0.1:0"]


def _require(what: str, binaries: tuple[str, ...], modules: tuple[str, ...] = ()) -> None:
    lacking = missing(binaries) + [m for m in modules if importlib.util.find_spec(m) is None]
    if lacking:
        msg = f"{what} not available (missing: {', '.join(lacking)}; see .ci/apt-packages)"
        if os.environ.get("CI"):
            pytest.fail(msg + " — required when CI is set", pytrace=False)
        pytest.skip(msg)


@pytest.fixture(scope="session")
def service_dir():
    """A folder the unprivileged xrootd user can read (pytest's tmp folders are private)."""
    top = Path(tempfile.mkdtemp(prefix="hnl-coffea-it-"))
    top.chmod(0o755)
    yield top
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def toy_files(service_dir):
    """Toy NanoAOD files under ``export/store/mc/toy`` plus a local-path fileset."""
    folder = service_dir / "export" / "store" / "mc" / "toy"
    path, refs = write_fileset(folder, LAYOUT, seed=11)
    return path, refs, service_dir / "export"


@pytest.fixture(scope="session")
def xrootd(toy_files):
    """``root://127.0.0.1:PORT/`` serving the toy files' export folder."""
    _require("XRootD", XROOTD_BINARIES, ("XRootD", "fsspec_xrootd"))
    with xrootd_server(toy_files[2]) as url:
        yield url


@pytest.fixture(scope="session")
def slurm(service_dir):
    """A one-node SLURM cluster (munged, slurmctld, slurmd) with SLURM_CONF exported.

    Dask workers that dask-jobqueue submits to it serve their dashboard on 127.0.0.1.
    """
    _require("SLURM", SLURM_BINARIES)
    if os.geteuid() != 0:
        msg = "the one-node SLURM cluster runs its daemons as root"
        if os.environ.get("CI"):
            pytest.fail(msg + " — required when CI is set", pytrace=False)
        pytest.skip(msg)
    extra = {"jobqueue.slurm.worker-extra-args": WORKER_EXTRA_ARGS}
    with slurm_cluster(service_dir / "slurm") as cluster, dask.config.set(extra):
        yield cluster
