"""Pygments lexer ``console`` of these docs: a shell session whose prompt is ``$ `` or
``(env) $ ``, and nothing else.

Pygments' own ``console`` lexer also takes ``# `` for a root prompt, so the commented titles
and notes that conda-limits prints (``# limits of the environment at ...``) were lexed as
commands, and an apostrophe in them as an unterminated string (a build warning under -W).
The prompts here are the ones ``docs/examples/regenerate.py`` reads.
"""

from __future__ import annotations

import re
from typing import ClassVar

from pygments.lexers.shell import BashSessionLexer


class ConsoleLexer(BashSessionLexer):
    """A bash session with ``$ `` prompts (after ``conda activate``, ``(env) $ ``)."""

    name = "Console (conda-limits docs)"
    aliases: ClassVar[list[str]] = ["console"]
    _ps1rgx = re.compile(r"^((?:\([^)\n]*\) )?\$ )(.*\n?)")
    _bare_continuation = True  # "> " lines of a multi-line command, as the shell prompts


def setup(app):
    app.add_lexer("console", ConsoleLexer)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
