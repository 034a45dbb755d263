"""``conda limits show``: print an environment's recorded limits."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from ..printable import shown

if TYPE_CHECKING:
    from ..state.prefix_files import State as PrefixState

HELP = "Show the resource limits recorded for an environment."
DESCRIPTION = HELP + (
    " The Ceiling column is the current hard limit of this process: a value above it is "
    "applied as the ceiling on this machine. The Source column says where each value came "
    "from: a default in a .condarc, an environment.yml, or `conda limits set`."
)
EPILOG = """Examples:

    conda limits show -n ai_env
    conda limits show --json
    conda limits show -f environment.yml
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_environment, add_json

    add_environment(parser, file_help="Show the limits an environment.yml sets instead of "
                    "an environment's.")
    add_json(parser)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from .common import (
        cpu_notes,
        print_json,
        read_state,
        state_warnings,
        table,
        target_prefix,
        titled,
        to_json,
    )

    if args.limits_file:
        from .files import show_file

        return show_file(args)
    prefix = target_prefix(args)
    state = read_state(prefix)
    limits, sources = state.limits, state.sources
    warnings = (state_warnings(state, prefix, rewritten=False)
                + unsafe_path_warnings(prefix, state))
    if context.json:
        data = to_json(prefix, limits, sources)
        if warnings:
            data["warnings"] = warnings
        print_json(data)
        return 0
    if not limits:
        print(f"No limits are set for the environment at {shown(prefix)}.")
    else:
        for line in titled(f"limits of the environment at {shown(prefix)}",
                           table(limits, sources, prefix)):
            print(line)
        if any(limit.hard is not None for limit in limits.values()):
            print("\nA hard limit cannot be raised again in a shell that activated this "
                  "environment.")
        for note in cpu_notes(limits, prefix):
            print(note)
    for warning in warnings:
        print(f"warning: {warning}")
    return 0


def unsafe_path_warnings(prefix: Path, state: PrefixState) -> list[str]:
    """A prefix path that conda's activators expand, in an environment with scripts."""
    from ..state import prefix_files
    from .common import target_option

    problem = prefix_files.unsafe_scripts(prefix, state)
    return [(f"{problem}. Move the environment, or remove its limits with "
             f"`conda limits unset {target_option(prefix)} --all`.")] if problem else []
