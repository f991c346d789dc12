"""Executor options, site files and generated batch job scripts (no batch system needed)."""

from __future__ import annotations

import re

import pytest

from hnl_coffea.executors import ExecutorOptions, load_site, make_jobqueue_cluster
from hnl_coffea.paths import data_path


@pytest.fixture
def proxy(monkeypatch, tmp_path):
    path = tmp_path / "x509up_u1000"
    path.write_text("proxy")
    monkeypatch.setenv("X509_USER_PROXY", str(path))
    return str(path)


def _script(opts: ExecutorOptions) -> str:
    cluster = make_jobqueue_cluster(opts)
    try:
        return cluster.job_script()
    finally:
        cluster.close()


def test_slurm_job_script_has_requested_resources(proxy):
    opts = ExecutorOptions(
        cluster="slurm",
        cores=4,
        memory="8GB",
        walltime="02:30:00",
        queue="short",
        account="cms_hnl",
        job_extra=["--qos=normal"],
        pass_env=["X509_USER_PROXY"],
        job_script_prologue=["source /cvmfs/setup.sh"],
        interface="lo",
    )
    script = _script(opts)
    for line in (
        "#SBATCH -p short",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8G",
        "#SBATCH -t 02:30:00",
        "#SBATCH -A cms_hnl",
        "#SBATCH --qos=normal",
        "source /cvmfs/setup.sh",
        f"export X509_USER_PROXY={proxy}",
    ):
        assert line in script.splitlines(), line
    assert "--nthreads 4" in script
    assert "--interface lo" in script
    assert re.search(r"dask_worker tcp://127\.0\.0\.1:\d+", script)


def test_htcondor_job_script_has_requested_resources(proxy):
    opts = ExecutorOptions(
        cluster="htcondor",
        cores=2,
        memory="4GB",
        disk="10GB",
        walltime="03:00:00",
        queue="workday",
        job_extra=['+AccountingGroup = "group_cms"'],
        pass_env=["X509_USER_PROXY"],
        host="127.0.0.1",
    )
    script = _script(opts)
    lines = script.splitlines()
    assert "MY.DaskWorkerCores = 2" in lines
    assert "MY.DaskWorkerMemory = 4000000000" in lines
    assert "MY.DaskWorkerDisk = 10000000000" in lines
    assert "+MaxRuntime = 10800" in lines  # 3 h in seconds
    assert '+JobFlavour = "workday"' in lines
    assert '+AccountingGroup = "group_cms"' in lines
    assert "use_x509userproxy = true" in lines
    assert f"export X509_USER_PROXY={proxy}" in script
    assert "tcp://127.0.0.1:" in script


def test_site_file_fills_options_and_flags_win(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text(
        "cluster: slurm\ncores: 8\nmemory: 16GB\nqueue: long\njob-extra: --constraint=avx2\n"
    )
    opts = ExecutorOptions.from_site(site, memory="4GB", cores=None)
    assert (opts.cluster, opts.cores, opts.memory, opts.queue) == ("slurm", 8, "4GB", "long")
    assert opts.job_extra == ["--constraint=avx2"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("slurm.yaml", ["#SBATCH --mem=4G", "#SBATCH -p standard", "#SBATCH -t 04:00:00"]),
        ("htcondor.yaml", ["MY.DaskWorkerMemory = 4000000000", '+JobFlavour = "workday"']),
    ],
)
def test_shipped_site_examples_build_a_job_script(name, expected, monkeypatch, tmp_path):
    monkeypatch.setenv("X509_USER_PROXY", "/tmp/x509up_u0")
    monkeypatch.chdir(tmp_path)  # log_directory is created relative to here
    script = _script(ExecutorOptions.from_site(data_path(f"site/{name}")))
    lines = script.splitlines()
    for line in expected:
        assert line in lines, line
    assert "export X509_USER_PROXY=/tmp/x509up_u0" in script


def test_bad_options_name_the_problem(tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("cluster: slurm\nqeue: short\n")
    with pytest.raises(ValueError, match="unknown key.*qeue"):
        load_site(site)
    with pytest.raises(ValueError, match="cluster must be one of"):
        ExecutorOptions(cluster="sge")
    with pytest.raises(ValueError, match="not both"):
        ExecutorOptions(cluster="slurm", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="min_workers"):
        ExecutorOptions(cluster="slurm", min_workers=4, max_workers=2)
    with pytest.raises(ValueError, match="SOME_UNSET_VARIABLE"):
        make_jobqueue_cluster(ExecutorOptions(cluster="slurm", pass_env=["SOME_UNSET_VARIABLE"]))


def _profiling(dask_worker) -> bool:
    return "profile" in dask_worker.periodic_callbacks


@pytest.mark.parametrize("profile", [False, True])
def test_worker_profiler_is_off_unless_asked_for(profile):
    """Dask's 10 ms stack sampler costs ~12 % of a worker's CPU here: off by default, in local
    workers and in batch jobs (whose dask reads the exported variable as configuration)."""
    import dask

    from hnl_coffea.executors import open_backend

    opts = ExecutorOptions(executor="dask", workers=1, host="127.0.0.1", worker_profile=profile)
    with open_backend(opts, retries=0, status=False) as be:
        assert list(be.client.run(_profiling).values()) == [profile]
    line = next(
        ln for ln in _script(ExecutorOptions(cluster="slurm", worker_profile=profile)).splitlines()
        if ln.startswith("export DASK_")
    )  # fmt: skip
    name, value = line.removeprefix("export ").split("=")
    assert dask.config.collect_env({name: value}) == {
        "distributed": {"worker": {"profile": {"enabled": profile}}}
    }
