"""``conda run-limited``: run one command in an environment under its limits.

The conda glue: parses the arguments, computes the activation with conda's own activator in
this process (no ``conda shell.posix`` subprocesses), and hands over to
:func:`conda_limits.run.runner.run`.
"""

from __future__ import annotations

import os
from argparse import REMAINDER, ArgumentParser, Namespace, RawDescriptionHelpFormatter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..run.activation import Activation

HELP = "Run a command in an environment under its resource limits."
DESCRIPTION = """\
Run a command in an environment under its resource limits.

The command gets what `conda run` gives it (PATH, `conda env config vars`, the environment's
activate.d scripts) and runs under the limits recorded for the environment; a limit given
here wins over the recorded one. Its input and output are the terminal's, its exit status is
returned (128+N when signal N killed it), and when a limit stopped it, one line on stderr
says which.
"""
EPILOG = """Examples:

    conda run-limited -n ai_env -- python train.py --epochs 10
    conda run-limited -n ai_env --vmem 2G --cpu 10m -- python leak.py
    conda run-limited -n ai_env --mem 4G --report -- python train_gpu.py
"""


def configure_parser(parser: ArgumentParser) -> None:
    from ..resources import MEM, Kind
    from .options import METAVARS, add_environment, add_limit_values, value_type

    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    parser.formatter_class = RawDescriptionHelpFormatter
    add_environment(parser)
    add_limit_values(parser)
    parser.add_argument("--hard", action="store_true",
                        help="Also set the hard limit of the limits given here, so that the "
                        "command cannot raise them.")
    parser.add_argument("--mem", metavar=METAVARS[Kind.SIZE], type=value_type(MEM),
                        help="Cap the resident memory of the command and its children through "
                        "a cgroup (unlike --vmem, CUDA, PyTorch and JAX keep working). Refused "
                        "where no cgroup can enforce it.")
    parser.add_argument("--report", action="store_true",
                        help="After the command, print its peak memory, CPU and wall time and "
                        "the limits in force (on stderr).")
    parser.add_argument("command", nargs=REMAINDER, metavar="COMMAND",
                        help="The command and its arguments; put `--` before it.")


def conda_activation(prefix: Path) -> Activation:
    """What ``conda activate PREFIX`` would do from this process's environment, computed by
    conda's POSIX activator: the variables, and the scripts it would source."""
    from conda.activate import PosixActivator
    from conda.base.context import context

    from ..run.activation import Activation

    activator = PosixActivator()
    stack = bool(context.auto_stack) and context.shlvl <= context.auto_stack
    built = (activator.build_stack if stack else activator.build_activate)(str(prefix))
    previous = dict(os.environ)
    environ = dict(previous)
    environ.update({k: str(v) for k, v in built.get("export_path", {}).items()})
    for name in built.get("unset_vars", ()):
        environ[name] = ""  # as conda's POSIX activation does it: export NAME=''
    environ.update({k: str(v) for k, v in built.get("export_vars", {}).items()})
    return Activation(environ, tuple(built.get("activate_scripts", ())),
                      tuple(built.get("deactivate_scripts", ())), previous)


def execute(args: Namespace) -> int:
    from conda.exceptions import ArgumentError

    from .. import record
    from ..model import Limit, LimitSet
    from ..resources import MEM
    from ..run import activation as envactivation
    from ..run import cgroups, runner
    from ..values import UNLIMITED, human
    from .common import refuse_windows, target_prefix
    from .exceptions import LimitsRecordError, RunLimitedError
    from .options import given_values

    refuse_windows()
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        raise ArgumentError("No command given: put it after `--`, e.g. "
                            "`conda run-limited -n ENV -- python script.py`.")
    prefix = target_prefix(args)
    overrides = LimitSet({key: Limit(value, value if args.hard else None)
                          for key, value in given_values(args).items()})
    mem = None if args.mem in (None, UNLIMITED) else int(args.mem)
    try:
        return runner.run(prefix, command, overrides, mem=mem,
                          activation=conda_activation(prefix), report=args.report)
    except record.RecordError as error:
        raise LimitsRecordError(str(error)) from None
    except runner.CommandNotFound as error:
        raise RunLimitedError(f"Command not found: {error.name!r} is not on the PATH of the "
                              f"environment at {prefix}.", return_code=127) from None
    except cgroups.MemoryCapUnavailable as error:
        raise RunLimitedError(
            f"Cannot cap resident memory at {human(MEM, error.limit)} (--mem) here: "
            + "; ".join(error.reasons)
            + ".\nRun as a user who may write a cgroup, or limit memory with --data instead."
        ) from None
    except (runner.RunnerError, cgroups.MemoryCapError, envactivation.ActivationError) as error:
        raise RunLimitedError(f"Cannot start the command: {error}.") from None
