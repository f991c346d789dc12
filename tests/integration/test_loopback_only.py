"""Every service the integration tests start listens on the loopback address only.

While munged, slurmctld, slurmd, XRootD and a SLURM-started Dask cluster (scheduler in this
process, nanny and worker in a batch job) run, the listening TCP sockets and bound UDP sockets
of all their processes are read from ``/proc`` and must be bound to 127.0.0.1 or ::1 — never to
a wildcard (0.0.0.0, ::) or another address of the machine.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from hnl_coffea.executors import ExecutorOptions, open_backend

from .services import processes_with_environment

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

LOOPBACK = ("127.0.0.1", "::1")
TCP_LISTEN, UDP_UNCONNECTED = "0A", "07"


@dataclass(frozen=True)
class Listener:
    """A listening TCP or bound UDP socket of process ``pid`` (``name``)."""

    pid: int
    name: str
    proto: str  # tcp, tcp6, udp, udp6
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.name}[{self.pid}] {self.proto} {host}:{self.port}"


def _hex_address(text: str, v6: bool) -> tuple[str, int]:
    """``0100007F:1F90`` (as in /proc/net/tcp, host byte order words) → ``("127.0.0.1", 8080)``."""
    addr, port = text.split(":")
    raw = bytes.fromhex(addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))  # little endian words
    family = socket.AF_INET6 if v6 else socket.AF_INET
    return socket.inet_ntop(family, words), int(port, 16)


def _proc_sockets(pid: int) -> dict[int, tuple[str, str, int]]:
    """``{inode: (proto, host, port)}`` of the listening sockets in ``pid``'s network namespace."""
    out = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{proto}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            state = TCP_LISTEN if proto.startswith("tcp") else UDP_UNCONNECTED
            if f[3] == state:
                host, port = _hex_address(f[1], proto.endswith("6"))
                out[int(f[9])] = (proto, host, port)
    return out


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def listeners(pids: set[int]) -> list[Listener]:
    """The listening TCP / bound UDP sockets held by the processes ``pids``."""
    found = []
    for pid in sorted(pids):
        inodes = _socket_inodes(pid)
        if not inodes:
            continue
        try:
            name = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        for inode, (proto, host, port) in _proc_sockets(pid).items():
            if inode in inodes:
                found.append(Listener(pid, name, proto, host, port))
    return found


def _processes() -> dict[int, int]:
    """``{pid: parent pid}`` of all processes."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def service_processes(slurm_conf: Path) -> set[int]:
    """This process, the processes it started, and every process of the test SLURM cluster.

    slurmd starts each job's ``slurmstepd`` detached (its parent is init), so the batch jobs
    (Dask nanny and worker) are found by the ``SLURM_CONF`` they inherit, then their children.
    """
    parents = _processes()
    roots = {os.getpid()}
    roots |= set(processes_with_environment(f"SLURM_CONF={slurm_conf}"))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(child for child, parent in parents.items() if parent == pid)
    return found


def _slurm_ports(conf: Path) -> dict[str, int]:
    pairs = (line.split("=", 1) for line in conf.read_text().splitlines() if "=" in line)
    values = {k: v for k, v in pairs}
    return {"slurmctld": int(values["SlurmctldPort"]), "slurmd": int(values["SlurmdPort"])}


def test_listener_scan_flags_a_socket_off_127_0_0_1(tmp_path):
    """The scan sees a child's socket on 127.0.0.2 (loopback, yet not 127.0.0.1) as a violation."""
    code = "import socket,sys;s=socket.socket();s.bind(('127.0.0.2',0));s.listen();"
    code += "print(s.getsockname()[1],flush=True);sys.stdin.read()"
    child = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        port = int(child.stdout.readline())
        got = [x for x in listeners({child.pid}) if x.port == port]
    finally:
        child.stdin.close()
        child.wait(timeout=10)
    assert [(x.proto, x.host) for x in got] == [("tcp", "127.0.0.2")]
    assert got[0].host not in LOOPBACK


def test_all_services_listen_on_loopback_only(slurm, xrootd, tmp_path):
    site = {
        "cluster": "slurm",
        "cores": 1,
        "memory": "1GB",
        "walltime": "00:05:00",
        "queue": slurm.partition,
        "job_extra": ["--job-name=hnl-it-loopback"],
        "interface": "lo",
        "log_directory": str(slurm.folder / "logs"),
        "worker_timeout": 60,
    }
    path = tmp_path / "site.yaml"
    path.write_text(json.dumps(site))
    with open_backend(ExecutorOptions.from_site(path, workers=1), status=False) as backend:
        scheduler_port = int(backend.client.scheduler.address.rsplit(":", 1)[1])
        pids = service_processes(slurm.conf)
        found = listeners(pids)
    report = "\n".join(map(str, found))
    ports = {x.port for x in found}
    expected = {"xrootd": int(xrootd.rstrip("/").rsplit(":", 1)[1]), "scheduler": scheduler_port}
    expected |= _slurm_ports(slurm.conf)
    assert set(expected.values()) <= ports, f"services not found listening:\n{report}"
    in_jobs = [x for x in found if x.name.startswith("python") and x.port not in expected.values()]
    in_jobs = [x for x in in_jobs if x.pid != os.getpid()]
    assert in_jobs, f"no Dask worker in a SLURM job found listening:\n{report}"
    off_loopback = [str(x) for x in found if x.host not in LOOPBACK]
    assert not off_loopback, "listening off 127.0.0.1/::1:\n" + "\n".join(off_loopback)
