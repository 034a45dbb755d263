"""``conda limits apply``: give an existing environment the limits of an environment.yml."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace

from ..printable import shown

HELP = "Apply the limits of an environment.yml to an existing environment."
DESCRIPTION = HELP + (
    " The environment's limits become exactly the file's `limits:` section. Without -n/-p "
    "the environment is the one the file names, as for `conda env update -f`. "
    "`conda env create -f` and `conda env update -f` do this by themselves."
)
EPILOG = """Examples:

    conda limits apply -f environment.yml -n ai_env
    conda limits apply -f environment.yml
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_allow_tiny, add_dry_run, add_environment, add_json, add_yes

    add_environment(parser)
    parser.add_argument("-f", "--file", metavar="FILE", dest="limits_file",
                        default="environment.yml",
                        help="The environment.yml to read (default: environment.yml).")
    add_allow_tiny(parser)
    add_yes(parser)
    add_dry_run(parser)
    add_json(parser)


def execute(args: Namespace) -> int:
    from conda.base.context import context
    from conda.exceptions import EnvironmentLocationNotFound

    from ..limits.defaults import from_file
    from .common import (
        ceiling_warnings,
        change,
        print_json,
        state_warnings,
        to_json,
    )
    from .exceptions import NothingToDoError, refuse_windows
    from .files import applied_report, file_prefix, load
    from .tiny import refuse_in_file

    refuse_windows()
    env = load(args.limits_file)
    if not env.has_limits:
        raise NothingToDoError(f"{shown(env.path)} has no `limits:` section: nothing to apply.")
    refuse_in_file(env, "Nothing was changed.", args)
    prefix = file_prefix(args.name, args.prefix, [env])
    if not (prefix / "conda-meta").is_dir():
        raise EnvironmentLocationNotFound(str(prefix))
    dry_run = bool(context.dry_run)
    applied = from_file(env.limits, str(env.path))
    state = change(prefix, lambda state: applied, broken_ok=True).before
    notes = state_warnings(state, prefix, rewritten=not dry_run)
    if state.error is not None:
        notes.append(f"the limits record was broken ({state.error.problem}); "
                     f"{'it would be' if dry_run else 'it was'} replaced.")
    warnings = ceiling_warnings(env.limits)
    if context.json:
        print_json(to_json(prefix, env.limits, file=str(env.path), warnings=warnings + notes,
                           dry_run=dry_run))
        return 0
    verb = "Would apply" if dry_run else "Applied"
    title = f"{verb} the limits of {shown(env.path)} to the environment at {shown(prefix)}"
    for line in applied_report(prefix, env.limits, title, hint=not dry_run):
        print(line)
    for note in notes:
        print(f"{'warning' if dry_run else 'note'}: {note}")
    return 0
