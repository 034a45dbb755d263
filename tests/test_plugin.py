"""The plugin's registration with a real conda: what conda-limits costs a command that is not
its own, and that its deferred parsers still behave as built ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import requires_conda

pytestmark = requires_conda

ROOT = Path(__file__).resolve().parent.parent

# What conda does on every command: build every subcommand's parser, parse a command line
# that is not ours, collect every pre/post-command hook (conda env list). Then: which of our
# modules got imported.
FOREIGN_COMMAND = """
import json, sys
from conda.base.context import context
from conda.cli.conda_argparse import generate_parser
args = generate_parser(add_help=True).parse_args(["env", "list"])
context.__init__(argparse_args=args)
context.plugin_manager.invoke_pre_commands("env_list")
context.plugin_manager.invoke_post_commands("env_list")
print(json.dumps(sorted(name for name in sys.modules if name.startswith("conda_limits"))))
"""


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=environ, cwd=ROOT, check=True)


def test_a_command_not_ours_imports_only_the_registration() -> None:
    imported = json.loads(_python(FOREIGN_COMMAND).stdout)
    assert "conda_limits.plugin" in imported  # the plugin was loaded...
    # ...and nothing that parses, validates or does the work.
    assert set(imported) <= {"conda_limits", "conda_limits.plugin"}


@pytest.mark.parametrize("command", [["run-limited"], ["limits"]])
def test_help_of_a_deferred_parser_lists_help_last(command: list[str]) -> None:
    """conda adds -h while the parser is still empty; it ends up where conda puts it on a
    parser built at once: after the subcommand's own options."""
    shown = _python("from conda.cli.main import main; import sys; sys.exit(main())",
                    *command, "--help").stdout
    options = shown.split("\noptions:\n")[1].split("\n\n")[0]
    flags = [line.strip() for line in options.splitlines() if line.strip().startswith("-")]
    assert flags[-1].startswith("-h, --help")
    assert "[-h]" in shown.split("\n\n")[0]  # in the usage line


def test_a_deferred_parser_parses_its_command() -> None:
    shown = _python("from conda.cli.main import main; import sys; sys.exit(main())",
                    "limits", "show", "--json", "-p", sys.prefix).stdout
    assert json.loads(shown)["prefix"] == sys.prefix
