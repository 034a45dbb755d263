"""environment.yml files as the target of ``conda limits``: ``set/unset/show -f FILE``.

Also the helpers that ``apply``, ``export`` and the conda command hooks share: loading a
file with conda-style errors, the environment a file names, and the report of what was
applied.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..printable import shell_word, shown

if TYPE_CHECKING:
    from ..limits.model import LimitSet
    from ..limits.provenance import Sources
    from ..state.environment_yml import EnvFile


def load(path: str | Path, consequence: str = "Nothing was changed.") -> EnvFile:
    """The file and its validated limits; a conda error naming file, line and column."""
    from ..state import environment_yml
    from .exceptions import LimitsFileError

    try:
        return environment_yml.load(path)
    except environment_yml.EnvFileError as error:
        raise LimitsFileError(str(error), consequence) from None


def file_prefix(name: str | None, prefix: str | None, files: Sequence[EnvFile]) -> Path:
    """The environment meant: -n/-p, else the first file's ``name:``/``prefix:``, else the
    active one (as ``conda env update -f`` decides). It may not exist yet."""
    from types import SimpleNamespace

    from conda.base.context import context, determine_target_prefix

    if not name and not prefix:
        for env in files:
            if env.name or env.prefix:
                name, prefix = env.name, None if env.name else env.prefix
                break
    return Path(determine_target_prefix(context, SimpleNamespace(name=name, prefix=prefix)))


def applied_report(prefix: Path, limits: LimitSet, heading: str, *, hint: bool = True,
                   sources: Sources | None = None) -> list[str]:
    """Lines saying which limits an environment now has (after ``heading``, which may name
    files: printed escaped); with ``sources``, where each came from."""
    from .common import applies_where, ceiling_warnings, table, titled

    heading = shown(heading)
    if not limits:
        return [f"{heading}: it has no limits now."]
    lines = titled(heading, table(limits, sources))
    lines += [f"warning: {warning}" for warning in ceiling_warnings(limits)]
    if hint:
        lines += applies_where(limits, prefix)
    return lines


def _edited(env: EnvFile, limits: LimitSet, warnings: list[str],
            extra_json: Mapping[str, Any] | None = None) -> int:
    from conda.base.context import context

    from .common import print_json, table, titled

    if context.json:
        print_json({"file": str(env.path), "limits": limits.to_json(),
                    "warnings": warnings, "dry_run": bool(context.dry_run),
                    **(extra_json or {})})
        return 0
    if not limits:
        print(f"{'Would leave' if context.dry_run else 'Left'} {shown(env.path)} without limits.")
        return 0
    title = (f"limits {shown(env.path)} would have (dry run)" if context.dry_run
             else f"limits in {shown(env.path)}")
    for line in titled(title, table(limits)):
        print(line)
    for warning in warnings:
        print(f"warning: {warning}")
    if not context.dry_run:
        print(f"\n`conda env create -f {shell_word(str(env.path))}` applies them to the new "
              f"environment; `conda limits apply -f {shell_word(str(env.path))} -n ENV` to an "
              "existing one.")
    return 0


def rewrite(env: EnvFile, limits: LimitSet, dry_run: bool) -> None:
    """Make the file's ``limits:`` block hold ``limits`` (unless ``dry_run``)."""
    from ..state import environment_yml

    text = environment_yml.edit(env, limits)
    if not dry_run:
        environment_yml.save(env, text)


@contextmanager
def locked(path: str | Path, *, write: bool) -> Iterator[None]:
    """Hold the file's lock around a read-modify-write (``write`` False: a read)."""
    from ..state import environment_yml
    from .exceptions import conda_errors

    with conda_errors(), environment_yml.locked(path, write=write):
        yield


def set_in_file(args: Namespace, given: LimitSet,
                extra_json: Mapping[str, Any] | None = None) -> int:
    """``conda limits set -f FILE ...`` (``extra_json``: more keys for ``--json``)."""
    from conda.base.context import context

    from .common import ceiling_warnings

    with locked(args.limits_file, write=not context.dry_run):
        env = load(args.limits_file)
        limits = env.limits.merged(given)
        rewrite(env, limits, bool(context.dry_run))
    return _edited(env, limits, ceiling_warnings(given), extra_json)


def unset_in_file(args: Namespace, keys: list[str]) -> int:
    """``conda limits unset -f FILE ...``."""
    from conda.base.context import context

    from ..limits.model import LimitSet
    from .common import print_json

    with locked(args.limits_file, write=not context.dry_run):
        env = load(args.limits_file)
        limits = LimitSet() if args.limit_all else env.limits.without(keys)
        rewrite(env, limits, bool(context.dry_run))
    if context.json:
        print_json({"file": str(env.path), "limits": limits.to_json(),
                    "dry_run": bool(context.dry_run)})
        return 0
    verb = "Would remove" if context.dry_run else "Removed"
    removed = (env.limits.names() if args.limit_all
               else [k for k in keys if k in env.limits.names()])
    if removed:
        what = "all limits" if args.limit_all else ", ".join(removed)
        print(f"{verb} {what} from {shown(env.path)}.")
    elif args.limit_all:
        print(f"{shown(env.path)} sets no limits.")
    else:
        print(f"{shown(env.path)} had none of these limits: {', '.join(keys)}.")
    return 0


def show_file(args: Namespace) -> int:
    """``conda limits show -f FILE``."""
    from conda.base.context import context

    from .common import print_json, table, titled

    env = load(args.limits_file, consequence="")
    if context.json:
        print_json({"file": str(env.path), "limits": env.limits.to_json()})
        return 0
    if not env.limits:
        print(f"{shown(env.path)} sets no limits.")
        return 0
    for line in titled(f"limits in {shown(env.path)}", table(env.limits)):
        print(line)
    return 0
