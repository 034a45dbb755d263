"""The CPU part of the activation scripts: thread-pool variables and the CPU set, per family.

It is put at the top of each family's script (:func:`with_section`), before the rlimits'
fast path can end the file. What each section saves uses the protocol's names, so any family
can restore what another set:

* ``_CONDA_LIMITS_<level>_ENV_<NAME>``: a thread variable's previous state, ``-`` when it was
  unset or ``=`` followed by its value. Activation exports every variable of
  :data:`conda_limits.limits.threads.NAMES` it was given (a value saved at this level already is
  kept: conda re-runs activate.d at the same level); deactivation puts each one back exactly.
* ``_CONDA_LIMITS_<level>_CPUSET``: the shell's CPU list before activation pinned it.

The thread part never forks. The CPU set is read from ``/proc/self/status`` by the shell
itself; ``taskset`` (one fork) runs only when the configured set differs from the current
one, and is given the CPUs of the set that the shell may use (others get a warning, as does a
set with none of them). Values in the text are validated integers and fixed names only.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..limits import affinity
from ..limits.cpu import CpuSettings
from ..limits.threads import NAMES
from . import csh, fish
from .protocol import SAVED_PREFIX

ENV_KEY = "ENV_"  # _CONDA_LIMITS_<level>_ENV_<NAME>
CPUSET_KEY = "CPUSET"  # _CONDA_LIMITS_<level>_CPUSET

# POSIX sh. The thread variables are saved and restored in straight lines, one eval each
# way (the level is known only at run time): parsing costs as much as running here.
# __cl_s: the shell's CPU list and mask, read by the shell itself. __cl_b CPU: whether CPU is
# in the shell's mask (groups of 32 bits, from the right).
POSIX_FUNCTIONS = r"""__cl_s() {
  __cl_sl= __cl_sm=
  [ -r /proc/self/status ] || return 1
  while IFS= read -r __cl_o; do
    case $__cl_o in
      Cpus_allowed:*) __cl_sm=${__cl_o#*:} ;;
      Cpus_allowed_list:*) __cl_sl=${__cl_o#*:} ;;
    esac
  done < /proc/self/status
  __cl_sm=${__cl_sm#"${__cl_sm%%[!	 ]*}"} __cl_sl=${__cl_sl#"${__cl_sl%%[!	 ]*}"}
  [ -n "$__cl_sl" ] && [ -n "$__cl_sm" ]
}
__cl_b() {
  __cl_o=$__cl_sm __cl_g=$(($1 / 32))
  while [ "$__cl_g" -gt 0 ]; do
    case $__cl_o in *,*) __cl_o=${__cl_o%,*} ;; *) return 1 ;; esac
    __cl_g=$((__cl_g - 1))
  done
  __cl_o=${__cl_o##*,}
  [ $(((0x$__cl_o >> ($1 % 32)) & 1)) -eq 1 ]
}
"""

# LIST CPU...: pin the shell to the CPUs of LIST it may use (the list is canonical, as the
# kernel writes Cpus_allowed_list).
POSIX_CPUSET = r"""__cl_p() {
  __cl_s || { __cl_w "cannot read this shell's CPU set; cpuset $1 not applied"; return 0; }
  eval "__cl_o=\${_CONDA_LIMITS_${__cl_l}_CPUSET-}"
  [ -n "$__cl_o" ] || export "_CONDA_LIMITS_${__cl_l}_CPUSET=$__cl_sl"
  [ "$__cl_sl" != "$1" ] || return 0
  __cl_i= __cl_x= __cl_t=$1
  shift
  for __cl_c in "$@"; do
    if __cl_b "$__cl_c"; then __cl_i=$__cl_i,$__cl_c; else __cl_x=$__cl_x,$__cl_c; fi
  done
  if [ -z "$__cl_i" ]; then
    __cl_w "cpuset $__cl_t: none of these CPUs is available here (allowed: $__cl_sl); CPU affinity left as it is"
    return 0
  fi
  [ -z "$__cl_x" ] ||
    __cl_w "cpuset $__cl_t: CPU(s) ${__cl_x#,} not available here (allowed: $__cl_sl); using ${__cl_i#,}"
  if ! command -v taskset >/dev/null 2>&1; then
    __cl_w "taskset (util-linux) is not installed; cpuset $__cl_t not applied"
  elif ! taskset -pc "${__cl_i#,}" "$$" >/dev/null 2>&1; then
    __cl_w "could not set this shell's CPU set to ${__cl_i#,}"
  fi
}
"""

POSIX_RESTORE_CPUSET = r"""__cl_r() {
  eval "__cl_o=\${_CONDA_LIMITS_${__cl_l}_CPUSET-}"
  [ -n "$__cl_o" ] || return 0
  unset "_CONDA_LIMITS_${__cl_l}_CPUSET"
  case $__cl_o in *[!0-9,-]*) return 0 ;; esac
  __cl_t=$__cl_o
  if __cl_s && [ "$__cl_sl" = "$__cl_t" ]; then return 0; fi
  command -v taskset >/dev/null 2>&1 && taskset -pc "$__cl_t" "$$" >/dev/null 2>&1 ||
    __cl_w "could not put this shell's CPU set back to $__cl_t"
}
"""

POSIX_MAIN = r"""__cl_cpu() {{
  [ -z "${{ZSH_VERSION-}}" ] || setopt localoptions no_warn_create_global no_ksh_arrays
  __cl_l=${{CONDA_SHLVL:-0}}
  case $__cl_l in ''|*[!0-9]*) __cl_l=0 ;; esac
{body}}}
__cl_w() {{
  printf 'conda-limits: %s\n' "$1" >&2
}}
__cl_cpu || :
unset -f __cl_cpu __cl_w {functions}|| :
unset __cl_l __cl_o __cl_sl __cl_sm __cl_g __cl_i __cl_x __cl_t __cl_c || :
"""


def _cpus(cpus: Iterable[int]) -> str:
    return " ".join(str(int(c)) for c in sorted(cpus))


def _exported(keep: tuple[str, ...]) -> list[str]:
    """The thread variables to set: all but those the environment sets itself."""
    return [name for name in NAMES if name not in keep]


def _posix_save(names: list[str]) -> str:
    # NAME's state unless this level saved it already: "=VALUE" when set, "-" when unset.
    lines = "".join(f'  [ -n \\"\\${{_CONDA_LIMITS_${{__cl_l}}_ENV_{n}+x}}\\" ] || export '
                    f'_CONDA_LIMITS_${{__cl_l}}_ENV_{n}=\\"\\${{{n}+=}}\\${{{n}--}}\\"\n'
                    for n in names)
    return f'  eval "\n{lines}  "\n'


def posix_activate(cpu: CpuSettings, keep: tuple[str, ...] = ()) -> str:
    """The ``.sh`` section applying ``cpu`` ("" when nothing is set); the variables in
    ``keep`` (set by the environment itself) are left alone."""
    size = cpu.pool_size()
    if size is None and not cpu.cpuset:
        return ""
    body = ""
    names = _exported(keep)
    if size is not None and names:
        body += _posix_save(names)
        body += "  export " + " ".join(f"{n}={int(size)}" for n in names) + "\n"
    if not cpu.cpuset:
        return POSIX_MAIN.format(body=body, functions="")
    body += f"  __cl_p {affinity.format_cpu_list(cpu.cpuset)} {_cpus(cpu.cpuset)}\n"
    return (POSIX_FUNCTIONS + POSIX_CPUSET
            + POSIX_MAIN.format(body=body, functions="__cl_s __cl_b __cl_p "))


def posix_deactivate(cpu: CpuSettings) -> str:
    """The ``.sh`` section restoring what activation saved at this level: each saved state
    is loaded (one eval), put back, and its variable removed (one eval); the CPU set only
    where ``cpu`` has one."""
    load = " ".join(f"__cl_{i}=\\${{_CONDA_LIMITS_${{__cl_l}}_ENV_{n}-}}"
                    for i, n in enumerate(NAMES))
    body = f'  eval "{load}"\n'
    for i, name in enumerate(NAMES):
        body += (f'  case $__cl_{i} in -) unset {name} ;; "="*) '
                 f'export "{name}=${{__cl_{i}#=}}" ;; esac\n')
    body += ('  eval "unset ' + " ".join(f"_CONDA_LIMITS_${{__cl_l}}_ENV_{n}" for n in NAMES)
             + '"\n' + ("  __cl_r\n" if cpu.cpuset else ""))
    unset = " ".join(f"__cl_{i}" for i in range(len(NAMES)))
    main = POSIX_MAIN.format(body=body, functions="__cl_s __cl_b __cl_r " if cpu.cpuset
                             else "").replace("unset __cl_l ", f"unset {unset} __cl_l ")
    return (POSIX_FUNCTIONS + POSIX_RESTORE_CPUSET + main) if cpu.cpuset else main


def with_section(script: str, section: str) -> str:
    """``script`` with ``section`` after its header comment (before anything can end it)."""
    if not section:
        return script
    lines = script.splitlines(keepends=True)
    head = 0
    while head < len(lines) and lines[head].startswith("#"):
        head += 1
    return "".join(lines[:head]) + section + "".join(lines[head:])


def saved_names(level: int) -> list[str]:
    """Every variable the sections may leave at ``level`` (for tests and the runner)."""
    return [f"{SAVED_PREFIX}{level}_{ENV_KEY}{name}" for name in NAMES] + [
        f"{SAVED_PREFIX}{level}_{CPUSET_KEY}"]



# fish: builtins only (string, math, read from a file are builtins: no fork). __cl_cpuset
# LIST CPU...: the CPUs of LIST the shell may use, pinned with taskset (one fork) when the
# set differs.
FISH_FUNCTIONS = r"""function __cl_w
    printf 'conda-limits: %s\n' $argv[1] >&2
end
function __cl_allowed
    string match -r --groups-only '^Cpus_allowed_list:\s*(\S+)' </proc/self/status 2>/dev/null
end
function __cl_taskset --argument-names list
    if not command -q taskset
        __cl_w "taskset (util-linux) is not installed; cpuset $list not applied"
        return 1
    end
    taskset -pc $list $fish_pid >/dev/null 2>&1
end
"""

FISH_CPUSET = r"""function __cl_cpuset --argument-names level list
    set -l now (__cl_allowed)
    if test -z "$now"
        __cl_w "cannot read this shell's CPU set; cpuset $list not applied"
        return 0
    end
    set -l saved _CONDA_LIMITS_{$level}_CPUSET
    set -q $saved; or set -gx $saved $now
    test "$now" = "$list"; and return 0
    set -l in
    set -l out
    for cpu in $argv[3..-1]
        set -l found 0
        for item in (string split , -- $now)
            set -l ends (string split - -- $item)
            if test $cpu -ge $ends[1] -a $cpu -le $ends[-1]
                set found 1
                break
            end
        end
        if test $found = 1
            set -a in $cpu
        else
            set -a out $cpu
        end
    end
    if not set -q in[1]
        __cl_w "cpuset $list: none of these CPUs is available here (allowed: $now); CPU affinity left as it is"
        return 0
    end
    set -q out[1]; and __cl_w "cpuset $list: CPU(s) "(string join , $out)" not available here (allowed: $now); using "(string join , $in)
    __cl_taskset (string join , $in); or __cl_w "could not set this shell's CPU set to "(string join , $in)
end
"""

FISH_RESTORE_CPUSET = r"""function __cl_uncpuset --argument-names level
    set -l saved _CONDA_LIMITS_{$level}_CPUSET
    set -q $saved; or return 0
    set -l list $$saved
    set -eg $saved
    string match -qr '^[0-9,-]+$' -- "$list"; or return 0
    test "$list" = (__cl_allowed); and return 0
    __cl_taskset $list; or __cl_w "could not put this shell's CPU set back to $list"
end
"""

# NAME VALUE / NAME: save and set, put back (the same names and forms as the .sh section).
FISH_VARIABLES = r"""function __cl_var --argument-names level name value
    set -l saved _CONDA_LIMITS_{$level}_ENV_$name
    if not set -q $saved
        if set -q $name
            set -gx $saved "=$$name"
        else
            set -gx $saved -
        end
    end
    set -gx $name $value
end
function __cl_unvar --argument-names level name
    set -l saved _CONDA_LIMITS_{$level}_ENV_$name
    set -q $saved; or return 0
    set -l old $$saved
    set -eg $saved
    if test "$old" = -
        set -eg $name
    else if string match -q '=*' -- "$old"
        # Not a command substitution, which splits at newlines: read takes everything up
        # to a NUL, and -d = leaves what follows the first '=' in value.
        printf %s "$old" | read -lz -d = mark value
        set -gx $name "$value"
    end
end
"""

#: The functions every CPU section for fish defines.
FISH_HELPERS = "__cl_w __cl_allowed __cl_taskset"


def fish_activate(cpu: CpuSettings, keep: tuple[str, ...] = ()) -> str:
    """The ``.fish`` section applying ``cpu`` ("" when nothing is set), but ``keep``."""
    size = cpu.pool_size()
    if size is None and not cpu.cpuset:
        return ""
    text, body, names = FISH_FUNCTIONS + FISH_VARIABLES, "", "__cl_var __cl_unvar"
    if size is not None:
        body += "".join(f"    __cl_var $level {name} {int(size)}\n"
                        for name in _exported(keep))
    if cpu.cpuset:
        text += FISH_CPUSET
        names += " __cl_cpuset"
        body += (f"    __cl_cpuset $level {affinity.format_cpu_list(cpu.cpuset)} "
                 f"{_cpus(cpu.cpuset)}\n")
    return text + fish.main("__cl_cpu", body, f"{FISH_HELPERS} {names}")


def fish_deactivate(cpu: CpuSettings) -> str:
    """The ``.fish`` section restoring what activation saved at this level."""
    body = "".join(f"    __cl_unvar $level {name}\n" for name in NAMES)
    if not cpu.cpuset:
        return (FISH_FUNCTIONS + FISH_VARIABLES
                + fish.main("__cl_cpu", body, f"{FISH_HELPERS} __cl_var __cl_unvar"))
    body += "    __cl_uncpuset $level\n"
    return (FISH_FUNCTIONS + FISH_VARIABLES + FISH_RESTORE_CPUSET
            + fish.main("__cl_cpu", body,
                           f"{FISH_HELPERS} __cl_var __cl_unvar __cl_uncpuset"))


# csh/tcsh: no functions, so a block of fixed text per variable; names holding the level are
# read with eval (no fork). The CPU set is read with one sed and set with one taskset (forks
# are fine in csh, and happen only for a configured cpuset); its CPUs are given as they are,
# and the kernel keeps those the shell's cgroup allows.
CSH_SETUP = csh.LEVEL
CSH_VAR = """\
eval 'set __cl_x = $?_CONDA_LIMITS_'"$__cl_lvl"'_ENV_{name}'
if ( ! $__cl_x ) then
    if ( $?{name} ) then
        setenv _CONDA_LIMITS_${{__cl_lvl}}_ENV_{name} "=${name}:q"
    else
        setenv _CONDA_LIMITS_${{__cl_lvl}}_ENV_{name} -
    endif
endif
setenv {name} {value}
"""
CSH_UNVAR = """\
eval 'set __cl_x = $?_CONDA_LIMITS_'"$__cl_lvl"'_ENV_{name}'
if ( $__cl_x ) then
    eval 'set __cl_v = $_CONDA_LIMITS_'"$__cl_lvl"'_ENV_{name}:q'
    unsetenv _CONDA_LIMITS_${{__cl_lvl}}_ENV_{name}
    if ( "$__cl_v:q" == "-" ) then
        unsetenv {name}
    else if ( "$__cl_v:q" =~ "="* ) then
        setenv {name} "$__cl_v:s/=//:q"
    endif
endif
"""
CSH_CPUSET = """\
set __cl_now = "`sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/$$/status`"
if ( "$__cl_now" != "" ) then
    eval 'set __cl_x = $?_CONDA_LIMITS_'"$__cl_lvl"'_CPUSET'
    if ( ! $__cl_x ) setenv _CONDA_LIMITS_${{__cl_lvl}}_CPUSET "$__cl_now"
    if ( "$__cl_now" != "{cpus}" ) then
        taskset -pc {cpus} $$ >& /dev/null
        if ( $status ) echo "conda-limits: cpuset {cpus}: could not set this shell's CPU set (allowed: $__cl_now)" > /dev/stderr
    endif
else
    echo "conda-limits: cannot read this shell's CPU set; cpuset {cpus} not applied" > /dev/stderr
endif
"""
CSH_UNCPUSET = """\
eval 'set __cl_x = $?_CONDA_LIMITS_'"$__cl_lvl"'_CPUSET'
if ( $__cl_x ) then
    eval 'set __cl_v = $_CONDA_LIMITS_'"$__cl_lvl"'_CPUSET'
    unsetenv _CONDA_LIMITS_${__cl_lvl}_CPUSET
    if ( "$__cl_v" =~ [0-9]* ) then
        set __cl_now = "`sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' /proc/$$/status`"
        if ( "$__cl_now" != "$__cl_v" ) then
            taskset -pc "$__cl_v" $$ >& /dev/null
            if ( $status ) echo "conda-limits: could not put this shell's CPU set back to $__cl_v" > /dev/stderr
        endif
    endif
endif
"""
CSH_CLEANUP = "unset __cl_lvl __cl_x __cl_v __cl_now\n"


def csh_activate(cpu: CpuSettings, keep: tuple[str, ...] = ()) -> str:
    """The ``.csh`` section applying ``cpu`` ("" when nothing is set), but ``keep``."""
    size = cpu.pool_size()
    if size is None and not cpu.cpuset:
        return ""
    text = CSH_SETUP
    if size is not None:
        text += "".join(CSH_VAR.format(name=name, value=int(size))
                        for name in _exported(keep))
    if cpu.cpuset:
        text += CSH_CPUSET.format(cpus=affinity.format_cpu_list(cpu.cpuset))
    return text + CSH_CLEANUP


def csh_deactivate(cpu: CpuSettings) -> str:
    """The ``.csh`` section restoring what activation saved at this level."""
    return (CSH_SETUP + "".join(CSH_UNVAR.format(name=name) for name in NAMES)
            + (CSH_UNCPUSET if cpu.cpuset else "") + CSH_CLEANUP)
