"""Render the POSIX ``.sh`` activate/deactivate scripts (bash, zsh, dash, ksh).

The scripts are fixed shell text plus integers from a validated :class:`LimitSet`, and keep
the previous limits in the variables of :mod:`conda_limits.shells.protocol`. Each starts with
a fast path for the common case (:mod:`conda_limits.shells.posix_fast`), which returns before
the shell parses the rest; the full script below it handles everything, and says what it
could not do. After a fast path the full script is comment lines that the script reads back
from its own file (ksh93 parses a whole file before it runs any of it, at a cost per byte
that comments hardly have): bash, zsh and ksh93 know that file's path; dash and mksh find it
under ``$CONDA_PREFIX``, the environment whose scripts conda is running (still the one being
left while deactivate.d runs). How the full script keeps its promises:

- No forks on Linux: the shell reads ``/proc/self/limits`` itself (``mapfile`` in bash,
  ``$(<file)`` in zsh, ``read`` elsewhere) and takes a limit's row by its position, checked
  against its label (else it searches the rows). ``ulimit`` output is captured in subshells
  only where there is no ``/proc`` (macOS, BSD).
- zsh keeps a hard limit lowered with its own ``ulimit -H`` in a table that its children
  get, and applies it to itself only on its next change: both scripts first make zsh adopt
  its table (``limit -s``), so that ``/proc/self/limits`` shows what its programs get, and
  apply each hard change at once the same way.
- A hard limit activation lowered is put back on deactivation where the shell may raise it
  (root with CAP_SYS_RESOURCE); elsewhere the soft limit is restored as far as the hard one
  allows, with a warning when that is below the saved value.
- Never exit or abort the shell: all work happens in ``__cl_main``, called as
  ``__cl_main || :``, where ``set -e`` does not apply in any POSIX shell, and every possibly
  unset variable is read as ``${X-}`` for ``set -u``.
- No names left behind: every function and variable the scripts use starts with ``__cl_``
  and is removed at the end, at top level.
- mksh computes (and sets limits) in 32-bit integers, which turns 4 GiB into 0: the scripts
  refuse to work there, with a warning.
"""

from __future__ import annotations

import hashlib

from ..limits.model import Limit, LimitSet
from ..limits.resources import RESOURCES, Resource
from ..limits.values import Value
from . import posix_fast, protocol
from .protocol import (
    HARD_KEY,
    POSIX_SUFFIX,
    PREFIX,
    ROW,
    SCRIPT_NAME,
    WARNED,
    figure,
    header,
    text,
    unit,
)

SHELL = "POSIX sh (bash, zsh, dash, ksh): builtins only; never exits the shell."

# zsh: options back on return; no warnings for globals, arrays from 1. l: level; b: bytes per
# -f/-c unit; p: nproc letter (-p in dash, busybox); a: offset of the rows array (bash 0, zsh 1;
# '' for no array).
SETUP = r"""  [ -z "${{ZSH_VERSION-}}" ] || setopt localoptions no_warn_create_global no_ksh_arrays
  __cl_l=${{CONDA_SHLVL:-0}}
  case $__cl_l in ''|*[!0-9]*) __cl_l=0 ;; esac
  __cl_b=512 __cl_p=p __cl_a=
  if [ -n "${{BASH_VERSION-}}" ]; then
    __cl_p=u
    case :${{SHELLOPTS-}}: in *:posix:*) ;; *) __cl_b=1024 ;; esac
{bash}  elif [ -n "${{ZSH_VERSION-}}" ]; then
    __cl_p=u
    limit -s 2>/dev/null || :
{zsh}  else
    case ${{KSH_VERSION-}} in ''|*MIRBSD*|*PD\ KSH*) ;; *) __cl_p=u ;; esac
    if [ "$((2147483647 + 1))" -lt 0 ]; then
{w32}      return 0
    fi
  fi
"""

W32_WARNING = """\
      __cl_w "this shell computes in 32 bits: limits left as they are"
"""
LOAD_ROWS_BASH = r"""    if [ "${BASH_VERSINFO-0}" -ge 4 ] && [ -r /proc/self/limits ]; then
      mapfile -t __cl_rows < /proc/self/limits && __cl_a=0
    fi
"""
LOAD_ROWS_ZSH = r"""    if [ -r /proc/self/limits ]; then
      eval '__cl_rows=("${(@f)$(</proc/self/limits)}")' && __cl_a=1
    fi
"""

SET = r"""# -S|-H LETTER BLOCK VALUE: set one limit to VALUE (bytes, count, seconds or unlimited).
# zsh applies a hard limit to itself only with `limit -s`, which fails (and puts zsh's table
# back) where it may not.
__cl_set() {
  case $4 in
    unlimited) ulimit "$1" -"$2" unlimited ;;
    *) ulimit "$1" -"$2" "$(($4 / $3))" ;;
  esac 2>/dev/null || return 1
  [ "$1" = -S ] || [ -z "${ZSH_VERSION-}" ] || limit -s 2>/dev/null
}
"""

FUNCTIONS = r"""__cl_w() {
  printf 'conda-limits: %s\n' "$1" >&2
}
# A B: whether value A is above value B (unlimited is above every number).
__cl_above() {
  case $2 in unlimited) return 1 ;; esac
  case $1 in unlimited) return 0 ;; esac
  [ "$1" -gt "$2" ]
}
# ROW LABEL LETTER BLOCK: __cl_s/_h = the current soft/hard limit (s='' if unknown).
__cl_get() {
  __cl_s=
  [ -z "$__cl_a" ] || __cl_s=${__cl_rows[$1+__cl_a]-}
  case $__cl_s in "$2 "*) ;; *)
    if [ -r /proc/self/limits ]; then
      while IFS= read -r __cl_s; do
        case $__cl_s in "$2 "*) break ;; esac
      done < /proc/self/limits
    fi ;;
  esac
  case $__cl_s in
    "$2 "*) # Columns are fixed: "%-25s %-20s %-20s %-10s".
      __cl_s=${__cl_s#??????????????????????????}
      __cl_h=${__cl_s#?????????????????????}
      __cl_s=${__cl_s%% *} __cl_h=${__cl_h%% *} ;;
    *) # No /proc (macOS, BSD): ask ulimit, in subshells.
      __cl_s=$(ulimit -S -"$3" 2>/dev/null) || __cl_s=
      __cl_h=$(ulimit -H -"$3" 2>/dev/null) || __cl_h=
      case $__cl_s in ''|*[!0-9]*) ;; *)
        __cl_s=$((__cl_s * $4)) ;; esac
      case $__cl_h in ''|*[!0-9]*) ;; *)
        __cl_h=$((__cl_h * $4)) ;; esac ;;
  esac
  case $__cl_s in unlimited) ;; ''|*[!0-9]*) __cl_s= ;; esac
  case $__cl_h in unlimited) ;; ''|*[!0-9]*) __cl_s= ;; esac
}
"""

# WORD: whether this shell has not shown the warning WORD (KEY=VALUE/CEILING) yet; notes it.
NEW = r"""__cl_new() {
  case " ${@WARNED@-} " in *" $1 "*) return 1 ;; esac
  @WARNED@="${@WARNED@-} $1"
}
""".replace("@WARNED@", WARNED)

# ROW LABEL KEY LETTER BLOCK NAME UNIT SOFT HARD SOFT_TEXT HARD_TEXT SAVED: apply one limit.
# SOFT/HARD: bytes, count, seconds, unlimited, or - (not configured). SAVED: the value this
# level saved already, if any: conda re-runs activate.d at the same level when a stacked
# environment is deactivated, and the first saved value must stay (the saved hard value too).
APPLY = r"""# ROW LABEL KEY LETTER BLOCK NAME UNIT SOFT HARD SOFT_TEXT HARD_TEXT SAVED (- unset)
__cl_apply() {
  __cl_get "$1" "$2" "$4" "$5"
  if [ -z "$__cl_s" ]; then
    __cl_w "cannot read the current $6 limit; $6 left as it is"
    return 0
  fi
  [ -n "${12}" ] || export "_CONDA_LIMITS_${__cl_l}_$3=$__cl_s"
  __cl_c=$__cl_h __cl_t=$8
  if [ "$9" = - ]; then :
  elif __cl_above "$9" "$__cl_h"; then
    ! __cl_new "$3-H=$9/$__cl_h" ||
      __cl_w "$6 hard limit ${11} is above this shell's hard limit, $__cl_h$7; keeping that"
  else
    __cl_c=$9
  fi
  [ "$8" != - ] || __cl_t=$__cl_s
  if __cl_above "$__cl_t" "$__cl_c"; then
    [ "$8" = - ] || ! __cl_new "$3=$8/$__cl_c" ||
      __cl_w "$6 ${10} is above the hard limit, $__cl_c$7; using the hard limit"
    __cl_t=$__cl_c
  fi
  if [ "$__cl_t" != "$__cl_s" ] &&
      ! __cl_set -S "$4" "$5" "$__cl_t"; then
    __cl_w "could not set the $6 limit$7 to $__cl_t; $6 left as it is"
    return 0
  fi
  [ "$__cl_c" != "$__cl_h" ] || return 0
  if __cl_set -H "$4" "$5" "$__cl_c"; then
    eval "[ -n \"\${_CONDA_LIMITS_${__cl_l}_HARD_$3-}\" ] ||
      export _CONDA_LIMITS_${__cl_l}_HARD_$3=\$__cl_h"
    __cl_k="$__cl_k $3"
    export "_CONDA_LIMITS_${__cl_l}_HARD=$__cl_k"
  else
    __cl_w "could not set the $6 hard limit$7 to $__cl_c"
  fi
}
"""

# KEY LETTER BLOCK: put the hard limit that activation lowered back up, where the shell may
# (root with CAP_SYS_RESOURCE); before any soft value goes back.
RAISE = r"""# KEY LETTER BLOCK
__cl_raise() {
  eval "__cl_x=\${_CONDA_LIMITS_${__cl_l}_HARD_$1-}"
  case $__cl_x in unlimited) ;; ''|*[!0-9]*) return 0 ;; esac
  __cl_set -H "$2" "$3" "$__cl_x" || :
}
"""

# ROW LABEL KEY LETTER BLOCK NAME UNIT SAVED: put back the soft value saved at this level.
RESTORE = r"""# ROW LABEL KEY LETTER BLOCK NAME UNIT SAVED
__cl_restore() {
  unset "_CONDA_LIMITS_${__cl_l}_$3"
  case $8 in unlimited) ;; ''|*[!0-9]*) return 0 ;; esac
  case " $__cl_k " in *" $3 "*) ;; *)
    ! __cl_set -S "$4" "$5" "$8" || return 0 ;;
  esac
  __cl_get "$1" "$2" "$4" "$5"
  if [ -n "$__cl_s" ] && __cl_above "$8" "$__cl_h"; then
    __cl_w "$6$7 cannot go back up to $8: its hard limit was lowered to $__cl_h"
    set -- "$1" "$2" "$3" "$4" "$5" "$6" "$7" "$__cl_h"
  fi
  __cl_set -S "$4" "$5" "$8" ||
    __cl_w "could not restore the $6 limit$7 to $8"
}
"""

CLEANUP = r"""unset -f __cl_main __cl_w __cl_above __cl_set __cl_get {functions} || :
unset __cl_l __cl_b __cl_p __cl_a __cl_rows __cl_s __cl_h __cl_c __cl_t __cl_k __cl_x \
  {names} || :
"""

# conda's xonsh activation runs .sh scripts through `source-bash`: a bash subprocess whose
# environment is copied back, so limits set there never reach xonsh. Its command string
# carries xonsh's marker (a bash merely started from xonsh does not). source-bash discards
# the subprocess's output, so the hint goes to xonsh's own stderr, its parent's fd 2.
XONSH = r"""case ${XONSH_VERSION:+${BASH_EXECUTION_STRING-}} in
  *__XONSH_ENV_BEG__*)
    __cl_t="xonsh cannot apply this environment's limits on activation; use bash, zsh, fish or tcsh, or run commands with 'conda run-limited'"
    { __cl_w "$__cl_t" 2>>"/proc/$PPID/fd/2"; } 2>/dev/null || __cl_w "$__cl_t" || : ;;
  *) __cl_main || : ;;
esac
"""


# After a fast path: this file's own path (bash, zsh and ksh93 know it; dash and mksh do not,
# and conda sets CONDA_PREFIX to this environment while it runs its activate.d and
# deactivate.d scripts), its "#|" lines read back, run if they are this script's (its tag).
# zsh reads the file in one piece ($(<file) does not fork there); bash 4 reads the lines from
# the tag on ({skip}: the lines before it), with mapfile; other shells read every line (dash
# one byte at a time: a few milliseconds, only where the fast path cannot finish). It is one
# quoted string, run by eval: ksh93 parses a whole file before it runs any of it, and passes
# over a string for a fraction of what the same code costs.
LOAD_NOTE = """# The full script, run only where the lines above did not finish the job: the "#|" lines
# at the end of this file, read back (ksh93 passes over comments almost for free).
"""
LOAD = r"""[ -z "${{ZSH_VERSION-}}" ] || typeset -g __cl_f __cl_x __cl_n
__cl_f= __cl_x= __cl_n='
'
if [ -n "${{BASH_VERSION-}}" ]; then __cl_f=${{BASH_SOURCE-}}
elif [ -n "${{ZSH_VERSION-}}" ]; then eval '__cl_f=${{(%):-%x}}'
else case ${{KSH_VERSION-}} in *93*) eval '__cl_f=${{.sh.file}}' ;; esac
fi
[ -r "$__cl_f" ] || __cl_f=${{CONDA_PREFIX-}}/etc/conda/{path}
if [ ! -r "$__cl_f" ]; then :
elif [ -n "${{ZSH_VERSION-}}" ]; then
  eval '__cl_x="${{(F)${{(@)${{(@M)${{(@f)"$(<"$__cl_f")"}}:#[#][|]*}}#[#][|]}}}}"$__cl_n'
elif [ -n "${{BASH_VERSION-}}" ] && [ "${{BASH_VERSINFO-0}}" -ge 4 ]; then
  eval 'mapfile -t -s {skip} __cl_r <"$__cl_f" && printf -v __cl_x "%s\n" ${{__cl_r[@]+"${{__cl_r[@]#??}}"}}'
else
  while IFS= read -r __cl_r; do
    case $__cl_r in "#|"*) __cl_x=$__cl_x${{__cl_r#??}}$__cl_n ;; esac
  done <"$__cl_f"
fi
case $__cl_x in
  "{tag}$__cl_n"*) eval "$__cl_x" || : ;;
  *) printf 'conda-limits: %s\n' "cannot read the rest of {path} (this shell does not say where it is, and CONDA_PREFIX does not lead to it); limits left as they are" >&2 || : ;;
esac
unset __cl_f __cl_x __cl_n {names} || :
"""


def letter(resource: Resource) -> str:
    """The ``ulimit`` option as script text: fixed, but chosen at run time for nproc."""
    return "$__cl_p" if resource.key == "nproc" else resource.ulimit


def block(resource: Resource) -> str:
    """Bytes per ``ulimit`` unit as script text: fixed, but chosen at run time for -f/-c."""
    return "$__cl_b" if resource.posix_block is not None else str(resource.block)


def _saved(key: str) -> str:
    """The variable holding, during the script, what this level saved under ``key``."""
    return f"{PREFIX}{key}" if key != HARD_KEY else f"{PREFIX}k"


def _load_saved(keys: list[str]) -> str:
    # The level is known only at run time, hence one eval (of digits and fixed names).
    names = " ".join(f"{_saved(key)}=\\${{{protocol.saved_name('${__cl_l}', key)}-}}"
                     for key in [*keys, HARD_KEY])
    return f'  eval "{names}"\n'


def _words(resource: Resource) -> list[str]:
    # ROW LABEL KEY LETTER BLOCK NAME UNIT: every word comes from the resource table.
    return [str(ROW[resource.key]), f'"{resource.label}"', protocol.key(resource),
            f'"{letter(resource)}"', f'"{block(resource)}"', resource.key,
            f'"{unit(resource)}"']


def _main(activate: bool, body: str) -> str:
    # Deactivation needs no rows (and has nothing to say in a 32-bit shell: nothing was saved).
    setup = SETUP.format(bash=LOAD_ROWS_BASH if activate else "",
                         zsh=LOAD_ROWS_ZSH if activate else "",
                         w32=W32_WARNING if activate else "")
    return f"{PREFIX}main() {{\n" + setup + body + "}\n"


def _cleanup(functions: str, keys: list[str]) -> str:
    names = " ".join([*(_saved(key) for key in keys), *posix_fast.NAMES])
    return CLEANUP.format(functions=functions, names=names)


def _soft_only(limits: LimitSet) -> list[tuple[Resource, Value]]:
    """``(resource, soft value)`` of each limit when none has a hard value, else []."""
    pairs = [(r, limit.soft) for r, limit in limits.items_with_resource()
             if limit.hard is None and limit.soft is not None]
    return pairs if len(pairs) == len(limits) else []


def _apply_call(resource: Resource, limit: Limit) -> str:
    key = protocol.key(resource)
    words = [*_words(resource), figure(limit.soft), figure(limit.hard),
             text(resource, limit.soft), text(resource, limit.hard), f'"${_saved(key)}"']
    return "  __cl_apply " + " ".join(words) + "\n"


def _commented(before: str, script: str, folder: str) -> str:
    """``before`` (the header and the fast path), then ``script`` as comment lines (``#|``)
    that the quoted lines between read back and run. ksh93 parses a whole file before it
    runs any of it, and passes over a comment or a string for a fraction of what the same
    code costs; bash, zsh and dash never read past the fast path's ``return``. ``folder``:
    the script's own folder, where it is found under ``$CONDA_PREFIX``."""
    tag = f"# conda-limits {hashlib.sha256(script.encode()).hexdigest()[:16]}"
    lines = "".join(f"#|{line}\n" for line in [tag, *script.splitlines()])
    names = " ".join(["__cl_l", "__cl_b", "__cl_p", *posix_fast.NAMES])
    path = f"{folder}/{SCRIPT_NAME}{POSIX_SUFFIX}"
    load = LOAD.format(tag=tag, path=path, names=names, skip="{skip}")
    text = before + LOAD_NOTE + "eval '" + load.replace("'", "'\\''") + "'\n"
    # bash's mapfile skips the lines before the tag (the figure adds no line).
    return text.replace("{skip}", str(text.count("\n")), 1) + lines


def full_activate(limits: LimitSet) -> str:
    """The full activation script, without the header and the fast path."""
    keys = [protocol.key(r) for r, _ in limits.items_with_resource()]
    calls = "".join(_apply_call(r, limit) for r, limit in limits.items_with_resource())
    return (FUNCTIONS + SET + NEW + APPLY + _main(True, _load_saved(keys) + calls) + XONSH
            + _cleanup("__cl_apply __cl_new", keys))


def render_activate(limits: LimitSet) -> str:
    """The ``activate.d`` script applying ``limits`` (nothing but the header without any)."""
    if not len(limits):
        return header(True, SHELL)
    # The fast path only where every limit is a soft one (a lowered hard limit is rare).
    fast = _soft_only(limits)
    if not fast:
        return header(True, SHELL) + full_activate(limits)
    return _commented(header(True, SHELL) + posix_fast.activate(fast), full_activate(limits),
                      "activate.d")


def render_deactivate(limits: LimitSet) -> str:
    """The ``deactivate.d`` script: restores every limit saved at this level; quickly where
    that is exactly ``limits``'s."""
    own = [r for r, _ in limits.items_with_resource()]
    return _commented(header(False, SHELL) + posix_fast.deactivate(own, RESOURCES),
                      full_deactivate(), "deactivate.d")


def full_deactivate() -> str:
    """The full deactivation script (for every limit), without the header and fast path."""
    keys = [protocol.key(r) for r in RESOURCES]
    calls = "".join(f'  [ -z "${_saved(protocol.key(r))}" ] || __cl_restore '
                    + " ".join([*_words(r), f'"${_saved(protocol.key(r))}"']) + "\n"
                    for r in RESOURCES)
    raises = "".join(f'    case " $__cl_k " in *" {protocol.key(r)} "*) __cl_raise '
                     f'{protocol.key(r)} "{letter(r)}" "{block(r)}" ;; esac\n' for r in RESOURCES)
    unsets = " ".join(f'"{protocol.saved_name("${__cl_l}", name)}"' for name in
                      [HARD_KEY, *(f"{HARD_KEY}_{key}" for key in keys)])
    body = (_load_saved(keys) + '  if [ -n "$__cl_k" ]; then\n' + raises + "  fi\n" + calls
            + f"  unset {unsets}\n")
    return (FUNCTIONS + SET + RAISE + RESTORE + _main(False, body) + "__cl_main || :\n"
            + _cleanup("__cl_raise __cl_restore", keys))


__all__ = ["render_activate", "render_deactivate"]
