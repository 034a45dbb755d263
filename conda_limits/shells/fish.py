"""Render the ``.fish`` activate/deactivate scripts.

The variables, names and units are those of :mod:`conda_limits.shells.protocol`: the shell's
previous soft value of each limit it changes goes into ``_CONDA_LIMITS_<CONDA_SHLVL>_<KEY>``,
so that a shell of another family can deactivate too.

fish specifics the text relies on:

- ``ulimit -S/-H -X N`` counts KiB for -v/-d/-s/-l and 1024-byte blocks for -f/-c; the
  process limit is -u. A soft value above the hard limit is silently clamped (status 0), so
  the scripts compare with the hard limit themselves.
- Builtins only: ``string match`` reads ``/proc/self/limits`` (in bytes) and function calls in
  command substitutions run in the shell itself. ``math`` divides bytes into KiB: it computes
  in doubles, exact for every multiple of 1024 below 2**63, and fails (a warning here) for
  results from 2**53 on.
- No errexit to survive; every helper is a function erased at the end, and the scripts use
  function-local variables only.
"""

from __future__ import annotations

from ..model import LimitSet
from ..resources import RESOURCES, Resource
from . import protocol
from .protocol import HARD_KEY, figure, header, text, unit

SHELL = "fish: builtins only; never exits the shell; leaves no function or variable behind."

FUNCTIONS = r"""function __cl_w
    printf 'conda-limits: %s\n' $argv[1] >&2
end
# A B: whether value A is above value B (unlimited is above every number).
function __cl_above --argument-names a b
    test "$b" = unlimited; and return 1
    test "$a" = unlimited; and return 0
    test "$a" -gt "$b"
end
# -S|-H LETTER BLOCK VALUE: set one limit to VALUE (bytes, count, seconds or unlimited).
function __cl_set --argument-names which letter block value
    set -l figure $value
    if test "$value" != unlimited -a "$block" != 1
        set figure (math -s0 "$value / $block" 2>/dev/null); or return 1
    end
    ulimit $which -$letter $figure 2>/dev/null
end
# LABEL LETTER BLOCK: prints the current soft and hard limit in bytes, counts or seconds.
function __cl_get --argument-names label letter block
    if test -r /proc/self/limits
        set -l row (string match -r -- "^$label +(\d+|unlimited) +(\d+|unlimited)" </proc/self/limits)
        if set -q row[3]
            printf '%s\n' $row[2] $row[3]
            return 0
        end
    end
    # No /proc (macOS, BSD): ask ulimit.
    for which in -S -H
        set -l value (ulimit $which -$letter 2>/dev/null)
        if string match -qr '^\d+$' -- "$value"
            set value (math "$value * $block" 2>/dev/null)
        end
        string match -qr '^(\d+|unlimited)$' -- "$value"; or return 1
        echo $value
    end
end
"""

# LEVEL LABEL KEY LETTER BLOCK NAME UNIT SOFT HARD SOFT_TEXT HARD_TEXT: apply one limit.
# SOFT/HARD: bytes, count, seconds, unlimited, or - (not configured). A value saved at this
# level already stays: conda re-runs activate.d at the same level when a stacked environment
# is deactivated.
APPLY = r"""function __cl_apply --argument-names level label key letter block name unit soft hard soft_text hard_text
    set -l now (__cl_get $label $letter $block)
    if not set -q now[2]
        __cl_w "cannot read the current $name limit; $name left as it is"
        return 0
    end
    set -l saved _CONDA_LIMITS_{$level}_$key
    set -q $saved; or set -gx $saved $now[1]
    set -l ceiling $now[2]
    if test $hard = -
    else if __cl_above $hard $now[2]
        __cl_w "$name hard limit $hard_text is above this shell's hard limit, $now[2]$unit; keeping that"
    else
        set ceiling $hard
    end
    set -l wanted $soft
    test $soft = -; and set wanted $now[1]
    if __cl_above $wanted $ceiling
        test $soft = -; or __cl_w "$name $soft_text is above the hard limit, $ceiling$unit; using the hard limit"
        set wanted $ceiling
    end
    if test $wanted != $now[1]; and not __cl_set -S $letter $block $wanted
        __cl_w "could not set the $name limit$unit to $wanted; $name left as it is"
        return 0
    end
    test $ceiling = $now[2]; and return 0
    if __cl_set -H $letter $block $ceiling
        set -l previous _CONDA_LIMITS_{$level}_HARD_$key
        set -q $previous; or set -gx $previous $now[2]
        set -l marker _CONDA_LIMITS_{$level}_HARD
        set -gx $marker "$$marker $key"
    else
        __cl_w "could not set the $name hard limit$unit to $ceiling"
    end
end
"""

# LEVEL KEY LETTER BLOCK: put a hard limit that activation lowered back up, where the shell
# may (root with CAP_SYS_RESOURCE); before any soft value goes back.
RAISE = r"""function __cl_raise --argument-names level key letter block
    set -l previous _CONDA_LIMITS_{$level}_HARD_$key
    set -q $previous; or return 0
    set -l value $$previous
    set -eg $previous
    string match -qr '^(\d+|unlimited)$' -- "$value"; and __cl_set -H $letter $block $value
    return 0
end
"""

# LEVEL LABEL KEY LETTER BLOCK NAME UNIT: put back the soft value saved at this level.
RESTORE = r"""function __cl_restore --argument-names level label key letter block name unit
    set -l saved _CONDA_LIMITS_{$level}_$key
    set -q $saved; or return 0
    set -l value $$saved
    set -eg $saved
    string match -qr '^(\d+|unlimited)$' -- "$value"; or return 0
    set -l marker _CONDA_LIMITS_{$level}_HARD
    if not string match -q "* $key *" " $$marker "; and __cl_set -S $letter $block $value
        return 0
    end
    set -l now (__cl_get $label $letter $block)
    if set -q now[2]; and __cl_above $value $now[2]
        __cl_w "$name$unit cannot go back up to $value: its hard limit was lowered to $now[2]"
        set value $now[2]
    end
    __cl_set -S $letter $block $value; or __cl_w "could not restore the $name limit$unit to $value"
end
"""

MAIN = r"""function __cl_main
    set -l level 0
    string match -qr '^\d+$' -- "$CONDA_SHLVL"; and set level $CONDA_SHLVL
{calls}end
__cl_main
functions -e __cl_main __cl_w __cl_above __cl_set __cl_get {functions}
"""


def _words(resource: Resource) -> list[str]:
    # LABEL KEY LETTER BLOCK NAME UNIT: every word comes from the resource table.
    return [f'"{resource.label}"', protocol.key(resource), resource.ulimit, str(resource.block),
            resource.key, f'"{unit(resource)}"']


def render_activate(limits: LimitSet) -> str:
    """The ``activate.d`` script applying ``limits`` (nothing but the header without any)."""
    if not len(limits):
        return header(True, SHELL)
    calls = "".join(
        "    __cl_apply $level " + " ".join([
            *_words(resource), figure(limit.soft), figure(limit.hard),
            text(resource, limit.soft), text(resource, limit.hard)]) + "\n"
        for resource, limit in limits.items_with_resource())
    return (header(True, SHELL)
            + FUNCTIONS + APPLY + MAIN.format(calls=calls, functions="__cl_apply"))


def render_deactivate(limits: LimitSet) -> str:
    """The ``deactivate.d`` script: restores every limit saved at this level."""
    raises = "".join(f"    __cl_raise $level {protocol.key(r)} {r.ulimit} {r.block}\n"
                     for r in RESOURCES)
    calls = "".join("    __cl_restore $level " + " ".join(_words(r)) + "\n" for r in RESOURCES)
    calls += f"    set -eg _CONDA_LIMITS_{{$level}}_{HARD_KEY}\n"
    return (header(False, SHELL) + FUNCTIONS + RAISE + RESTORE
            + MAIN.format(calls=raises + calls, functions="__cl_raise __cl_restore"))


__all__ = ["render_activate", "render_deactivate"]
