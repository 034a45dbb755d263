"""conda's own environment commands and the ``limits:`` key of environment.yml.

Pre- and post-command hooks (conda >= 23.7), registered in ``plugin.py``:

- ``conda env create -f`` and ``conda create -f`` (command ``create``; ``conda env create`` was
  ``env_create`` before conda 26.7) and ``conda env update -f`` (``env_update``): before the
  command, every file with a ``limits:`` key is read and validated, so a bad file stops the
  command before anything is created; after it, the new or updated environment gets exactly
  the file's limits (record and activation scripts) and a report says which.
- ``conda export`` / ``conda env export`` (``export``): after the command, the environment's
  limits are merged into the file written (YAML or JSON), or appended to YAML written to
  stdout. Other formats cannot carry them: a note on stderr says so.

A command whose files have no ``limits:`` key, or an environment without limits, is left to
conda alone. Loaded on every conda command that collects hooks: imports stay inside functions.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..envfile import EnvFile

APPLY_COMMANDS = frozenset({"create", "env_create", "env_update"})
EXPORT_COMMANDS = frozenset({"export"})
YAML_FORMAT = "environment-yaml"
JSON_FORMAT = "environment-json"

_TOP_LEVEL_KEY = re.compile(r"^limits[ \t]*:", re.MULTILINE)
_pending: dict[str, list[EnvFile]] = {}  # command -> files whose limits it must apply


def _args() -> Mapping[str, Any]:
    """The parsed arguments of the running conda command (as conda's context keeps them)."""
    from conda.base.context import context

    return getattr(context, "_argparse_args", None) or {}


def _file_args(args: Mapping[str, Any]) -> list[str]:
    files = args.get("file")  # a list for `create`, a string for `env_create`/`env_update`
    if isinstance(files, str):
        return [files]
    return [str(f) for f in files or ()]


def _consequence(command: str) -> str:
    what = "updated" if command == "env_update" else "created"
    return f"The environment was not {what}; fix the file, or remove its `limits:` section."


def _read(path: str, command: str) -> EnvFile | None:
    """The file if it has a ``limits:`` key; None for anything conda alone deals with."""
    from .. import envfile
    from .exceptions import LimitsFileError

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # missing, a URL, not text: conda reports it
    if "limits" not in text:
        return None
    try:
        env = envfile.loads(text, file)
    except envfile.EnvFileError as error:
        if _TOP_LEVEL_KEY.search(text):
            raise LimitsFileError(str(error), _consequence(command)) from None
        return None  # not an environment file of ours (e.g. an explicit or requirements file)
    return env if env.has_limits else None


def before_apply(command: str) -> None:
    """Pre-command: validate the limits of the command's files; fail before conda acts."""
    _pending.pop(command, None)
    files = [env for env in (_read(path, command) for path in _file_args(_args())) if env]
    if files:
        _pending[command] = files


def after_apply(command: str) -> None:
    """Post-command: give the environment the files' limits, and say so."""
    import sys

    from conda.base.context import context

    from ..model import LimitSet
    from .common import write_limits
    from .files import applied_report, file_prefix

    files = _pending.pop(command, None)
    if not files or context.dry_run:
        return
    if sys.platform == "win32":
        _say([f"conda-limits: Windows has no resource limits; the `limits:` section of "
              f"{files[0].path} was not applied."])
        return
    args = _args()
    prefix = file_prefix(args.get("name"), args.get("prefix"), files)
    if not (prefix / "conda-meta").is_dir():
        from .exceptions import LimitsError

        raise LimitsError(f"conda-limits cannot find the environment at {prefix} to apply "
                          "the limits of " + ", ".join(str(env.path) for env in files))
    limits = LimitSet()
    for env in files:
        limits = limits.merged(env.limits)
    if command != "env_update" and not limits:
        return
    write_limits(prefix, limits)
    sources = ", ".join(str(env.path) for env in files)
    heading = (f"Updated the limits of the environment at {prefix} from {sources}"
               if command == "env_update" else
               f"Applied the limits of {sources} to the environment at {prefix}")
    lines = applied_report(prefix, limits, heading)
    lines.append("conda's \"EnvironmentSectionNotValid ... - limits\" notice does not apply: "
                 "conda-limits reads that section.")
    _say(lines)


def _say(lines: list[str]) -> None:
    """Print for people; to stderr when conda writes JSON to stdout."""
    import sys

    from conda.base.context import context

    print("\n".join(lines), file=sys.stderr if context.json else sys.stdout)


def after_export(command: str) -> None:
    """Post-command: carry the environment's limits into what conda exported."""
    import sys

    from conda.base.context import context

    from .. import envfile, record
    from .exceptions import LimitsFileError

    args = _args()
    prefix = Path(context.target_prefix)
    try:
        limits = record.read(prefix)
    except record.RecordError as error:
        print(f"conda-limits: the export has no limits: {error}", file=sys.stderr)
        return
    if not limits:
        return
    file = args.get("file")
    file_format, stdout_format = _export_formats(args, file)
    lost = None
    try:
        if file_format == YAML_FORMAT:
            envfile.replace_limits(file, limits)
        elif file_format == JSON_FORMAT:
            envfile.merge_json(file, limits)
        else:
            lost = file_format
    except envfile.EnvFileError as error:
        raise LimitsFileError(f"conda-limits could not add the environment's limits to the "
                              f"exported file: {error}", "") from None
    if stdout_format == YAML_FORMAT:
        print(envfile.block_text(limits), end="")
    else:
        lost = lost or stdout_format
    if lost:
        print(f"conda-limits: the {lost} output does not include this environment's limits "
              f"({', '.join(limits)}); `conda limits export {_selector(prefix)}` prints them.",
              file=sys.stderr)


def _selector(prefix: Path) -> str:
    """``-n NAME`` for a named environment, else ``-p PATH``."""
    from .common import env_label

    label = env_label(prefix)
    return f"-p {prefix}" if label == str(prefix) else f"-n {label}"


def _export_formats(args: Mapping[str, Any], file: str | None) -> tuple[str | None, str | None]:
    """The formats conda wrote to the file and to stdout (None: not written)."""
    from conda.base.context import context

    manager = context.plugin_manager
    if not hasattr(manager, "get_environment_exporter_by_format"):
        # conda < 25.7: the file is YAML, and stdout gets YAML (JSON with --json) as well.
        return (YAML_FORMAT if file else None), (JSON_FORMAT if context.json else YAML_FORMAT)
    chosen = args.get("format")
    if chosen:
        name = manager.get_environment_exporter_by_format(chosen).name
    elif file:
        name = manager.detect_environment_exporter(file).name
    else:
        name = JSON_FORMAT if context.json else YAML_FORMAT
    return (name, None) if file else (None, name)
