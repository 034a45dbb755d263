"""Limits proposed from recorded runs: the observed peak plus a margin, rounded up.

For each limit that runs can be measured against (:data:`MEASURED`), with at least
:data:`MIN_RUNS` runs that say something about it: the proposal is the highest peak of those
runs plus the margin (default 25%), rounded up to a readable value (:func:`readable`), and
never below a floor that keeps ordinary programs working (:data:`FLOORS`). A run that the
limit itself stopped counts as "needed more than that limit", not as a peak: its limit then
takes the place of a peak, and the proposal is a lower bound. A run that failed under a
limit, with no limit named as the one that stopped it, never lets the proposal go below
that limit: it may have failed because of it. Too few runs: nothing is proposed, and the
suggestion says how many more are needed.

``mem`` (the resident-memory cap) is proposed too, from the cgroup's peak where runs had one
and from the largest process's peak resident memory otherwise; recorded, it applies to
``run-limited``, kernels and Slurm jobs (not to an activated shell). An
environment with CUDA/ML packages gets no ``vmem`` proposal (CUDA reserves address space far
beyond its use) but a warning that points to ``mem``.

Not proposed: ``stack``, ``fsize``, ``core``, ``memlock`` (nothing a run shows bounds them)
and ``nproc`` (it counts every process of the user, not of one program).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from ..limits import floors, resources
from ..limits.resources import MEM, Kind, Resource
from ..limits.values import UNLIMITED, Value, approx, human, pretty
from .entry import Run, iso

MIN_RUNS = 3
MARGIN = 0.25
#: limit -> the measure of a run it is proposed from (``mem``: see :func:`_measure`).
MEASURED = {"vmem": "vmem", "data": "data", "nofile": "nofile", "cpu": "cpu", "mem": "rss"}
_MIB = 1 << 20
#: Lowest value proposed, whatever the runs used: the floors below which conda-limits
#: refuses a value (:mod:`conda_limits.limits.floors`), raised for nofile and cpu (one program's
#: peak says little about the next one's), and 128 MiB for mem.
FLOORS = {key: max(floors.FLOORS[key].value if key in floors.FLOORS else 0, extra)
          for key, extra in (("vmem", 0), ("data", 0), ("mem", 128 * _MIB), ("nofile", 256),
                             ("cpu", 60))}
#: A limit this many times above the floored peak protects little (``conda doctor``).
FAR = 10
#: Runs a limit stopped, with that limit still in force, for ``conda doctor`` to report it.
HITS = 2


@dataclass(frozen=True)
class Suggestion:
    """A proposed soft limit for one resource, with its evidence."""

    key: str
    value: Value | None  # the proposal; None: nothing proposed (see note)
    current: Value | None  # the environment's limit now; None: not set
    runs: int = 0  # runs that say something about this limit
    peak: float | None = None  # the highest peak of the runs that completed under it
    peak_at: float | None = None  # when the run with that peak started
    stopped: int = 0  # runs this limit stopped
    stopped_limit: int | None = None  # the highest limit that stopped one of them
    note: str = ""
    warning: str = ""

    @property
    def resource(self) -> Resource:
        return MEM if self.key == "mem" else resources.get(self.key)

    @property
    def applicable(self) -> bool:
        """Whether ``--apply`` writes it."""
        return self.value is not None

    def to_json(self) -> dict[str, object]:
        return {"key": self.key, "suggested": self.value, "current": self.current,
                "runs": self.runs, "peak": self.peak,
                "peak_at": None if self.peak_at is None else iso(self.peak_at),
                "stopped": self.stopped, "stopped_limit": self.stopped_limit,
                "note": self.note or None, "warning": self.warning or None}


def parse_margin(text: str) -> float:
    """``25%`` or ``25`` -> 0.25; raises ValueError for anything else or above 1000%."""
    match = re.fullmatch(r"\s*([0-9]{1,4}(?:\.[0-9]{1,2})?)\s*%?\s*", text, re.ASCII)
    if not match or float(match.group(1)) > 1000:
        raise ValueError(f"invalid margin {text!r}: expected a percentage from 0% to 1000%, "
                         "e.g. 25%")
    return float(match.group(1)) / 100


def suggest(runs: Sequence[Run], current: Mapping[str, Value], *, margin: float = MARGIN,
            gpu_packages: Sequence[str] = ()) -> list[Suggestion]:
    """A suggestion per measured limit (in :data:`MEASURED`'s order).

    ``current``: the environment's limits now (soft, else hard), by key.
    """
    out = [_one(key, runs, current.get(key), margin) for key in MEASURED]
    if gpu_packages:
        out = [_gpu(s, gpu_packages) if s.key == "vmem" else s for s in out]
    return out


def _measure(run: Run, key: str) -> float | None:
    if key == "mem" and run.mem is not None and run.mem.peak is not None:
        return run.mem.peak  # the whole cgroup, where runs had one
    return run.used.get(MEASURED[key])


def _one(key: str, runs: Sequence[Run], current: Value | None, margin: float) -> Suggestion:
    stopped = [r for r in runs if r.stopped_by == key and r.limit(key) != UNLIMITED]
    completed = [(value, r) for r in runs if r.stopped_by != key
                 and (value := _measure(r, key)) is not None]
    evidence = len(stopped) + len(completed)
    peak, peak_at = None, None
    if completed:
        peak, top = max(completed, key=lambda pair: pair[0])
        peak_at = top.at
    stopped_limit = max((int(r.limit(key)) for r in stopped), default=None)
    base = Suggestion(key, None, current, evidence, peak, peak_at, len(stopped), stopped_limit)
    if evidence < MIN_RUNS:
        more = MIN_RUNS - evidence
        return replace(base, note=f"too few runs: {evidence} recorded, {more} more needed")
    need = max(peak or 0, stopped_limit or 0)
    value = max(readable(base.resource, need * (1 + margin)), FLOORS[key])
    notes = []
    if stopped_limit is not None:
        notes.append(f"{len(stopped)} run(s) stopped by {key} "
                     f"{pretty(base.resource, stopped_limit)} needed more: a lower bound")
    # A run that failed under a limit, of a cause not known (no limit was named as the one
    # that stopped it), may have failed because of it, whatever its peak says (one
    # allocation too large fails at once): never propose less than that limit.
    failed = [int(r.limit(key)) for r in runs if r.stopped_by is None and failed_run(r)
              and r.limit(key) != UNLIMITED]
    if failed and max(failed) > value:
        value = max(failed)
        notes.append(f"not below {key} {pretty(base.resource, value)}, which "
                     f"{sum(f == value for f in failed)} failed run(s) ran under")
    if value == FLOORS[key] and need * (1 + margin) < FLOORS[key]:
        notes.append(f"the lowest value suggested for {key}")
    return replace(base, value=value, note="; ".join(notes))


def failed_run(run: Run) -> bool:
    """Whether a run ended badly: a signal, or an exit status other than 0."""
    return run.signal is not None or run.status not in (None, 0)


def _gpu(suggestion: Suggestion, packages: Sequence[str]) -> Suggestion:
    shown = ", ".join(packages[:3]) + (", ..." if len(packages) > 3 else "")
    return replace(suggestion, value=None, warning=(
        f"not proposed: this environment has CUDA/ML packages ({shown}), and CUDA reserves "
        "address space of about twice the GPU's memory, so a vmem limit breaks it; cap "
        "resident memory with mem (proposed above; `conda run-limited --mem` for one run) "
        "or the data segment with data instead"))


def readable(resource: Resource, needed: float) -> int:
    """The smallest readable value at or above ``needed``.

    Sizes and counts: a multiple of a quarter of the power of two below (320M, 1536M, 5G,
    320); sizes in whole KiB. Durations: 1-60 s, min or h in steps of 1, 2, 3, 4, 5, 6, 8,
    10, 12, 15, 20, 30, 45 (and 90 min), then whole days.
    """
    if resource.kind is Kind.DURATION:
        return next((c for c in _DURATIONS if c >= needed), math.ceil(needed / 86400) * 86400)
    whole = math.ceil(needed)
    if whole <= 4:
        step = 1
    else:
        step = 1 << (whole.bit_length() - 3)  # a quarter of the power of two below
    if resource.kind is Kind.SIZE:
        step = max(step, 1024)
    return math.ceil(needed / step) * step


_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 30, 45)
_DURATIONS = sorted({*_STEPS, *(60 * s for s in _STEPS), 90 * 60,
                     *(3600 * s for s in _STEPS if s <= 20), 86400})


@dataclass(frozen=True)
class Check:
    """A recorded limit that the runs say is wrong: ``hit`` (keeps stopping runs) or
    ``loose`` (far above anything used)."""

    key: str
    kind: str
    message: str
    hint: str


def checks(runs: Sequence[Run], current: Mapping[str, Value], target: str) -> list[Check]:
    """Limits recorded runs keep hitting, and limits far above anything they used;
    ``target`` names the environment in the hints' commands (``-n NAME``, ``-p PATH``)."""
    out = []
    for key, value in current.items():
        if key not in MEASURED or key == "mem" or value == UNLIMITED:
            continue
        resource = resources.get(key)
        hits = [r for r in runs if r.stopped_by == key and r.limit(key) == value]
        if len(hits) >= HITS:
            out.append(Check(key, "hit", (
                f"{key} {pretty(resource, value)} stopped {len(hits)} recorded runs "
                f"(last on {when(hits[-1].at)})"),
                f"raise it, e.g. `conda limits suggest {target} --apply` proposes a value from "
                "the runs"))
            continue
        suggestion = _one(key, runs, value, MARGIN)
        if suggestion.value is None or suggestion.peak is None or suggestion.stopped:
            continue
        floored = max(suggestion.peak, FLOORS[key])
        if int(value) > FAR * floored:
            out.append(Check(key, "loose", (
                f"{key} {pretty(resource, value)} is far above what {suggestion.runs} recorded "
                f"runs used (at most {approx(resource, suggestion.peak)}): it "
                "protects little"),
                f"`conda limits set {target} --{key} {human(resource, suggestion.value)}` "
                "(what `conda limits suggest` proposes)"))
    return out


def when(at: float) -> str:
    """A run's start as local date and time, to the minute."""
    import time

    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at))
