"""``conda limits set``: record limits for an environment and write its activation scripts."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..printable import shown

if TYPE_CHECKING:
    from ..limits.model import LimitSet

HELP = "Record resource limits for an environment; `conda activate` applies them."
DESCRIPTION = HELP + (
    " Limits are soft: a process may raise them again up to the hard limit, and "
    "`conda deactivate` restores the shell's previous values. A value given here replaces "
    "the environment's previous value of that limit."
)
EPILOG = """Examples:

    conda limits set -n ai_env --vmem 4G --nofile 1024 --stack 8M
    conda limits set --data 16G --cpu 2h
    conda limits set -n ci --nofile 4096 --hard
    conda limits set -n ai_env --threads 4 --cpuset 0-3
    conda limits set -n ai_env --mem 8G
    conda limits set -f environment.yml --vmem 4G
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import (
        add_cpu_values,
        add_dry_run,
        add_environment,
        add_json,
        add_limit_values,
        add_yes,
    )

    add_environment(parser, file_help="Set the limits in this environment.yml instead of "
                    "an environment (its `limits:` section; the rest of the file is kept).")
    add_limit_values(parser)
    add_cpu_values(parser)
    parser.add_argument("--hard", action="store_true",
                        help="Also set the hard limit to the same value. A lowered hard limit "
                        "cannot be raised again in that shell.")
    add_yes(parser)
    add_dry_run(parser)
    add_json(parser)


def execute(args: Namespace) -> int:
    from ..limits.model import Limit, LimitSet
    from .exceptions import NothingToDoError, refuse_windows
    from .options import given_cpu, given_mem, given_values

    refuse_windows()
    values, cpu, mem = given_values(args), given_cpu(args), given_mem(args)
    if not values and not cpu and mem is None:
        raise NothingToDoError("No limit given: name at least one, e.g. `--vmem 4G` "
                               "(see `conda limits set --help`).")
    given = LimitSet({key: Limit(value, value if args.hard else None)
                      for key, value in values.items()}, cpu, mem)
    return write_given(args, given)


def write_given(args: Namespace, given: LimitSet,
                extra_json: Mapping[str, Any] | None = None) -> int:
    """Record ``given`` in the environment of -n/-p, or in the file of -f (``limits_file``),
    under its lock, and say so as ``set`` does (also ``conda limits suggest --apply``;
    ``extra_json``: more keys for ``--json``)."""
    from conda.base.context import context

    from ..limits import provenance
    from .common import (
        applies_where,
        ceiling_warnings,
        change,
        print_json,
        state_warnings,
        table,
        target_prefix,
        titled,
        to_json,
    )

    if args.limits_file:
        from .files import set_in_file

        return set_in_file(args, given, extra_json)
    prefix = target_prefix(args)
    dry_run = bool(context.dry_run)
    stamped = provenance.each(given.names(), provenance.COMMAND)
    done = change(prefix, lambda state: (state.limits.merged(given),
                                         {**state.sources, **stamped}))
    state, limits, sources = done.before, done.limits, done.sources
    warnings = ceiling_warnings(given)
    notes = state_warnings(state, prefix, rewritten=not dry_run)
    if context.json:
        print_json(to_json(prefix, limits, sources, warnings=warnings + notes,
                           dry_run=dry_run, **(extra_json or {})))
        return 0
    title = (f"limits the environment at {shown(prefix)} would have (dry run)" if dry_run
             else f"limits of the environment at {shown(prefix)}")
    for line in titled(title, table(limits, sources, prefix)):
        print(line)
    for warning in warnings:
        print(f"warning: {warning}")
    for note in notes:
        print(f"{'warning' if dry_run else 'note'}: {note}")
    if not dry_run:
        print("\n" + "\n".join(applies_where(limits, prefix)))
    return 0
