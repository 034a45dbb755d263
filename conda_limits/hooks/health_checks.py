"""``conda doctor``'s ``limits`` check: prints :mod:`conda_limits.health`'s findings.

conda >= 23.11 runs health checks; from conda 26.1 on a check may also have a fixer, which
``conda doctor --fix`` runs. On an older conda the check is registered without one.
"""

from __future__ import annotations

from argparse import Namespace
from collections.abc import Callable, Iterator
from inspect import signature
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conda.plugins.types import CondaHealthCheck

NAME = "limits"
SUMMARY = ("Detect stale conda-limits scripts, limits above the hard limit, vmem with CUDA, limits "
           "that recorded runs keep hitting or never come near")
FIX = "Rewrite conda-limits' activation scripts from the environment's limits record"
OK_MARK = "\N{WHITE HEAVY CHECK MARK}"  # as conda doctor's own checks print them
X_MARK = "\N{CROSS MARK}"


def health_checks() -> Iterator[CondaHealthCheck]:
    """The ``CondaHealthCheck`` of conda-limits, if this conda has the type."""
    from conda.plugins import types

    check_type = getattr(types, "CondaHealthCheck", None)
    if check_type is None:
        return
    optional = {"fixer": fix, "summary": SUMMARY, "fix": FIX}
    accepted = signature(check_type).parameters
    yield check_type(name=NAME, action=check,
                     **{key: value for key, value in optional.items() if key in accepted})


def has_fixer() -> bool:
    """Whether this conda's health checks take a fixer (``conda doctor --fix``)."""
    from conda.plugins import types

    check_type = getattr(types, "CondaHealthCheck", None)
    return check_type is not None and "fixer" in signature(check_type).parameters


def check(prefix: str, verbose: bool) -> None:
    """Health check action: print the state of the environment's limits."""
    from ..cli.common import target_option
    from ..errors import LimitsError
    from ..health import Kind, diagnose
    from ..printable import shown

    target = target_option(Path(prefix))  # as conda names it: -n NAME, or -p PATH
    try:
        report = diagnose(prefix, target)
    except LimitsError as error:  # e.g. a writer that keeps the environment's lock
        print(f"{X_MARK} Resource limits (conda-limits): {error}\n")
        return
    if not report.findings:
        if report.limits:
            print(f"{OK_MARK} The resource limits ({report.limits.summary()}) are recorded and "
                  "their activation scripts are up to date.\n")
        else:
            print(f"{OK_MARK} No resource limits are set for this environment.\n")
        return
    print(f"{X_MARK} Resource limits (conda-limits):\n")
    fix_hint = (f"run `conda doctor {target} --fix` to rewrite them from the record"
                if has_fixer() else
                f"set any limit again with `conda limits set {target}` to rewrite them from the "
                f"record, or remove all with `conda limits unset {target} --all`")
    if any(finding.kind is Kind.RECORD for finding in report.findings):
        fix_hint = ""  # nothing can be rewritten from a broken record: its hint says what to do
    last_fixable = report.findings.index(report.fixable[-1]) if report.fixable else -1
    for index, finding in enumerate(report.findings):
        print(f"  {finding.message}")
        if verbose:
            for path in finding.paths:
                print(f"      {shown(path)}")
        # The fixable findings (scripts, leftovers) come first and share one hint.
        hint = finding.hint or (fix_hint if index == last_fixable else "")
        if hint:
            print(f"    -> {hint}")
    print()


def fix(prefix: str, args: Namespace, confirm: Callable[[str], object]) -> int:
    """Health check fixer: rewrite the activation scripts from the record, remove the
    temporary files of interrupted writes."""
    from ..cli.common import target_option, target_prefix
    from ..cli.exceptions import conda_errors
    from ..health import Kind, diagnose, fix_scripts
    from ..printable import shown

    with conda_errors():
        report = diagnose(prefix, target_option(target_prefix(args)))
        # Scripts are not written from a broken record, nor into a path conda expands
        # (removing them from there, with no limits recorded, is fine).
        refused = [f for f in report.findings if f.kind is Kind.RECORD or
                   (f.kind is Kind.UNSAFE_PATH and report.limits)]
        if refused:
            print(f"Cannot fix conda-limits' scripts: {refused[0].message}; "
                  f"{refused[0].hint}.")
            return 1
        if not report.fixable:
            print("conda-limits' activation scripts match the environment's limits record.")
            return 0
        for finding in report.fixable:
            print(f"  {finding.message}")
        print()
        confirm("Rewrite the activation scripts from the limits record?" if report.limits else
                "Remove conda-limits' activation scripts, since no limits are recorded?")
        changed = fix_scripts(prefix)
    for path in changed:
        print(f"{'Rewrote' if path.exists() else 'Removed'} {shown(path)}")
    return 0
