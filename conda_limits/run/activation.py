"""The command's environment: what ``conda activate`` would give it, as an :class:`Activation`.

conda computes the variables of an activation in Python (:mod:`conda_limits.run.conda_env`
asks conda's own activator); :func:`from_prefix` is a conda-free approximation for callers
without conda (Jupyter kernels). Either way the result is an :class:`Activation`: the
environment, and the ``.sh`` scripts that ``conda activate`` would source. The shell that
sources them and starts the command is :mod:`conda_limits.run.launcher`'s.

conda-limits' own ``zz-conda-limits.sh`` scripts are not sourced there: the runner applies the
environment's limits itself (the flags of ``conda run-limited`` win over the recorded values,
even hard ones), exactly once. What those scripts would have done to the shell's variables is
done here instead (:func:`without_own_scripts`), so that a shell started as the command can
still ``conda deactivate`` back to the limits it started with.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

from ..errors import Kind, LimitsError
from ..limits import resources
from ..limits.values import Value
from ..shells.protocol import ACTIVATE_D, HARD_KEY, POSIX_SCRIPT, parse_figure, saved_name
from ..state.env_vars import environment_variables

OWN_SCRIPT = POSIX_SCRIPT  # conda-limits' own .sh scripts, skipped here (see the module doc)


class ActivationError(LimitsError, ValueError):
    """An activation that cannot be handed to a shell (e.g. a variable name sh cannot set)."""

    kind = Kind.RUN
    heading = "Cannot start the command"


@dataclass(frozen=True)
class Activation:
    """The command's environment and the activation scripts to source before it.

    ``deactivate_scripts`` (of an environment being left, as ``conda activate`` runs them
    when it replaces the active environment) run first, with ``previous`` as the environment;
    then ``environ`` is put in place and the ``activate_scripts`` run.
    """

    environ: Mapping[str, str]
    activate_scripts: tuple[str, ...] = ()
    deactivate_scripts: tuple[str, ...] = ()
    previous: Mapping[str, str] = field(default_factory=dict)

    @property
    def level(self) -> int:
        """The ``CONDA_SHLVL`` of the activated environment."""
        return _level(self.environ)

    @property
    def sources_scripts(self) -> bool:
        return bool(self.activate_scripts or self.deactivate_scripts)


def _level(environ: Mapping[str, str]) -> int:
    text = (environ.get("CONDA_SHLVL") or "").strip()
    return int(text) if text.isdigit() else 0


def scripts_in(prefix: str | os.PathLike[str]) -> tuple[str, ...]:
    """The ``.sh`` activation scripts of ``prefix``, in the order conda sources them."""
    try:
        entries = os.scandir(Path(prefix) / ACTIVATE_D)
    except OSError:
        return ()
    with entries:
        return tuple(sorted(e.path for e in entries if e.name.endswith(".sh")))


def from_prefix(prefix: str | os.PathLike[str],
                environ: Mapping[str, str] | None = None) -> Activation:
    """A conda-free activation of ``prefix`` on top of ``environ`` (default: this process's).

    Like ``conda activate --stack``: the prefix's ``bin`` first on PATH, ``CONDA_PREFIX``,
    ``CONDA_DEFAULT_ENV``, ``CONDA_SHLVL`` one up, the environment's variables and its
    ``activate.d/*.sh`` scripts. Prompt and conda's own shell variables are left alone.
    """
    prefix = Path(prefix)
    before = dict(os.environ if environ is None else environ)
    level = _level(before)
    after = dict(before)
    after["PATH"] = os.pathsep.join(
        [str(prefix / "bin"), *[p for p in before.get("PATH", os.defpath).split(os.pathsep) if p]])
    if level and before.get("CONDA_PREFIX"):
        after[f"CONDA_PREFIX_{level}"] = before["CONDA_PREFIX"]
        after[f"CONDA_STACKED_{level + 1}"] = "true"
    after["CONDA_PREFIX"] = str(prefix)
    after["CONDA_SHLVL"] = str(level + 1)
    after["CONDA_DEFAULT_ENV"] = prefix.name if prefix.parent.name == "envs" else str(prefix)
    after.update(environment_variables(prefix))
    return Activation(after, scripts_in(prefix), (), before)


def _is_own(script: str) -> bool:
    return os.path.basename(script) == OWN_SCRIPT


class LimitScripts(NamedTuple):
    """What skipping conda-limits' own scripts means for the limits (see the module doc)."""

    activation: Activation
    restored: dict[str, Value]  # soft values the skipped deactivate script would restore


def without_own_scripts(activation: Activation) -> LimitScripts:
    """``activation`` minus conda-limits' scripts, with their effect on variables kept.

    When the environment being left has conda-limits' deactivate script, the soft values it
    saved at that level are returned (the runner restores them) and its variables are unset.
    """
    leaving = [s for s in activation.deactivate_scripts if _is_own(s)]
    restored: dict[str, Value] = {}
    environ = dict(activation.environ)
    if leaving:
        old_level = _level(activation.previous)
        for key in resources.KEYS:
            value = parse_figure(activation.previous.get(saved_name(old_level, key)))
            if value is not None:
                restored[key] = value
            environ.pop(saved_name(old_level, key), None)
        environ.pop(saved_name(old_level, HARD_KEY), None)
        _restore_thread_variables(activation.previous, environ, old_level)
    stripped = replace(
        activation,
        environ=environ,
        activate_scripts=tuple(s for s in activation.activate_scripts if not _is_own(s)),
        deactivate_scripts=tuple(s for s in activation.deactivate_scripts if not _is_own(s)),
    )
    return LimitScripts(stripped, restored)


def _restore_thread_variables(previous: Mapping[str, str], environ: dict[str, str],
                              level: int) -> None:
    """Put back the thread variables the leaving environment's CPU section saved at ``level``
    (``-``: unset, ``=VALUE``), as its deactivate script would, unless the new activation
    sets them itself."""
    from ..limits.threads import NAMES

    for name in NAMES:
        saved = environ.pop(saved_name(level, f"ENV_{name}"), None)
        if saved is None or environ.get(name) != previous.get(name):
            continue
        if saved == "-":
            environ.pop(name, None)
        elif saved.startswith("="):
            environ[name] = saved[1:]
    environ.pop(saved_name(level, "CPUSET"), None)


def with_saved_limits(activation: Activation, saved: Mapping[str, Value],
                      lowered_hard: Sequence[str] = ()) -> Activation:
    """Record ``saved`` (soft values before the limits) and the limits whose hard value was
    lowered, as conda-limits' activate script does (a value this level has already stays):
    ``conda deactivate`` in a shell started as the command then restores them."""
    environ = dict(activation.environ)
    for key, value in saved.items():
        environ.setdefault(saved_name(activation.level, key), str(value))
    if lowered_hard:
        name = saved_name(activation.level, HARD_KEY)
        keys = environ.get(name, "").split()
        keys += [k.upper() for k in lowered_hard if k.upper() not in keys]
        environ[name] = " ".join(keys)
    return replace(activation, environ=environ)
