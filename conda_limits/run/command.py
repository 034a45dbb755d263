"""Run one command in an environment under its limits: the core of ``conda run-limited``.

:func:`run` reads the environment's recorded limits, plans them with the overrides
(:mod:`~conda_limits.run.plan`), sets up the ``--mem`` cap (:mod:`~conda_limits.system.memory_cap`),
starts and supervises the command (:mod:`~conda_limits.run.process`) and prints what the
user is told on stderr: ceiling warnings, the line saying which limit stopped the command and
the ``--report`` (:mod:`~conda_limits.run.explain`). It imports no conda.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..limits.mem import cap as mem_cap
from ..limits.model import LimitSet
from ..state import record
from ..state.env_vars import environment_variables
from .activation import Activation, from_prefix
from .plan import plan_activation
from .process import Outcome, RunnerError, run_command

if TYPE_CHECKING:
    from ..usage.entry import Run


class CommandNotFound(RunnerError):
    """The command cannot be run: not on the PATH (``problem`` None, status 127), or what
    was found is not a program (``problem`` says why; status 126, as a shell says it)."""

    def __init__(self, name: str, problem: str | None = None, status: int = 127) -> None:
        self.name = name
        self.problem = problem
        self.status = status
        super().__init__(f"cannot run {name}: {problem}" if problem else
                         f"command not found: {name} (not on the environment's PATH)")

    def report(self, prefix: Path | None = None) -> str:
        if self.problem:
            return f"Cannot run {self.name!r}: {self.problem}."
        where = f"the environment at {prefix}" if prefix else "the environment"
        return f"Command not found: {self.name!r} is not on the PATH of {where}."


def find_command(command: Sequence[str], activation: Activation) -> None:
    """Raise :class:`CommandNotFound` when ``command`` cannot be run.

    Only checked here when no activation script runs first (one could extend PATH); the
    launcher checks again just before running it.
    """
    if not command:
        raise RunnerError("no command given")
    if activation.sources_scripts:
        return
    from shutil import which

    name = command[0]
    path = activation.environ.get("PATH", os.defpath)
    if which(name, path=path) is not None:
        return
    if os.sep in name:  # a path: say what is wrong with it
        if os.path.isdir(name):
            raise CommandNotFound(name, "it is a directory", 126)
        if os.path.exists(name):
            raise CommandNotFound(name, "it is not executable", 126)
        raise CommandNotFound(name, "there is no such file", 127)
    for folder in path.split(os.pathsep):
        candidate = os.path.join(folder or os.curdir, name)
        if os.path.isfile(candidate):  # as bash: found, but not a program
            raise CommandNotFound(name, f"{candidate} is not executable", 126)
    raise CommandNotFound(name)


def run(prefix: str | os.PathLike[str], command: Sequence[str],
        overrides: LimitSet | None = None, *, mem: int | None = None,
        mem_backends: Sequence[str] | None = None,
        env: Mapping[str, str] | None = None, activation: Activation | None = None,
        report: bool = False, stderr: TextIO | None = None,
        record_usage: bool = False, report_file: str | None = None) -> int:
    """Run ``command`` in the environment at ``prefix`` under its limits; return its status.

    ``overrides`` win over the environment's recorded limits, ``mem`` included; ``mem``
    (bytes), when given, wins over both. The cap on resident memory is enforced through a
    cgroup or by watching (``mem_backends``: the backends to try, default
    :func:`memory_cap.wanted`; :class:`memory_cap.MemoryCapUnavailable` if none can enforce
    it). ``activation`` is the environment computed by conda; without it, a conda-free
    activation of ``prefix`` on top of ``env`` (default: this process's) is used. One line
    on ``stderr`` says when a limit stopped the command; ``report`` adds a summary;
    ``record_usage`` adds the run to the environment's usage log (:mod:`conda_limits.usage`);
    ``report_file`` gets the report as JSON (:mod:`.report_data`).
    Raises :class:`RunnerError` (and record/cgroup errors) when nothing was run.
    """
    from . import cpu as cpu_command
    from . import explain

    say = _speaker(stderr or sys.stderr)
    if activation is None:
        activation = from_prefix(Path(prefix), env)
    recorded = record.read(prefix)
    plan, activation = plan_activation(recorded, activation, overrides)
    find_command(command, activation)
    mem_source = "flag" if mem is not None or (overrides and overrides.mem is not None) \
        else "environment"
    if mem is None:
        mem = mem_cap(recorded.merged(overrides or LimitSet()).mem)
    memory = None
    if mem is not None:
        from ..system import memory_cap

        memory = memory_cap.choose(mem, mem_backends or memory_cap.wanted())
    from ..system.memory_cap import cgroup_of

    try:
        cpu = cpu_command.prepare(recorded.cpu, overrides.cpu if overrides else None,
                                  own_variables=environment_variables(prefix),
                                  beside=cgroup_of(memory))
    except BaseException:
        if memory is not None:
            memory.close()
        raise
    if cpu is not None:
        activation = replace(activation, environ={**activation.environ, **cpu.environ})
    for warning in [*plan.warnings, *(cpu.warnings if cpu else [])]:
        say(f"{explain.LINE_START}{warning}")
    sample = report or record_usage or bool(report_file)
    outcome = run_command(command, activation, plan, memory=memory, sample=sample, cpu=cpu)
    if memory is not None:
        outcome = outcome._replace(sources={**outcome.sources, "mem": mem_source})
    stop = explain.diagnose(outcome, command, activation.environ.get("PATH"))
    if stop is not None:
        say(explain.LINE_START + stop.line)
    if memory is not None and memory.removed_leftovers:
        where = "in its --mem cgroup" if memory.directory else "(the --mem watch found them)"
        say(f"{explain.LINE_START}stopped {memory.removed_leftovers} process(es) the command "
            f"left running {where}")
    if cpu is not None and cpu.quota is not None and cpu.quota.removed_leftovers:
        say(f"{explain.LINE_START}stopped {cpu.quota.removed_leftovers} process(es) the "
            "command left running in its cores cgroup")
    if report:
        say(explain.report(outcome, command))
    if report_file:
        from . import report_data

        problem = report_data.write(report_file, report_data.report_data(outcome, command, stop))
        if problem:
            say(f"{explain.LINE_START}the report was not written: {problem}")
    if record_usage:
        problem = _record_usage(prefix, outcome, command, stop.limit if stop else None)
        if problem:
            say(f"{explain.LINE_START}this run's usage was not recorded: {problem}")
    say(None)
    return outcome.status


def _speaker(stream: TextIO | None) -> Callable[[str | None], None]:
    """Write a line to ``stream`` (None: flush it). A stderr that was closed when Python
    started (``None``), or that breaks (a closed pipe), must not change the command's exit
    status: what cannot be said is dropped."""

    def say(line: str | None) -> None:
        if stream is None:
            return
        try:
            if line is None:
                stream.flush()
            else:
                print(line, file=stream)
        except (OSError, ValueError):
            pass

    return say


def _entry(outcome: Outcome, command: Sequence[str], stopped_by: str | None) -> Run:
    """The usage log's entry of a run that ended now: the process tree's sampled peaks, with
    the exact peak resident memory and CPU time from wait4."""
    from ..system.signals import signal_name
    from ..usage.entry import Run, command_name, now
    from ..usage.measure import finite, mem_use

    used: dict[str, float] = dict(outcome.peaks)
    if outcome.peak_rss is not None:
        used["rss"] = max(outcome.peak_rss, used.get("rss", 0))
    used["cpu"] = outcome.user + outcome.system
    return Run(
        at=now() - outcome.wall, via="run-limited",
        command=command_name(command[0]) if command else "?", wall=outcome.wall,
        status=outcome.status,
        signal=None if outcome.signal is None else signal_name(outcome.signal),
        stopped_by=stopped_by, used=used, limits=finite(outcome.limits),
        mem=mem_use(outcome.memory),
    )


def _record_usage(prefix: str | os.PathLike[str], outcome: Outcome, command: Sequence[str],
                  stopped_by: str | None) -> str | None:
    """Add the run to the usage log; what went wrong, if it could not be (never raises)."""
    from ..usage import log

    try:
        log.append(prefix, _entry(outcome, command, stopped_by))
    except log.NotRecorded as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 (recording must never fail a run)
        return f"{type(error).__name__}: {error}"
    return None
