"""Arguments shared by several commands: the environment, and one flag per limit."""

from __future__ import annotations

import re
from argparse import ArgumentParser, ArgumentTypeError, Namespace, _ArgumentGroup
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..limits import floors
from ..limits.resources import RESOURCES, Kind, Resource
from ..limits.values import ACCEPTED, InvalidValue, Value, human, is_bare_size, parse

if TYPE_CHECKING:
    from ..limits.cpu import CpuSettings

METAVARS = {Kind.SIZE: "SIZE", Kind.COUNT: "N", Kind.DURATION: "TIME"}


def dest(resource: Resource) -> str:
    """The argparse destination of a limit's flag (prefixed: conda's context reads args)."""
    return f"limit_{resource.key}"


def value_type(resource: Resource) -> Callable[[str], Value]:
    """An argparse ``type=`` that validates a value of ``resource``."""

    def convert(text: str) -> Value:
        try:
            value = parse(resource, text)
        except InvalidValue as error:
            raise ArgumentTypeError(f"invalid value {text!r}: {error.reason}") from None
        if resource.kind is Kind.SIZE and isinstance(value, int) and is_bare_size(text):
            import sys

            print(f"note: {resource.flag} {text.strip()} is {human(resource, value)}: a number "
                  f"without a unit is bytes, where `ulimit` counts KiB ({text.strip()}K "
                  f"would be {human(resource, value * 1024)}).",
                  file=sys.stderr)
        return value

    convert.__name__ = resource.kind.value
    return convert


LIMITS_DESCRIPTION = (f"SIZE is {ACCEPTED[Kind.SIZE]}. TIME is {ACCEPTED[Kind.DURATION]}. "
                      f"N is {ACCEPTED[Kind.COUNT]}.")
MEM_HELP = ("Cap the resident memory of a command and its children (unlike --vmem, CUDA, "
            "PyTorch and JAX keep working); applied by `conda run-limited`, Jupyter kernels "
            "and Slurm jobs, not by `conda activate`.")


def add_limit_values(parser: ArgumentParser, title: str = "limits", *,
                     mem_help: str = MEM_HELP) -> None:
    """``--vmem SIZE``, ``--nofile N``, ... (one option per resource), ``--mem SIZE``, and
    the check that refuses ``--vmem 4 G`` (see :func:`refuse_split_values`)."""
    group = parser.add_argument_group(title, LIMITS_DESCRIPTION)
    for resource in RESOURCES:
        group.add_argument(resource.flag, metavar=METAVARS[resource.kind], dest=dest(resource),
                           type=value_type(resource), default=None, help=resource.summary)
    group.add_argument("--mem", metavar=METAVARS[Kind.SIZE], dest="limit_mem",
                       type=mem_type(), default=None, help=mem_help)
    add_allow_tiny(group)
    refuse_split_values(parser)


_UNIT_WORD = re.compile(r"(?:[KMGT](?:I?B)?|B|s|m|h|d|min|mins|minutes?|hours?|hrs?|days?|"
                        r"sec|secs|seconds?)", re.ASCII | re.IGNORECASE)


def refuse_split_values(parser: ArgumentParser) -> None:
    """Make ``parser`` refuse a value split from its unit by a space (``--vmem 4 G``: the
    shell makes two words of it), saying so, before argparse takes the unit for something
    else (an unknown argument; ``run-limited``'s command)."""
    original = parser.parse_known_args

    def parse_known_args(args: Any = None, namespace: Any = None) -> Any:
        import sys

        words = list(sys.argv[1:] if args is None else args)
        flags = {a for action in parser._actions for a in action.option_strings
                 if action.type is not None and a.startswith("--")}
        for flag, number, unit in zip(words, words[1:], words[2:]):
            if flag == "--":
                break
            if flag in flags and number.isascii() and number.replace(".", "", 1).isdigit() \
                    and _UNIT_WORD.fullmatch(unit):
                parser.error(f"argument {flag}: {number} {unit}: a space between the number "
                             f"and its unit; write {flag} {number}{unit}")
        return original(args, namespace)

    parser.parse_known_args = parse_known_args  # type: ignore[method-assign]


def mem_type() -> Callable[[str], Value]:
    """An argparse ``type=`` for ``--mem`` (the floor is checked by :func:`given_mem`)."""
    from ..limits.mem import parse_mem

    def convert(text: str) -> Value:
        try:
            return parse_mem(text)
        except InvalidValue as error:
            raise ArgumentTypeError(f"invalid value {text!r}: {error.reason}") from None

    convert.__name__ = Kind.SIZE.value
    return convert


def given_mem(args: Namespace) -> Value | None:
    """``--mem`` as given (None: not given); below its floor, conda's ``ArgumentError``
    (exit status 2) unless allowed, as for :func:`given_values`."""
    from .tiny import refuse_given

    value: Value | None = getattr(args, "limit_mem", None)
    if value is not None:
        refuse_given({"mem": value}, args)
    return value


def add_allow_tiny(parser: ArgumentParser | _ArgumentGroup) -> None:
    """``--allow-tiny``: accept values below the floors (``floors.py``)."""
    parser.add_argument(floors.FLAG, dest="allow_tiny", action="store_true",
                        help="Accept values below what shells and small programs need (e.g. "
                        "--nofile 3, --vmem 16M), for experiments; refused without it.")


CPU_DESCRIPTION = ("Not to be confused with --cpu, which stops a process after that much CPU "
                   "time: these share the CPU out and stop nothing.")


def cpu_type(key: str) -> Callable[[str], object]:
    """An argparse ``type=`` for a CPU setting. A value meant for a bigger machine (CPUs this
    one lacks, more cores than it has) is taken: recording it warns, applying it here uses
    what this machine has (:mod:`conda_limits.limits.cpu_checks`)."""
    from ..limits import cpu as settings

    def convert(text: str) -> object:
        try:
            value = settings.parse(key, text)
        except settings.InvalidCpuSetting as error:
            raise ArgumentTypeError(f"invalid value {text!r}: {error.reason}") from None
        return value

    convert.__name__ = key
    return convert


def add_cpu_values(parser: ArgumentParser) -> None:
    """``--threads N``, ``--cpuset LIST``, ``--cores CORES``.

    Abbreviated options are turned off for ``parser``: ``--cpus 2`` (Docker's spelling of a
    core quota) must not be taken as ``--cpuset 2``.
    """
    from ..limits import cpu as settings

    parser.allow_abbrev = False
    group = parser.add_argument_group("CPU share", CPU_DESCRIPTION)
    for key in settings.KEYS:
        group.add_argument(f"--{key}", metavar=settings.METAVAR[key], dest=f"cpu_{key}",
                           type=cpu_type(key), default=None,
                           help=f"{settings.SUMMARY[key]}: {settings.ACCEPTED[key]}")


def given_cpu(args: Namespace) -> CpuSettings:
    """The CPU settings given on the command line."""
    from ..limits.cpu import CpuSettings

    return CpuSettings(getattr(args, "cpu_threads", None), getattr(args, "cpu_cpuset", None),
                       getattr(args, "cpu_cores", None))


def add_limit_switches(parser: ArgumentParser) -> None:
    """``--vmem``, ``--nofile``, ..., ``--mem`` and ``--threads``, ``--cpuset``, ``--cores``
    as switches, and ``--all``."""
    from ..limits import cpu as settings

    parser.allow_abbrev = False  # as in add_cpu_values
    group = parser.add_argument_group("limits")
    for resource in RESOURCES:
        group.add_argument(resource.flag, dest=dest(resource), action="store_true",
                           help=resource.summary)
    group.add_argument("--mem", dest="limit_mem", action="store_true",
                       help="resident memory cap (run-limited, kernels, Slurm jobs)")
    for key in settings.KEYS:
        group.add_argument(f"--{key}", dest=f"cpu_{key}", action="store_true",
                           help=settings.SUMMARY[key])
    group.add_argument("--all", dest="limit_all", action="store_true",
                       help="all limits of the environment")


# The options below are spelled as conda's own (conda.cli.helpers) but defined here, so that
# the parsers build without conda: the docs are generated from them where conda is absent.
# Their defaults are None so that conda's context keeps .condarc values (json, dry_run).


def add_environment(parser: ArgumentParser, file_help: str | None = None) -> None:
    """``-n/--name`` and ``-p/--prefix``, as in every conda command.

    With ``file_help``, also ``-f/--file FILE`` (dest ``limits_file``) as the alternative
    target: an environment.yml instead of an environment.
    """
    group = parser.add_argument_group("Target Environment Specification")
    exclusive = group.add_mutually_exclusive_group()
    exclusive.add_argument("-n", "--name", metavar="ENVIRONMENT", help="Name of environment.")
    exclusive.add_argument("-p", "--prefix", metavar="PATH",
                           help="Full path to environment location (i.e. prefix).")
    if file_help:
        exclusive.add_argument("-f", "--file", metavar="FILE", dest="limits_file",
                               help=file_help)


def add_json(parser: ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", default=None,
                        help="Report all output as json. Suitable for using conda "
                        "programmatically.")


def add_yes(parser: ArgumentParser) -> None:
    """``-y/--yes`` as in conda's writing commands: accepted, and a no-op (nothing asks)."""
    parser.add_argument("-y", "--yes", action="store_true", default=None,
                        help="Accepted as in conda's commands that change an environment; "
                        "nothing asks for confirmation here.")


def add_dry_run(parser: ArgumentParser) -> None:
    parser.add_argument("-d", "--dry-run", action="store_true", default=None,
                        help="Only say what would change; write nothing.")


def given_values(args: Namespace) -> dict[str, Value]:
    """The limit values given on the command line, by resource key.

    A value below its floor is conda's ``ArgumentError`` (exit status 2), unless
    ``--allow-tiny`` or conda's ``limits_allow_tiny`` setting allows it.
    """
    from .tiny import refuse_given

    values = {r.key: getattr(args, dest(r)) for r in RESOURCES
              if getattr(args, dest(r), None) is not None}
    refuse_given(values, args)
    return values


def given_switches(args: Namespace) -> list[str]:
    from ..limits import cpu as settings

    return [*(r.key for r in RESOURCES if getattr(args, dest(r), False)),
            *(["mem"] if getattr(args, "limit_mem", False) is True else []),
            *(key for key in settings.KEYS if getattr(args, f"cpu_{key}", False) is True)]
