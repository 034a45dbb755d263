"""The command's environment, and the one ``sh`` that finishes the activation and starts it.

conda computes the variables of an activation in Python (``cli/main_run_limited.py`` asks
conda's own activator); :func:`from_prefix` is a conda-free approximation for callers without
conda (Jupyter kernels). Either way the result is an :class:`Activation`: the environment, and the ``.sh``
scripts that ``conda activate`` would source. One ``sh`` (:func:`launch`) waits at a gate until
the runner has put its limits and cgroup in place, sources the scripts, and execs the command.

conda-limits' own ``zz-conda-limits.sh`` scripts are not sourced there: the runner applies the
environment's limits itself (the flags of ``conda run-limited`` win over the recorded values,
even hard ones), exactly once. What those scripts would have done to the shell's variables is
done here instead (:func:`without_own_scripts`), so that a shell started as the command can
still ``conda deactivate`` back to the limits it started with.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import resources
from ..errors import LimitsError
from ..shells.protocol import ACTIVATE_D, HARD_KEY, POSIX_SCRIPT, parse_figure, saved_name
from ..values import Value

OWN_SCRIPT = POSIX_SCRIPT  # conda-limits' own .sh scripts, skipped here (see the module doc)
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
#: The marker conda stores for a variable that ``conda env config vars unset`` removed.
UNSET_MARKER = "***unset***"


class ActivationError(LimitsError, ValueError):
    """An activation that cannot be handed to a shell (e.g. a variable name sh cannot set)."""


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


def environment_variables(prefix: str | os.PathLike[str]) -> dict[str, str]:
    """The variables an environment sets on activation: its packages' ``env_vars.d`` files,
    then ``conda env config vars`` (stored in ``conda-meta/state``), which win."""
    prefix = Path(prefix)
    found: dict[str, str] = {}
    try:
        package_files = sorted(p for p in (prefix / "etc" / "conda" / "env_vars.d").iterdir())
    except OSError:
        package_files = []
    for path in [*package_files, prefix / "conda-meta" / "state"]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if path.name == "state":
            data = data.get("env_vars", {}) if isinstance(data, dict) else {}
        if isinstance(data, dict):
            found.update({str(k): str(v) for k, v in data.items()})
    return {k: v for k, v in found.items() if v != UNSET_MARKER}


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


@dataclass(frozen=True)
class LimitScripts:
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
    stripped = replace(
        activation,
        environ=environ,
        activate_scripts=tuple(s for s in activation.activate_scripts if not _is_own(s)),
        deactivate_scripts=tuple(s for s in activation.deactivate_scripts if not _is_own(s)),
    )
    return LimitScripts(stripped, restored)


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


# The launcher: fixed text; everything variable arrives as arguments or environment values.
# $1, $2: the gate's and the ready pipe's file descriptors; then the deactivate scripts, "--",
# the activate scripts, "--", the command. The launcher says it is ready (its own exec is
# complete, so limits set now stay), waits for the go-ahead (status 125 if the runner failed
# and nothing ran). The sourcing function gives each script its own positional parameters.
LAUNCHER = r"""__conda_limits_gate=$1 __conda_limits_ready=$2
shift 2
printf r >&"$__conda_limits_ready" || exit 125
eval "exec $__conda_limits_ready>&-"
read -r __conda_limits_go <&"$__conda_limits_gate" || exit 125
eval "exec $__conda_limits_gate<&-"
unset __conda_limits_gate __conda_limits_ready __conda_limits_go
__conda_limits_source() { . "$1"; }
while [ "$1" != -- ]; do __conda_limits_source "$1"; shift; done
shift
if [ -n "${__CONDA_LIMITS_NSET-}" ]; then
  __conda_limits_i=1
  while [ "$__conda_limits_i" -le "${__CONDA_LIMITS_NUNSET:-0}" ]; do
    eval "__conda_limits_k=\$__CONDA_LIMITS_U$__conda_limits_i"
    unset "$__conda_limits_k" "__CONDA_LIMITS_U$__conda_limits_i"
    __conda_limits_i=$((__conda_limits_i + 1))
  done
  __conda_limits_i=1
  while [ "$__conda_limits_i" -le "$__CONDA_LIMITS_NSET" ]; do
    eval "__conda_limits_k=\$__CONDA_LIMITS_K$__conda_limits_i"
    eval "__conda_limits_v=\$__CONDA_LIMITS_V$__conda_limits_i"
    unset "__CONDA_LIMITS_K$__conda_limits_i" "__CONDA_LIMITS_V$__conda_limits_i"
    export "$__conda_limits_k=$__conda_limits_v"
    __conda_limits_i=$((__conda_limits_i + 1))
  done
  unset __CONDA_LIMITS_NSET __CONDA_LIMITS_NUNSET __conda_limits_i __conda_limits_k \
    __conda_limits_v
fi
while [ "$1" != -- ]; do __conda_limits_source "$1"; shift; done
shift
unset -f __conda_limits_source
if ! command -v "$1" >/dev/null 2>&1; then
  printf 'conda-limits: command not found: %s\n' "$1" >&2
  exit 127
fi
exec "$@"
"""

@dataclass(frozen=True)
class Launch:
    """How to start the launcher: executable, argv and environment."""

    executable: str
    argv: list[str]
    environ: dict[str, str]


def shell(activation: Activation) -> str:
    """The shell for the launcher: bash when scripts are sourced (``conda run`` sources them
    with bash, and packages' scripts may rely on it), else ``/bin/sh``."""
    from shutil import which

    if activation.sources_scripts:
        found = which("bash") or which("sh")
    else:
        found = "/bin/sh" if os.access("/bin/sh", os.X_OK) else which("sh")
    if not found:
        raise ActivationError("no POSIX shell (bash or sh) was found to start the command")
    return found


def launch(activation: Activation, command: Sequence[str], gate_fd: int,
           ready_fd: int) -> Launch:
    """The launcher for ``command`` under ``activation``: it writes a byte to ``ready_fd``,
    then waits for a line on ``gate_fd`` before it goes on."""
    if not command:
        raise ActivationError("no command to run")
    executable = shell(activation)
    argv = [executable, "-c", LAUNCHER, "conda-run-limited", str(int(gate_fd)),
            str(int(ready_fd)), *activation.deactivate_scripts, "--",
            *activation.activate_scripts, "--", *command]
    if not activation.deactivate_scripts:
        return Launch(executable, argv, dict(activation.environ))
    # The deactivate scripts run in the previous environment; the launcher then switches.
    environ = dict(activation.previous)
    new = activation.environ
    unset = _names([k for k in environ if k not in new])
    changed = [(k, new[k]) for k in _names([k for k in new if environ.get(k) != new[k]])]
    for i, key in enumerate(unset, 1):
        environ[f"__CONDA_LIMITS_U{i}"] = key
    for i, (key, value) in enumerate(changed, 1):
        environ[f"__CONDA_LIMITS_K{i}"] = key
        environ[f"__CONDA_LIMITS_V{i}"] = value
    environ["__CONDA_LIMITS_NUNSET"] = str(len(unset))
    environ["__CONDA_LIMITS_NSET"] = str(len(changed))
    return Launch(executable, argv, environ)


def _names(keys: list[str]) -> list[str]:
    bad = [k for k in keys if not _NAME_RE.fullmatch(k)]
    if bad:
        raise ActivationError(f"the activation sets or unsets {bad[0]!r}, which is not a "
                              "variable name a shell can export")
    return keys
