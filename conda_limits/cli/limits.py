"""``conda limits``: the parser of the subcommand and its dispatch to ``main_<verb>``."""

from __future__ import annotations

from argparse import ArgumentParser, HelpFormatter, Namespace
from importlib import import_module

VERBS = ("set", "show", "unset", "list", "kernel", "export", "apply", "usage", "suggest")


def configure_parser(parser: ArgumentParser) -> None:
    parser.formatter_class = _formatter()
    parser.description = (
        "Resource limits (ulimit) for conda environments: recorded in the environment, "
        "applied by `conda activate`, restored by `conda deactivate`."
    )
    sub = parser.add_subparsers(dest="limits_verb", metavar="COMMAND", required=True)
    for verb in VERBS:
        module = import_module(f".main_{verb}", __package__)
        verb_parser = sub.add_parser(verb, help=module.HELP, description=module.DESCRIPTION,
                                     epilog=getattr(module, "EPILOG", None),
                                     formatter_class=_formatter())
        module.configure_parser(verb_parser)
        verb_parser.set_defaults(limits_execute=module.execute)


def _formatter() -> type[HelpFormatter]:
    from .help_format import HelpFormatter

    return HelpFormatter


def execute(args: Namespace) -> int:
    from .exceptions import conda_errors
    from .pipes import OutputClosed, quiet_when_closed

    try:
        with quiet_when_closed(), conda_errors():
            status = int(args.limits_execute(args))
    except OutputClosed as closed:
        return closed.status
    return status
