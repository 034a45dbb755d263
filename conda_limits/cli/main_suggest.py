"""``conda limits suggest``: limits proposed from an environment's recorded runs."""

from __future__ import annotations

from argparse import ArgumentParser, ArgumentTypeError, Namespace
from pathlib import Path
from typing import TYPE_CHECKING

from ..printable import shown

if TYPE_CHECKING:
    from ..usage.suggest import Suggestion

HELP = "Propose limits from what an environment's recorded runs used."
DESCRIPTION = HELP + (
    " For each limit with enough recorded runs (see `conda limits usage`): the highest peak "
    "of those runs plus a margin, rounded up to a readable value, with the evidence and the "
    "current limit. A run that a limit stopped counts as needing more than that limit, not as "
    "a peak. With too few runs nothing is proposed. vmem is not proposed for an environment "
    "with CUDA/ML packages; mem (the resident-memory cap of `conda run-limited`, kernels and "
    "Slurm jobs) is proposed instead."
)
EPILOG = """Examples:

    conda limits suggest -n ai_env
    conda limits suggest -n ai_env --margin 50% --apply
    conda limits suggest -n ai_env --only data,nofile --apply --dry-run
    conda limits suggest -n ai_env -f environment.yml
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_dry_run, add_environment, add_json, add_yes

    add_environment(parser)
    parser.add_argument("--margin", metavar="PERCENT", type=_margin, default=None,
                        help="Headroom above the highest peak (default 25%%).")
    parser.add_argument("--only", metavar="LIMITS", type=_keys, default=None,
                        help="Propose only these limits (comma-separated: "
                        "vmem, data, nofile, cpu, mem).")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--apply", action="store_true",
                        help="Record the proposed limits for the environment, as `conda "
                        "limits set` does (mem included).")
    target.add_argument("-f", "--file", metavar="FILE", dest="limits_file",
                        help="Write the proposed limits into this environment.yml's `limits:` "
                        "(the rest of the file is kept).")
    add_yes(parser)
    add_dry_run(parser)
    add_json(parser)


def _margin(text: str) -> float:
    from ..usage.suggest import parse_margin

    try:
        return parse_margin(text)
    except ValueError as error:
        raise ArgumentTypeError(str(error)) from None


def _keys(text: str) -> tuple[str, ...]:
    from ..usage.suggest import MEASURED

    keys = tuple(dict.fromkeys(key.strip() for key in text.split(",") if key.strip()))
    unknown = [key for key in keys if key not in MEASURED]
    if unknown or not keys:
        raise ArgumentTypeError(f"invalid value {text!r}: expected limit names from "
                                + ", ".join(MEASURED))
    return keys


def execute(args: Namespace) -> int:
    from argparse import Namespace as Args

    from conda.base.context import context

    from ..health import gpu_packages
    from ..limits.model import Limit, LimitSet
    from ..usage import log
    from ..usage.suggest import MARGIN, suggest
    from .common import print_json, read_limits, target_prefix
    from .exceptions import NothingToDoError, refuse_windows
    from .main_set import write_given

    refuse_windows()
    prefix = target_prefix(args)
    margin = MARGIN if args.margin is None else args.margin
    limits = read_limits(prefix)
    current = {key: limit.effective for key, limit in limits.items()}
    if limits.mem is not None:
        current["mem"] = limits.mem
    runs = log.read(prefix).runs
    found = [s for s in suggest(runs, current, margin=margin, gpu_packages=gpu_packages(prefix))
             if args.only is None or s.key in args.only]
    extra = {"prefix": str(prefix), "runs": len(runs), "margin": margin,
             "suggestions": [s.to_json() for s in found]}
    writing = args.apply or args.limits_file
    given = LimitSet({s.key: Limit(s.value) for s in found if s.applicable and s.key != "mem"},
                     mem=next((s.value for s in found if s.applicable and s.key == "mem"), None))
    if writing and not given:
        raise NothingToDoError("No limit can be proposed yet for the environment at "
                               f"{shown(prefix)}: " + _why_none(found, len(runs)),
                               return_code=1)
    if not context.json:
        for line in report(prefix, found, len(runs), margin, writing=bool(writing)):
            print(line)
    if writing:
        if not context.json:
            print()
        target = Args(name=None, prefix=str(prefix), limits_file=args.limits_file)
        return write_given(target, given, extra if context.json else None)
    if context.json:
        print_json(extra)
    return 0


def _why_none(found: list[Suggestion], runs: int) -> str:
    notes = sorted({s.note for s in found if s.note and s.value is None})
    return "; ".join(notes) if notes else f"{runs} run(s) recorded"


def report(prefix: Path, found: list[Suggestion], runs: int, margin: float, *,
           writing: bool) -> list[str]:
    """The text of ``conda limits suggest``."""
    from ..limits.values import approx, human, pretty
    from ..usage.suggest import when
    from .common import target_option, titled

    title = (f"limits proposed for the environment at {shown(prefix)} from {runs} recorded "
             f"run(s), with a margin of {margin:.0%}")
    rows = [("# Name", "Current", "Proposed", "Highest peak", "Runs", "Peak run started")]
    notes: dict[str, list[str]] = {}  # a note -> the limits it is about
    warnings = []
    for s in found:
        resource = s.resource
        rows.append((
            s.key,
            "-" if s.current is None else pretty(resource, s.current),
            "-" if s.value is None else human(resource, s.value),
            "-" if s.peak is None else approx(resource, s.peak if s.key != "cpu"
                                              else max(1, round(s.peak))),
            str(s.runs),
            "-" if s.peak_at is None else when(s.peak_at),
        ))
        if s.note:
            notes.setdefault(s.note, []).append(s.key)
        if s.warning:
            warnings.append(f"warning: {s.key}: {s.warning}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = titled(title, ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                           for row in rows])
    if notes or warnings:
        lines.append("")
        lines += [f"{', '.join(keys)}: {note}" for note, keys in notes.items()] + warnings
    if any(s.key == "mem" and s.value is not None for s in found):
        lines.append("mem applies to `conda run-limited`, Jupyter kernels and Slurm jobs, not "
                     "to an activated shell.")
    if not writing and any(s.applicable for s in found):
        lines.append(f"`conda limits suggest {target_option(prefix)} --apply` records them "
                     "(`--dry-run` first shows the result).")
    return lines
