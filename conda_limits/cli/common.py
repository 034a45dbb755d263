"""Helpers of the ``conda limits`` commands: the target environment and shared output."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..limits.model import LimitSet
from ..limits.provenance import Sources
from ..limits.values import exceeds, human, pretty
from ..printable import escape, prefix_option, shell_word

if TYPE_CHECKING:
    from ..state.locking import Holder
    from ..state.prefix_files import Change, Edit
    from ..state.prefix_files import State as PrefixState


#: How this command's user named its environment (see :func:`target_prefix`).
_NAMED: dict[Path, str] = {}


def target_prefix(args: Namespace) -> Path:
    """The environment chosen by -n/-p (else the active one); it must exist. The hints of
    this command name it as the user did (:func:`target_option`)."""
    from conda.base.context import context, determine_target_prefix
    from conda.exceptions import EnvironmentLocationNotFound

    prefix = Path(determine_target_prefix(context, args))
    remember_target(prefix, getattr(args, "name", None), getattr(args, "prefix", None))
    if not (prefix / "conda-meta").is_dir():
        raise EnvironmentLocationNotFound(str(prefix))
    return prefix


def recording_allowed() -> bool:
    """Whether this user's conda configuration lets runs be recorded
    (``plugins: limits_record_usage``)."""
    from ..run.conda_env import plugin_flag
    from ..usage.optout import SETTING

    return plugin_flag(SETTING, True)


def read_limits(prefix: Path) -> LimitSet:
    """The recorded limits; the core's RecordError when the record is broken."""
    return read_state(prefix).limits


def read_state(prefix: Path) -> PrefixState:
    """The record and how the scripts agree with it (under the environment's shared lock,
    saying whom it waits for); the core's RecordError when the record is broken."""
    from ..state import prefix_files

    state = prefix_files.check(prefix, on_wait=waiting(prefix))
    if state.error is not None:
        raise state.error
    return state


def waiting(prefix: Path) -> Callable[[Holder | None], None]:
    """What a command says on stderr while it waits for the environment's lock."""

    def say(holder: Holder | None) -> None:
        who = holder.describe() if holder else "another process"
        print(f"conda-limits: waiting for {who} to finish changing the limits of the "
              f"environment at {escape(str(prefix))}...", file=sys.stderr, flush=True)

    return say


@contextmanager
def environment_lock(prefix: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the environment's lock around a change of its files other than the limits (the
    usage log; ``shared``: a read), saying whom it waits for. A lock that cannot be had
    raises the core's error."""
    from ..state import locking, prefix_files

    try:
        with locking.environment(prefix, shared=shared, on_wait=waiting(prefix)):
            yield
    except locking.LockUnavailable as error:
        raise prefix_files.PrefixNotWritable(prefix, error.error) from None


def change(prefix: Path, edit: Edit, *, broken_ok: bool = False) -> Change:
    """The environment's read-modify-write (:func:`~conda_limits.state.prefix_files.change`),
    a dry run with ``--dry-run``, saying whom it waits for."""
    from conda.base.context import context

    from ..state import prefix_files

    return prefix_files.change(prefix, edit, dry_run=bool(context.dry_run),
                               broken_ok=broken_ok, on_wait=waiting(prefix))


def state_warnings(state: PrefixState, prefix: Path, *, rewritten: bool) -> list[str]:
    """What disagrees between the record and the scripts of ``prefix``: for a reader
    (``show``), what to do about it; after a write (``rewritten``), that it was repaired."""
    if state.in_step:
        return []
    details = [f"{len(paths)} {what}" for paths, what in (
        (state.out_of_date, "missing or different"), (state.orphans, "without a record"),
        (state.leftovers, "temporary files of an interrupted change"
         if len(state.leftovers) != 1 else "temporary file of an interrupted change"))
        if paths]
    if rewritten:
        return [(f"the activation scripts did not match the limits record "
                 f"({', '.join(details)}): an earlier change was interrupted, or files were "
                 "edited. They follow the record now.")]
    target = target_option(prefix)
    if not (state.out_of_date or state.orphans):
        return [(f"{details[0]} remain: `conda doctor {target} --fix` or the next "
                 f"`conda limits set {target}` removes them.")]
    consequence = ("activation does not apply what the record says" if state.out_of_date else
                   "activation applies limits that are not recorded")
    return [(f"the activation scripts do not match the limits record ({', '.join(details)}): "
             f"{consequence}. A change was interrupted, or files were edited: "
             f"`conda doctor {target} --fix` rewrites them from the record (so does any "
             f"`conda limits set {target}`).")]


def ceiling_warnings(limits: LimitSet) -> list[str]:
    """Warnings for values above this machine's hard limits, and for lowered hard limits."""
    from ..limits.mem import above_machine
    from ..system.rlimits import above_ceiling

    out = [f"{resource.key} {which} value {human(resource, value)} is above the current hard "
           f"limit ({pretty(resource, ceiling)}); activation will use {pretty(resource, ceiling)} "
           "on this machine" for resource, which, value, ceiling in above_ceiling(limits)]
    mem = above_machine(limits.mem)
    if mem:
        out.append(mem)
    if limits.cpu:
        from ..limits.cpu_checks import beyond_machine

        out += beyond_machine(limits.cpu)
    for resource, limit in limits.items_with_resource():
        if limit.hard is not None:
            out.append(f"{resource.key} sets a hard limit: a shell that activates this "
                       "environment cannot raise it again, not even after `conda deactivate`")
    return out


def table(limits: LimitSet, sources: Sources | None = None,
          prefix: Path | None = None) -> list[str]:
    """Rows of ``conda limits show``: name, soft, hard, this process's hard ceiling, and
    with ``sources``, where each value came from; then the CPU settings (value in the Soft
    column, what this machine allows in the Ceiling column). ``prefix`` names the environment
    whose ``conda env config vars`` may override the thread variables."""
    from ..system.rlimits import hard_ceiling

    rows = [("# Name", "Soft", "Hard", "Ceiling") + (("Source",) if sources is not None else ())
            + ("",)]
    for resource, limit in limits.items_with_resource():
        ceiling = hard_ceiling(resource)
        over = any(v is not None and exceeds(v, ceiling) for v in (limit.soft, limit.hard))
        source = () if sources is None else (
            escape(sources[resource.key].label) if resource.key in sources else "-",)
        rows.append((
            resource.key,
            "-" if limit.soft is None else pretty(resource, limit.soft),
            "-" if limit.hard is None else pretty(resource, limit.hard),
            pretty(resource, ceiling),
            *source,
            "! above the hard ceiling" if over else "",
        ))
    for key, text, allowed, flag in _mem_rows(limits) + _cpu_rows(limits, prefix):
        where = () if sources is None else (sources[key].label if key in sources else "-",)
        rows.append((key, text, "-", allowed, *where, flag))
    columns = len(rows[0]) - 1
    widths = [max(len(row[i]) for row in rows) for i in range(columns)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + (
        "  " + row[-1] if row[-1] else "") for row in rows]


def titled(title: str, rows: list[str]) -> list[str]:
    """A table as conda lists one (``conda list``): a commented title line, ``#``, then the
    rows (whose heading row starts with ``#``). Every table of settings is printed so."""
    return [f"# {title}:", "#", *rows]


def _mem_rows(limits: LimitSet) -> list[tuple[str, str, str, str]]:
    """Name, value, this machine's memory, and a flag, for ``mem`` (if set)."""
    from ..limits.mem import KEY, physical_memory
    from ..limits.resources import MEM

    if limits.mem is None:
        return []
    memory = physical_memory()
    ceiling = f"{pretty(MEM, memory)} RAM" if memory else "-"
    flag = ("! more than this machine's memory" if memory and exceeds(limits.mem, memory)
            else "run-limited, kernels, Slurm only")
    return [(KEY, pretty(MEM, limits.mem), ceiling, flag)]


def _mem_order() -> str:
    """The --mem backend a command gets here (as forced, if it is), and why not the others."""
    from ..run.conda_env import plugin_text
    from ..system import memory_cap

    try:
        backends = memory_cap.wanted(configured=plugin_text(memory_cap.SETTING))
    except ValueError as error:
        return f"nothing: {error}"
    return memory_cap.order_here(backends)


def _cpu_rows(limits: LimitSet, prefix: Path | None) -> list[tuple[str, str, str, str]]:
    """Name, value, what this machine allows, and a flag, for each CPU setting."""
    import os

    from ..limits import affinity, threads
    from ..limits import cpu as settings

    rows = []
    overridden = threads.overridden(_env_vars(prefix)) if prefix is not None else []
    for key, value in limits.cpu.items():
        flag = ""
        if key == settings.THREADS:
            ceiling = "-"
            if overridden:
                flag = f"! {', '.join(overridden)} set by `conda env config vars` (wins)"
        elif key == settings.CPUSET:
            allowed = affinity.allowed_cpus()
            ceiling = affinity.format_cpu_list(allowed)
            assert isinstance(value, frozenset)
            if value - allowed:
                flag = (f"! CPU(s) {affinity.format_cpu_list(value - allowed)} not "
                        "available here")
        else:
            count = os.cpu_count() or 1
            ceiling = f"{count} CPUs"
            assert isinstance(value, settings.Cores)
            flag = (f"! more than this machine's CPUs: {count} here"
                    if value.hundredths > count * 100 else "run-limited and kernels only")
        rows.append((key, settings.human(key, value), ceiling, flag))
    return rows


def _env_vars(prefix: Path) -> dict[str, str]:
    from ..state.env_vars import environment_variables

    return environment_variables(prefix)


def cpu_notes(limits: LimitSet, prefix: Path | None = None) -> list[str]:
    """What ``show`` says below the table about mem and the CPU settings."""
    from ..limits import cpu as settings
    from ..limits.model import SUPERVISED

    cpu = limits.cpu
    notes = []
    if cpu.threads is None and cpu.pool_size() is not None:
        notes.append(f"\nthreads is not set: the thread-pool variables follow "
                     f"{cpu.pool_source()} ({cpu.pool_size()}).")
    supervised = [key for key in SUPERVISED if key in limits.names()]
    if supervised:
        verb = "applies" if len(supervised) == 1 else "apply"
        notes.append(f"\n{' and '.join(supervised)} {verb} to `conda run-limited`, Jupyter "
                     "kernels and Slurm jobs only, not to an interactive shell: activation "
                     "cannot put a shell into a cgroup.")
    if limits.mem is not None:
        notes.append(f"\nmem is enforced here by {_mem_order()}.")
    if cpu.pool_size() is not None and prefix is not None:
        from ..limits import threads

        overridden = threads.overridden(_env_vars(prefix))
        if overridden:
            notes.append(f"\n{', '.join(overridden)} set with `conda env config vars` win over "
                         f"{settings.THREADS}: activation leaves them as they are.")
    return notes


def applies_where(limits: LimitSet, prefix: Path) -> list[str]:
    """The lines that end a change's report: where the environment's limits apply now.

    An activated shell applies the rlimits, the thread-pool variables and the CPU set; mem
    and the cores quota hold only the commands conda-limits starts (run-limited, kernels,
    Slurm jobs), through a cgroup, and a cores quota nothing here can hold is said: those
    commands refuse to start then.
    """
    from ..limits.model import SUPERVISED

    activate = f"`{activate_command(prefix)}`"
    cpu = limits.cpu
    supervised = [key for key in SUPERVISED if key in limits.names()]
    in_shell = bool(len(limits)) or cpu.threads is not None or cpu.cpuset is not None
    where = "`conda run-limited`, Jupyter kernels and Slurm jobs only (through a cgroup)"
    verb = "applies" if len(supervised) == 1 else "apply"
    pool = (f" (activation sets the thread-pool variables from it: {cpu.pool_size()})"
            if cpu.cores is not None and cpu.threads is None and cpu.cpuset is None else "")
    if not supervised:
        lines = [f"They apply from the next {activate}."]
    elif in_shell:
        lines = [(f"They apply from the next {activate}, except {' and '.join(supervised)}: "
                  f"{'it applies' if len(supervised) == 1 else 'they apply'} to {where}{pool}.")]
    else:
        lines = [f"{' and '.join(supervised)} {verb} to {where}, not to a shell{pool}."]
    if cpu.cores is not None:
        from ..system import cpu_quota

        reasons = cpu_quota.unusable()
        if reasons:
            lines.append(f"Here no cgroup can hold the cores quota for this user ("
                         f"{'; '.join(reasons)}): `conda run-limited` and this environment's "
                         f"kernels refuse to start until one can (`conda limits unset "
                         f"{target_option(prefix)} --cores` removes it); Slurm jobs get it as "
                         "--cpus-per-task.")
    return lines


def to_json(prefix: Path, limits: LimitSet, sources: Sources | None = None,
            **extra: object) -> dict[str, Any]:
    """The environment's limits; with ``sources``, each limit also has its ``source``
    (``{"kind": ..., "path": ...}``, or null when unknown)."""
    data: Mapping[str, Mapping[str, object]] = limits.to_json()
    if sources is not None:
        data = {key: {**value, "source": sources[key].to_data() if key in sources else None}
                for key, value in data.items()}
    return {"prefix": str(prefix), "limits": data, **extra}


def print_json(data: dict[str, Any]) -> None:
    """``data`` as conda prints JSON, and a newline (which conda's ``stdout_json`` leaves
    out; its own commands mostly end with one)."""
    from conda.cli.common import stdout_json

    from ..limits.model import SCHEMA_VERSION

    stdout_json({"schema_version": SCHEMA_VERSION, **data})
    sys.stdout.write("\n")


def remember_target(prefix: Path, name: str | None, path: str | None) -> None:
    """Remember that the user named ``prefix`` with ``-n name`` or ``-p path``."""
    if name:
        _NAMED[prefix] = f"-n {shell_word(name)}"
    elif path:
        _NAMED[prefix] = prefix_option(path)


def target_option(prefix: Path) -> str:
    """``-n NAME`` or ``-p PATH``, quoted for the shell: how a command to paste names the
    environment. As the user named it on this command line, else by conda's name for it."""
    if prefix in _NAMED:
        return _NAMED[prefix]
    label = env_label(prefix)
    return prefix_option(label) if label == str(prefix) else f"-n {shell_word(label)}"


def activate_command(prefix: Path) -> str:
    """``conda activate NAME`` (or ``PATH``), quoted for the shell."""
    return f"conda activate {shell_word(env_label(prefix))}"


def env_label(prefix: Path) -> str:
    """How conda names the environment in messages: its name, or its path."""
    from conda.base.context import context

    envs_dirs = [Path(d) for d in context.envs_dirs]
    if prefix == Path(context.root_prefix):
        return "base"
    return prefix.name if prefix.parent in envs_dirs else str(prefix)
