"""An environment's limits on disk: the record and the activation scripts, kept in step.

Everything an environment needs at activation time is written into its prefix, so the
scripts work without conda-limits (or conda's Python) being importable when they run.

The record is the truth; the scripts are rendered from it. Every change goes through
:func:`change`, the one read-modify-write of an environment's limits: it holds the environment's
lock (:mod:`conda_limits.state.locking`) once, reads the record once, lets the caller compute
the new limits, validates them, and writes in this order, all or nothing
(:mod:`conda_limits.state.transaction`):

1. the record (written or removed);
2. with limits, the deactivate scripts, then the activate scripts (an activate script never
   exists without the deactivate script that undoes it); without limits, the activate
   scripts, then the deactivate scripts.

A process killed in the middle leaves every file whole, the record old or new, and some
scripts that disagree with it: :func:`check` finds them, and the next write rewrites every
script from the record and removes the temporary files the killed one left.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import LimitsError, NotWritable
from ..limits.model import LimitSet
from ..limits.provenance import Sources
from ..shells.families import FAMILIES
from ..shells.protocol import ACTIVATE_D, DEACTIVATE_D, SCRIPT_NAME
from . import atomicfile, locking, record, transaction

#: Characters that conda's activators expand in a prefix path: they source activate.d
#: scripts as ``. "PATH"`` (sh), ``source "PATH"`` (csh, fish), inside double quotes.
UNSAFE_CHARACTERS = "$`\"\\\n"


class PrefixNotWritable(NotWritable, OSError):
    """The environment's files cannot be written; nothing was changed."""

    def __init__(self, prefix: Path, error: OSError) -> None:
        self.error = error
        reason = error.strerror or str(error)
        super().__init__(prefix, reason, f"cannot write the limits of {prefix}: {reason}")


class UnsafePrefix(LimitsError, ValueError):
    """A prefix path that conda's activators would expand when they source scripts."""

    def __init__(self, prefix: Path, characters: str) -> None:
        self.prefix = prefix
        self.characters = characters
        super().__init__(
            f"{unsafe_path_problem(characters)}. With conda-limits' scripts there, "
            "`conda activate` would run part of the path as a command. conda-limits writes "
            "no scripts into such an environment: move it to a path without these "
            "characters (`conda rename`, or create it elsewhere)")


def unsafe_path_problem(characters: str) -> str:
    """What is wrong with a prefix path holding ``characters`` (:func:`unsafe_characters`)."""
    shown = " ".join(ch if ch != "\n" else "\\n" for ch in characters)
    return (f"the path of this environment holds {shown}, which conda's activation expands: "
            "it runs activate.d scripts as `. \"PATH\"`, inside double quotes")


def unsafe_scripts(prefix: Path, state: State) -> str | None:
    """What is wrong when an environment whose path conda's activators expand has (or is
    to have, by its record) conda-limits' scripts; None when nothing is."""
    characters = unsafe_characters(prefix)
    if not characters or not (state.limits or state.orphans or state.error):
        return None
    return (f"{unsafe_path_problem(characters)}; with conda-limits' scripts there, "
            "`conda activate` runs part of the path as a command")


def unsafe_characters(prefix: str | os.PathLike[str]) -> str:
    """The characters of the prefix path that conda's activators would expand, in order."""
    text = str(prefix)
    return "".join(ch for ch in UNSAFE_CHARACTERS if ch in text)


def script_paths(prefix: str | os.PathLike[str]) -> list[Path]:
    """Every script file conda-limits may write in ``prefix``."""
    prefix = Path(prefix)
    return [prefix / folder / f"{SCRIPT_NAME}{family.suffix}"
            for family in FAMILIES for folder in (ACTIVATE_D, DEACTIVATE_D)]


def render(limits: LimitSet, keep: tuple[str, ...] = ()) -> dict[Path, str]:
    """Relative path -> content of every script for ``limits`` (empty when no limits a shell
    applies: ``mem`` alone needs none).

    ``keep``: thread variables the environment sets itself, which activation leaves alone.
    """
    limits = limits.in_shell()
    if not limits:
        return {}
    out: dict[Path, str] = {}
    for family in FAMILIES:
        out[ACTIVATE_D / f"{SCRIPT_NAME}{family.suffix}"] = family.activate(limits, keep)
        out[DEACTIVATE_D / f"{SCRIPT_NAME}{family.suffix}"] = family.deactivate(limits)
    return out


def own_pool_variables(prefix: Path, limits: LimitSet) -> tuple[str, ...]:
    """The thread variables ``prefix`` sets itself (``conda env config vars``, packages'
    env_vars.d): they win over ``threads``, so the scripts leave them alone."""
    if limits.cpu.pool_size() is None:
        return ()
    from ..limits.threads import overridden
    from .env_vars import environment_variables

    return tuple(overridden(environment_variables(prefix)))


def expected_files(limits: LimitSet, sources: Sources | None = None,
                   keep: tuple[str, ...] = ()) -> dict[Path, str]:
    """Relative path -> content of the record and scripts that ``limits`` call for."""
    files = render(limits, keep)
    if limits:
        files[record.RECORD] = record.dumps(limits, sources)
    return files


def read(prefix: str | os.PathLike[str]) -> LimitSet:
    """The limits recorded in ``prefix``."""
    return record.read(prefix)


def write(prefix: str | os.PathLike[str], limits: LimitSet,
          sources: Sources | None = None) -> list[Path]:
    """Make record and scripts in ``prefix`` match ``limits``; an empty set removes them
    (:func:`change` with these limits, whatever the record held). ``sources`` None keeps
    what the record says for the limits that stay. Returns the paths written or removed.
    """
    return change(prefix, lambda state: (limits, sources), broken_ok=True).written


#: What :func:`change` asks of its caller: the new limits and their sources (None: the
#: recorded sources of the limits that stay) for what is on disk; None leaves all as it is.
Edit = Callable[["State"], "tuple[LimitSet, Sources | None] | None"]


@dataclass(frozen=True)
class Change:
    """What :func:`change` found on disk and what the environment has now."""

    before: State  # the record and scripts as they were
    limits: LimitSet  # the limits now (for a dry run: the limits it would write)
    sources: Sources
    written: list[Path] = field(default_factory=list)  # files written or removed
    cleaned: list[Path] = field(default_factory=list)  # temporary files removed


def change(prefix: str | os.PathLike[str], edit: Edit, *, dry_run: bool = False,
           broken_ok: bool = False,
           on_wait: Callable[[locking.Holder | None], None] | None = None) -> Change:
    """The read-modify-write of an environment's limits: hold the environment's lock
    (shared for a ``dry_run``, which writes nothing), read the record and compare the
    scripts with it, ask ``edit`` for the new limits, refuse limits in a prefix whose path
    conda's activators expand (:class:`UnsafePrefix`), then write the record and the scripts
    (every script that differs, and the temporary files of interrupted writes are removed).

    A broken record raises its :class:`~conda_limits.state.record.RecordError` unless
    ``broken_ok`` (the edit then sees empty limits and ``before.error``). All or nothing: if a
    file cannot be written, the files already changed are put back and
    :class:`PrefixNotWritable` is raised; any other exception (``KeyboardInterrupt`` too)
    rolls back the same way and propagates. A lock another process keeps raises
    :class:`~conda_limits.state.locking.LockTimeout` (``on_wait`` is told whom it waits for).
    """
    prefix = Path(prefix)
    if dry_run or unsafe_characters(prefix):  # unsafe: refused before a lock file is made
        before = check(prefix, on_wait=on_wait)
        edited = _edited(prefix, before, edit, broken_ok)
        if dry_run:
            return Change(before, *(edited or (before.limits, before.sources)))
    try:
        with locking.environment(prefix, on_wait=on_wait):
            before = _check(prefix)
            edited = _edited(prefix, before, edit, broken_ok)
            if edited is None:
                return Change(before, before.limits, before.sources)
            cleaned = remove_leftovers(prefix)
            written = transaction.commit(_changes(prefix, *edited))
            return Change(before, *edited, written, cleaned)
    except locking.LockUnavailable as error:
        raise PrefixNotWritable(prefix, error.error) from None
    except OSError as error:
        raise PrefixNotWritable(prefix, error) from error


def _edited(prefix: Path, before: State, edit: Edit,
            broken_ok: bool) -> tuple[LimitSet, Sources] | None:
    """The limits and sources ``edit`` makes of ``before``, validated for ``prefix``
    (None: leave all as it is)."""
    if before.error is not None and not broken_ok:
        raise before.error
    edited = edit(before)
    if edited is None:
        return None
    limits, sources = edited[0], before.sources if edited[1] is None else edited[1]
    if limits and unsafe_characters(prefix):
        raise UnsafePrefix(prefix, unsafe_characters(prefix))
    return limits, sources


def _changes(prefix: Path, limits: LimitSet, sources: Sources) -> list[tuple[Path, bytes | None]]:
    """Every file to write (bytes) or remove (None), in the order of the module's rule."""
    wanted = {prefix / rel: text.encode("utf-8")
              for rel, text in expected_files(limits, sources,
                                              own_pool_variables(prefix, limits)).items()}
    scripts = {folder: [p for p in script_paths(prefix) if p.parent == prefix / folder]
               for folder in (ACTIVATE_D, DEACTIVATE_D)}
    folders = (DEACTIVATE_D, ACTIVATE_D) if limits else (ACTIVATE_D, DEACTIVATE_D)
    order = [record.record_path(prefix), *scripts[folders[0]], *scripts[folders[1]]]
    return [(path, wanted.get(path)) for path in order]


def leftover_names() -> dict[Path, list[str]]:
    """Relative folder -> names of the files whose temporary files conda-limits leaves."""
    scripts = [f"{SCRIPT_NAME}{family.suffix}" for family in FAMILIES]
    return {record.RECORD.parent: [record.RECORD.name], ACTIVATE_D: scripts,
            DEACTIVATE_D: scripts}


def leftovers(prefix: str | os.PathLike[str]) -> list[Path]:
    """Temporary files of interrupted writes (``.zz-conda-limits.*.tmp``, ``.limits.yml.*.tmp``)."""
    prefix = Path(prefix)
    return [path for folder, names in leftover_names().items()
            for path in atomicfile.temporaries(prefix / folder, names)]


def remove_leftovers(prefix: Path) -> list[Path]:
    """Remove the temporary files of interrupted writes (under the environment's lock)."""
    return [path for folder, names in leftover_names().items()
            for path in atomicfile.remove_temporaries(prefix / folder, names)]


@dataclass(frozen=True)
class State:
    """The record and scripts of an environment as found on disk, and how they disagree."""

    limits: LimitSet  # empty when the record is missing or broken
    error: record.RecordError | None = None  # the record cannot be read
    out_of_date: list[Path] = field(default_factory=list)  # missing or differing scripts
    orphans: list[Path] = field(default_factory=list)  # scripts without a record
    leftovers: list[Path] = field(default_factory=list)  # temporary files of killed writes
    sources: Sources = field(default_factory=dict)  # where the recorded limits came from

    @property
    def in_step(self) -> bool:
        """Whether the scripts are exactly what the record calls for (nothing left over)."""
        return not (self.out_of_date or self.orphans or self.leftovers)


def check(prefix: str | os.PathLike[str],
          on_wait: Callable[[locking.Holder | None], None] | None = None) -> State:
    """Read the record and compare the scripts with it, under the environment's shared
    lock: a change in progress is waited for (``on_wait`` is told whom for), never seen
    half-done."""
    prefix = Path(prefix)
    return locking.read_consistently(prefix, lambda: _check(prefix),
                                     lambda state: state.in_step, on_wait)


def _check(prefix: Path) -> State:
    left = leftovers(prefix)
    try:
        limits, sources = record.read_with_sources(prefix)
    except record.RecordError as error:
        return State(LimitSet(), error, leftovers=left)
    wanted = {prefix / rel: text.encode("utf-8")
              for rel, text in render(limits, own_pool_variables(prefix, limits)).items()}
    out_of_date = [p for p, data in wanted.items() if not atomicfile.holds(p, data)]
    orphans = [p for p in script_paths(prefix) if p not in wanted and os.path.lexists(p)]
    return State(limits, None, out_of_date, orphans, left, sources)


def stale_files(prefix: str | os.PathLike[str]) -> tuple[list[Path], list[Path]]:
    """Scripts that are missing/out of date for the record, and scripts without a record.

    Raises :class:`~conda_limits.state.record.RecordError` for a broken record.
    """
    state = check(prefix)
    if state.error is not None:
        raise state.error
    return state.out_of_date, state.orphans
