"""conda's entry point for conda-limits.

conda imports this module on nearly every invocation: it holds only the ``@hookimpl``
functions, and imports nothing of conda-limits beyond what a hook needs when it is called.
Parsers, ruamel.yaml and process machinery load only when a command of ours runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from conda.plugins import hookimpl
from conda.plugins.types import CondaSubcommand

if TYPE_CHECKING:
    from collections.abc import Iterator

    from conda.plugins.types import (
        CondaHealthCheck,
        CondaPostCommand,
        CondaPreCommand,
        CondaSetting,
    )


@hookimpl
def conda_subcommands() -> Iterator[CondaSubcommand]:
    from .cli import limits, main_run_limited

    yield CondaSubcommand(
        name="limits",
        summary="Set, show and remove an environment's resource limits (ulimit).",
        action=limits.execute,
        configure_parser=limits.configure_parser,
    )
    yield CondaSubcommand(
        name="run-limited",
        summary="Run a command in an environment under its resource limits.",
        action=main_run_limited.execute,
        configure_parser=main_run_limited.configure_parser,
    )


@hookimpl
def conda_health_checks() -> Iterator[CondaHealthCheck]:
    """`conda doctor`'s ``limits`` check (conda >= 23.11; with ``--fix`` from conda 26.1)."""
    from .hooks.health_checks import health_checks

    yield from health_checks()


@hookimpl
def conda_settings() -> Iterator[CondaSetting]:
    """`plugins: limits_defaults:` in a .condarc: limits of new environments (conda >= 24.3)."""
    from .hooks.site_defaults import settings

    yield from settings()


@hookimpl
def conda_pre_commands() -> Iterator[CondaPreCommand]:
    """Validate environment.yml's `limits:` before `conda (env) create/update -f` act."""
    from conda.plugins.types import CondaPreCommand

    from .hooks import env_commands

    yield CondaPreCommand(name="conda-limits-read-environment-file",
                          action=env_commands.before_apply,
                          run_for=set(env_commands.APPLY_COMMANDS))


@hookimpl
def conda_post_commands() -> Iterator[CondaPostCommand]:
    """Apply environment.yml's `limits:` after create/update; add them to exports."""
    from conda.plugins.types import CondaPostCommand

    from .hooks import env_commands

    yield CondaPostCommand(name="conda-limits-apply-environment-file",
                           action=env_commands.after_apply,
                           run_for=set(env_commands.APPLY_COMMANDS))
    yield CondaPostCommand(name="conda-limits-export", action=env_commands.after_export,
                           run_for=set(env_commands.EXPORT_COMMANDS))
