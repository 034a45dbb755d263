"""Sphinx directive ``conda-command``: a command's reference, generated from its parser.

The parsers of ``conda limits`` and ``conda run-limited`` build without conda (the options
that conda usually adds, ``-n/-p`` and ``--json``, are defined by ``conda_limits.cli.options``),
so the reference is rendered from the very parser users get, with nothing copied by hand::

    ```{conda-command} conda limits set
    ```

renders the description, the usage, each option group (as ``program``/``option``
descriptions, so ``{option}`conda limits set --vmem``` links to it) and the epilog.
``conda_commands`` in ``conf.py`` maps each conda subcommand to the module holding its
``configure_parser``.
"""

from __future__ import annotations

import argparse
import os
import re
from contextlib import contextmanager

from command_parsers import build_parser, subcommands
from docutils import nodes
from docutils.parsers.rst import Parser as RSTParser
from docutils.utils import new_document
from sphinx.util.docutils import SphinxDirective

WIDTH = "72"  # columns of the usage lines: they fit the theme's code block


@contextmanager
def _columns():
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def rst_text(text: str) -> str:
    """Help text as reStructuredText: `code` and --options become literals, markup is escaped."""
    parts = re.split(r"(`[^`]+`|(?<![\w`-])--?[A-Za-z][\w-]*)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(f"``{part[1:-1]}``")
        elif part.startswith("-"):
            out.append(f"``{part}``")
        else:
            out.append(re.sub(r"([\\*|_\[\]])", r"\\\1", part))
    return "".join(out)


def rst_block(text: str) -> list[str]:
    """A description or epilog: paragraphs, and indented blocks after a ':' as literals."""
    source = text.strip("\n").splitlines()
    lines = []
    for index, line in enumerate(source):
        following = next((s for s in source[index + 1:] if s.strip()), "")
        if line.startswith((" ", "\t")):
            lines.append(line)  # literal block content: kept as is
        elif line.rstrip().endswith(":") and following.startswith((" ", "\t")):
            lines.append(rst_text(line.rstrip()) + ":")  # "Examples::" starts a literal block
        else:
            lines.append(rst_text(line))
    return lines


def render(parser: argparse.ArgumentParser) -> list[str]:
    """The reference of one parser as reStructuredText lines."""
    with _columns():
        formatter = parser._get_formatter()
        usage = parser.format_usage().removeprefix("usage: ").rstrip("\n")
    lines = [f".. program:: {parser.prog}", ""]
    if parser.description:
        lines += [*rst_block(parser.description), ""]
    lines += [".. code-block:: text", "", *("   " + line for line in usage.splitlines()), ""]
    for group in parser._action_groups:
        actions = [a for a in group._group_actions if a.help != argparse.SUPPRESS]
        if not actions:
            continue
        title = "Options" if group.title in ("options", "optional arguments") else group.title
        lines += [f".. rubric:: {rst_text((title or '').capitalize())}", ""]
        if group.description:
            lines += [*rst_block(group.description), ""]
        for action in actions:
            lines += _action(formatter, action)
    if parser.epilog:
        lines += [*rst_block(parser.epilog), ""]
    return lines


def _action(formatter: argparse.HelpFormatter, action: argparse.Action) -> list[str]:
    if isinstance(action, argparse._SubParsersAction):
        lines = []
        for choice in action._choices_actions:
            lines += [f"``{choice.dest}``", f"   {rst_text(choice.help or '')}", ""]
        return lines
    invocation = formatter._format_action_invocation(action)
    help_text = formatter._expand_help(action) if action.help else ""
    return [f".. option:: {invocation}", "", f"   {rst_text(help_text)}", ""]


class CondaCommand(SphinxDirective):
    """``conda-command``: the generated reference of one command."""

    required_arguments = 1
    final_argument_whitespace = True

    def run(self) -> list[nodes.Node]:
        command = " ".join(self.arguments[0].split())
        try:
            parser = build_parser(self.config.conda_commands, command)
        except Exception as error:  # noqa: BLE001 - reported as a build warning
            raise self.error(f"conda-command {command!r}: {error!r}") from None
        documented = getattr(self.env, "conda_commands_documented", {})
        documented.setdefault(self.env.docname, set()).add(command)
        self.env.conda_commands_documented = documented
        # Parsed as reStructuredText whatever the page's own markup (MyST pages included).
        document = new_document(self.get_source_info()[0], self.state.document.settings)
        document.reporter = self.state.document.reporter
        RSTParser().parse("\n".join(render(parser)), document)
        container = nodes.container(classes=["conda-command"])
        container.extend(document.children)
        return [container]


def leaf_commands(modules: dict[str, str]) -> list[str]:
    """Every command without subcommands of its own: each needs a reference."""
    out = []

    def walk(command: str) -> None:
        parser = build_parser(modules, command)
        try:
            choices = subcommands(parser).choices
        except KeyError:
            out.append(command)
            return
        for word in choices:
            walk(f"{command} {word}")

    for name in modules:
        walk(f"conda {name}")
    return out


def _purge(app, env, docname: str) -> None:
    getattr(env, "conda_commands_documented", {}).pop(docname, None)


def _merge(app, env, docnames, other) -> None:
    documented = getattr(env, "conda_commands_documented", {})
    for docname in docnames:
        documented[docname] = getattr(other, "conda_commands_documented", {}).get(docname, set())
    env.conda_commands_documented = documented


def _check_coverage(app, env) -> None:
    """Warn about a command that no page documents (a new verb needs its page)."""
    from sphinx.util import logging

    documented = set().union(*getattr(env, "conda_commands_documented", {}).values())
    for command in leaf_commands(app.config.conda_commands):
        if command not in documented:
            logging.getLogger(__name__).warning(
                "%s has no reference: add a page under docs/commands/ (listed in "
                "docs/commands/index.md) with a 'conda-command' directive for it", command)


def setup(app):
    app.add_config_value("conda_commands", {}, "env", types=[dict])
    app.add_directive("conda-command", CondaCommand)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-check-consistency", _check_coverage)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
