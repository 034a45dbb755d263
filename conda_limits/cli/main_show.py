"""``conda limits show``: print an environment's recorded limits."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace

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

    from .common import print_json, read_limits, read_sources, table, target_prefix, to_json

    if args.limits_file:
        from .files import show_file

        return show_file(args)
    prefix = target_prefix(args)
    limits = read_limits(prefix)
    sources = read_sources(prefix)
    if context.json:
        print_json(to_json(prefix, limits, sources))
        return 0
    if not limits:
        print(f"No limits are set for the environment at {prefix}.")
        return 0
    print(f"# limits of the environment at {prefix}:")
    print("#")
    for row in table(limits, sources):
        print(row)
    if any(limit.hard is not None for limit in limits.values()):
        print("\nA hard limit cannot be raised again in a shell that activated this environment.")
    return 0
