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
  local variables only (``set -l`` at the top of a sourced file is local to it).
- A fast path first, for the common case (soft values within the hard limits on activation;
  this environment's saved values and nothing else at the level on deactivation), in
  straight lines; anything else falls through to the functions below, which do it all again
  and warn.
- fish parses a whole file before it runs any of it: the functions are one quoted string,
  given to ``eval`` only when the fast path falls through (a string costs a fraction of
  the code it holds to parse).
"""

from __future__ import annotations

from ..limits.model import LimitSet
from ..limits.resources import RESOURCES, Resource
from ..limits.values import UNLIMITED, Value
from . import protocol
from .protocol import HARD_KEY, ROW, WARNED, figure, header, text, unit

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
# WORD: whether this shell has not shown the warning WORD (KEY=VALUE/CEILING) yet; notes it.
NEW = r"""function __cl_new --argument-names word
    contains -- $word $@WARNED@; and return 1
    set -g @WARNED@ $@WARNED@ $word
    return 0  # set keeps the status of contains
end
""".replace("@WARNED@", WARNED)

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
        __cl_new $key-H=$hard/$now[2]
        and __cl_w "$name hard limit $hard_text is above this shell's hard limit, $now[2]$unit; keeping that"
    else
        set ceiling $hard
    end
    set -l wanted $soft
    test $soft = -; and set wanted $now[1]
    if __cl_above $wanted $ceiling
        test $soft != -; and __cl_new $key=$soft/$ceiling
        and __cl_w "$name $soft_text is above the hard limit, $ceiling$unit; using the hard limit"
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

MAIN = r"""function {name}
    set -l level 0
    string match -qr '^\d+$' -- "$CONDA_SHLVL"; and set level $CONDA_SHLVL
{body}end
{name}
functions -e {name} {functions}
"""


#: The functions of :data:`FUNCTIONS`, which every limits script defines.
LIMIT_HELPERS = "__cl_w __cl_above __cl_set __cl_get"


def main(name: str, body: str, functions: str) -> str:
    """The function ``name`` running ``body`` with ``$level`` the new ``CONDA_SHLVL`` (0 when
    unset or not a number), called once, then erased with the helper ``functions``."""
    return MAIN.format(name=name, body=body, functions=functions)


def _words(resource: Resource) -> list[str]:
    # LABEL KEY LETTER BLOCK NAME UNIT: every word comes from the resource table.
    return [f'"{resource.label}"', protocol.key(resource), resource.ulimit, str(resource.block),
            resource.key, f'"{unit(resource)}"']


# __cl_ok: whether the fast path did it all. It cannot `return`: conda sources the scripts
# inside its own function, and there `return` would leave conda's function, not the file.
LEVEL = """\
set -l __cl_ok
set -l __cl_l 0
string match -qr '^\\d+$' -- "$CONDA_SHLVL"; and set __cl_l $CONDA_SHLVL
"""


def _quoted(script: str) -> str:
    """``script`` as one single-quoted string for ``eval`` (only \\ and \' escape there)."""
    text = script.replace("\\", "\\\\").replace("'", "\\'")
    return ("# The full script, run only where the lines above did not finish the job.\n"
            f"set -q __cl_ok[1]; or eval '{text}'\n")


def _saved(resource: Resource) -> str:
    return protocol.saved_name("{$__cl_l}", protocol.key(resource))


def _argument(resource: Resource, value: Value) -> str:
    figure_ = UNLIMITED if value == UNLIMITED else str(int(value) // resource.block)
    return f"-{resource.ulimit} {figure_}"


def _fast_activate(pairs: list[tuple[Resource, Value]]) -> str:
    """Soft values within the hard limits: the rows read once (label, soft, hard each)."""
    rows = sorted(pairs, key=lambda pair: ROW[pair[0].key])
    labels = [r.label for r, _ in rows]
    index = {r.key: 3 * i for i, (r, _) in enumerate(rows)}  # before the row's label
    checks = [f'test "{" ".join(f"$__cl_r[{index[r.key] + 1}]" for r, _ in rows)}" = '
              f'"{" ".join(labels)}"']
    for r, value in rows:  # above the hard limit fish would quietly use the hard limit
        hard = f"$__cl_r[{index[r.key] + 3}]"
        checks.append(f"test {hard} = unlimited" if value == UNLIMITED else
                      f"begin; test {hard} = unlimited; or test {int(value)} -le {hard}; end")
    saves = "".join(f"        set -q {_saved(r)}; or set -gx {_saved(r)} "
                    f"$__cl_r[{index[r.key] + 2}]\n" for r, _ in pairs)
    sets = "; and ".join(f"ulimit -S {_argument(r, value)}" for r, value in pairs)
    pattern = "|".join(labels)
    return (LEVEL + "if test -r /proc/self/limits\n"
            f"    set -l __cl_r (string match -r -g '^({pattern}) +(\\d+|unlimited) "
            "+(\\d+|unlimited)' </proc/self/limits)\n"
            f"    if {'; and '.join(checks)}\n"
            f"{saves}"
            f"        if begin; {sets}; end 2>/dev/null\n"
            "            set __cl_ok 1\n"
            "        end\n"
            "    end\n"
            "end\n")


def _fast_deactivate(own: list[Resource]) -> str:
    """This environment's saved values, and nothing else at the level: set them back."""
    names = " ".join(f"{{$__cl_p}}{protocol.key(r)}" for r in own)
    others = [f"{{$__cl_p}}{protocol.key(r)}" for r in RESOURCES if r not in own]
    others.append(f"{{$__cl_p}}{HARD_KEY}")
    if not own:  # nothing to put back if nothing is saved at this level
        return (LEVEL + "set -l __cl_p _CONDA_LIMITS_{$__cl_l}_\n"
                f"set -q {' '.join(others)}\n"
                f"test $status -eq {len(others)}; and set __cl_ok 1\n")
    converts, sets = "", []
    for i, r in enumerate(own, 1):
        if r.block == 1:
            sets.append(f"ulimit -S -{r.ulimit} $__cl_v[{i}]")
        else:  # math fails from 2**53 on: the functions below warn
            converts += (f"    and begin; test $__cl_v[{i}] = unlimited; or set __cl_v[{i}] "
                         f"(math -s0 $__cl_v[{i}] / {r.block} 2>/dev/null); end\n")
            sets.append(f"ulimit -S -{r.ulimit} $__cl_v[{i}]")
    return (LEVEL + "set -l __cl_p _CONDA_LIMITS_{$__cl_l}_\n"
            f"set -l __cl_n {names}\n"
            f"set -q {' '.join(others)}\n"
            f"if test $status -eq {len(others)}; and set -q $__cl_n\n"
            "    set -l __cl_v $$__cl_n\n"
            "    if not string match -qvr '^(\\d+|unlimited)$' -- $__cl_v\n"
            f"{converts}"
            f"    and begin; {'; and '.join(sets)}; end 2>/dev/null\n"
            "        set -eg $__cl_n\n"
            "        set __cl_ok 1\n"
            "    end\n"
            "end\n")


def render_activate(limits: LimitSet) -> str:
    """The ``activate.d`` script applying ``limits`` (nothing but the header without any)."""
    if not len(limits):
        return header(True, SHELL)
    calls = "".join(
        "    __cl_apply $level " + " ".join([
            *_words(resource), figure(limit.soft), figure(limit.hard),
            text(resource, limit.soft), text(resource, limit.hard)]) + "\n"
        for resource, limit in limits.items_with_resource())
    pairs = [(r, limit.soft) for r, limit in limits.items_with_resource()
             if limit.hard is None and limit.soft is not None]
    fast = _fast_activate(pairs) if len(pairs) == len(limits) else ""
    return (header(True, SHELL) + fast
            + _quoted(FUNCTIONS + NEW + APPLY
                      + main("__cl_main", calls, f"{LIMIT_HELPERS} __cl_apply __cl_new")))


def render_deactivate(limits: LimitSet) -> str:
    """The ``deactivate.d`` script: restores every limit saved at this level."""
    raises = "".join(f"    __cl_raise $level {protocol.key(r)} {r.ulimit} {r.block}\n"
                     for r in RESOURCES)
    calls = "".join("    __cl_restore $level " + " ".join(_words(r)) + "\n" for r in RESOURCES)
    calls += f"    set -eg _CONDA_LIMITS_{{$level}}_{HARD_KEY}\n"
    own = [r for r, _ in limits.items_with_resource()]
    return (header(False, SHELL) + _fast_deactivate(own)
            + _quoted(FUNCTIONS + RAISE + RESTORE
                      + main("__cl_main", raises + calls,
                             f"{LIMIT_HELPERS} __cl_raise __cl_restore")))


__all__ = ["render_activate", "render_deactivate"]
