"""``conda limits list``: every environment this user can see that has limits or settings."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..state.footprint import Footprint

HELP = "List the environments that have limits or settings (or conda-limits' files)."
DESCRIPTION = HELP + """

The environments are those conda knows for this user (its envs directories and
environments.txt; an administrator's include every user's). An environment whose record
cannot be read, or that holds activation scripts without a record, is listed too, with
what is wrong: `conda limits unset --all` removes what conda-limits left in it."""
EPILOG = """Examples:

    conda limits list
    conda limits list --json
    conda limits list --quiet     # the prefixes only, one a line

Before uninstalling conda-limits, remove every environment's limits and scripts:

    conda limits list --quiet | while IFS= read -r p; do
        conda limits unset -p "$p" --all --dry-run
    done
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_json

    parser.add_argument("-q", "--quiet", action="store_true", default=None,
                        help="Print the prefixes only, one a line (for a shell loop).")
    add_json(parser)


def execute(args: Namespace) -> int:
    import sys

    from conda.base.context import context
    from conda.core.envs_manager import list_all_known_prefixes

    from ..state import footprint
    from .common import print_json

    found = [f for f in map(footprint.of, sorted(set(list_all_known_prefixes())))
             if f is not None]
    if context.json:
        print_json({"environments": [f.to_json() for f in found]})
        return 0
    if args.quiet:
        for f in found:
            text = str(f.prefix)
            if not text.isprintable():  # a newline would make two lines of one path
                from ..printable import shown

                print(f"conda-limits: left out {shown(text)}: its path cannot be one line; "
                      "run `conda limits unset --all -p PATH` for it by hand.", file=sys.stderr)
                continue
            print(text)
        return 0
    for line in lines(found):
        print(line)
    return 0


def lines(found: list[Footprint]) -> list[str]:
    """The table of ``conda limits list``."""
    from ..printable import shown
    from .common import env_label, titled

    if not found:
        return ["No environment has limits or settings."]
    rows = [("# Environment", "Settings")]
    for f in found:
        if f.problem:
            summary = f"! the record cannot be read: {f.problem}"
        elif f.limits:
            summary = f.limits.summary()
        else:
            summary = "! activation scripts without a record"
        rows.append((shown(env_label(f.prefix)), summary))
    width = max(len(name) for name, _ in rows)
    return titled("environments with limits or settings",
                  [f"{name.ljust(width)}  {summary}" for name, summary in rows])
