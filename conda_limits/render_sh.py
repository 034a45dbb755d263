"""Render the POSIX ``.sh`` activate/deactivate scripts (bash, zsh, dash, ksh, mksh).

The scripts are fixed shell text plus integers from a validated :class:`LimitSet`.
They use builtins only (no forks on Linux), never ``exit`` or fail under ``set -eu``, and
keep the shell's previous soft limits in ``_CONDA_LIMITS_<SHLVL>_<KEY>`` (bytes, counts or
seconds, or ``unlimited``) so that deactivation restores them exactly.
"""

from __future__ import annotations

from .model import LimitSet
from .resources import RESOURCES, Kind, Resource
from .values import UNLIMITED, Value, human

HEADER = """\
# Written by conda-limits: `conda limits set/unset` manages this file; do not edit it.
# {purpose}
# POSIX sh (bash, zsh, dash, ksh, mksh): shell builtins only; never exits the shell.
"""

# Shared by both scripts: the level, the shell's units, and the kernel's view of the limits.
PRELUDE = r"""__conda_limits_lvl=${CONDA_SHLVL:-0}
case $__conda_limits_lvl in ''|*[!0-9]*) __conda_limits_lvl=0 ;; esac
# ulimit -f/-c count 1024-byte blocks in bash and 512-byte ones in POSIX mode and other shells;
# dash, mksh and busybox call the process limit -p.
__conda_limits_blk=512
__conda_limits_nproc=p
if [ -n "${BASH_VERSION-}" ]; then
  __conda_limits_nproc=u
  case ":${SHELLOPTS-}:" in *:posix:*) ;; *) __conda_limits_blk=1024 ;; esac
elif [ -n "${ZSH_VERSION-}" ]; then
  __conda_limits_nproc=u
else
  case "${KSH_VERSION-}" in ''|*MIRBSD*|*PD\ KSH*) ;; *) __conda_limits_nproc=u ;; esac
fi
__conda_limits_warn() {
  printf 'conda-limits: %s\n' "$1" >&2
  return 0
}
# Sets __conda_limits_soft/_hard from one /proc/self/limits row (bytes, count or seconds).
__conda_limits_row() {
  __conda_limits_soft=${1#"$2"}
  __conda_limits_soft=${__conda_limits_soft#"${__conda_limits_soft%%[! ]*}"}
  __conda_limits_hard=${__conda_limits_soft#*[ ]}
  __conda_limits_hard=${__conda_limits_hard#"${__conda_limits_hard%%[! ]*}"}
  __conda_limits_soft=${__conda_limits_soft%%[ ]*}
  __conda_limits_hard=${__conda_limits_hard%%[ ]*}
  case $__conda_limits_soft in unlimited) ;; ''|*[!0-9]*) __conda_limits_soft= ;; esac
  case $__conda_limits_hard in unlimited) ;; ''|*[!0-9]*) __conda_limits_hard= ;; esac
  return 0
}
# __conda_limits_read KEY LABEL LETTER BLOCK: the current soft and hard value of one limit.
__conda_limits_read() {
  __conda_limits_soft= __conda_limits_hard=
  if [ -r /proc/self/limits ]; then
    while IFS= read -r __conda_limits_line; do
      case $__conda_limits_line in
        "$2 "*) __conda_limits_row "$__conda_limits_line" "$2"; break ;;
      esac
    done < /proc/self/limits
  else
    # No /proc (macOS and the BSDs): ask ulimit, in a subshell.
    __conda_limits_soft=$(ulimit -S -"$3" 2>/dev/null) || __conda_limits_soft=
    __conda_limits_hard=$(ulimit -H -"$3" 2>/dev/null) || __conda_limits_hard=
    case $__conda_limits_soft in
      unlimited) ;; ''|*[!0-9]*) __conda_limits_soft= ;;
      *) __conda_limits_soft=$((__conda_limits_soft * $4)) ;;
    esac
    case $__conda_limits_hard in
      unlimited) ;; ''|*[!0-9]*) __conda_limits_hard= ;;
      *) __conda_limits_hard=$((__conda_limits_hard * $4)) ;;
    esac
  fi
  return 0
}
# __conda_limits_above A B: whether value A is above value B (unlimited is above all numbers).
__conda_limits_above() {
  case $2 in unlimited|'') return 1 ;; esac
  case $1 in unlimited) return 0 ;; esac
  [ "$1" -gt "$2" ]
}
# __conda_limits_ulimit -S|-H LETTER BLOCK VALUE: set one limit; VALUE in bytes/count/seconds.
__conda_limits_ulimit() {
  case $4 in
    unlimited) ulimit "$1" -"$2" unlimited 2>/dev/null ;;
    *) ulimit "$1" -"$2" $(($4 / $3)) 2>/dev/null ;;
  esac
}
"""

ACTIVATE = r"""# __conda_limits_apply KEY LABEL LETTER BLOCK NAME SOFT HARD SOFT_TEXT HARD_TEXT
# SOFT/HARD: the configured value in bytes/count/seconds, unlimited, or - (not configured).
__conda_limits_apply() {
  __conda_limits_read "$1" "$2" "$3" "$4"
  if [ -z "$__conda_limits_soft" ] || [ -z "$__conda_limits_hard" ]; then
    __conda_limits_warn "cannot read the current $5 limit; $5 left as it is"
    return 0
  fi
  # Remember the shell's soft value for deactivation, unless this level already has one
  # (conda re-runs activate.d at the same level on `conda deactivate` of a stacked env).
  eval "__conda_limits_saved=\${_CONDA_LIMITS_${__conda_limits_lvl}_$1-}"
  if [ -z "$__conda_limits_saved" ]; then
    eval "_CONDA_LIMITS_${__conda_limits_lvl}_$1=\$__conda_limits_soft"
    eval "export _CONDA_LIMITS_${__conda_limits_lvl}_$1"
  fi
  __conda_limits_ceiling=$__conda_limits_hard
  if [ "$7" != - ]; then
    if __conda_limits_above "$7" "$__conda_limits_hard"; then
      __conda_limits_warn "$5 hard limit $9 is above this shell's hard limit; keeping $__conda_limits_hard"
    else
      __conda_limits_ceiling=$7
    fi
  fi
  if [ "$6" != - ]; then
    __conda_limits_target=$6
    if __conda_limits_above "$6" "$__conda_limits_ceiling"; then
      __conda_limits_warn "$5 $8 is above the hard limit ($__conda_limits_ceiling); using the hard limit"
      __conda_limits_target=$__conda_limits_ceiling
    fi
  elif __conda_limits_above "$__conda_limits_soft" "$__conda_limits_ceiling"; then
    __conda_limits_target=$__conda_limits_ceiling
  else
    __conda_limits_target=
  fi
  if [ -n "$__conda_limits_target" ]; then
    if ! __conda_limits_ulimit -S "$3" "$4" "$__conda_limits_target"; then
      __conda_limits_warn "could not set the $5 limit to $__conda_limits_target; $5 left as it is"
      return 0
    fi
  fi
  if [ "$7" != - ] && [ "$__conda_limits_ceiling" != "$__conda_limits_hard" ]; then
    if ! __conda_limits_ulimit -H "$3" "$4" "$__conda_limits_ceiling"; then
      __conda_limits_warn "could not set the $5 hard limit to $__conda_limits_ceiling"
    fi
  fi
  return 0
}
"""

DEACTIVATE = r"""# __conda_limits_restore KEY LABEL LETTER BLOCK NAME: put back the soft value saved at this level.
__conda_limits_restore() {
  eval "__conda_limits_saved=\${_CONDA_LIMITS_${__conda_limits_lvl}_$1-}"
  [ -n "$__conda_limits_saved" ] || return 0
  unset "_CONDA_LIMITS_${__conda_limits_lvl}_$1"
  case $__conda_limits_saved in unlimited) ;; ''|*[!0-9]*) return 0 ;; esac
  __conda_limits_read "$1" "$2" "$3" "$4"
  if __conda_limits_above "$__conda_limits_saved" "$__conda_limits_hard"; then
    __conda_limits_warn "the $5 hard limit was lowered to $__conda_limits_hard during activation and cannot be raised back; the soft limit stays at it"
    __conda_limits_saved=$__conda_limits_hard
  fi
  if ! __conda_limits_ulimit -S "$3" "$4" "$__conda_limits_saved"; then
    __conda_limits_warn "could not restore the $5 limit to $__conda_limits_saved"
  fi
  return 0
}
"""

CLEANUP = r"""unset -f __conda_limits_warn __conda_limits_row __conda_limits_read __conda_limits_above \
  __conda_limits_ulimit {functions} 2>/dev/null || :
unset __conda_limits_lvl __conda_limits_blk __conda_limits_nproc __conda_limits_soft \
  __conda_limits_hard __conda_limits_line __conda_limits_saved __conda_limits_ceiling \
  __conda_limits_target 2>/dev/null || :
"""

XONSH_GUARD = r"""if [ -n "${XONSH_VERSION-}" ]; then
  # xonsh runs .sh activation scripts in a bash subprocess: limits set here would be lost.
  printf '%s\n' "conda-limits: xonsh cannot apply this environment's limits on activation; use 'conda run-limited' or another shell" >&2
else
"""


def _block(resource: Resource) -> str:
    """The ``ulimit`` unit argument: a fixed integer, or the runtime choice for -f/-c."""
    if resource.posix_block is not None:
        return "$__conda_limits_blk"
    return str(resource.block)


def _letter(resource: Resource) -> str:
    return "$__conda_limits_nproc" if resource.key == "nproc" else resource.ulimit


def _arg(value: Value | None) -> str:
    if value is None:
        return "-"
    if value == UNLIMITED:
        return UNLIMITED
    return str(int(value))


def _text(resource: Resource, value: Value | None) -> str:
    return "-" if value is None else human(resource, value)


def _call(function: str, resource: Resource, *extra: str) -> str:
    # Every argument is a fixed name from the resource table or a rendered integer.
    words = [function, resource.key.upper(), f'"{resource.label}"', f'"{_letter(resource)}"',
             f'"{_block(resource)}"', f'"{_name(resource)}"', *extra]
    return " ".join(words)


def _name(resource: Resource) -> str:
    return resource.key


def render_activate(limits: LimitSet) -> str:
    """The ``activate.d`` script applying ``limits``."""
    calls = []
    for resource, limit in limits.items_with_resource():
        calls.append(_call("__conda_limits_apply", resource, _arg(limit.soft), _arg(limit.hard),
                           _text(resource, limit.soft), _text(resource, limit.hard)))
    body = "".join(line + "\n" for line in calls)
    return (HEADER.format(purpose="Applies this environment's resource limits on activation.")
            + XONSH_GUARD + PRELUDE + ACTIVATE + body
            + CLEANUP.format(functions="__conda_limits_apply") + "fi\n")


def render_deactivate() -> str:
    """The ``deactivate.d`` script: restores every limit saved at this level."""
    calls = "".join(_call("__conda_limits_restore", r) + "\n" for r in RESOURCES)
    return (HEADER.format(purpose="Restores the shell's resource limits on deactivation.")
            + "if [ -z \"${XONSH_VERSION-}\" ]; then\n" + PRELUDE + DEACTIVATE + calls
            + CLEANUP.format(functions="__conda_limits_restore") + "fi\n")


__all__ = ["render_activate", "render_deactivate", "Kind"]
