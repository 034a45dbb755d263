"""conda-limits' errors as conda reports them: ``CondaError`` subclasses with clear messages."""

from __future__ import annotations

from conda.exceptions import CondaError


class LimitsError(CondaError):
    """Base class of conda-limits' errors."""


class LimitsNotSupportedError(LimitsError):
    def __init__(self, platform: str) -> None:
        super().__init__(
            f"Resource limits are not supported on {platform}: it has no setrlimit/ulimit. "
            "conda-limits works on Linux (and, partly, macOS)."
        )


class PrefixNotWritableError(LimitsError):
    def __init__(self, prefix: str, problem: str) -> None:
        super().__init__(
            f"Cannot write the limits of the environment at {prefix}: {problem}. "
            "Nothing was changed."
        )


class LimitsRecordError(LimitsError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"The environment's limits record is broken: {problem}\n"
                         "Fix or remove the file, or run `conda limits unset --all`.")


class LimitsFileError(LimitsError):
    """An environment.yml whose ``limits:`` cannot be read, validated or written."""

    def __init__(self, problem: str, consequence: str = "Nothing was changed.") -> None:
        # Passed as an argument: conda before 25.x %-formats every message, and the
        # problem quotes what the file holds.
        super().__init__("%(problem)s\n%(consequence)s" if consequence else "%(problem)s",
                         problem=problem, consequence=consequence)


class LimitsDefaultsError(LimitsError):
    """Site defaults (``plugins: limits_defaults:`` in a .condarc) that cannot be used, or a
    bad ``CONDA_LIMITS_NO_DEFAULTS``."""

    def __init__(self, problem: str, in_config: bool = True) -> None:
        from ..defaults import KEY, OPT_OUT

        hint = (" Fix or remove that default (%(key)s), or skip the defaults for this command "
                "with %(opt_out)s=1." if in_config else "")
        # Passed as arguments: the problem quotes the configuration (see LimitsFileError).
        super().__init__("%(problem)s\nThe environment was not created." + hint,
                         problem=problem, key=KEY, opt_out=OPT_OUT)


class NothingToDoError(LimitsError):
    def __init__(self, what: str) -> None:
        super().__init__(what)


class KernelInstallError(LimitsError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"Jupyter kernel: {problem}. Nothing was changed.")


class RunLimitedError(LimitsError):
    """``conda run-limited`` could not start the command; nothing was run."""

    def __init__(self, problem: str, return_code: int = 1) -> None:
        self.return_code = return_code
        # Passed as an argument: the problem may quote the command (see LimitsFileError).
        super().__init__("%(problem)s\nNothing was run.", problem=problem)
