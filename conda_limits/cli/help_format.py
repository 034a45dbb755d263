"""The look of ``--help``: conda's (its parsers use ``RawDescriptionHelpFormatter`` with text
wrapped by hand), with the wrapping done here, so that descriptions stay within 80 columns
whatever their source lines, and the docs' command pages render the same text
(``docs/_ext/conda_commands.py``)."""

from __future__ import annotations

import textwrap
from argparse import RawDescriptionHelpFormatter

#: The widest a description line gets, as conda's own help text (80 columns less 2).
WIDTH = 78


class HelpFormatter(RawDescriptionHelpFormatter):
    """Descriptions, epilogs and group descriptions as paragraphs (separated by blank lines)
    filled to :data:`WIDTH` or the terminal, whichever is narrower; a paragraph with an
    indented line (an example) is kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(fill(paragraph, min(width, WIDTH), indent)
                           for paragraph in text.strip("\n").split("\n\n"))


def fill(paragraph: str, width: int, indent: str = "") -> str:
    """One paragraph of help text filled to ``width`` (kept as written if indented)."""
    lines = paragraph.splitlines()
    if any(line.startswith((" ", "\t")) for line in lines):
        return "\n".join(indent + line if line else line for line in lines)
    return textwrap.fill(" ".join(line.strip() for line in lines), width,
                         initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False, break_long_words=False)
