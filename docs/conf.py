"""Sphinx configuration of the conda-limits documentation.

Builds without conda: ``python -m sphinx -W docs docs/_build``. The command reference is
generated from conda-limits' own argparse parsers by ``_ext/conda_commands.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE / "_ext"), str(HERE.parent)]

from conda_limits import __version__

project = html_title = "conda-limits"
author = "conda-limits contributors"
copyright = "conda-limits contributors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = ["myst_parser", "conda_commands"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
smartquotes = False  # command lines: "--vmem" must not become an en dash

#: conda subcommand -> the module whose ``configure_parser`` builds its parser.
conda_commands = {
    "limits": "conda_limits.cli.limits",
    "run-limited": "conda_limits.cli.main_run_limited",
}

html_theme = "conda_sphinx_theme"
html_theme_options = {"navigation_depth": -1}
