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
from dataclasses import dataclass
from pathlib import Path

NAME_PREFIX = "conda-limits-"  # name of every cgroup or scope made here: conda-limits-<pid>-<token>
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


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


def kill_all(directory: Path) -> int:
    """Kill every process left in ``directory``; return how many there were."""
    left = procs(directory)
    if not left:
        return 0
    kill_file = directory / "cgroup.kill"
    for _ in range(100):
        try:
            if kill_file.exists():
                write(kill_file, "1")
            else:
                for pid in procs(directory):
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except OSError:
            pass
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


