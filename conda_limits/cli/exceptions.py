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


class NothingToDoError(LimitsError):
    def __init__(self, what: str) -> None:
        super().__init__(what)


class KernelInstallError(LimitsError):
    def __init__(self, problem: str) -> None:
        super().__init__(f"Jupyter kernel: {problem}. Nothing was changed.")
