"""Real services on 127.0.0.1 for the integration tests: a one-node SLURM cluster and XRootD.

Both come from Debian packages (``slurm-wlm``, ``munge``, ``xrootd-server``) and run as plain
processes with their configuration in a temporary folder, no systemd needed. Every listening
socket is bound to 127.0.0.1 (munged uses a Unix socket): slurmctld and slurmd through
``CommunicationParameters``, xrootd — which has no directive for its listening address —
through the ``loopback_bind.c`` ``LD_PRELOAD`` shim (built with ``cc``)::

    with slurm_cluster(tmp) as slurm:      # munged + slurmctld + slurmd, SLURM_CONF set
        ...                                # sbatch/squeue/scancel now talk to it
    with xrootd_server(export_dir) as url: # url == "root://127.0.0.1:PORT/"
        ...
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SLURM_BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo")
XROOTD_BINARIES = ("xrootd", "cc")  # cc builds the loopback bind() shim
LOOPBACK_SHIM_SOURCE = Path(__file__).with_name("loopback_bind.c")


def missing(binaries: tuple[str, ...]) -> list[str]:
    """The programs (from /usr/sbin too) that are not installed."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    return [b for b in binaries if shutil.which(b, path=path) is None]


def _which(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if found is None:
        raise FileNotFoundError(name)
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    tail = ""
    if log is not None and log.exists():
        tail = " | ".join(log.read_text(errors="replace").splitlines()[-5:])
    raise RuntimeError(f"{what} not ready after {timeout:g} s. {tail}")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def processes_with_environment(entry: str) -> list[int]:
    """Ids of the processes whose environment holds ``entry`` (``NAME=value``) and we may read."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if entry.encode() in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(int(pid))
    return found


@dataclass
class Slurm:
    """A running one-node SLURM cluster; ``env`` holds what its clients need."""

    folder: Path
    conf: Path
    cpus: int
    memory_mb: int
    partition: str = "debug"

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def run(self, *args: str) -> str:
        res = subprocess.run(
            args, capture_output=True, text=True, timeout=30, env={**os.environ, **self.env}
        )
        return res.stdout

    def jobs(self) -> list[tuple[str, str]]:
        """``[(job id, state)]`` of jobs in the queue."""
        out = self.run("squeue", "-h", "-o", "%i %T")
        return [tuple(line.split()[:2]) for line in out.splitlines() if line.strip()]


def _node_line() -> tuple[int, int]:
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
    cpus = int(re.search(r"CPUs=(\d+)", out.stdout)[1])
    mem = int(re.search(r"RealMemory=(\d+)", out.stdout)[1])
    return cpus, mem


SLURM_CONF = """\
ClusterName=hnltest
SlurmctldHost=localhost(127.0.0.1)
# listen on SlurmctldHost's / NodeAddr's address (127.0.0.1), not on every interface
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder}/munge.sock
StateSaveLocation={folder}/state
SlurmdSpoolDir={folder}/spool
SlurmctldPidFile={folder}/slurmctld.pid
SlurmdPidFile={folder}/slurmd.pid
SlurmctldLogFile={folder}/slurmctld.log
SlurmdLogFile={folder}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=2
MinJobAge=10
NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


@contextlib.contextmanager
def slurm_cluster(folder: Path) -> Iterator[Slurm]:
    """Start munged, slurmctld and slurmd (as root) with a generated slurm.conf in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)  # munge clients need to reach the socket
    for sub in ("state", "spool"):
        (folder / sub).mkdir(exist_ok=True)
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    cpus, mem = _node_line()
    conf = folder / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            folder=folder, ctld_port=free_port(), slurmd_port=free_port(), cpus=cpus, mem=mem
        )
    )
    env = {**os.environ, "SLURM_CONF": str(conf)}
    procs: list[subprocess.Popen] = []
    old_conf = os.environ.get("SLURM_CONF")
    try:
        munge = [_which("munged"), "-F", "-f", f"--socket={folder}/munge.sock"]
        munge += [f"--key-file={key}", f"--log-file={folder}/munged.log"]
        munge += [f"--pid-file={folder}/munged.pid", f"--seed-file={folder}/munged.seed"]
        procs.append(subprocess.Popen(munge, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT))
        _wait(lambda: (folder / "munge.sock").exists(), 20, "munged", folder / "munged.log")
        ctld = [_which("slurmctld"), "-D", "-i", "-f", str(conf)]
        procs.append(
            subprocess.Popen(ctld, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        )
        slurmd = [_which("slurmd"), "-D", "-N", "localhost", "-f", str(conf)]
        procs.append(
            subprocess.Popen(slurmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        )
        os.environ["SLURM_CONF"] = str(conf)
        slurm = Slurm(folder, conf, cpus, mem)

        def idle() -> bool:
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(
                    "a SLURM daemon exited: "
                    + " | ".join((folder / "slurmctld.log").read_text().splitlines()[-5:])
                    if (folder / "slurmctld.log").exists()
                    else "a SLURM daemon exited"
                )
            return "idle" in slurm.run("sinfo", "-h", "-o", "%T")

        _wait(idle, 60, "SLURM node", folder / "slurmd.log")
        yield slurm
    finally:
        with contextlib.suppress(Exception):
            subprocess.run(["scancel", "-u", "root"], env=env, timeout=10, capture_output=True)
            _wait(lambda: not Slurm(folder, conf, 0, 0).jobs(), 10, "job cancellation")
        _stop(procs)
        # a job's slurmstepd (detached from slurmd) may outlive slurmd, waiting for it forever
        for pid in processes_with_environment(f"SLURM_CONF={conf}"):
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "slurmstepd":
                    os.kill(pid, signal.SIGKILL)
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf


XROOTD_CONF = """\
all.export /
oss.localroot {root}
xrd.port {port}
xrd.allow host localhost
xrd.allow host 127.0.0.1
"""


def _unprivileged_user() -> str:
    for name in ("nobody", "daemon"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("no unprivileged user (nobody/daemon) to run xrootd as")


def build_loopback_shim(folder: Path) -> Path:
    """Compile ``loopback_bind.c`` into ``folder``; returns the shared library for LD_PRELOAD."""
    lib = folder / "libloopback_bind.so"
    cmd = [_which("cc"), "-shared", "-fPIC", "-O2", "-o", str(lib), str(LOOPBACK_SHIM_SOURCE)]
    res = subprocess.run([*cmd, "-ldl"], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RuntimeError(f"building {LOOPBACK_SHIM_SOURCE.name} failed: {res.stderr.strip()}")
    lib.chmod(0o755)
    return lib


@contextlib.contextmanager
def xrootd_server(root: Path, port: int | None = None) -> Iterator[str]:
    """Serve ``root`` over XRootD on 127.0.0.1 only; yields ``root://127.0.0.1:PORT/``.

    ``root`` and its parents must be readable by the unprivileged user xrootd runs as.
    """
    port = port or free_port()
    work = root.parent / f"xrootd-{port}"
    work.mkdir(parents=True, exist_ok=True)
    conf = work / "xrootd.cfg"
    conf.write_text(XROOTD_CONF.format(root=root, port=port))
    user = _unprivileged_user() if os.geteuid() == 0 else None
    for d in (work, root):
        d.chmod(0o755)
    if user:
        shutil.chown(work, user)
    for f in root.rglob("*"):
        f.chmod(0o755 if f.is_dir() else 0o644)
    cmd = [_which("xrootd"), "-c", str(conf), "-l", str(work / "xrootd.log"), "-n", f"hnl{port}"]
    cmd += ["-s", str(work / "xrootd.pid"), "-p", str(port), "-I", "v4"]
    if user:
        cmd += ["-R", user]  # xrootd refuses to run as root
    preload = [str(build_loopback_shim(work)), os.environ.get("LD_PRELOAD", "")]
    env = {**os.environ, "LD_PRELOAD": ":".join(filter(None, preload))}  # bind 127.0.0.1 only
    proc = subprocess.Popen(
        cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )

    def listening() -> bool:
        if proc.poll() is not None:
            log = work / "xrootd.log"
            raise RuntimeError(f"xrootd exited: {log.read_text()[-500:] if log.exists() else ''}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    try:
        _wait(listening, 30, "xrootd", work / "xrootd.log")
        yield f"root://127.0.0.1:{port}/"
    finally:
        _stop([proc])
