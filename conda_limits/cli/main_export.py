"""``conda limits export``: an environment's limits as an environment.yml ``limits:`` block."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace

from ..printable import shown

HELP = "Print an environment's limits as a `limits:` block, or write them into an environment.yml."
DESCRIPTION = HELP + (
    " With -f, the file's `limits:` section becomes the environment's limits; everything else "
    "in the file (comments, order, other keys) stays as it is. `conda env export` and "
    "`conda export` include the limits too."
)
EPILOG = """Examples:

    conda limits export -n ai_env
    conda limits export -n ai_env -f environment.yml
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_dry_run, add_environment, add_json

    add_environment(parser)
    parser.add_argument("-f", "--file", metavar="FILE", dest="limits_file",
                        help="An existing environment.yml to write the limits into.")
    add_dry_run(parser)
    add_json(parser)


def execute(args: Namespace) -> int:
    import sys

    from conda.base.context import context

    from ..environment_yml import block_text
    from .common import (
        env_label,
        environment_lock,
        print_json,
        read_state,
        state_warnings,
        target_prefix,
        to_json,
    )
    from .files import load, locked, rewrite

    prefix = target_prefix(args)
    with environment_lock(prefix, shared=True):
        state = read_state(prefix)
    limits = state.limits
    for warning in state_warnings(state, rewritten=False):
        print(f"warning: {warning}", file=sys.stderr)
    if args.limits_file:
        with locked(args.limits_file, write=not context.dry_run):
            env = load(args.limits_file)
            rewrite(env, limits, bool(context.dry_run))
        if context.json:
            print_json(to_json(prefix, limits, file=str(env.path),
                               dry_run=bool(context.dry_run)))
        elif context.dry_run:
            print(f"Dry run: {shown(env.path)} would get this `limits:` section:\n"
                  + (block_text(limits) or "(none)"))
        else:
            if limits:
                print(f"Wrote the limits of the environment {env_label(prefix)} into "
                      f"{shown(env.path)}.")
            else:
                print(f"The environment {env_label(prefix)} has no limits: {shown(env.path)} has "
                      "no `limits:` section now.")
        return 0
    if context.json:
        print_json(to_json(prefix, limits))
    elif limits:
        print(block_text(limits), end="")
    else:
        print(f"# the environment at {shown(prefix)} has no limits", file=sys.stderr)
    return 0
