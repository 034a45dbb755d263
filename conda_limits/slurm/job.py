"""Run one command in an environment as a Slurm job step: ``conda run-limited --slurm``.

:func:`srun_command` builds the command line: ``srun``, the options derived from the
environment's settings (:mod:`~conda_limits.slurm.options`), the job's name (the command's,
not the Python that starts it), a comment by which the job is found again, ``--export=ALL``
(the activated environment goes with the job), the user's own options (which win), and on the
node :mod:`~conda_limits.slurm.node`, which sets the limits, activates and ``exec``s the
command. :func:`run` runs it with the terminal's stdio (:mod:`~conda_limits.slurm.srun`),
reads how the job ended (:mod:`~conda_limits.slurm.ending`), prints the one-line diagnosis
(:mod:`~conda_limits.slurm.diagnosis`) and returns the job's exit status. No conda here.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ..errors import Kind, LimitsError
from ..limits.model import LimitSet
from ..printable import escape
from ..run.activation import Activation, ActivationError, from_prefix
from ..state import record
from ..usage.entry import command_name
from . import diagnosis, ending, node, srun
from .options import Request, given_groups, merged

COMMENT = "conda-limits:"


class SlurmNotFound(LimitsError, RuntimeError):
    """srun is not installed (or not on PATH) here; nothing was run."""

    kind = Kind.RUN
    heading = "Cannot run the command with Slurm"

    def __init__(self, path: str) -> None:
        self.path = path
        super().__init__("srun was not found on PATH: Slurm's client commands are not "
                         "installed here, or not on PATH")


@dataclass(frozen=True)
class Submission:
    """The srun command line for a job, and what is needed to find the job afterwards."""

    argv: list[str]
    environ: dict[str, str]
    token: str | None  # the job's --comment, None when the user's options set their own
    own_job: bool  # False: a step inside an allocation that goes on (salloc, sbatch)


def find_srun(environ: Mapping[str, str] | None = None) -> str:
    """The path of ``srun`` on the caller's PATH (raises :class:`SlurmNotFound`)."""
    path = (os.environ if environ is None else environ).get("PATH", os.defpath)
    found = shutil.which("srun", path=path)
    if found is None:
        raise SlurmNotFound(path)
    return found


def job_name(program: str) -> str:
    """The job's name: the program's base name, escaped (Slurm's listings are lines)."""
    return escape(command_name(program)) or "command"


def srun_command(prefix: str | os.PathLike[str], command: Sequence[str],
                 activation: Activation, recorded: LimitSet, overrides: LimitSet,
                 request: Request, user_options: Sequence[str] = (), *,
                 srun_path: str | None = None, python: str | None = None) -> Submission:
    """The srun command line that runs ``command`` in the environment at ``prefix``."""
    if not command:
        raise ActivationError("no command to run")
    caller = activation.previous or os.environ
    srun_path = srun_path or find_srun(caller)
    user = list(user_options)
    token = f"{COMMENT}{secrets.token_hex(8)}" if "comment" not in given_groups(user) else None
    ours = [*request.options(), f"--job-name={job_name(command[0])}",
            "--export=ALL"]
    if token:
        ours.append(f"--comment={token}")
    argv = [srun_path, *merged(ours, user), "--",
            *node.argv(python or sys.executable, prefix, recorded, overrides, command)]
    own_job = "SLURM_JOB_ID" not in caller and not any(
        o == "--jobid" or o.startswith("--jobid=") for o in user)
    return Submission(argv, dict(activation.environ), token, own_job)


def run(prefix: str | os.PathLike[str], command: Sequence[str],
        overrides: LimitSet | None = None, *, mem: int | None = None,
        user_options: Sequence[str] = (), activation: Activation | None = None,
        stderr: TextIO | None = None) -> int:
    """Run ``command`` as a Slurm job step in the environment at ``prefix``; its status.

    ``overrides`` win over the recorded limits; ``mem`` (bytes; default: the recorded or
    overriding ``mem``) is the job's ``--mem``, and
    the CPU settings give ``--cpus-per-task``, unless ``user_options`` (srun's) say otherwise.
    ``activation`` is the environment computed by conda (default: a conda-free activation of
    ``prefix``). One line on ``stderr`` says what stopped the job, when something did.
    Raises :class:`SlurmNotFound` (and record/activation errors) when nothing was run.
    """
    stderr = stderr or sys.stderr
    overrides = overrides or LimitSet()
    if activation is None:
        activation = from_prefix(Path(prefix))
    recorded = record.read(prefix)
    submission = srun_command(prefix, command, activation, recorded, overrides,
                              Request.of(recorded.merged(overrides), mem), user_options)
    stderr.flush()
    finished = srun.run(submission.argv, submission.environ, stderr_fd=_fileno(stderr))
    job_id = None
    if submission.token and submission.own_job:
        job_id = ending.find_job(submission.token, submission.environ)
    end = ending.read(job_id, finished.said, submission.environ, own_job=submission.own_job)
    limits = recorded.merged(overrides)
    for line in diagnosis.explain(end, finished.status, limits, requested=finished.requested,
                                  command=command, path=activation.environ.get("PATH")):
        print(line, file=stderr)
    stderr.flush()
    return finished.status


def _fileno(stream: TextIO) -> int:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return 2
