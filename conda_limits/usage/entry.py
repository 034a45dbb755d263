"""One entry of the usage log: a command or kernel session, how it ended, what it used.

An entry is one line of JSON that starts with ``{"v":1,``, e.g.::

    {"v":1,"at":"2026-12-01T10:00:00Z","via":"run-limited","command":"python","status":0,
     "wall":12.31,"used":{"cpu":11.9,"rss":1288490188,"vmem":3221225472,"nofile":14},
     "limits":{"data":4294967296}}

``command`` is the program's name only, never its arguments (no secrets in a log).
``used`` holds the measures, each named after the limit it informs: ``cpu`` seconds,
``vmem`` (peak address space), ``data`` (peak data segment), ``rss`` (peak resident memory),
``nofile`` (peak open descriptors), all of the largest single process, and ``procs`` /
``threads`` of the whole process tree. ``limits`` holds the finite soft limits in force;
``stopped_by`` the limit that stopped the command (as the run's diagnosis line named it);
``mem`` the ``--mem`` cgroup's limit, peak and OOM kills. Unknown measures are left out.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..limits.resources import KEYS
from ..limits.values import MAX_VALUE, UNLIMITED, Value

VERSION = 1
#: Every entry's first characters: a reader finds entries by them, even after a torn line.
START = f'{{"v":{VERSION},'
#: Measures an entry may hold, in the order they are written.
MEASURES = ("cpu", "rss", "vmem", "data", "nofile", "procs", "threads")
#: How a run was started.
VIA = ("run-limited", "kernel")
MAX_NAME = 64
#: An exit status as a shell reports it (128+N for signal N).
MAX_STATUS = 255
#: What ``stopped_by`` may name: a limit of the record, or the ``--mem`` cap.
_STOPPED_BY = re.compile("|".join(map(re.escape, (*KEYS, "mem"))))
#: A signal as :func:`conda_limits.system.signals.signal_name` writes it.
_SIGNAL = re.compile(r"SIG[A-Z0-9+]{1,12}|signal [0-9]{1,3}", re.ASCII)
_EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc).timestamp()
_LATEST = datetime(9999, 12, 30, tzinfo=timezone.utc).timestamp()


@dataclass(frozen=True)
class MemUse:
    """The ``--mem`` cgroup of a run: its limit, its peak and its OOM kills (bytes)."""

    limit: int
    peak: int | None = None
    oom_kills: int | None = None


@dataclass(frozen=True)
class Run:
    """One recorded run."""

    at: float  # when it started, seconds since the epoch
    via: str  # "run-limited" or "kernel"
    command: str  # the program's name, never its arguments
    wall: float  # seconds
    status: int | None = None  # exit status as a shell reports it; None: not known
    signal: str | None = None  # the signal that ended it, e.g. "SIGKILL"
    stopped_by: str | None = None  # the limit that stopped it (a limit key, or "mem")
    used: Mapping[str, float] = field(default_factory=dict)  # see MEASURES
    limits: Mapping[str, int] = field(default_factory=dict)  # finite soft limits in force
    mem: MemUse | None = None

    def limit(self, key: str) -> Value:
        """The soft limit ``key`` had during the run (the ``--mem`` cap for ``mem``)."""
        if key == "mem":
            return self.mem.limit if self.mem else UNLIMITED
        return self.limits.get(key, UNLIMITED)

    def to_line(self) -> str:
        """The entry as one line of JSON, newline included."""
        data: dict[str, Any] = {"v": VERSION, "at": iso(self.at), "via": self.via,
                                "command": self.command}
        if self.status is not None:
            data["status"] = self.status
        if self.signal:
            data["signal"] = self.signal
        if self.stopped_by:
            data["stopped_by"] = self.stopped_by
        data["wall"] = round(self.wall, 3)
        used = {k: _number(self.used[k]) for k in MEASURES if self.used.get(k) is not None}
        if used:
            data["used"] = used
        if self.limits:
            data["limits"] = dict(self.limits)
        if self.mem is not None:
            data["mem"] = {k: v for k, v in (("limit", self.mem.limit), ("peak", self.mem.peak),
                                             ("oom_kills", self.mem.oom_kills)) if v is not None}
        return json.dumps(data, separators=(",", ":"), ensure_ascii=True) + "\n"

    def to_json(self) -> dict[str, Any]:
        """The entry as plain data (what ``--json`` prints)."""
        data: dict[str, Any] = json.loads(self.to_line())
        return data


def command_name(argv0: str) -> str:
    """The name a log keeps of a command: its program's base name, shortened."""
    name = os.path.basename(argv0.rstrip("/")) or argv0
    return name[:MAX_NAME]


def from_json(data: Any) -> Run | None:
    """An entry from its parsed JSON; None when it is not a valid version-1 entry."""
    try:
        if not isinstance(data, dict) or data.get("v") != VERSION:
            return None
        via, command = data["via"], data["command"]
        if not isinstance(via, str) or not isinstance(command, str):
            return None
        mem = data.get("mem")
        return Run(
            at=_parse_iso(data["at"]), via=via, command=command[:MAX_NAME],
            wall=_nonnegative(data["wall"]),
            status=_optional_int(data.get("status"), MAX_STATUS),
            signal=_optional_str(data.get("signal"), _SIGNAL),
            stopped_by=_optional_str(data.get("stopped_by"), _STOPPED_BY),
            used={k: _nonnegative(v) for k, v in _mapping(data.get("used")).items()
                  if k in MEASURES},
            limits={k: int(_nonnegative(v)) for k, v in _mapping(data.get("limits")).items()
                    if k in KEYS},
            mem=None if mem is None else MemUse(int(_nonnegative(mem["limit"])),
                                                _optional_int(mem.get("peak")),
                                                _optional_int(mem.get("oom_kills"))),
        )
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def now() -> float:
    return time.time()


def iso(at: float) -> str:
    """``at`` (seconds since the epoch) as the log writes it: ``2026-12-01T10:00:00Z``."""
    return datetime.fromtimestamp(int(at), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_iso(text: Any) -> float:
    """A date of an entry, as seconds since the epoch: one whose UTC and local date and time
    can be shown (``9999-12-31T23:59:59-14:00`` is in the year 10000 in UTC: refused)."""
    if not isinstance(text, str):
        raise TypeError(text)
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(text)
    at = when.timestamp()
    if not _EARLIEST <= at <= _LATEST:  # a day inside datetime's range, for local times
        raise ValueError(text)
    return at


def _number(value: float) -> float | int:
    return round(value, 3) if isinstance(value, float) else int(value)


def _nonnegative(value: Any) -> float:
    """A figure of an entry: a number from 0 to MAX_VALUE (far above any real one, so that
    arithmetic on a hand-made entry cannot overflow)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
            or not math.isfinite(value) or value > MAX_VALUE:
        raise ValueError(value)
    return value


def _optional_int(value: Any, most: int = MAX_VALUE) -> int | None:
    """A whole figure of an entry (a count, bytes, an exit status): 0 to ``most``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(value)
    if not 0 <= value <= most:
        raise ValueError(value)
    return value


def _optional_str(value: Any, pattern: re.Pattern[str]) -> str | None:
    """A name of an entry that ``pattern`` accepts (a limit's key, a signal's name)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(value)
    if not pattern.fullmatch(value):
        raise ValueError(value)
    return value


def _mapping(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(value)
    return value
