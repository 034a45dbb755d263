"""conda's entry point for conda-limits.

conda imports this module and calls its hooks on nearly every command, its own or not: it holds
only the ``@hookimpl`` functions, which name what conda-limits offers and import nothing that
does the work. The subcommands' parsers are built, and the code behind every hook imported,
only when conda uses them (:mod:`conda_limits.cli`).
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
    from .cli import later, parser_later

    yield CondaSubcommand(
        name="limits",
        summary="Set, show and remove an environment's resource limits (ulimit).",
        action=later("cli.limits:execute"),
        configure_parser=parser_later("cli.limits"),
    )
    yield CondaSubcommand(
        name="run-limited",
        summary="Run a command in an environment under its resource limits.",
        action=later("cli.main_run_limited:execute"),
        configure_parser=parser_later("cli.main_run_limited"),
    )


@hookimpl
def conda_health_checks() -> Iterator[CondaHealthCheck]:
    """`conda doctor`'s ``limits`` check (conda >= 23.11; with ``--fix`` from conda 26.1)."""
    from .hooks.health_checks import health_checks

    yield from health_checks()


@hookimpl
def conda_settings() -> Iterator[CondaSetting]:
    """`plugins: limits_defaults:` in a .condarc: limits of new environments (conda >= 24.3);
    `plugins: limits_record_usage:` turns the usage log off for a user;
    `plugins: limits_allow_tiny:` accepts values below what programs need;
    `plugins: limits_mem_backend:` picks how --mem is enforced."""
    from .hooks.settings import settings

    yield from settings()


@hookimpl
def conda_pre_commands() -> Iterator[CondaPreCommand]:
    """Validate environment.yml's `limits:` before `conda (env) create/update -f` act."""
    from conda.plugins.types import CondaPreCommand

    from .cli import later
    from .hooks import APPLY_COMMANDS

    yield CondaPreCommand(name="conda-limits-read-environment-file",
                          action=later("hooks.env_commands:before_apply"),
                          run_for=set(APPLY_COMMANDS))


@hookimpl
def conda_post_commands() -> Iterator[CondaPostCommand]:
    """Add an environment's limits to exports; keep its scripts in step with its variables.
    (What create/update apply comes from the pre-command: see ``hooks/env_commands.py``.)"""
    from conda.plugins.types import CondaPostCommand

    from .cli import later
    from .hooks import ENV_VARS_COMMANDS, EXPORT_COMMANDS

    yield CondaPostCommand(name="conda-limits-export",
                           action=later("hooks.env_commands:after_export"),
                           run_for=set(EXPORT_COMMANDS))
    yield CondaPostCommand(name="conda-limits-env-vars",
                           action=later("hooks.env_vars:after_env_vars"),
                           run_for=set(ENV_VARS_COMMANDS))
