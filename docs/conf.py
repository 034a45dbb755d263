"""Sphinx configuration of the conda-limits documentation.

Builds without conda: ``python -m sphinx -W docs docs/_build``. The command reference is
generated from conda-limits' own argparse parsers by ``_ext/conda_commands.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).parent
sys.path[:0] = [str(HERE / "_ext"), str(HERE.parent)]

from conda_limits import __version__  # noqa: E402 (found through the path above)

project = html_title = "conda-limits"
author = "conda-limits contributors"
copyright = "conda-limits contributors"
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = ["myst_parser", "conda_commands", "console_lexer"]
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

#: The project's public repository (top bar, footer, the GitHub icon).
repository_url = "https://github.com/conda-incubator/conda-limits"

# conda's own theme, branded as this project: its name and mark instead of conda's logo, and
# in the top bar "a plugin for conda", the repository and the changelog instead of the links
# to conda, conda-build and conda.org (conda-sphinx-theme's defaults), no conda Zulip link.
html_theme = "conda_sphinx_theme"
html_static_path = ["_static"]  # favicon.ico here replaces conda's
html_css_files = ["conda-limits.css"]
templates_path = ["_templates"]
html_context = {"repository_url": repository_url}
html_theme_options = {
    "navigation_depth": -1,
    "logo": {
        "text": "conda-limits",
        "image_light": "_static/conda-limits.svg",
        "image_dark": "_static/conda-limits.svg",
        "alt_text": "conda-limits - Home",
    },
    "navbar_center": ["project-tagline.html"],
    "footer_center": ["project-footer.html"],
    "zulip_url": "",
    "icon_links": [
        {"name": "conda-limits on GitHub", "url": repository_url,
         "icon": "fa-brands fa-github", "type": "fontawesome"},
    ],
}
