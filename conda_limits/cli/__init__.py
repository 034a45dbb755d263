"""The conda glue: argument parsing and output. Everything else lives in the core modules.

Each ``main_<verb>.py`` has ``HELP``, ``configure_parser(parser)`` and ``execute(args) -> int``
and imports core modules (ruamel.yaml, subprocess) only inside ``execute``. conda builds the
parser of every subcommand and collects every hook on every command, its own or not: the
entry module (:mod:`conda_limits.plugin`) registers them through wrappers that import these
modules only when conda uses them.
"""
