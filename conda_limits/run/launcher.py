"""The one ``sh`` that finishes an activation and starts the command (the launcher).

Its text is fixed; everything variable (descriptor numbers, script paths, the command, the
variables to switch to) reaches it as arguments or environment values, never as shell code.
It tells the runner it is ready, waits at a gate until the runner has put the limits and the
cgroup in place, sources the activation scripts (:class:`~conda_limits.run.activation.Activation`),
checks the command as a shell would, optionally stops itself for the runner's last limits,
and ``exec``s the command. The Jupyter kernel launcher and Slurm's node side use the same
text with the gate standing open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import NamedTuple

from .activation import Activation, ActivationError

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
#: A POSIX shell copies descriptors to 10 and up when it redirects (dash, bash): below this
#: many open files, a shell (the launcher, or a shell script) may fail.
SHELL_FDS = 20

# The launcher: fixed text; everything variable arrives as arguments or environment values.
# $1, $2: the gate's and the ready pipe's file descriptors; $3: "stop" to stop itself (SIGSTOP)
# just before it execs the command, so that the runner can set the limits the launcher itself
# could not live with (see process.LATE), anything else not to; then the deactivate scripts,
# "--", the activate scripts, "--", the command. The launcher says it is ready (its own exec
# is complete, so limits set now stay), waits for the go-ahead (status 125 if the runner
# failed or died and nothing ran). The sourcing function gives each script its own
# positional parameters. A command given as a path is checked as a shell would (126: a
# directory or not executable, 127: missing), a name must be on the PATH.
LAUNCHER = r"""__conda_limits_gate=$1 __conda_limits_ready=$2 __conda_limits_stop=$3
shift 3
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
case $1 in
*/*)
  if [ -d "$1" ]; then
    printf 'conda-limits: cannot run %s: it is a directory\n' "$1" >&2
    exit 126
  elif [ ! -e "$1" ]; then
    printf 'conda-limits: command not found: %s\n' "$1" >&2
    exit 127
  elif [ ! -x "$1" ]; then
    printf 'conda-limits: cannot run %s: it is not executable\n' "$1" >&2
    exit 126
  fi ;;
*)
  if ! command -v "$1" >/dev/null 2>&1; then
    printf 'conda-limits: command not found: %s\n' "$1" >&2
    exit 127
  fi ;;
esac
if [ "$__conda_limits_stop" = stop ]; then
  unset __conda_limits_stop
  kill -STOP "$$"
fi
unset __conda_limits_stop
exec "$@"
"""


class Launch(NamedTuple):
    """How to start the launcher: executable, argv and environment."""

    executable: str
    argv: list[str]
    environ: dict[str, str]


def shell(activation: Activation) -> str:
    """The shell for the launcher: bash when scripts are sourced (``conda run`` sources them
    with bash, and packages' scripts may rely on it), else ``/bin/sh``. Looked up on this
    process's PATH, then in ``/bin``: a PATH without a shell (a kernel started with a bare
    environment) still finds ``/bin/sh``, which every supported system has."""
    from shutil import which

    wanted = ("bash", "sh") if activation.sources_scripts else ("sh",)
    candidates = [f"/bin/{name}" for name in wanted] if not activation.sources_scripts else []
    candidates += [which(name) or "" for name in wanted] + [f"/bin/{name}" for name in wanted]
    for found in candidates:
        if found and os.access(found, os.X_OK):
            return found
    raise ActivationError("no POSIX shell (bash or sh) was found to start the command")


def launch(activation: Activation, command: Sequence[str], gate_fd: int,
           ready_fd: int, *, stop: bool = False) -> Launch:
    """The launcher for ``command`` under ``activation``: it writes a byte to ``ready_fd``,
    then waits for a line on ``gate_fd`` before it goes on; with ``stop``, it also stops
    itself (SIGSTOP) just before it execs the command, until it gets SIGCONT."""
    if not command:
        raise ActivationError("no command to run")
    executable = shell(activation)
    argv = [executable, "-c", LAUNCHER, "conda-run-limited", str(int(gate_fd)),
            str(int(ready_fd)), "stop" if stop else "go", *activation.deactivate_scripts, "--",
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
