"""``--mem``: cap a command's resident memory with a cgroup, or refuse.

RLIMIT_AS/RLIMIT_DATA count address space and private mappings; only a memory cgroup caps
what is resident, which leaves CUDA, PyTorch and JAX working. Three backends, tried in order:

* ``systemd``: ``systemd-run [--user] --scope -p MemoryMax=...`` around the command, where
  systemd manages a cgroup v2 tree with the memory controller; the scope's ``memory.max`` is
  checked, because systemd accepts MemoryMax silently where the controller is not delegated.
* ``cgroup v2``: a child of a writable cgroup v2 directory whose ``cgroup.subtree_control``
  enables ``memory`` (a delegated subtree, or the root as root), with ``memory.max``.
* ``cgroup v1``: a child of this process's v1 memory cgroup, with ``memory.limit_in_bytes``.

The command and its children are in the cgroup, and swap does not extend the cap. A cgroup
made here is removed when the command ends; processes the command left running in it are
killed first, since moving them out would lift their cap silently. Where no backend can
enforce the cap, :func:`memory_cap` raises :class:`MemoryCapUnavailable` and nothing runs.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LimitsError

NAME_PREFIX = "conda-limits-"  # name of every cgroup or scope made here: conda-limits-<pid>-<token>
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class MemoryCapUnavailable(LimitsError, RuntimeError):
    """No backend can enforce ``--mem`` here; ``reasons`` says why, per backend."""

    def __init__(self, limit: int, reasons: Sequence[str]) -> None:
        self.limit = limit
        self.reasons = tuple(reasons)
        super().__init__("no cgroup backend can enforce a memory cap here: "
                         + "; ".join(self.reasons))


class MemoryCapError(LimitsError, RuntimeError):
    """A cgroup could not be set up for the command (it was not started)."""


@dataclass(frozen=True)
class MemoryStats:
    """What the cgroup saw: its limit, peak usage and OOM kills (None: not known)."""

    backend: str
    limit: int
    peak: int | None = None
    oom_kills: int | None = None


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


def _mounts(mountinfo: str, controller: str = "memory") -> tuple[Mount | None, Mount | None]:
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


def _own_cgroups(text: str, controller: str = "memory") -> tuple[str | None, str | None]:
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


def _read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()


def _write(path: Path, text: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(text)


def _field(text: str, name: str) -> int | None:
    """The number after ``name`` in a ``key value`` file (memory.events, memory.oom_control)."""
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == name and value.strip().isdigit():
            return int(value)
    return None


def _page_rounded(limit: int) -> int:
    return limit - limit % PAGE


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class MemoryCap:
    """A cgroup capping one command's resident memory (see the module docstring)."""

    backend: str
    limit: int
    directory: Path | None = None  # the cgroup's directory, once known
    removed_leftovers: int = field(default=0, init=False)

    def wrap(self, argv: list[str]) -> list[str]:
        """The command line that starts ``argv`` under this cap (unchanged for directories)."""
        return argv

    def attach(self, pid: int) -> None:
        """Put ``pid`` (not yet running the command) into the cgroup."""
        assert self.directory is not None
        try:
            _write(self.directory / "cgroup.procs", str(pid))
        except OSError as error:
            raise MemoryCapError(f"cannot move the command into {self.directory}: "
                                 f"{error.strerror or error}") from None

    def stats(self) -> MemoryStats:
        raise NotImplementedError

    def close(self) -> None:
        """Kill what the command left running in the cgroup, then remove the cgroup."""
        if self.directory is None:
            return
        self.removed_leftovers = _empty(self.directory)
        _rmdir(self.directory)


def _procs(directory: Path) -> list[int]:
    try:
        return [int(p) for p in _read(directory / "cgroup.procs").split()]
    except (OSError, ValueError):
        return []


def _empty(directory: Path) -> int:
    """Kill every process left in ``directory``; return how many there were."""
    left = _procs(directory)
    if not left:
        return 0
    kill_file = directory / "cgroup.kill"
    for _ in range(100):
        try:
            if kill_file.exists():
                _write(kill_file, "1")
            else:
                for pid in _procs(directory):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass
        if not _procs(directory):
            break
        time.sleep(0.02)
    return len(left)


def _rmdir(directory: Path) -> None:
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


def _make_child(parent: Path) -> Path:
    """Create a new cgroup under ``parent``, first removing stale ones left by killed runs.

    A run killed with SIGKILL cannot remove its cgroup: its command dies with it (see
    :func:`conda_limits.run.process._dies_with_us`), and what the command left running there
    is stopped now, as when a run ends (moving it out would lift its cap silently).
    """
    for stale in parent.glob(f"{NAME_PREFIX}*"):
        owner = stale.name[len(NAME_PREFIX):].split("-")[0]
        if owner.isdigit() and not _pid_alive(int(owner)):
            _empty(stale)
            _rmdir(stale)
    child = parent / f"{NAME_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
    child.mkdir(mode=0o755)
    return child


class CgroupV1(MemoryCap):
    """A child of this process's v1 memory cgroup with ``memory.limit_in_bytes``."""

    def __init__(self, limit: int, parent: Path) -> None:
        super().__init__("cgroup v1", limit)
        self.directory = _make_child(parent)
        try:
            _write(self.directory / "memory.limit_in_bytes", str(limit))
            memsw = self.directory / "memory.memsw.limit_in_bytes"
            if memsw.exists():  # swap accounting on: no swapping past the cap either
                _write(memsw, str(limit))
            applied = int(_read(self.directory / "memory.limit_in_bytes"))
            if applied > _page_rounded(limit) + PAGE:
                raise MemoryCapError(f"{self.directory} did not take the limit "
                                     f"(memory.limit_in_bytes reads {applied})")
        except (OSError, ValueError) as error:
            _rmdir(self.directory)
            raise MemoryCapError(f"cannot set the memory limit in {self.directory}: "
                                 f"{getattr(error, 'strerror', None) or error}") from None

    def stats(self) -> MemoryStats:
        assert self.directory is not None
        peak = oom = None
        try:
            peak = int(_read(self.directory / "memory.max_usage_in_bytes"))
        except (OSError, ValueError):
            pass
        try:
            oom = _field(_read(self.directory / "memory.oom_control"), "oom_kill")
        except OSError:
            pass
        return MemoryStats(self.backend, self.limit, peak, oom)


class CgroupV2(MemoryCap):
    """A child of a delegated cgroup v2 directory with ``memory.max``."""

    def __init__(self, limit: int, parent: Path) -> None:
        super().__init__("cgroup v2", limit)
        self.directory = _make_child(parent)
        try:
            _configure_v2(self.directory, limit)
        except MemoryCapError:
            _rmdir(self.directory)
            raise

    def stats(self) -> MemoryStats:
        assert self.directory is not None
        return _stats_v2(self.backend, self.limit, self.directory)



def adopt(backend: str, limit: int, directory: Path) -> MemoryCap:
    """The cap of a cgroup directory another process made (the kernel launcher, which execs
    the kernel): to read its figures and remove it once the kernel has ended."""
    kinds: dict[str, type[MemoryCap]] = {"cgroup v1": CgroupV1, "cgroup v2": CgroupV2}
    if backend not in kinds:
        raise ValueError(f"cannot adopt a {backend!r} memory cap")
    cap = object.__new__(kinds[backend])
    MemoryCap.__init__(cap, backend, limit, directory)
    return cap

def _configure_v2(directory: Path, limit: int) -> None:
    try:
        _write(directory / "memory.max", str(limit))
        swap = directory / "memory.swap.max"
        if swap.exists():
            _write(swap, "0")
    except OSError as error:
        raise MemoryCapError(f"cannot set memory.max in {directory}: "
                             f"{error.strerror or error}") from None
    _check_v2(directory, limit)


def _check_v2(directory: Path, limit: int) -> None:
    try:
        applied = _read(directory / "memory.max")
    except OSError as error:
        raise MemoryCapError(f"{directory} has no memory controller "
                             f"({error.strerror or error})") from None
    if applied == "max" or not applied.isdigit() or int(applied) > _page_rounded(limit) + PAGE:
        raise MemoryCapError(f"the memory limit is not in force in {directory} "
                             f"(memory.max reads {applied!r})")


def _stats_v2(backend: str, limit: int, directory: Path) -> MemoryStats:
    peak = oom = None
    try:
        peak = int(_read(directory / "memory.peak"))
    except (OSError, ValueError):
        pass
    try:
        oom = _field(_read(directory / "memory.events"), "oom_kill")
    except OSError:
        pass
    return MemoryStats(backend, limit, peak, oom)


class SystemdScope(MemoryCap):
    """``systemd-run --scope -p MemoryMax=...``: systemd makes and removes the cgroup."""

    def __init__(self, limit: int, executable: str, mount: Mount, user: bool) -> None:
        super().__init__("systemd scope", limit)
        self.executable = executable
        self.mount = mount
        self.user = user
        self.unit = f"{NAME_PREFIX}{os.getpid()}-{os.urandom(4).hex()}.scope"
        self._last: MemoryStats | None = None
        self.properties: list[str] = []  # more `-p NAME=VALUE` (a CPU quota sharing the scope)

    def wrap(self, argv: list[str]) -> list[str]:
        return [self.executable, *(["--user"] if self.user else []), "--scope", "--quiet",
                "--collect", f"--unit={self.unit}", "-p", f"MemoryMax={self.limit}",
                "-p", "MemorySwapMax=0", *self.properties, "--", *argv]

    def attach(self, pid: int, timeout: float = 10.0) -> None:
        """Wait until systemd-run has moved ``pid`` into the scope, then check memory.max."""
        try:
            directory = scope_directory(pid, self.unit, self.mount, timeout)
        except OSError as error:
            raise MemoryCapError(str(error)) from None
        _check_v2(directory, self.limit)
        self.directory = directory

    def stats(self) -> MemoryStats:
        # systemd removes the scope once it is empty, possibly before this is read.
        if self.directory is None or not self.directory.exists():
            return MemoryStats(self.backend, self.limit)
        return _stats_v2(self.backend, self.limit, self.directory)

    def close(self) -> None:
        """Nothing to do: ``--collect`` has systemd remove the scope when it is empty."""


def scope_directory(pid: int, unit: str, mount: Mount, timeout: float) -> Path:
    """The cgroup directory of systemd scope ``unit``, once systemd-run has moved ``pid``
    into it; raises OSError saying what went wrong."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v2, _ = _own_cgroups(Path(f"/proc/{pid}/cgroup").read_text())
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


def _v2_parent(mount: Mount, own: str | None,
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
            enabled = _read(candidate / "cgroup.subtree_control").split()
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
        controllers = _read(mount.path / "cgroup.controllers").split()
    except OSError:
        controllers = []
    if controller not in controllers:
        return None, f"cgroup v2 at {mount.path} has no {controller} controller"
    if os.geteuid() != 0 and not os.environ.get("XDG_RUNTIME_DIR"):
        return None, "no systemd user session (XDG_RUNTIME_DIR is not set)"
    return executable, ""


def _systemd(limit: int, mount: Mount | None) -> tuple[SystemdScope | None, str]:
    executable, reason = systemd_run(mount, "memory")
    if executable is None or mount is None:
        return None, reason
    return SystemdScope(limit, executable, mount, os.geteuid() != 0), ""


BACKENDS = ("systemd", "cgroup v2", "cgroup v1")


def memory_cap(limit: int, backends: Sequence[str] = BACKENDS) -> MemoryCap:
    """A memory cap of ``limit`` bytes from the first backend that can enforce it here.

    Raises :class:`MemoryCapUnavailable` (naming each backend's reason) when none can, and
    :class:`MemoryCapError` for a cap of 0, under which nothing can run.
    """
    if limit <= 0:
        raise MemoryCapError("--mem 0 would leave the command no memory at all, so nothing "
                             "could run; give a size such as --mem 4G")
    try:
        mountinfo = Path("/proc/self/mountinfo").read_text()
        own = Path("/proc/self/cgroup").read_text()
    except OSError:
        raise MemoryCapUnavailable(limit, ["no /proc/self/cgroup: cgroups are Linux-only"]) \
            from None
    v2_mount, v1_mount = _mounts(mountinfo)
    v2_own, v1_own = _own_cgroups(own)
    reasons = []
    for backend in backends:
        if backend == "systemd":
            cap, reason = _systemd(limit, v2_mount)
            if cap is not None:
                return cap
        elif backend == "cgroup v2":
            if v2_mount is None:
                reason = "no cgroup v2 is mounted"
            else:
                parent, reason = _v2_parent(v2_mount, v2_own)
                if parent is not None:
                    try:
                        return CgroupV2(limit, parent)
                    except (OSError, MemoryCapError) as error:
                        reason = str(getattr(error, "strerror", None) or error)
        elif backend == "cgroup v1":
            parent = v1_mount.directory(v1_own) if v1_mount and v1_own else None
            if parent is None:
                reason = "no cgroup v1 memory controller is mounted"
            elif not os.access(parent, os.W_OK):
                reason = f"{parent} is not writable by this user"
            else:
                try:
                    return CgroupV1(limit, parent)
                except (OSError, MemoryCapError) as error:
                    reason = str(error)
        else:
            raise ValueError(f"unknown memory cap backend {backend!r}")
        reasons.append(f"{backend}: {reason}")
    raise MemoryCapUnavailable(limit, reasons)
