"""Values below the floors (``floors.py``) as conda's commands refuse them, and how to allow
them: ``--allow-tiny`` on the commands that take limit flags, conda's ``limits_allow_tiny``
setting (``CONDA_PLUGINS_LIMITS_ALLOW_TINY=1`` for one command) everywhere, including
``conda env create -f`` and the site defaults, which take no flags of ours."""

from __future__ import annotations

from argparse import Namespace
from typing import TYPE_CHECKING

from ..limits import floors, resources
from ..limits.values import Value

if TYPE_CHECKING:
    from ..state.environment_yml import EnvFile

#: How a command without our flags (env create/update, site defaults) allows them.
SETTING_HINT = (f"For an experiment, allow such values with {floors.VARIABLE}=1 (or "
                f"`plugins: {floors.SETTING}: true` in a .condarc).")


def allowed(args: Namespace | None = None) -> bool:
    """Whether tiny values are allowed: ``--allow-tiny``, else conda's setting."""
    if args is not None and getattr(args, "allow_tiny", False):
        return True
    from conda.base.context import context

    try:
        return bool(getattr(context.plugins, floors.SETTING, False))
    except AttributeError:  # conda < 24.3: no plugin settings
        return False


def refuse_given(values: dict[str, Value], args: Namespace) -> None:
    """Refuse a flag's value below its floor: conda's ``ArgumentError`` (exit status 2)."""
    from conda.exceptions import ArgumentError

    tiny = [(_resource(key), value) for key, value in values.items()
            if floors.is_tiny(_resource(key), value)]
    if not tiny or allowed(args):
        return
    resource, value = tiny[0]
    error = floors.TinyValue(resource, value)
    raise ArgumentError(f"{resource.flag} {error.reason}.\nNothing was done. To use it anyway "
                        f"for an experiment, add {floors.FLAG}.")


def _resource(key: str) -> resources.Resource:
    return resources.MEM if key == resources.MEM.key else resources.get(key)


def refuse_in_file(env: EnvFile, consequence: str, args: Namespace | None = None) -> None:
    """Refuse a file's ``limits:`` value below its floor, naming file, line and column
    (``args``: of a command that takes ``--allow-tiny``)."""
    from ..limits.model import SchemaError, parse_limits
    from ..state.environment_yml import EnvFileError
    from .exceptions import LimitsFileError

    if not env.has_limits or allowed(args):
        return
    try:
        parse_limits(env.data.get("limits"), where=env.data, check_floors=True)
    except SchemaError as error:
        where = EnvFileError(env.path, error.message, error.line, error.column)
        hint = (f"To use it anyway for an experiment, add {floors.FLAG}."
                if args is not None and hasattr(args, "allow_tiny") else SETTING_HINT)
        raise LimitsFileError(f"{where}", f"{consequence} {hint}".strip()) from None
