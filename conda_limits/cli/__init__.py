"""The conda glue: argument parsing and output. Everything else lives in the core modules.

Each ``main_<verb>.py`` has ``HELP``, ``configure_parser(parser)`` and ``execute(args) -> int``
and imports core modules (ruamel.yaml, subprocess) only inside ``execute``.

conda builds the parser of every subcommand and collects every hook on every command, its own
or not, so what ``plugin.py`` registers comes from here and costs nothing until it is used:
:func:`later` imports a function when conda calls it, :func:`parser_later` builds a
subcommand's parser when conda parses a command line with it (``--help`` included).
"""

from __future__ import annotations

from argparse import ArgumentParser
from collections.abc import Callable
from importlib import import_module
from typing import Any


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
            from .pipes import OutputClosed, quiet_when_closed

            try:
                with quiet_when_closed():  # --help into a closed pipe
                    return parser.parse_known_args(*args, **kwargs)
            except OutputClosed as closed:
                raise SystemExit(closed.status) from None

        parser.parse_known_args = parse_known_args  # type: ignore[method-assign]

    return configure_parser
