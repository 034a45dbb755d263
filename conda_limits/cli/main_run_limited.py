"""``conda run-limited``: run one command in an environment under its limits.

The conda glue: parses the arguments, computes the activation with conda's own activator in
this process (:mod:`conda_limits.run.conda_env`, no ``conda shell.posix`` subprocesses), and
hands over to
:func:`conda_limits.run.command.run`.
"""

from __future__ import annotations

from argparse import REMAINDER, ArgumentParser, Namespace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

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
    conda run-limited -n ai_env --slurm --mem 8G -- python train.py
    conda run-limited -n ai_env --slurm="-p gpu --time=2:00:00 --gres=gpu:1" \\
        -- python train.py
    conda run-limited -n ai_env --threads 2 --cores 1.5 --report \\
        -- python fit.py
"""


def configure_parser(parser: ArgumentParser) -> None:
    from .options import add_cpu_values, add_environment, add_limit_values

    parser.description = DESCRIPTION
    parser.epilog = EPILOG
    from .help_format import HelpFormatter

    parser.formatter_class = HelpFormatter
    add_environment(parser)
    add_limit_values(parser, mem_help=(
        "Cap the resident memory of the command and its children through a cgroup (unlike "
        "--vmem, CUDA, PyTorch and JAX keep working); wins over the environment's recorded "
        "mem, 'unlimited' runs without it. Refused where nothing can enforce it."))
    add_cpu_values(parser)
    parser.add_argument("--hard", action="store_true",
                        help="Also set the hard limit of the limits given here, so that the "
                        "command cannot raise them.")
    parser.add_argument("--mem-backend", metavar="NAME", type=_mem_backend,
                        help="How mem is enforced: auto (default: systemd, then cgroup-v2, "
                        "cgroup-v1, watch, the first that works here), or only one of "
                        "systemd, cgroup-v2, cgroup-v1, watch. Also "
                        "CONDA_LIMITS_MEM_BACKEND, or the plugins.limits_mem_backend setting.")
    parser.add_argument("--slurm", nargs="?", const="", metavar="SRUN_OPTIONS",
                        help="Run the command as a Slurm job step with srun: the limits are "
                        "set and the environment activated on the node, --mem and the CPU "
                        "settings become srun's --mem and --cpus-per-task, and the line after "
                        "the job says what stopped it (Slurm's memory or time limit, or a "
                        "limit of the environment). srun's own options go in one quoted "
                        "string after the equals sign, e.g. `--slurm='-p debug --time=30'`, and "
                        "win over those conda-limits derives.")
    parser.add_argument("--report", action="store_true",
                        help="After the command, print its peak memory, CPU and wall time and "
                        "the limits and CPU settings in force (on stderr).")
    parser.add_argument("--report-json", metavar="FILE",
                        help="Write the report as JSON into FILE (replaced), for scripts: "
                        "see the JSON page of the documentation.")
    parser.add_argument("--no-record", action="store_true",
                        help="Do not add this run to the environment's usage log (see `conda "
                        "limits usage`; CONDA_LIMITS_NO_RECORD=1 does the same).")
    parser.add_argument("command", nargs=REMAINDER, metavar="COMMAND",
                        help="The command and its arguments; put `--` before it.")


def _mem_backend(text: str) -> str:
    """``--mem-backend``'s value, checked (argparse says what is wrong: exit 2)."""
    from argparse import ArgumentTypeError

    from ..system.memory_cap import spelled

    try:
        spelled(text)
    except ValueError as error:
        raise ArgumentTypeError(str(error)) from None
    return text


def mem_backends(given: str | None) -> tuple[str, ...]:
    """The --mem backends to try: the flag, the variable, conda's setting, else all."""
    from conda.exceptions import ArgumentError

    from ..run.conda_env import plugin_text
    from ..system import memory_cap

    try:
        return memory_cap.wanted(given, configured=plugin_text(memory_cap.SETTING))
    except ValueError as error:
        raise ArgumentError(str(error)) from None


def execute(args: Namespace) -> int:
    import gc

    # This process ends with the command: the garbage collector need not look at conda's
    # objects again, which saves a full collection at exit (about a fifth of this command's
    # own CPU time, for a short command).
    gc.freeze()
    from conda.exceptions import ArgumentError

    from ..limits.model import Limit, LimitSet
    from ..run import command
    from ..run.conda_env import conda_activation
    from .common import target_prefix
    from .exceptions import conda_errors, refuse_windows
    from .options import given_cpu, given_mem, given_values

    refuse_windows()
    argv = list(args.command)
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        raise ArgumentError("No command given: put it after `--`, e.g. "
                            "`conda run-limited -n ENV -- python script.py`.")
    prefix = target_prefix(args)
    overrides = LimitSet({key: Limit(value, value if args.hard else None)
                          for key, value in given_values(args).items()}, given_cpu(args),
                         given_mem(args))
    if getattr(args, "slurm", None) is not None:
        if args.report or args.report_json:
            raise ArgumentError("--report measures a command on this machine; with --slurm, "
                                "ask Slurm (sacct -j JOB) for the job's figures.")
        from ..slurm import job
        from ..slurm.options import user_options

        with conda_errors(prefix):
            return job.run(prefix, argv, overrides,
                           user_options=user_options(args.slurm),
                           activation=conda_activation(prefix))
    with conda_errors(prefix):
        return command.run(prefix, argv, overrides,
                           mem_backends=mem_backends(args.mem_backend),
                           activation=conda_activation(prefix), report=args.report,
                           report_file=args.report_json,
                           record_usage=records(prefix, args.no_record))


def records(prefix: Path, no_record: bool) -> bool:
    """Whether this run goes into the usage log (flag, variable, marker, .condarc)."""
    from ..usage.optout import off_reason
    from .common import recording_allowed

    return off_reason(prefix, flag=no_record, configured=recording_allowed()) is None
