"""Start a Jupyter kernel in an environment, under the environment's limits.

Run by the kernelspecs that ``conda limits kernel install`` writes::

    python -m conda_limits.jupyter.launch --prefix ENV --spec-dir DIR -- CONNECTION_FILE

At every start it reads the environment's recorded limits (and the kernelspec's own
``--mem``, which wins over the recorded ``mem``), computes what ``conda activate`` would give
the kernel (with conda's activator when conda is importable, else
:func:`~conda_limits.run.activation.from_prefix`: see :mod:`conda_limits.run.conda_env`), sets
the limits on itself and
``exec``s one shell that sources the environment's ``activate.d/*.sh`` scripts and then
``exec``s ``python -m ipykernel_launcher``. The kernel keeps this process's pid, so Jupyter's
interrupt, restart and kill reach it directly. A small detached watcher
(:mod:`conda_limits.jupyter.watch`) records the kernel's session in the usage log and removes a
``--mem`` cgroup when the kernel ends.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LimitsError
from ..limits.mem import cap, parse_mem
from ..limits.values import UNLIMITED, Value
from ..run import activation, conda_env, launcher, process
from ..run.plan import LimitPlan, plan_activation
from ..state import record
from ..state.env_vars import environment_variables
from ..system import rlimits
from . import watch
from .kernelspec import OVERRIDES

if TYPE_CHECKING:
    from ..run.cpu import CpuRun
    from ..system.memory_cap import MemoryCap
    from ..system.memory_watch import MemoryWatch

#: Who speaks in the lines the launcher writes to the Jupyter server's log.
SPEAKER = "conda-limits kernel"


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m conda_limits.jupyter.launch")
    parser.add_argument("--prefix", required=True, help="the environment the kernel runs in")
    parser.add_argument("--spec-dir", help="the kernelspec's folder (for its --mem)")
    parser.add_argument("connection_file", help="Jupyter's connection file")
    return parser.parse_args(argv)


def kernel_mem(spec_dir: str | None) -> Value | None:
    """The ``--mem`` given at ``kernel install`` (kept beside kernel.json): bytes, or
    ``unlimited`` (no cap, whatever the environment records); None when none was given.

    Raises ValueError naming the file for content that is not ``mem: SIZE``.
    """
    if not spec_dir:
        return None
    path = Path(spec_dir) / OVERRIDES
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from ..state.yaml_loader import round_trip

    try:
        data = round_trip().load(text)
    except YAMLError as error:
        mark = getattr(error, "problem_mark", None) if isinstance(error, MarkedYAMLError) \
            else None
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ValueError(f"{path}: not valid YAML{where}") from None
    if not isinstance(data, dict) or set(data) - {"mem"}:
        raise ValueError(f"{path}: expected only 'mem: SIZE'")
    try:
        return parse_mem(data.get("mem"))
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def mem_limit(plan: LimitPlan, mem: int | None) -> int | None:
    """``MEM_LIMIT`` for jupyter-resource-usage: the cgroup cap, else min(vmem, data)."""
    if mem is not None:
        return mem
    values: list[Value] = [plan[key].soft for key in ("vmem", "data")
                           if plan[key].source != "inherited"]
    numbers = [int(v) for v in values if v != UNLIMITED]
    return min(numbers) if numbers else None


def records(prefix: str) -> bool:
    """Whether the kernel's session goes into the usage log (CONDA_LIMITS_NO_RECORD, the
    environment's marker, the user's .condarc)."""
    from ..usage.optout import SETTING, off_reason

    return off_reason(prefix, configured=conda_env.plugin_flag(SETTING, True)) is None


class LaunchError(LimitsError):
    """The kernel cannot be started as configured; the message says why."""


#: A kernel keeps its pid (exec), so its cgroup must be a directory it can join itself:
#: a systemd scope would have to start it as a child and check the cap afterwards. Without
#: a writable cgroup, the kernel's watcher enforces ``--mem`` (``watch``).
KERNEL_CGROUP_BACKENDS = ("cgroup v2", "cgroup v1")
KERNEL_MEM_BACKENDS = (*KERNEL_CGROUP_BACKENDS, "watch")


def kernel_mem_backends() -> tuple[str, ...]:
    """The ``--mem`` backends a kernel may use, as forced (CONDA_LIMITS_MEM_BACKEND, conda's
    ``plugins.limits_mem_backend``) or all of :data:`KERNEL_MEM_BACKENDS`; ValueError when
    the one forced cannot hold a kernel."""
    from ..system import memory_cap

    forced = memory_cap.wanted(configured=conda_env.plugin_text(memory_cap.SETTING))
    usable = tuple(backend for backend in forced if backend in KERNEL_MEM_BACKENDS)
    if not usable:
        raise ValueError(f"the --mem backend {forced[0]} cannot hold a kernel (it keeps its "
                         f"pid); use one of {', '.join(KERNEL_MEM_BACKENDS)}")
    return usable


def prepare(args: argparse.Namespace) -> tuple[launcher.Launch, LimitPlan,
                                               MemoryCap | MemoryWatch | None, CpuRun | None]:
    """Everything the kernel needs before ``exec``: its launch, limits, --mem cgroup and CPU
    settings (thread variables, CPU set, ``cores`` quota in a cgroup directory)."""
    prefix = Path(args.prefix)
    python = prefix / "bin" / "python"
    if not python.exists():
        raise LaunchError(f"{prefix} has no bin/python (was the environment removed?)")
    try:
        recorded = record.read(prefix)
        own = kernel_mem(args.spec_dir)
        mem = cap(recorded.mem if own is None else own)  # the kernelspec's own wins
    except Exception as error:  # noqa: BLE001 (record, YAML and value errors alike: say which)
        raise LaunchError(f"cannot read the limits: {error}") from None
    try:
        given = conda_env.activation_for(prefix)
    except Exception as error:  # noqa: BLE001 (conda's activator: an unknown or broken env)
        raise LaunchError(f"cannot activate {prefix}: {error}") from None
    plan, started = plan_activation(recorded, given)
    limit = mem_limit(plan, mem)
    if limit is not None:
        started = replace(started, environ={**started.environ, "MEM_LIMIT": str(limit)})
    command = [str(python), "-m", "ipykernel_launcher", "-f", args.connection_file]
    memory = None
    if mem is not None:
        from ..system import memory_cap

        try:
            memory = memory_cap.choose(mem, backends=kernel_mem_backends())
        except (memory_cap.MemoryCapUnavailable, memory_cap.MemoryCapError,
                ValueError) as error:
            raise LaunchError(str(error)) from None
    from ..run import cpu as cpu_command
    from ..system.memory_cap import cgroup_of

    try:
        cpu = cpu_command.prepare(recorded.cpu, own_variables=environment_variables(
            prefix), beside=cgroup_of(memory), backends=KERNEL_CGROUP_BACKENDS)
    except LimitsError as error:
        if memory is not None:
            memory.close()
        raise LaunchError(str(error)) from None
    if cpu is not None:
        started = replace(started, environ={**started.environ, **cpu.environ})
    try:
        gate_fd, ready_fd = process.open_gate()
        launch = launcher.launch(started, command, gate_fd, ready_fd)
    except (activation.ActivationError, process.RunnerError) as error:
        if memory is not None:
            memory.close()
        if cpu is not None:
            cpu.close()
        raise LaunchError(str(error)) from None
    return launch, plan, memory, cpu


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        launch, plan, memory, cpu = prepare(args)
    except LaunchError as error:
        print(f"{SPEAKER}: {error}", file=sys.stderr)
        return 1
    for warning in [*plan.warnings, *(cpu.warnings if cpu else [])]:
        print(f"{SPEAKER}: {warning}", file=sys.stderr)
    record_usage = records(args.prefix)
    cpu_cgroups = cpu.cgroups() if cpu else []
    if memory is not None or record_usage or cpu_cgroups:
        # Records the session and removes the cgroup when this pid (the kernel) ends; started
        # before this process joins the cgroup and takes the limits, so it has neither.
        watch.start(args.prefix, {s.key: int(s.soft) for s in plan.settings
                                  if s.soft != UNLIMITED},
                    record=record_usage, memory=memory, cgroups=cpu_cgroups)
    if memory is not None and memory.backend != "watch":  # the watcher watches this pid
        try:
            memory.attach(os.getpid())
        except Exception as error:  # noqa: BLE001 (the kernel must not start; one line says why)
            print(f"{SPEAKER}: {error}", file=sys.stderr)
            return 1
    if cpu is not None:
        try:
            cpu.attach(os.getpid())  # the CPU set and the quota's cgroup
        except Exception as error:  # noqa: BLE001 (the kernel must not start; one line says why)
            print(f"{SPEAKER}: {error}", file=sys.stderr)
            return 1
    for failed in rlimits.apply(plan.wanted(inherited=False))[1]:
        print(f"{SPEAKER}: cannot set the {failed.key} limit: {failed.error}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(launch.executable, launch.argv, launch.environ)


if __name__ == "__main__":
    sys.exit(main())
