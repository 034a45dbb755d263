"""CPU settings against this machine: what ``conda doctor`` says about them, what recording
them warns about, and what applying them uses here.

A record may come from another machine (a clone, an environment.yml, an administrator on a
small login node recording what the compute nodes get): values that cannot work here are
recorded with a warning and reported by ``conda doctor``, never refused. Where they are
applied (``conda run-limited``, kernels: :func:`on_this_machine`; activation narrows the CPU
set itself), the CPUs of the set that this process may use and a quota no larger than this
machine's CPUs are used, with one warning each.
"""

from __future__ import annotations

import os
from dataclasses import replace

from . import affinity
from .cpu import Cores, CpuSettings


def _cpu_count() -> int:
    return os.cpu_count() or 1


def _set_command(target: str, option: str) -> str:
    """```conda limits set -n NAME --cpuset LIST``` (without a target where none is known)."""
    return "`" + " ".join(word for word in ("conda limits set", target, option) if word) + "`"


def _cpuset_problem(cpu: CpuSettings, allowed: frozenset[int],
                    target: str = "") -> tuple[str, str] | None:
    if not cpu.cpuset:
        return None
    here = affinity.format_cpu_list(allowed)
    outside = cpu.cpuset - allowed
    wanted = affinity.format_cpu_list(cpu.cpuset)
    hint = (f"set CPUs of {here} with {_set_command(target, '--cpuset LIST')}, unless the "
            "environment runs on another machine")
    if outside == cpu.cpuset:
        return ((f"cpuset {wanted}: none of these CPUs is available here (allowed: {here}); "
                 "the CPU affinity is left as it is"), hint)
    if outside:
        return ((f"cpuset {wanted}: CPU(s) {affinity.format_cpu_list(outside)} not available "
                 f"here (allowed: {here}); {affinity.format_cpu_list(cpu.cpuset & allowed)} "
                 "are used"), hint)
    return None


def _cores_problem(cpu: CpuSettings, target: str = "") -> tuple[str, str] | None:
    count = _cpu_count()
    if cpu.cores is None or cpu.cores.hundredths <= count * 100:
        return None
    return ((f"cores {cpu.cores} is more than this machine's {count} CPU(s): a quota of "
             f"{count} is used here"),
            (f"set at most {count} with {_set_command(target, '--cores X')}, unless the "
             "environment runs on another machine"))


def problems(cpu: CpuSettings, target: str) -> list[tuple[str, str]]:
    """``(what is wrong, what to do)`` for each CPU setting that does not fit this machine;
    ``target`` names the environment in the commands (``-n NAME``, ``-p PATH``)."""
    allowed = affinity.allowed_cpus()
    out = [p for p in (_cpuset_problem(cpu, allowed, target), _cores_problem(cpu, target))
           if p]
    if cpu.threads is not None and cpu.threads > len(allowed):
        here = affinity.format_cpu_list(allowed)
        out.append(((f"threads {cpu.threads} is more than the {len(allowed)} CPU(s) this "
                    f"process may use ({here}): the pools' threads will wait for each other"),
                    (f"set at most {len(allowed)} with {_set_command(target, '--threads N')}, "
                     "unless the environment runs on another machine")))
    return out


def beyond_machine(cpu: CpuSettings) -> list[str]:
    """Warnings for a CPU set or a quota larger than this machine (recorded all the same,
    for the machine they are meant for)."""
    found = (_cpuset_problem(cpu, affinity.allowed_cpus()), _cores_problem(cpu))
    return [message + " (recorded as given, for a machine that has them)"
            for message, _hint in (p for p in found if p)]


def on_this_machine(cpu: CpuSettings,
                    allowed: frozenset[int] | None = None) -> tuple[CpuSettings, list[str]]:
    """``cpu`` as applied here: the CPUs of the set this process may use (``allowed``,
    default: read now; none of them: no set), a quota of at most this machine's CPUs; and
    one line per setting so narrowed."""
    allowed = affinity.allowed_cpus() if allowed is None else allowed
    warnings = []
    here = cpu
    if cpu.cpuset:
        placement = affinity.placement(cpu.cpuset, allowed)
        warning = placement.warning()
        if warning:
            warnings.append(warning)
            here = replace(here, cpuset=placement.cpus or None)
    problem = _cores_problem(cpu)
    if problem:
        warnings.append(problem[0])
        here = replace(here, cores=Cores(_cpu_count() * 100))
    return here, warnings
