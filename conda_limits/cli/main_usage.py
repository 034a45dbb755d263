"""``conda limits usage``: the runs recorded for an environment, and the recording switch."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError, Namespace
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from ..printable import shown

if TYPE_CHECKING:
    from ..usage.log import Entries

HELP = "Show what an environment's programs used: the runs recorded in its usage log."
DESCRIPTION = HELP + (
    " `conda run-limited` and the Jupyter kernels of `conda limits kernel install` record one "
    "line per run: when, the command's name (never its arguments), how it ended and which "
    "limit stopped it, wall and CPU time, peak resident memory, peak address space and open "
    "files of its largest process, and the --mem cgroup's peak and OOM kills. "
    "`conda limits suggest` proposes limits from these runs."
)
EPILOG = """Examples:

    conda limits usage -n ai_env
    conda limits usage -n ai_env --last 0 --json
    conda limits usage -n ai_env --disable      # record no more runs of ai_env

Recording is on by default. It is off for one run with `conda run-limited --no-record` or
CONDA_LIMITS_NO_RECORD=1, for an environment with --disable, and for a user with
`conda config --set plugins.limits_record_usage false`.
"""
#: Runs shown by default (the log keeps more).
LAST = 20


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_dry_run, add_environment, add_json, add_yes

    add_environment(parser)
    parser.add_argument("--last", metavar="N", type=_count, default=LAST,
                        help=f"Show the last N runs (default {LAST}; 0: every recorded run).")
    switch = parser.add_mutually_exclusive_group()
    switch.add_argument("--disable", action="store_true",
                        help="Record no more runs of this environment (a marker file in it).")
    switch.add_argument("--enable", action="store_true",
                        help="Record runs of this environment again.")
    switch.add_argument("--clear", action="store_true",
                        help="Remove the recorded runs (the environment's log and yours).")
    add_yes(parser)
    add_dry_run(parser)
    add_json(parser)


def _count(text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise ArgumentTypeError(f"invalid value {text!r}: expected a whole number, e.g. 50")
    return int(text)


def execute(args: Namespace) -> int:
    from conda.base.context import context

    from ..usage import log
    from ..usage.optout import off_reason
    from .common import print_json, recording_allowed, target_prefix
    from .exceptions import refuse_windows

    refuse_windows()
    prefix = target_prefix(args)
    if args.disable or args.enable or args.clear:
        return _switch(args, prefix)
    entries = log.read(prefix)
    reason = off_reason(prefix, configured=recording_allowed())
    runs = entries.runs[-args.last:] if args.last else entries.runs
    if context.json:
        print_json({"prefix": str(prefix), "recording": reason is None, "off_reason": reason,
                    "files": [str(path) for path in entries.files],
                    "recorded": len(entries.runs), "skipped": entries.skipped,
                    "runs": [run.to_json() for run in runs]})
        return 0
    for line in report(prefix, entries, args.last, reason):
        print(line)
    return 0


def report(prefix: Path, entries: Entries, last: int, reason: str | None) -> list[str]:
    """The text of ``conda limits usage``."""
    import sys

    from ..usage.chart import BARS, memory_trend, table
    from .common import target_option, titled

    state = "on" if reason is None else f"off: {reason}"
    if not entries.runs:
        lines = [(f"No runs are recorded for the environment at {shown(prefix)} "
                 f"(recording is {state}).")]
        if reason is None:
            lines.append(f"`conda run-limited {target_option(prefix)} -- COMMAND` and its "
                         "Jupyter kernels record them.")
        return lines
    runs = entries.runs[-last:] if last else entries.runs
    shown_count = (f"the last {len(runs)} of {len(entries.runs)}"
                   if len(runs) < len(entries.runs) else f"{len(runs)}")
    lines = titled(f"runs recorded for the environment at {shown(prefix)} ({shown_count}; "
                   f"recording is {state})", table(runs))
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        BARS.encode(encoding)
        ascii_only = False
    except (UnicodeEncodeError, LookupError):
        ascii_only = True
    lines += ["", memory_trend(entries.runs, ascii_only=ascii_only)]
    if entries.skipped:
        lines.append(f"({entries.skipped} damaged line(s) of the log were skipped)")
    lines.append("")
    lines += [f"Log: {shown(path)}" for path in entries.files]
    lines.append(f"`conda limits suggest {target_option(prefix)}` proposes limits from these "
                 "runs.")
    return lines


def _switch(args: Namespace, prefix: Path) -> int:
    from conda.base.context import context

    from ..usage import log, optout
    from .common import print_json, recording_allowed

    dry_run = bool(context.dry_run)
    would = "would be" if dry_run else "is"
    with _switch_lock(prefix, args, shared=dry_run):
        if args.clear:
            removed = log.clear(prefix, dry_run=dry_run)
            changed = bool(removed)
            text = (f"{'Would remove' if dry_run else 'Removed'} {len(removed)} usage log(s) "
                    f"of the environment at {shown(prefix)}"
                    + (":" + "".join(f"\n  {shown(path)}" for path in removed) if dry_run
                       else ".")
                    if removed else f"No usage is recorded for the environment at "
                    f"{shown(prefix)}.")
        elif args.disable:
            changed = not _marked(prefix) if dry_run else optout.disable(prefix)
            removed = []
            text = (f"Recording {would} off for the environment at {shown(prefix)} "
                    f"({shown(optout.marker(prefix))}); the runs recorded so far are kept.")
        else:
            changed = _marked(prefix) if dry_run else optout.enable(prefix)
            removed = []
            text = f"Recording {would} on for the environment at {shown(prefix)}."
    if context.json:
        print_json({"prefix": str(prefix), "changed": changed, "dry_run": dry_run,
                    "removed": [str(path) for path in removed],
                    "recording": optout.off_reason(prefix, configured=recording_allowed()) is None})
        return 0
    print(text)
    return 0


def _marked(prefix: Path) -> bool:
    """Whether the environment's marker turns recording off."""
    import os

    from ..usage import optout

    return os.path.lexists(optout.marker(prefix))


@contextmanager
def _switch_lock(prefix: Path, args: Namespace, *, shared: bool) -> Iterator[None]:
    """The environment's lock around a change of its recording. A user who may not write the
    environment cannot take it: ``--clear`` then goes on without it (that user's own log of
    the environment is theirs to remove), the switches say they cannot be changed."""
    from ..state import prefix_files
    from ..usage import optout
    from .common import environment_lock

    with ExitStack() as stack:
        try:
            stack.enter_context(environment_lock(prefix, shared=shared))
        except prefix_files.PrefixNotWritable as error:
            if not args.clear:
                raise optout.SwitchRefused(prefix, bool(args.enable), error.error) from None
        yield
