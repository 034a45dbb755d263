"""conda-limits' errors as conda reports them: ``CondaError`` subclasses with clear messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conda.exceptions import CondaError

from ..errors import LimitsError
from ..printable import shown


class CondaLimitsError(CondaError):
    """Base class of conda-limits' errors as conda reports them."""


class LimitsNotSupportedError(CondaLimitsError):
    def __init__(self, platform: str) -> None:
        super().__init__(
            f"Resource limits are not supported on {platform}: it has no setrlimit/ulimit. "
            "conda-limits works on Linux (and, partly, macOS)."
        )


class PrefixNotWritableError(CondaLimitsError):
    def __init__(self, prefix: str, problem: str) -> None:
        # Passed as arguments: conda before 25.x %-formats every message (see LimitsFileError).
        super().__init__("Cannot write the limits of the environment at %(prefix)s: "
                         "%(problem)s. Nothing was changed.", prefix=prefix, problem=problem)


class LimitsRecordError(CondaLimitsError):
    def __init__(self, problem: str) -> None:
        super().__init__("The environment's limits record is broken: %(problem)s\n"
                         "Fix or remove the file, or run `conda limits unset --all` (it "
                         "removes the record and the activation scripts, whatever they hold).",
                         problem=problem)


class LimitsFileError(CondaLimitsError):
    """An environment.yml whose ``limits:`` cannot be read, validated or written."""

    def __init__(self, problem: str, consequence: str = "Nothing was changed.") -> None:
        # Passed as an argument: conda before 25.x %-formats every message, and the
        # problem quotes what the file holds.
        super().__init__("%(problem)s\n%(consequence)s" if consequence else "%(problem)s",
                         problem=problem, consequence=consequence)


class LimitsDefaultsError(CondaLimitsError):
    """Site defaults (``plugins: limits_defaults:`` in a .condarc) that cannot be used, or a
    bad ``CONDA_LIMITS_NO_DEFAULTS``."""

    def __init__(self, problem: str, in_config: bool = True) -> None:
        from ..limits.defaults import KEY, OPT_OUT

        hint = (" Fix or remove that default (%(key)s), or skip the defaults for this command "
                "with %(opt_out)s=1." if in_config else "")
        # Passed as arguments: the problem quotes the configuration (see LimitsFileError).
        super().__init__("%(problem)s\nThe environment was not created." + hint,
                         problem=problem, key=KEY, opt_out=OPT_OUT)


class NothingToDoError(CondaLimitsError):
    """A command that, as given, has nothing to do: a usage error (exit status 2, as
    conda's ArgumentError), unless ``return_code`` says the operation found nothing."""

    def __init__(self, what: str, return_code: int = 2) -> None:
        self.return_code = return_code
        super().__init__(what)


class KernelInstallError(CondaLimitsError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"Jupyter kernel: {problem}. Nothing was changed.")


class RunLimitedError(CondaLimitsError):
    """``conda run-limited`` could not start the command; nothing was run."""

    def __init__(self, problem: str, return_code: int = 1) -> None:
        self.return_code = return_code
        # Passed as an argument: the problem may quote the command (see LimitsFileError).
        super().__init__("%(problem)s\nNothing was run.", problem=problem)


def conda_error(error: LimitsError, prefix: Path | None = None) -> CondaError:
    """The conda error that reports ``error``, an error of the conda-free core: the one place
    that translates them. ``prefix`` is the environment the command was about, when known."""
    # Imported here: this runs only when something went wrong.
    from ..jupyter import kernelspec
    from ..limits import defaults
    from ..run import activation, command, process
    from ..slurm import job, options, srun
    from ..state import environment_yml, prefix_files, record
    from ..system import memory_cap

    if isinstance(error, record.RecordError):
        return LimitsRecordError(str(error))
    if isinstance(error, prefix_files.PrefixNotWritable):
        return PrefixNotWritableError(shown(error.prefix), error.error.strerror or str(error.error))
    if isinstance(error, environment_yml.EnvFileError):
        return LimitsFileError(str(error))
    if isinstance(error, defaults.DefaultsError):
        return LimitsDefaultsError(str(error), in_config=error.in_config)
    if isinstance(error, kernelspec.KernelSpecError):
        return KernelInstallError(str(error))
    if isinstance(error, command.CommandNotFound):
        if error.problem:
            return RunLimitedError(f"Cannot run {error.name!r}: {error.problem}.",
                                   return_code=error.status)
        where = f"the environment at {prefix}" if prefix else "the environment"
        return RunLimitedError(f"Command not found: {error.name!r} is not on the PATH of "
                               f"{where}.", return_code=127)
    if isinstance(error, memory_cap.MemoryCapUnavailable):
        from ..limits.resources import MEM
        from ..limits.values import human

        return RunLimitedError(
            f"Cannot cap resident memory at {human(MEM, error.limit)} (mem) here: "
            + "; ".join(error.reasons)
            + ".\nRun as a user who may write a cgroup, let --mem-backend watch enforce it, "
            "limit memory with --data instead, or run without the cap with --mem unlimited.")
    if isinstance(error, (job.SlurmNotFound, options.SlurmOptionsError, srun.SrunError)):
        return RunLimitedError(f"Cannot run the command with Slurm: {error}.")
    from ..system import cpu_quota as quota

    if isinstance(error, quota.CpuQuotaUnavailable):
        return RunLimitedError(
            f"Cannot hold the command to {error.cores} cores (cores) here: "
            + "; ".join(error.reasons)
            + ".\nRun as a user who may write a cgroup, or share the CPU with --threads "
            "and --cpuset instead.")
    if isinstance(error, (process.RunnerError, memory_cap.MemoryCapError, quota.CpuQuotaError,
                          activation.ActivationError)):
        return RunLimitedError(f"Cannot start the command: {error}.")
    # Passed as an argument: conda before 25.x %-formats every message (see LimitsFileError).
    return CondaLimitsError("%(problem)s", problem=str(error))


@contextmanager
def conda_errors(prefix: Path | None = None) -> Iterator[None]:
    """Report the core's errors raised inside the block as conda's (see :func:`conda_error`)."""
    try:
        yield
    except LimitsError as error:
        raise conda_error(error, prefix) from None
