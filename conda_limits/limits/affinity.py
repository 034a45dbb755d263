"""CPU lists (``0-3,8``), the CPUs this process may run on, and setting a process's affinity.

The current set is read from ``/proc/self/status`` (``Cpus_allowed_list``), the kernel's view
of ``sched_getaffinity`` already narrowed by any cgroup cpuset, so nothing is forked. A
configured set is applied as its intersection with what the process may use now: CPUs outside
it are reported (a warning, not a failure), and an empty intersection leaves the affinity as it
is, since widening it past what an administrator allowed is not ours to do.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from ..errors import LimitsError

#: Highest CPU number accepted in a list: the kernel's largest NR_CPUS is 8192.
MAX_CPU: Final = 8191
MAX_TEXT: Final = 200
ACCEPTED: Final = ("a Linux CPU list: CPU numbers and ranges separated by commas, "
                   "e.g. 0-3,8")


class CpuListError(LimitsError, ValueError):
    """Text that is not a CPU list; ``reason`` says what is wrong with it."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def parse_cpu_list(text: str) -> frozenset[int]:
    """The CPUs named by ``text`` (``0-3,8``). Strict: ASCII digits, ``-`` ranges that go up,
    commas; no empty items, no signs, no strides. Raises :class:`CpuListError`."""
    text = text.strip()
    if not text:
        raise CpuListError("the list is empty")
    if len(text) > MAX_TEXT:
        raise CpuListError(f"longer than {MAX_TEXT} characters")
    cpus: set[int] = set()
    for item in text.split(","):
        first_text, dash, last_text = item.strip().partition("-")
        numbers = [first_text, last_text] if dash else [first_text]
        if not all(n.isascii() and n.isdigit() and len(n) <= 5 for n in numbers):
            raise CpuListError(f"{item.strip()!r} is neither a CPU number nor a range N-M")
        first, last = int(first_text), int(numbers[-1])
        if last < first:
            raise CpuListError(f"the range {first}-{last} goes down; write {last}-{first}")
        if last > MAX_CPU:
            raise CpuListError(f"CPU {last} is above the largest CPU number Linux has, "
                               f"{MAX_CPU}")
        cpus.update(range(first, last + 1))
    return frozenset(cpus)


def format_cpu_list(cpus: Iterable[int]) -> str:
    """The shortest list for ``cpus``: ``0-3,8`` (empty text for no CPU)."""
    ordered = sorted(set(cpus))
    parts: list[str] = []
    start = prev = None
    for cpu in [*ordered, None]:
        if prev is not None and cpu == prev + 1:
            prev = cpu
            continue
        if start is not None:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = cpu
    return ",".join(parts)


def _status_field(text: str, name: str) -> str | None:
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == name:
            return value.strip()
    return None


def allowed_cpus(pid: int | str = "self") -> frozenset[int]:
    """The CPUs process ``pid`` may run on now, from ``/proc/<pid>/status`` (no fork).

    Falls back to :func:`os.sched_getaffinity` where there is no such line.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as handle:
            found = _status_field(handle.read(), "Cpus_allowed_list")
        if found:
            return parse_cpu_list(found)
    except (OSError, CpuListError):
        pass
    return frozenset(os.sched_getaffinity(0 if pid == "self" else int(pid)))


def present_cpus() -> frozenset[int]:
    """The CPUs this machine has (``/sys/devices/system/cpu/present``, else ``os.cpu_count``)."""
    for name in ("present", "online"):
        try:
            with open(f"/sys/devices/system/cpu/{name}", encoding="ascii") as handle:
                return parse_cpu_list(handle.read())
        except (OSError, CpuListError):
            continue
    return frozenset(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class Placement:
    """What applying a configured CPU set means here and now."""

    wanted: frozenset[int]  # the configured set
    allowed: frozenset[int]  # what the process may use now
    cpus: frozenset[int]  # the set to apply: wanted and allowed (empty: leave as it is)

    @property
    def outside(self) -> frozenset[int]:
        """Configured CPUs this process may not use (a warning)."""
        return self.wanted - self.allowed

    @property
    def changes(self) -> bool:
        """Whether applying it changes anything."""
        return bool(self.cpus) and self.cpus != self.allowed

    def warning(self) -> str | None:
        """One line for people when some configured CPUs cannot be used, else None."""
        if not self.outside:
            return None
        allowed = format_cpu_list(self.allowed)
        if not self.cpus:
            return (f"cpuset {format_cpu_list(self.wanted)}: none of these CPUs is available "
                    f"here (allowed: {allowed}); CPU affinity left as it is")
        return (f"cpuset {format_cpu_list(self.wanted)}: CPU(s) "
                f"{format_cpu_list(self.outside)} not available here (allowed: {allowed}); "
                f"using {format_cpu_list(self.cpus)}")


def placement(wanted: frozenset[int], allowed: frozenset[int] | None = None) -> Placement:
    """Plan ``wanted`` against what this process may use (``allowed``, default: read now)."""
    allowed = allowed_cpus() if allowed is None else allowed
    return Placement(wanted, allowed, wanted & allowed)


def set_affinity(pid: int, cpus: frozenset[int]) -> frozenset[int]:
    """Put ``pid`` on ``cpus`` (``sched_setaffinity``) and return the set it has afterwards."""
    os.sched_setaffinity(pid, cpus)
    return frozenset(os.sched_getaffinity(pid))
