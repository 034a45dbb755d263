"""conda's own environment commands and the ``limits:`` key of environment.yml.

Pre- and post-command hooks (conda >= 23.7), registered in ``plugin.py``:

- ``conda env create -f`` and ``conda create -f`` (command ``create``; ``conda env create`` was
  ``env_create`` before conda 26.7) and ``conda env update -f`` (``env_update``): before the
  command, every file with a ``limits:`` key is read and validated, so a bad file stops the
  command before anything is created; after it, the new or updated environment gets exactly
  the file's limits (record and activation scripts) and a report says which.
- The same create commands, and ``conda create`` without a file, also give the new
  environment the site defaults (``plugins: limits_defaults:`` in a .condarc, see
  ``site_defaults.py``) under the file's limits: the file wins per limit. A clone keeps the
  limits it copies from its source. A bad default stops the create before anything is made.
- ``conda export`` / ``conda env export`` (``export``): after the command, the environment's
  limits are merged into the file written (YAML or JSON), or appended to YAML written to
  stdout. Other formats cannot carry them: a note on stderr says so.

A command whose files have no ``limits:`` key and no defaults to apply, or an environment
without limits, is left to conda alone.

What the pre-command read and validated reaches the post-command of the same command without
module state: the pre-command registers a :class:`Plan` with conda's plugin manager, a plugin
whose post-command applies it and unregisters it. Each file is read once, by the pre-command.
conda hands pre- and post-commands only the command's name: there is no public API for its
arguments, which this module reads where conda's configuration keeps them
(:func:`argument`). Imported only when conda runs one of these commands (``plugin.py`` names
the functions through :func:`conda_limits.plugin.later`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conda.plugins import hookimpl

from . import CREATE_COMMANDS

if TYPE_CHECKING:
    from conda.plugins.types import CondaPostCommand

    from ..limits.model import LimitSet
    from ..limits.provenance import Sources
    from ..state.environment_yml import EnvFile

YAML_FORMAT = "environment-yaml"
JSON_FORMAT = "environment-json"
#: The name of a :class:`Plan` as a plugin of conda's, and of its post-command.
PLAN = "conda-limits-apply-environment-file"


def argument(name: str) -> Any:
    """An argument of the running conda command, as plain Python (None when not given).

    Read from the configuration source ``cmd_line`` of conda's context, where conda keeps the
    parsed command line (``context.raw_data``, and each raw parameter's ``value``).
    """
    from conda.base.context import context

    from .site_defaults import plain

    raw = context.raw_data.get("cmd_line", {}).get(name)
    return None if raw is None else plain(raw)


def _file_args() -> list[str]:
    files = argument("file")  # a list for `create`, a string for `env_create`/`env_update`
    if isinstance(files, str):
        return [files]
    return [str(f) for f in files or ()]


def _consequence(command: str) -> str:
    what = "updated" if command == "env_update" else "created"
    return f"The environment was not {what}; fix the file, or remove its `limits:` section."


def _read(path: str, command: str) -> EnvFile | None:
    """The environment file (read once; its limits validated, values below the floors refused
    unless allowed); None for anything conda alone deals with: missing, not text, not an
    environment file (an explicit or requirements file)."""
    from ..cli.exceptions import LimitsFileError
    from ..cli.tiny import refuse_in_file
    from ..state import environment_yml

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None  # missing, a URL, not text: conda reports it
    try:
        env = environment_yml.loads(text, file)
    except environment_yml.EnvFileError as error:
        if not _has_limits_key(text):
            return None  # not YAML, not a mapping: conda says so
        raise LimitsFileError(str(error), _consequence(command)) from None
    refuse_in_file(env, _consequence(command))
    return env


def _has_limits_key(text: str) -> bool:
    """Whether YAML reads ``text`` as a mapping with a ``limits`` key, however it is written:
    quoted, escaped, in a flow mapping, through a merge key."""
    from collections.abc import Mapping

    from ruamel.yaml.error import YAMLError

    from ..state.environment_yml import KEY
    from ..state.yaml_loader import round_trip

    try:
        data = round_trip().load(text)
    except (YAMLError, ValueError, TypeError, RecursionError):
        return False  # not YAML: conda says so
    return isinstance(data, Mapping) and KEY in data


@dataclass(frozen=True, eq=False)
class Plan:
    """What a create/update applies once conda has done its part: the files' limits over
    the site defaults. A conda plugin for the one command it was made for."""

    command: str
    files: tuple[EnvFile, ...]  # the command's files with a `limits:` key
    named: tuple[EnvFile, ...]  # every file that was read: the environment's name may be in one
    defaults: tuple[LimitSet, Sources]
    name: str | None  # -n
    prefix: str | None  # -p

    @hookimpl
    def conda_post_commands(self) -> Iterator[CondaPostCommand]:
        from conda.plugins.types import CondaPostCommand

        yield CondaPostCommand(name=PLAN, action=self.after, run_for={self.command})

    def after(self, command: str) -> None:
        """Post-command: apply the plan (once: it leaves conda's plugins first)."""
        _forget_plan()
        after_apply(self)


def _forget_plan() -> None:
    """Unregister the plan of an earlier command (one that failed never ran its post-command)."""
    from conda.base.context import context

    manager = context.plugin_manager
    if manager.get_plugin(PLAN) is not None:
        manager.unregister(name=PLAN)


def before_apply(command: str) -> None:
    """Pre-command: read the command's files, validate their limits and the site defaults
    a new environment gets, and fail before conda acts; register what is to be applied."""
    from conda.base.context import context

    _forget_plan()
    named = [env for env in (_read(path, command) for path in _file_args()) if env]
    files = tuple(env for env in named if env.has_limits)
    defaults = _defaults(command)
    if files or defaults[0]:
        plan = Plan(command, files, tuple(named), defaults, argument("name"),
                    argument("prefix"))
        context.plugin_manager.register(plan, name=PLAN)


def _defaults(command: str) -> tuple[LimitSet, Sources]:
    """The site defaults a new environment gets (none for an update or a clone)."""
    from ..limits.model import LimitSet
    from .site_defaults import configured

    if command not in CREATE_COMMANDS or argument("clone"):
        return LimitSet(), {}
    return configured()


def after_apply(plan: Plan) -> None:
    """Give the environment the files' limits over the defaults, and say so."""
    import sys

    from conda.base.context import context

    from ..cli.common import waiting
    from ..cli.exceptions import CondaLimitsError, conda_errors
    from ..cli.files import applied_report, file_prefix
    from ..limits.defaults import OPT_OUT, from_file, merge
    from ..state.prefix_files import change

    if context.dry_run:
        return
    files = plan.files
    what = (f"the `limits:` section of {files[0].path}" if files else "the default limits")
    if sys.platform == "win32":
        _say([f"conda-limits: Windows has no resource limits; {what} was not applied."])
        return
    prefix = file_prefix(plan.name, plan.prefix, plan.named)
    if not (prefix / "conda-meta").is_dir():
        raise CondaLimitsError(f"conda-limits cannot find the environment at {prefix} to apply "
                          + (", ".join(f"the limits of {env.path}" for env in files) or what))
    from_files = merge(*(from_file(env.limits, env.path) for env in files))
    limits, sources = merge(plan.defaults, from_files)
    if plan.command != "env_update" and not limits:
        return
    with conda_errors(prefix):
        change(prefix, lambda state: (limits, sources), broken_ok=True, on_wait=waiting(prefix))
    defaulted = [key for key in limits if key not in from_files[0]]
    named = ", ".join(str(env.path.absolute()) for env in files)
    if plan.command == "env_update":
        heading = f"Updated the limits of the environment at {prefix} from {named}"
    elif files and defaulted:
        heading = f"Applied the limits of {named} and site defaults to the environment at {prefix}"
    elif files:
        heading = f"Applied the limits of {named} to the environment at {prefix}"
    else:
        heading = f"Applied the default limits to the environment at {prefix}"
    lines = applied_report(prefix, limits, heading, sources=sources if defaulted else None)
    if defaulted:
        lines.append(f"Defaults come from conda's configuration; {OPT_OUT}=1 creates an "
                     "environment without them.")
    if files:
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

    from ..cli.exceptions import LimitsFileError
    from ..state import environment_yml, locking, record

    prefix = Path(context.target_prefix)
    try:
        with locking.environment(prefix, shared=True):
            limits = record.read(prefix)
    except record.RecordError as error:
        print(f"conda-limits: the export has no limits: {error}", file=sys.stderr)
        return
    if not limits:
        return
    file = argument("file")
    file_format, stdout_format = _export_formats(file)
    lost = None
    try:
        if file is None:  # nothing was written to a file
            pass
        elif file_format == YAML_FORMAT:
            environment_yml.replace_limits(file, limits)
        elif file_format == JSON_FORMAT:
            environment_yml.merge_json(file, limits)
        else:
            lost = file_format
    except environment_yml.EnvFileError as error:
        raise LimitsFileError(f"conda-limits could not add the environment's limits to the "
                              f"exported file: {error}", "") from None
    if stdout_format == YAML_FORMAT:
        print(environment_yml.block_text(limits), end="")
    else:
        lost = lost or stdout_format
    if lost:
        from ..cli.common import remember_target, target_option

        remember_target(prefix, argument("name"), argument("prefix"))
        print(f"conda-limits: the {lost} output does not include this environment's limits "
              f"({', '.join(limits.names())}); `conda limits export {target_option(prefix)}` "
              "prints them.", file=sys.stderr)


def _export_formats(file: str | None) -> tuple[str | None, str | None]:
    """The formats conda wrote to the file and to stdout (None: not written)."""
    from conda.base.context import context

    manager = context.plugin_manager
    if not hasattr(manager, "get_environment_exporter_by_format"):
        # conda < 25.7: the file is YAML, and stdout gets YAML (JSON with --json) as well.
        return (YAML_FORMAT if file else None), (JSON_FORMAT if context.json else YAML_FORMAT)
    chosen = argument("format")
    if chosen:
        name = manager.get_environment_exporter_by_format(chosen).name
    elif file:
        name = manager.detect_environment_exporter(file).name
    else:
        name = JSON_FORMAT if context.json else YAML_FORMAT
    return (name, None) if file else (None, name)
