"""conda's entry point for conda-limits.

conda imports this module and calls its hooks on nearly every command, its own or not: it holds
the ``@hookimpl`` functions, which name what conda-limits offers, and the two wrappers that
import the code doing the work only when conda uses it (:func:`later`, :func:`parser_later`),
so that a command that is not conda-limits' imports nothing else of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from conda.plugins import hookimpl
from conda.plugins.types import CondaSubcommand

if TYPE_CHECKING:
    from argparse import ArgumentParser
    from collections.abc import Callable, Iterator

    from conda.plugins.types import (
        CondaHealthCheck,
        CondaPostCommand,
        CondaPreCommand,
        CondaSetting,
    )

#: conda's commands whose environment file's ``limits:`` conda-limits applies (the create
#: commands among them also apply site defaults: ``hooks.CREATE_COMMANDS``).
APPLY_COMMANDS = frozenset({"create", "env_create", "env_update"})
EXPORT_COMMANDS = frozenset({"export"})
ENV_VARS_COMMANDS = frozenset({"env_vars"})  # conda env config vars list/set/unset


def later(target: str) -> Callable[..., Any]:
    """``"module:function"`` (inside ``conda_limits``) as a callable that imports the module
    when it is first called."""
    module, _, function = target.partition(":")

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(import_module(f"conda_limits.{module}"), function)(*args, **kwargs)

    call.__name__ = call.__qualname__ = function
    return call


def parser_later(module: str) -> Callable[[ArgumentParser], None]:
    """A ``configure_parser`` for conda that leaves the parser empty until it parses
    arguments, then builds it with ``configure_parser`` of ``conda_limits.<module>``."""

    def configure_parser(parser: ArgumentParser) -> None:
        def parse_known_args(*args: Any, **kwargs: Any) -> Any:
            del parser.parse_known_args  # the parser's own method from now on
            helps = [action for action in parser._actions if "--help" in action.option_strings]
            import_module(f"conda_limits.{module}").configure_parser(parser)
            # conda added -h to the empty parser; it goes last, as when conda adds it after
            # configure_parser built the parser.
            groups = [group._group_actions for group in parser._action_groups]
            for action in helps:
                for actions in [parser._actions, *groups]:
                    if action in actions:
                        actions.remove(action)
                        actions.append(action)
            from .cli.pipes import OutputClosed, quiet_when_closed

            try:
                with quiet_when_closed():  # --help into a closed pipe
                    return parser.parse_known_args(*args, **kwargs)
            except OutputClosed as closed:
                raise SystemExit(closed.status) from None

        parser.parse_known_args = parse_known_args  # type: ignore[method-assign]

    return configure_parser


@hookimpl
def conda_subcommands() -> Iterator[CondaSubcommand]:
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

    yield CondaPreCommand(name="conda-limits-read-environment-file",
                          action=later("hooks.env_commands:before_apply"),
                          run_for=set(APPLY_COMMANDS))


@hookimpl
def conda_post_commands() -> Iterator[CondaPostCommand]:
    """Add an environment's limits to exports; keep its scripts in step with its variables.
    (What create/update apply comes from the pre-command: see ``hooks/env_commands.py``.)"""
    from conda.plugins.types import CondaPostCommand

    yield CondaPostCommand(name="conda-limits-export",
                           action=later("hooks.env_commands:after_export"),
                           run_for=set(EXPORT_COMMANDS))
    yield CondaPostCommand(name="conda-limits-env-vars",
                           action=later("hooks.env_vars:after_env_vars"),
                           run_for=set(ENV_VARS_COMMANDS))
