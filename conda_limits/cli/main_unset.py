"""``conda limits unset``: remove limits from an environment."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from pathlib import Path

from ..printable import shown

HELP = "Remove resource limits from an environment (some, or --all)."
DESCRIPTION = HELP + (
    " With no limit left, the record and the activation scripts are removed."
)
EPILOG = """Examples:

    conda limits unset -n ai_env --vmem
    conda limits unset -n ai_env --all
    conda limits unset -f environment.yml --vmem
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_dry_run, add_environment, add_json, add_limit_switches, add_yes

    add_environment(parser, file_help="Remove the limits from this environment.yml instead "
                    "of an environment (the rest of the file is kept).")
    add_limit_switches(parser)
    add_yes(parser)
    add_dry_run(parser)
    add_json(parser)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..limits.model import LimitSet
    from .common import (
        change,
        print_json,
        state_warnings,
        target_option,
        target_prefix,
        to_json,
    )
    from .exceptions import NothingToDoError
    from .options import given_switches

    keys = given_switches(args)
    if not keys and not args.limit_all:
        raise NothingToDoError("Name the limits to remove (e.g. `--vmem`), or give `--all`.")
    if args.limits_file:
        from .files import unset_in_file

        return unset_in_file(args, keys)
    prefix = target_prefix(args)
    dry_run = bool(context.dry_run)
    # A broken record is no obstacle to removing everything.
    done = change(prefix, lambda state: (LimitSet() if args.limit_all else
                                         state.limits.without(keys), None),
                  broken_ok=args.limit_all)
    state, limits = done.before, done.limits
    removed = [] if args.limit_all else [k for k in keys if k in state.limits.names()]
    notes = [] if args.limit_all else state_warnings(state, prefix, rewritten=not dry_run)
    if args.limit_all and state.error is not None:
        notes.append(f"the limits record was broken ({state.error.problem}); "
                     f"{'it would be' if dry_run else 'it was'} removed with the scripts.")
    if context.json:
        data = to_json(prefix, limits, dry_run=dry_run)
        if notes:
            data["warnings"] = notes
        print_json(data)
        return 0
    verb = "Would remove" if dry_run else "Removed"
    if args.limit_all:
        print(f"{verb} all limits of the environment at {shown(prefix)}.")
        if _active_here(prefix):
            print("note: this environment is active in the calling shell; with its "
                  "deactivate scripts gone, `conda deactivate` will not restore the limits "
                  "activation applied (they end with the shell). Run `conda deactivate` before "
                  f"`conda limits unset {target_option(prefix)} --all` to have them restored.")
    elif removed:
        print(f"{verb} {', '.join(removed)} from the environment at {shown(prefix)}.")
    else:
        print(f"The environment at {shown(prefix)} had none of these limits: {', '.join(keys)}.")
    for note in notes:
        print(f"{'warning' if dry_run else 'note'}: {note}")
    return 0


def _active_here(prefix: Path) -> bool:
    """Whether ``prefix`` is the active or a stacked environment of the calling shell."""
    import os

    active = [value for name, value in os.environ.items()
              if name == "CONDA_PREFIX" or (name.startswith("CONDA_PREFIX_")
                                            and name[13:].isdigit())]
    return any(Path(value) == Path(prefix) for value in active if value)
