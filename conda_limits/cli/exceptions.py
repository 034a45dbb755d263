"""conda-limits' errors as conda reports them: ``CondaError`` subclasses with clear messages."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conda.exceptions import CondaError

from ..errors import Kind, LimitsError, NotWritable
from ..printable import shown


class CondaLimitsError(CondaError):
    """Base class of conda-limits' errors as conda reports them."""


class LimitsNotSupportedError(CondaLimitsError):
    def __init__(self, platform: str) -> None:
        super().__init__(
            f"Resource limits are not supported on {platform}: it has no setrlimit/ulimit. "
            "conda-limits works on Linux (and, partly, macOS)."
        )


def refuse_windows() -> None:
    """Stop a command on Windows, which has no resource limits."""
    if sys.platform == "win32":
        raise LimitsNotSupportedError("Windows")


class PrefixNotWritableError(CondaLimitsError):
    def __init__(self, prefix: str, problem: str) -> None:
        # Passed as arguments: conda before 25.x %-formats every message (see LimitsFileError).
        super().__init__("Cannot write the limits of the environment at %(prefix)s: "
                         "%(problem)s. Nothing was changed.", prefix=prefix, problem=problem)


class LimitsRecordError(CondaLimitsError):
    def __init__(self, problem: str, hint: str) -> None:
        super().__init__("The environment's limits record is broken: %(problem)s\n"
                         + _literal(hint), problem=problem)


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

    def __init__(self, problem: str, hint: str) -> None:
        from ..limits.defaults import KEY, OPT_OUT

        # Passed as arguments: the problem quotes the configuration (see LimitsFileError).
        super().__init__("%(problem)s\nThe environment was not created."
                         + (" " + _literal(hint) if hint else ""),
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


def _literal(text: str) -> str:
    """``text`` as part of a message that conda %-formats."""
    return text.replace("%", "%%")


def conda_error(error: LimitsError, prefix: Path | None = None) -> CondaError:
    """The conda error that reports ``error``, an error of the conda-free core, by its kind:
    the one place that translates them. ``prefix`` is the environment the command was about,
    when known."""
    if isinstance(error, NotWritable):
        return PrefixNotWritableError(shown(error.prefix), error.reason)
    if error.kind is Kind.RECORD:
        return LimitsRecordError(str(error), _record_hint(error, prefix))
    if error.kind is Kind.FILE:
        return LimitsFileError(error.report(prefix))
    if error.kind is Kind.DEFAULTS:
        return LimitsDefaultsError(str(error), error.hint)
    if error.kind is Kind.KERNEL:
        return KernelInstallError(error.report(prefix))
    if error.kind is Kind.RUN:
        return RunLimitedError(error.report(prefix), return_code=error.status)
    # Passed as an argument: conda before 25.x %-formats every message (see LimitsFileError).
    return CondaLimitsError("%(problem)s", problem=error.report(prefix))


def _record_hint(error: LimitsError, prefix: Path | None) -> str:
    """A broken record's hint, naming its environment as the user named it."""
    from ..state.record import RecordError
    from .common import target_option

    owner = prefix or (error.prefix if isinstance(error, RecordError) else None)
    if owner is None or not isinstance(error, RecordError):
        return error.hint
    return error.hint_naming(target_option(owner))


@contextmanager
def conda_errors(prefix: Path | None = None) -> Iterator[None]:
    """Report the core's errors raised inside the block as conda's (see :func:`conda_error`)."""
    try:
        yield
    except LimitsError as error:
        raise conda_error(error, prefix) from None
