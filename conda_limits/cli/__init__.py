"""The conda glue: argument parsing and output. Everything else lives in the core modules.

Each ``main_<verb>.py`` has ``HELP``, ``configure_parser(parser)`` and ``execute(args) -> int``
and imports core modules (ruamel.yaml, subprocess) only inside ``execute``.
"""
