"""The cgroup toolkit: find the hierarchies, make, join and remove a command's cgroup.

Used side by side by the memory cap (:mod:`.memory_cap`) and the CPU quota
(:mod:`.cpu_quota`): the cgroup v2 mount and the v1 mount of a controller (from
``/proc/self/mountinfo``), this process's cgroups (``/proc/self/cgroup``), a writable v2
parent that enables a controller, a child cgroup named after this process (stale ones of
dead runs removed first), reading and writing controller files, killing what is left in a
cgroup and removing it, and ``systemd-run --scope``. No policy: which backend to use is the
users' choice.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, TypeVar

from ..errors import Kind, LimitsError

#: The backends, in the order they are tried: a systemd scope, a cgroup v2 child, a v1 child.
BACKENDS = ("systemd", "cgroup v2", "cgroup v1")
NAME_PREFIX = "conda-limits-"  # name of every cgroup or scope made here: conda-limits-<pid>-<token>
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class CgroupError(LimitsError, RuntimeError):
    """A cgroup could not be set up for the command (it was not started)."""

    kind = Kind.RUN
    heading = "Cannot start the command"


class Unavailable(LimitsError):
    """No backend can enforce a control here; ``reasons`` says why, per backend."""

    kind = Kind.RUN

    def __init__(self, problem: str, asked: str, reasons: Sequence[str]) -> None:
        self.asked = asked  # what the user asked for, as "Cannot <asked> here" says it
        self.reasons = tuple(reasons)
        super().__init__(f"{problem} here: " + "; ".join(self.reasons))

    def report(self, prefix: Path | None = None) -> str:
        return f"Cannot {self.asked} here: {'; '.join(self.reasons)}.\n{self.hint}"


@dataclass
class Mount:
    """A mounted cgroup hierarchy: where it is, and which part of the hierarchy it shows."""

    path: Path
    root: str  # the hierarchy path mounted there (``/`` unless a sub-tree is bind-mounted)

    def directory(self, cgroup: str) -> Path | None:
        """The directory of ``cgroup`` (a path of /proc/self/cgroup) under this mount."""
        rel = os.path.relpath(cgroup, self.root) if self.root != "/" else cgroup.lstrip("/")
        if rel.startswith(".."):
            return None
        return self.path / rel if rel not in ("", ".") else self.path


def mounts(mountinfo: str, controller: str = "memory") -> tuple[Mount | None, Mount | None]:
    """The cgroup v2 mount and the v1 mount of ``controller``, from mountinfo text."""
    v2 = v1 = None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, point = _unescape(fields[3]), Path(_unescape(fields[4]))
        if tail[0] == "cgroup2" and v2 is None:
            v2 = Mount(point, root)
        elif tail[0] == "cgroup" and controller in tail[2].split(",") and v1 is None:
            v1 = Mount(point, root)
    return v2, v1


def _unescape(text: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def own_cgroups(text: str, controller: str = "memory") -> tuple[str | None, str | None]:
    """This process's cgroup v2 path and v1 ``controller`` cgroup path, from /proc/self/cgroup."""
    v2 = v1 = None
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hid == "0" and controllers == "":
            v2 = path
        elif controller in controllers.split(","):
            v1 = path
    return v2, v1


def read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def write(path: Path, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def field_value(text: str, name: str) -> int | None:
    """The number after ``name`` in a ``key value`` file (memory.events, memory.oom_control)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return None


def page_rounded(limit: int) -> int:
    return limit - limit % PAGE


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def procs(directory: Path) -> list[int]:
    try:
        return [int(p) for p in read(directory / "cgroup.procs").split()]
    except (OSError, ValueError):
        return []


def signal_all(directory: Path) -> int:
    """Send SIGKILL to every process in ``directory`` once (``cgroup.kill`` where the kernel
    has it, Linux 5.14+); return how many were there."""
    left = procs(directory)
    kill_file = directory / "cgroup.kill"
    try:
        if left and kill_file.exists():
            write(kill_file, "1")
            return len(left)
    except OSError:
        pass
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(left)


def kill_all(directory: Path) -> int:
    """Kill every process left in ``directory`` and wait until it is empty; return how many
    there were."""
    left = procs(directory)
    if not left:
        return 0
    for _ in range(100):
        signal_all(directory)
        if not procs(directory):
            break
        time.sleep(0.02)
    return len(left)


def remove(directory: Path) -> None:
    for _ in range(50):
        try:
            os.rmdir(directory)
            return
        except FileNotFoundError:
            return
        except OSError as error:
            if error.errno != errno.EBUSY:
                return
            time.sleep(0.02)  # killed processes are still leaving the cgroup


def make_child(parent: Path) -> Path:
    """Create a new cgroup under ``parent``, first removing stale ones left by killed runs.

    A run killed with SIGKILL cannot remove its cgroup: its command dies with it (see
    :func:`conda_limits.run.process._dies_with_us`), and what the command left running there
    is stopped now, as when a run ends (moving it out would lift its cap silently).
    """
    for stale in parent.glob(f"{NAME_PREFIX}*"):
        owner = stale.name[len(NAME_PREFIX):].split("-")[0]
        if owner.isdigit() and not pid_alive(int(owner)):
            kill_all(stale)
            remove(stale)
    child = parent / f"{NAME_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    child.mkdir(mode=0o755)
    return child


def scope_directory(pid: int, unit: str, mount: Mount, timeout: float) -> Path:
    """The cgroup directory of systemd scope ``unit``, once systemd-run has moved ``pid``
    into it; raises OSError saying what went wrong."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v2, _ = own_cgroups(Path(f"/proc/{pid}/cgroup").read_text())
        except OSError:
            raise OSError("systemd-run ended before the command started: "
                          "it could not create the scope") from None
        if v2 and v2.rstrip("/").endswith("/" + unit):
            break
        if time.monotonic() > deadline:
            raise OSError(f"systemd-run did not move the command into a scope within "
                          f"{timeout:.0f} s")
        time.sleep(0.005)
    directory = mount.directory(v2)
    if directory is None:
        raise OSError(f"the scope's cgroup {v2} is not visible under {mount.path}")
    return directory


def v2_parent(mount: Mount, own: str | None,
               controller: str = "memory") -> tuple[Path | None, str]:
    """A cgroup v2 directory where a child with ``controller`` can be made, or why there is
    none."""
    if own is None:
        return None, "this process is in no cgroup v2"
    here = mount.directory(own)
    if here is None:
        return None, f"this process's cgroup {own} is outside {mount.path}"
    # A non-root cgroup with processes may not have children with controllers, so look from
    # this cgroup's parent upwards (the root itself is exempt from that rule).
    candidates = [here] if here == mount.path else list(here.parents)
    for candidate in candidates:
        if mount.path not in (candidate, *candidate.parents):
            break
        try:
            enabled = read(candidate / "cgroup.subtree_control").split()
        except OSError:
            continue
        if controller not in enabled:
            continue
        if os.access(candidate, os.W_OK) and os.access(candidate / "cgroup.procs", os.W_OK):
            return candidate, ""
        return None, f"{candidate} is not writable by this user"
    return None, f"no {controller} controller is enabled in cgroup v2 at {mount.path}"


def systemd_run(mount: Mount | None, controller: str) -> tuple[str | None, str]:
    """The ``systemd-run`` that can make a scope with ``controller`` here, or why none can."""
    from shutil import which

    executable = which("systemd-run")
    if executable is None:
        return None, "systemd-run is not installed"
    if not Path("/run/systemd/system").is_dir():
        return None, "systemd is not the init system"
    if mount is None:
        return None, "no cgroup v2 is mounted"
    try:
        controllers = read(mount.path / "cgroup.controllers").split()
    except OSError:
        controllers = []
    if controller not in controllers:
        return None, f"cgroup v2 at {mount.path} has no {controller} controller"
    if os.geteuid() != 0 and not os.environ.get("XDG_RUNTIME_DIR"):
        return None, "no systemd user session (XDG_RUNTIME_DIR is not set)"
    return executable, ""




@dataclass(frozen=True)
class Hierarchies:
    """Where one controller is mounted (cgroup v2, and v1 if it is there) and where this
    process is in each."""

    v2: Mount | None
    v1: Mount | None
    v2_own: str | None
    v1_own: str | None

    def v1_parent(self, controller: str) -> tuple[Path | None, str]:
        """This process's v1 ``controller`` cgroup if this user may make a child there, or
        why not."""
        parent = self.v1.directory(self.v1_own) if self.v1 and self.v1_own else None
        if parent is None:
            return None, f"no cgroup v1 {controller} controller is mounted"
        if not os.access(parent, os.W_OK):
            return None, f"{parent} is not writable by this user"
        return parent, ""


def locate(controller: str) -> Hierarchies:
    """The hierarchies of ``controller`` from /proc; raises OSError without /proc."""
    mountinfo = Path("/proc/self/mountinfo").read_text()
    own = Path("/proc/self/cgroup").read_text()
    return Hierarchies(*mounts(mountinfo, controller), *own_cgroups(own, controller))


@dataclass
class Scope:
    """A transient systemd scope that ``systemd-run`` makes around the command."""

    executable: str
    mount: Mount
    user: bool  # ``systemd-run --user``: the user's own systemd
    properties: list[str] = field(default_factory=list)  # ``-p NAME=VALUE`` options
    unit: str = field(default_factory=lambda: f"{NAME_PREFIX}{os.getpid()}-"
                      f"{os.urandom(4).hex()}.scope")

    def wrap(self, argv: list[str]) -> list[str]:
        return [self.executable, *(["--user"] if self.user else []), "--scope", "--quiet",
                "--collect", f"--unit={self.unit}", *self.properties, "--", *argv]

    def join(self, pid: int, timeout: float = 10.0) -> Path:
        """The scope's directory, once systemd-run has moved ``pid`` into it (OSError:
        why it did not)."""
        return scope_directory(pid, self.unit, self.mount, timeout)


def systemd_scope(hierarchies: Hierarchies, controller: str) -> tuple[Scope | None, str]:
    """A scope that can hold ``controller`` here (not made yet), or why there is none."""
    executable, reason = systemd_run(hierarchies.v2, controller)
    if executable is None or hierarchies.v2 is None:
        return None, reason
    return Scope(executable, hierarchies.v2, os.geteuid() != 0), ""


class Cgroup:
    """One command's cgroup: a directory made here (or adopted from the process that made
    it), or a systemd scope (whose directory is known once the command is in it).

    A controller's subclass writes its settings (:meth:`configure`), checks the kernel
    holds them (:meth:`check`) and reads what the cgroup saw; its errors are ``error``.
    """

    error: ClassVar[type[CgroupError]] = CgroupError

    def __init__(self, backend: str, directory: Path | None = None,
                 scope: Scope | None = None) -> None:
        self.backend = backend
        self.directory = directory
        self.scope = scope
        self.removed_leftovers = 0  # processes the command left, killed by :meth:`close`

    @property
    def version(self) -> int:
        """The cgroup version of the files: 1 for ``cgroup v1``, else 2."""
        return 1 if self.backend == "cgroup v1" else 2

    def configure(self) -> None:
        """Write the controller's settings into :attr:`directory` (raise :attr:`error`)."""

    def check(self) -> None:
        """Raise :attr:`error` unless the kernel holds the settings in :attr:`directory`."""

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that starts ``argv`` in this cgroup (unchanged for directories)."""
        return self.scope.wrap(argv) if self.scope else argv

    def attach(self, pid: int) -> None:
        """Put ``pid`` (not yet running the command) into the cgroup; for a scope, wait
        until systemd has, then check the settings there."""
        if self.scope is not None:
            try:
                self.directory = self.scope.join(pid)
            except OSError as error:
                raise self.error(str(error)) from None
            self.check()
            return
        assert self.directory is not None
        try:
            write(self.directory / "cgroup.procs", str(pid))
        except OSError as error:
            raise self.error(f"cannot move the command into {self.directory}: "
                             f"{error.strerror or error}") from None

    def close(self) -> None:
        """Kill what the command left running in the cgroup, then remove the cgroup (a scope:
        nothing to do, ``--collect`` has systemd remove it when it is empty)."""
        if self.directory is None or self.scope is not None:
            return
        self.removed_leftovers = kill_all(self.directory)
        remove(self.directory)


CgroupT = TypeVar("CgroupT", bound=Cgroup)


def made(cgroup: CgroupT) -> CgroupT:
    """``cgroup`` (its directory just made) configured, or its directory removed again and
    the error raised."""
    try:
        cgroup.configure()
    except BaseException:
        if cgroup.directory is not None:
            remove(cgroup.directory)
        raise
    return cgroup


def survey(controller: str, backends: Sequence[str]) -> list[tuple[str, str | None]]:
    """Each of ``backends`` with why it cannot hold ``controller`` here, or None where it
    looks usable (without making a cgroup: :func:`first_usable` may still find that it
    cannot)."""
    try:
        hierarchies = locate(controller)
    except OSError:
        return [(backend, "no /proc/self/cgroup: cgroups are Linux-only") for backend in backends]
    out: list[tuple[str, str | None]] = []
    for backend in backends:
        if backend == "systemd":
            reason = systemd_scope(hierarchies, controller)[1]
        elif backend == "cgroup v2":
            reason = ("no cgroup v2 is mounted" if hierarchies.v2 is None else
                      v2_parent(hierarchies.v2, hierarchies.v2_own, controller)[1])
        elif backend == "cgroup v1":
            reason = hierarchies.v1_parent(controller)[1]
        else:
            raise ValueError(f"unknown {controller} cgroup backend {backend!r}")
        out.append((backend, reason or None))
    return out


def first_usable(controller: str, backends: Sequence[str],
                 make: Callable[[str, Hierarchies, Path | Scope], CgroupT],
                 ) -> tuple[CgroupT | None, list[str]]:
    """The cgroup of the first of ``backends`` that can hold ``controller`` here, made by
    ``make(backend, hierarchies, parent directory or scope)``; else None and, per backend,
    ``"backend: why not"``. ``make`` raises :class:`CgroupError` or OSError to say why."""
    try:
        hierarchies = locate(controller)
    except OSError:
        return None, ["no /proc/self/cgroup: cgroups are Linux-only"]
    reasons: list[str] = []
    for backend in backends:
        place: Path | Scope | None
        if backend == "systemd":
            place, reason = systemd_scope(hierarchies, controller)
        elif backend == "cgroup v2":
            place, reason = (None, "no cgroup v2 is mounted") if hierarchies.v2 is None else \
                v2_parent(hierarchies.v2, hierarchies.v2_own, controller)
        elif backend == "cgroup v1":
            place, reason = hierarchies.v1_parent(controller)
        else:
            raise ValueError(f"unknown {controller} cgroup backend {backend!r}")
        if place is not None:
            try:
                return make(backend, hierarchies, place), reasons
            except (OSError, CgroupError) as error:
                reason = str(getattr(error, "strerror", None) or error)
        reasons.append(f"{backend}: {reason}")
    return None, reasons
