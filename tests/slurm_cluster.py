"""A private one-node Slurm cluster for the tests: its own munged, slurmctld and slurmd.

Everything lives in one directory under the system's temporary folder (configuration, munge
key and socket, state, spool, logs), on ports chosen free at start, under a node name of its
own: several test sessions on one machine (and a site's real Slurm) do not meet. Clients find
it through ``SLURM_CONF`` (:meth:`Cluster.environ`).

Memory is enforced the way a real cluster does it where this machine allows: ``task/cgroup`` on
a writable cgroup v1 memory controller (the job's state is then OUT_OF_MEMORY); else by
polling, ``JobAcctGatherParams=OverMemoryKill`` (the step is killed, the job FAILED, and srun
says "Exceeded job memory limit"). By default there is no accounting database: ``sacct``
says so, as on many small clusters; ``start(accounting=True)`` adds slurmdbd on a MariaDB
server of its own (no grant tables, 127.0.0.1 on a free port, data in the same folder).

Starting needs root (slurmd starts jobs as their users), the Debian packages ``slurm-wlm`` and
``munge`` (the ``munge`` user), and takes a second or two. :func:`start` raises
:class:`Unavailable` with the reason otherwise. Clusters left behind by a killed test session
are stopped by the next :func:`start`.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PREFIX = "conda-limits-slurm-"
CGROUP_V1_MEMORY = Path("/sys/fs/cgroup/memory")
PROGRAMS = ("munged", "slurmctld", "slurmd", "srun", "sbatch", "scontrol", "squeue", "sinfo")
ACCOUNTING_PROGRAMS = ("slurmdbd", "sacctmgr", "mariadbd")
CLUSTER = "condalimits"
_SERIAL = itertools.count()
#: What the node offers jobs: small, so that a test cannot take the machine's memory.
NODE_MEMORY_MIB = 2048
START_TIMEOUT = 60.0
ACCOUNTING_TIMEOUT = 20.0


class Unavailable(Exception):
    """No cluster can be started here; the message says why."""


@dataclass
class Cluster:
    directory: Path
    node: str
    memory: str  # how --mem is enforced: "task/cgroup" or "OverMemoryKill"

    @property
    def conf(self) -> Path:
        return self.directory / "slurm.conf"

    def environ(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) pointing Slurm's clients here."""
        environ = dict(os.environ if base is None else base)
        for name in list(environ):
            if name.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")):
                del environ[name]  # a test run inside a real job must not leak into ours
        environ["SLURM_CONF"] = str(self.conf)
        return environ

    def log(self, name: str = "slurmd") -> str:
        try:
            return (self.directory / "log" / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        _stop(self.directory)

    def batch(self, script: Path, output: Path, *, user: pwd.struct_passwd | None = None,
              environ: dict[str, str] | None = None, timeout: float = 120) -> str:
        """Submit ``script`` with sbatch and wait for the job's final state (polled often:
        ``sbatch --wait`` looks only every few seconds)."""
        kwargs: dict = {}
        if user is not None:
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}
        environ = self.environ(environ)
        done = subprocess.run(["sbatch", "--parsable", f"--output={output}", str(script)],
                              capture_output=True, text=True, timeout=timeout, env=environ,
                              cwd=script.parent, **kwargs)
        if done.returncode:
            raise AssertionError(f"sbatch failed: {done.stderr}")
        job = done.stdout.strip().split(";")[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True,
                                   text=True, timeout=timeout, env=environ).stdout
            state = shown.partition(" JobState=")[2].split(" ")[0]
            if state not in ("", "PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
                return state
            time.sleep(0.1)
        raise AssertionError(f"job {job} did not end within {timeout} s")


def start(memory: str = "auto", *, accounting: bool = False) -> Cluster:
    """Start a cluster and wait until its node takes jobs (raises :class:`Unavailable`).

    ``memory``: "task/cgroup", "OverMemoryKill", or "auto" (cgroup where possible).
    ``accounting``: with slurmdbd and its own MariaDB server, so that ``sacct`` answers
    (a few seconds more to start; needs the Debian packages slurmdbd and mariadb-server).
    """
    _check_machine(ACCOUNTING_PROGRAMS if accounting else ())
    stop_abandoned()
    if memory == "auto":
        memory = "task/cgroup" if _cgroup_v1_writable() else "OverMemoryKill"
    directory = Path(tempfile.mkdtemp(prefix=PREFIX))
    directory.chmod(0o755)  # clients of every user read slurm.conf and reach the munge socket
    (directory / "owner").write_text(f"{os.getpid()}\n")
    node = f"clt{os.getpid()}x{next(_SERIAL)}"  # cgroups are named after the node
    (directory / "node").write_text(node)
    try:
        _start_munge(directory)
        dbd_port = _start_accounting(directory) if accounting else None
        _write_config(directory, node, memory, dbd_port)
        environ = {**os.environ, "SLURM_CONF": str(directory / "slurm.conf")}
        if dbd_port is not None:
            _register_cluster(directory, environ)
        for daemon in (["slurmctld"], ["slurmd", "-N", node]):
            done = subprocess.run([*daemon, "-f", str(directory / "slurm.conf")], env=environ,
                                  capture_output=True, text=True, timeout=START_TIMEOUT)
            if done.returncode:
                raise Unavailable(f"{daemon[0]} did not start: {done.stderr.strip()}"
                                  + _log_tail(directory, daemon[0]))
        _wait_idle(directory, node, environ)
    except BaseException:
        _stop(directory)
        raise
    return Cluster(directory, node, memory)


def _which(program: str) -> str | None:
    return shutil.which(program, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")


def _check_machine(extra: tuple[str, ...] = ()) -> None:
    if not sys.platform.startswith("linux"):
        raise Unavailable("a Slurm test cluster needs Linux")
    missing = [p for p in PROGRAMS if not _which(p)]
    if missing:
        raise Unavailable("Slurm is not installed here (no " + ", ".join(missing)
                          + "; the Debian packages are slurm-wlm and munge)")
    missing = [p for p in extra if not _which(p)]
    if missing:
        raise Unavailable("no accounting database can be started here (no "
                          + ", ".join(missing) + "; the Debian packages are slurmdbd and "
                          "mariadb-server)")
    if os.geteuid() != 0:
        raise Unavailable("starting slurmctld and slurmd needs root")
    try:
        pwd.getpwnam("munge")
    except KeyError:
        raise Unavailable("there is no munge user to run munged (install the munge "
                          "package)") from None


def _cgroup_v1_writable() -> bool:
    """Whether a cgroup v1 memory controller is mounted and writable (task/cgroup's need)."""
    try:
        with open("/proc/self/mounts", encoding="utf-8") as mounts:
            v1 = any(line.split()[1] == str(CGROUP_V1_MEMORY) and line.split()[2] == "cgroup"
                     for line in mounts)
    except OSError:
        return False
    return v1 and os.access(CGROUP_V1_MEMORY, os.W_OK)


def _start_munge(directory: Path) -> None:
    """munged as the munge user, with a fresh key and a socket every user may reach."""
    munge = pwd.getpwnam("munge")
    private, public = directory / "munge", directory / "munge-run"
    for folder, mode in ((private, 0o700), (public, 0o755)):
        folder.mkdir()
        os.chown(folder, munge.pw_uid, munge.pw_gid)
        folder.chmod(mode)
    key = private / "munge.key"
    fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    try:
        os.write(fd, os.urandom(128))
    finally:
        os.close(fd)
    os.chown(key, munge.pw_uid, munge.pw_gid)
    done = subprocess.run(
        [shutil.which("munged", path="/usr/sbin:/sbin:" + os.environ.get("PATH", "")) or "munged",
         f"--socket={public / 'munge.socket'}", f"--key-file={key}",
         f"--pid-file={public / 'munged.pid'}", f"--log-file={private / 'munged.log'}",
         f"--seed-file={private / 'munged.seed'}"],
        user=munge.pw_uid, group=munge.pw_gid, capture_output=True, text=True,
        timeout=START_TIMEOUT)
    if done.returncode:
        raise Unavailable(f"munged did not start: {done.stderr.strip()}")


def _start_accounting(directory: Path) -> int:
    """A MariaDB server (root, no grant tables, on 127.0.0.1) and slurmdbd on it; the port of
    slurmdbd."""
    database = directory / "mariadb"
    (database / "data").mkdir(parents=True)  # no system tables needed: no grant tables
    db_port, dbd_port = _free_ports(2)
    log = open(database / "mariadbd.err", "ab")  # noqa: SIM115 (the daemon keeps it)
    subprocess.Popen(  # noqa: S603 (stopped by _stop through its pid file)
        [_which("mariadbd") or "mariadbd", "--no-defaults", "--user=root",
         f"--datadir={database / 'data'}", f"--socket={database / 'mariadbd.sock'}",
         f"--port={db_port}", "--bind-address=127.0.0.1",
         f"--pid-file={database / 'mariadbd.pid'}", "--skip-grant-tables",
         "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=4M"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    log.close()
    _wait_for(lambda: (database / "mariadbd.sock").exists(), "mariadbd",
              database / "mariadbd.err")
    conf = directory / "slurmdbd.conf"
    conf.write_text("\n".join([
        "AuthType=auth/munge", f"AuthInfo=socket={directory / 'munge-run' / 'munge.socket'}",
        "DbdHost=localhost", f"DbdPort={dbd_port}", "SlurmUser=root",
        f"PidFile={directory / 'slurmdbd.pid'}", f"LogFile={directory / 'log' / 'slurmdbd.log'}",
        "StorageType=accounting_storage/mysql", "StorageHost=127.0.0.1",
        f"StoragePort={db_port}", "StorageUser=root", "StorageLoc=slurm_acct_db"]) + "\n")
    conf.chmod(0o600)
    (directory / "log").mkdir()
    environ = {**os.environ, "SLURM_CONF": str(directory / "slurm.conf")}  # finds slurmdbd.conf
    done = subprocess.run([_which("slurmdbd") or "slurmdbd"], env=environ, capture_output=True,
                          text=True, timeout=START_TIMEOUT)
    if done.returncode:
        raise Unavailable(f"slurmdbd did not start: {done.stderr.strip()}"
                          + _log_tail(directory, "slurmdbd"))
    return dbd_port


def _register_cluster(directory: Path, environ: dict[str, str]) -> None:
    """Add the cluster to the accounting database (slurmdbd may take a moment to listen)."""
    done = None

    def added() -> bool:
        nonlocal done
        done = subprocess.run(["sacctmgr", "-i", "add", "cluster", CLUSTER], env=environ,
                              capture_output=True, text=True, timeout=START_TIMEOUT)
        return done.returncode == 0 or "already exists" in done.stdout + done.stderr

    try:
        _wait_for(added, "sacctmgr add cluster", directory / "log" / "slurmdbd.log")
    except Unavailable as error:
        said = (done.stdout + done.stderr).strip() if done else ""
        raise Unavailable(f"{error}\nsacctmgr: {said}") from None


def _wait_for(ready, what: str, log: Path, timeout: float = ACCOUNTING_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            try:
                tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
            except OSError:
                tail = ""
            raise Unavailable(f"{what}: not ready after {timeout:.0f} s\n{tail}")
        time.sleep(0.2)


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _write_config(directory: Path, node: str, memory: str, dbd_port: int | None) -> None:
    for sub in ("state", "spool", "log"):
        (directory / sub).mkdir(exist_ok=True)
    ctld_port, slurmd_port = _free_ports(2)
    host = socket.gethostname()
    if memory == "task/cgroup":
        enforcement = ["ProctrackType=proctrack/cgroup", "TaskPlugin=task/cgroup",
                       "JobAcctGatherType=jobacct_gather/cgroup"]
        (directory / "cgroup.conf").write_text(
            "CgroupPlugin=cgroup/v1\nCgroupMountpoint=/sys/fs/cgroup\n"
            "ConstrainRAMSpace=yes\nConstrainSwapSpace=no\n")
    else:
        enforcement = ["ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
                       "JobAcctGatherType=jobacct_gather/linux",
                       "JobAcctGatherParams=OverMemoryKill"]
    lines = [
        f"ClusterName={CLUSTER}",
        f"SlurmctldHost={host}(127.0.0.1)",
        f"SlurmctldPort={ctld_port}",
        f"SlurmdPort={slurmd_port}",
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        f"AuthInfo=socket={directory / 'munge-run' / 'munge.socket'}",
        f"StateSaveLocation={directory / 'state'}",
        f"SlurmdSpoolDir={directory / 'spool'}",
        f"SlurmctldPidFile={directory / 'slurmctld.pid'}",
        f"SlurmdPidFile={directory / 'slurmd.pid'}",
        f"SlurmctldLogFile={directory / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={directory / 'log' / 'slurmd.log'}",
        *enforcement,
        "JobAcctGatherFrequency=1",
        *(["AccountingStorageType=accounting_storage/none"] if dbd_port is None else
          ["AccountingStorageType=accounting_storage/slurmdbd",
           "AccountingStorageHost=localhost", f"AccountingStoragePort={dbd_port}",
           # the munge socket for slurmdbd's connections (AuthInfo is not used for them)
           f"AccountingStoragePass={directory / 'munge-run' / 'munge.socket'}"]),
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core_Memory",
        "MpiDefault=none",
        "ReturnToService=2",
        "MinJobAge=600",
        "KillWait=5",
        f"NodeName={node} NodeHostname={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} "
        f"RealMemory={NODE_MEMORY_MIB} State=UNKNOWN",
        "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    (directory / "slurm.conf").write_text("\n".join(lines) + "\n")


def _wait_idle(directory: Path, node: str, environ: dict[str, str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    state = ""
    while time.monotonic() < deadline:
        done = subprocess.run(["sinfo", "-h", "-n", node, "-o", "%T"], env=environ,
                              capture_output=True, text=True, timeout=START_TIMEOUT)
        state = done.stdout.strip() or done.stderr.strip()
        if state == "idle":
            return
        time.sleep(0.2)
    raise Unavailable(f"the node is not idle after {START_TIMEOUT:.0f} s ({state})"
                      + _log_tail(directory, "slurmd") + _log_tail(directory, "slurmctld"))


def _log_tail(directory: Path, name: str) -> str:
    try:
        lines = (directory / "log" / f"{name}.log").read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return f"\n{name}.log:\n" + "\n".join(lines[-8:])


def _pid_of(path: Path, directory: Path) -> int | None:
    """The pid in ``path`` if that process is still one of this cluster's daemons (its
    command line or environment names the cluster's folder)."""
    try:
        pid = int(path.read_text().split()[0])
        seen = (Path(f"/proc/{pid}/cmdline").read_bytes()
                + Path(f"/proc/{pid}/environ").read_bytes())
    except (OSError, ValueError, IndexError):
        return None
    return pid if str(directory).encode() in seen else None


def _stop(directory: Path) -> None:
    """Stop the daemons of the cluster in ``directory`` (only those) and remove it."""
    pidfiles = [directory / "slurmd.pid", directory / "slurmctld.pid",
                directory / "slurmdbd.pid", directory / "mariadb" / "mariadbd.pid",
                directory / "munge-run" / "munged.pid"]
    pids = [pid for pid in (_pid_of(p, directory) for p in pidfiles) if pid]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 15
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists()
                and b"zombie" not in _state(pid)]
        time.sleep(0.05)
    for pid in pids + _left_behind(directory):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        node = (directory / "node").read_text().strip()
    except OSError:
        node = ""
    for controller in Path("/sys/fs/cgroup").glob(f"*/slurm_{node}") if node else ():
        for folder in sorted(controller.rglob("*"), key=lambda p: len(p.parts), reverse=True):
            if folder.is_dir():
                try:
                    folder.rmdir()
                except OSError:
                    pass
        try:
            controller.rmdir()
        except OSError:
            pass
    shutil.rmtree(directory, ignore_errors=True)


def _left_behind(directory: Path) -> list[int]:
    """Processes the cluster's daemons started that outlive them (a slurmstepd waiting for
    a step, a job's command): their environment names this cluster's slurm.conf."""
    mark = f"SLURM_CONF={directory / 'slurm.conf'}".encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if mark in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            pass
    return found


def _state(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/status").read_bytes().split(b"State:")[1][:20].lower()
    except (OSError, IndexError):
        return b"zombie"


def _owner(directory: Path) -> int | None:
    try:
        return int((directory / "owner").read_text())
    except (OSError, ValueError):
        return None


def stop_abandoned() -> None:
    """Stop the clusters whose test session is gone (killed before it could stop them)."""
    for directory in Path(tempfile.gettempdir()).glob(PREFIX + "*"):
        owner = _owner(directory)
        if owner is not None and owner != os.getpid() and not Path(f"/proc/{owner}").exists():
            _stop(directory)


def ensure_user(name: str = "limtest") -> pwd.struct_passwd:
    """An unprivileged user to submit jobs as (created with ``useradd -m`` if missing)."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if os.geteuid() != 0:
        raise Unavailable(f"there is no user {name} and only root can create one")
    done = subprocess.run(["useradd", "-m", name], capture_output=True, text=True)
    if done.returncode:
        raise Unavailable(f"useradd -m {name} failed: {done.stderr.strip()}")
    return pwd.getpwnam(name)
