"""The parsers of conda-limits' commands as conda builds them, for the generated command
pages (``conda_commands.py``) and the test that they are the real ``--help``: no Sphinx here,
only argparse and ``conda_limits``."""

from __future__ import annotations

import argparse
from importlib import import_module


class CondaParser(argparse.ArgumentParser):
    """A parser as conda makes one (``conda.cli.conda_argparse.ArgumentParser``): its
    ``-h/--help`` says "Show this help message and exit." and its formatter keeps
    descriptions as written; sub-parsers are made the same way."""

    def __init__(self, *args, add_help: bool = True, **kwargs) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, add_help=False, **kwargs)
        if add_help:
            add_help_option(self)


def add_help_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS,
                        help="Show this help message and exit.")


def build_parser(modules: dict[str, str], command: str) -> argparse.ArgumentParser:
    """The parser of ``command`` ("conda limits set"), built by its module as conda builds
    it: ``-h`` goes last on a subcommand's own parser (conda adds it after the plugin's
    ``configure_parser``), first on the parsers that one makes."""
    words = command.split()
    if len(words) < 2 or words[0] != "conda" or words[1] not in modules:
        raise ValueError(f"unknown command {command!r}; conda_commands knows: "
                         + ", ".join(f"conda {name}" for name in modules))
    parser = CondaParser(prog=f"conda {words[1]}", add_help=False)
    import_module(modules[words[1]]).configure_parser(parser)
    add_help_option(parser)
    for word in words[2:]:
        parser = subcommands(parser).choices[word]
    return parser


def subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise KeyError(f"{parser.prog} has no subcommands")
