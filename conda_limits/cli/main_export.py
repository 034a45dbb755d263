"""``conda limits export``: an environment's limits as an environment.yml ``limits:`` block,
or (``--format``) as ``#SBATCH`` lines, a ``systemd-run`` command line or ``docker run`` flags
(:mod:`conda_limits.exports`)."""

from __future__ import annotations

from argparse import ArgumentParser, Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from ..printable import shown

if TYPE_CHECKING:
    from ..limits.model import LimitSet

HELP = "Print an environment's limits as a `limits:` block, or write them into an environment.yml."
DESCRIPTION = HELP + (
    " With -f, the file's `limits:` section becomes the environment's limits; everything else "
    "in the file (comments, order, other keys) stays as it is. `conda env export` and "
    "`conda export` include the limits too."
)
EPILOG = """Examples:

    conda limits export -n ai_env
    conda limits export -n ai_env -f environment.yml
    conda limits export -n ai_env --format sbatch >> job.sh
    docker run $(conda limits export -n ai_env --format docker) IMAGE COMMAND
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_dry_run, add_environment, add_json, add_yes

    add_environment(parser)
    parser.add_argument("-f", "--file", metavar="FILE", dest="limits_file",
                        help="An existing environment.yml to write the limits into.")
    from ..exports import FORMATS

    parser.add_argument("--format", dest="export_format", choices=("limits", *FORMATS),
                        default="limits",
                        help="limits (default): the `limits:` block of environment.yml. "
                        "sbatch: `#SBATCH` lines for a Slurm batch script, with a comment for "
                        "each limit Slurm has no option for (the job gets it from `conda "
                        "activate`). systemd-run: a `systemd-run --user --scope` command line "
                        "(cgroup properties; the rlimits through prlimit). docker: `docker run` "
                        "flags. What a tool cannot take is said on stderr (sbatch: in the "
                        "lines).")
    add_yes(parser)
    add_dry_run(parser)
    add_json(parser)


def execute(args: Namespace) -> int:
    import sys

    from conda.base.context import context

    from ..state.environment_yml import block_text
    from .common import (
        env_label,
        print_json,
        read_state,
        state_warnings,
        target_prefix,
        to_json,
    )
    from .files import load, locked, rewrite

    prefix = target_prefix(args)
    state = read_state(prefix)
    limits = state.limits
    for warning in state_warnings(state, prefix, rewritten=False):
        print(f"warning: {warning}", file=sys.stderr)
    export_format = getattr(args, "export_format", "limits")
    if export_format != "limits":
        return _export_as(export_format, prefix, limits, bool(args.limits_file))
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
                print(f"Wrote the limits of the environment {shown(env_label(prefix))} into "
                      f"{shown(env.path)}.")
            else:
                print(f"The environment {shown(env_label(prefix))} has no limits: "
                      f"{shown(env.path)} has no `limits:` section now.")
        return 0
    if context.json:
        print_json(to_json(prefix, limits))
    elif limits:
        print(block_text(limits), end="")
    else:
        print(f"# the environment at {shown(prefix)} has no limits", file=sys.stderr)
    return 0


def _export_as(export_format: str, prefix: Path, limits: LimitSet, to_file: bool) -> int:
    """``--format sbatch|systemd-run|docker``: the text on stdout, the notes on stderr."""
    import sys

    from conda.base.context import context
    from conda.exceptions import ArgumentError

    from ..exports import Settings, render
    from .common import env_label, print_json

    if to_file:
        raise ArgumentError(f"-f writes the `limits:` block into an environment.yml; "
                            f"--format {export_format} prints to stdout (redirect it).")
    export = render(export_format, Settings(limits, name=env_label(prefix)))
    if context.json:
        print_json({"prefix": str(prefix), "format": export_format, "text": export.text,
                    "notes": list(export.notes)})
        return 0
    print(export.text, end="")
    for note in export.notes:
        print(f"# {note}", file=sys.stderr)
    return 0
