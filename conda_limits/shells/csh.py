"""Render the ``.csh`` activate/deactivate scripts (tcsh, and csh where it is tcsh).

The variables, names and units are those of :mod:`conda_limits.shells.protocol`: the shell's
previous soft value of each limit it changes goes into ``_CONDA_LIMITS_<CONDA_SHLVL>_<KEY>``,
so that a shell of another family can deactivate too.

csh has no functions: the common case (soft values within the hard limits) has a short path
of fixed text per limit at the top of each script, which ends in ``goto``; the full path is one
``foreach`` over the keys, whose ``switch`` sets each limit's words (names, units, values). tcsh
reads every character a ``goto`` passes over (from the top of the file), so the text after the
short path is written once, not once per limit. What the text relies on:

- ``limit NAME N`` sets the soft limit and ``limit -h NAME N`` the hard one; sizes count KiB,
  ``cputime`` seconds, ``descriptors`` and ``maxproc`` plain counts.
- A failing ``limit`` aborts the rest of a sourced file, even behind ``||``: every ``limit``
  is first tried in a subshell, ``( limit NAME N ) >& /dev/null``, and run only if that worked.
- Forks are fine here, but few: activation reads ``/proc/self/limits`` once with ``cat``
  (bytes) and takes each limit's row by position, checked against its label (else ``grep``);
  where it has a fast path, the subshell reading the rows tries its limits first (and reads
  the shell's own ``/proc/$$/limits``), which saves the fast path's trial subshell;
  variables whose name holds the level are read with ``eval``; only a ``limit`` that is about
  to run forks (its trial subshell). Without ``/proc`` (macOS, BSD) ``sh -c 'ulimit ...'``
  reports the limits in POSIX units. ``@`` computes in 64-bit integers.
- Nothing that csh would expand twice or treat as history (``!``) appears in the text; an
  unset variable is never read (``$?CONDA_SHLVL`` first, and its value only inside
  ``then ... endif``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..limits.model import LimitSet
from ..limits.resources import RESOURCES, Resource
from ..limits.values import UNLIMITED, Value
from . import protocol
from .protocol import HARD_KEY, ROW, WARNED, figure, header, text, unit

SHELL = "csh/tcsh: never exits the shell; every `limit` is tried in a subshell first."

def _load(var: str, key: str) -> str:
    """Set ``var`` to _CONDA_LIMITS_<level>_<key>, or to '' (eval: the name has the level in it;
    no fork, unlike a `printenv` in backquotes)."""
    name = f"_CONDA_LIMITS_'\"$__cl_lvl\"'_{key}"
    return (f'set {var} = ""\n'
            f"eval 'set __cl_x = $?{name}'\n"
            f"if ( $__cl_x ) eval 'set {var} = \"${name}\"'")


#: The level, digits or 0. tcsh expands the words of a one-line ``if`` even when its test
#: is false: an unset CONDA_SHLVL is read only inside ``then ... endif``.
LEVEL = """\
set __cl_lvl = 0
if ( $?CONDA_SHLVL ) then
set __cl_lvl = "$CONDA_SHLVL"
endif
if ( "$__cl_lvl" == "" || "$__cl_lvl" =~ *[^0-9]* ) set __cl_lvl = 0
"""
SETUP = f"""\
{LEVEL}{_load("__cl_k", HARD_KEY)}
"""

# Activation reads /proc/self/limits once, a line per word (one fork).
READ_ROWS = """\
if ( -r /proc/self/limits ) set __cl_rows = ( "`cat /proc/self/limits`" )
"""
# With a fast path, the same subshell first tries its limits, and says `__cl_ok` if they all
# worked, then reads the shell's own limits, /proc/$$/limits (the trial changed only its
# own). A failing `limit` ends that subshell before `cat`: the rows are read again.
TRIAL_ROWS = """\
set __cl_f = 0
if ( -r /proc/$$/limits ) set __cl_rows = ( "`{trial} && echo __cl_ok; cat /proc/$$/limits`" )
if ( $?__cl_rows ) then
    if ( $#__cl_rows == 0 ) then
        set __cl_rows = ( "`cat /proc/self/limits`" )
    else if ( "$__cl_rows[1]" == __cl_ok ) then
        shift __cl_rows
        set __cl_f = 1
    endif
endif
"""

# POSIX sh units for the no-/proc fallback: -f/-c count 512-byte blocks there.
_SH_BLOCK = {"fsize": 512, "core": 512}


@dataclass(frozen=True)
class Spec:
    """What the text needs to know of a limit, as csh words: literals from the resource
    table, or variables holding them (in the shared part of the deactivate script)."""

    label: str  # /proc/self/limits row label
    words: str  # number of words in the label
    csh: str  # `limit` resource name
    block: str  # bytes per `limit` unit
    letter: str  # `ulimit` letter for the no-/proc fallback in sh
    sh_block: str  # bytes per unit of that `ulimit`
    name: str  # for messages
    unit: str  # after a figure in messages

    @classmethod
    def of(cls, resource: Resource) -> Spec:
        return cls(resource.label, str(len(resource.label.split())), resource.csh,
                   str(resource.block), resource.ulimit,
                   str(_SH_BLOCK.get(resource.key, resource.block)), resource.key,
                   unit(resource))


# The shared part of the deactivate script sets these variables from a switch.
VARIABLE = Spec("$__cl_label", "$__cl_words", "$__cl_csh", "$__cl_blk", "$__cl_letter",
                "$__cl_shblk", "$__cl_name", "${__cl_unit}")


def _warn(message: str) -> str:
    return f'echo "conda-limits: {message}" >& /dev/stderr'


def _once(word: str, message: str) -> list[str]:
    """Lines showing the warning ``message`` unless this shell has shown ``word``
    (KEY=VALUE/CEILING) already, and noting it."""
    return [f'if ( ! $?{WARNED} ) set {WARNED} = ""',
            f'if ( " ${WARNED} " !~ *" {word} "* ) then',
            f'    set {WARNED} = "${WARNED} {word}"',
            f"    {_warn(message)}",
            "endif"]


def _indent(lines: list[str], depth: int = 1) -> list[str]:
    return [("    " * depth + line) if line else line for line in lines]


def _read(spec: Spec, index: str | None = None) -> list[str]:
    """Lines setting __cl_s/__cl_h to the current soft/hard limit, or __cl_s to ''.

    ``index``: the row's position in the list of rows activation read (checked by label),
    as csh words.
    """
    lines = ['set __cl_s = ""', 'set __cl_h = ""', "if ( -r /proc/self/limits ) then",
             "    set __cl_r = ()"]
    if index is not None:
        lines += ["    if ( $?__cl_rows ) then",
                  f"        if ( $#__cl_rows >= {index} ) then",
                  f'            if ( "$__cl_rows[{index}]" =~ "{spec.label} "* ) '
                  f"set __cl_r = ( $__cl_rows[{index}] )",
                  "        endif",
                  "    endif"]
    if spec.words.isdigit():  # the positions of the figures in the row
        words = int(spec.words)
        soft, hard, length, count = str(words + 1), str(words + 2), str(words + 3), []
    else:
        soft, hard, length = "$__cl_x", "$__cl_y", "$__cl_i"
        count = [f"@ __cl_x = {spec.words} + 1", "@ __cl_y = $__cl_x + 1",
                 "@ __cl_i = $__cl_x + 2"]
    lines += [
        f'    if ( $#__cl_r == 0 ) set __cl_r = (`grep "^{spec.label} " /proc/self/limits`)',
        *_indent(count),
        f"    if ( $#__cl_r == {length} ) then",
        f'        set __cl_s = "$__cl_r[{soft}]"',
        f'        set __cl_h = "$__cl_r[{hard}]"',
        "    endif",
        "else",
        f"    set __cl_s = \"`sh -c 'ulimit -S -'{spec.letter}' 2>/dev/null'`\"",
        f"    set __cl_h = \"`sh -c 'ulimit -H -'{spec.letter}' 2>/dev/null'`\"",
        *(f'    if ( "${var}" != "" && "${var}" !~ *[^0-9]* ) @ {var} = ${var} * {spec.sh_block}'
          for var in ("__cl_s", "__cl_h")),
        "endif",
    ]
    for var in ("__cl_s", "__cl_h"):
        lines += [f'if ( "${var}" != unlimited ) then',
                  f'    if ( "${var}" == "" || "${var}" =~ *[^0-9]* ) set __cl_s = ""',
                  "endif"]
    return lines


def _above(a: str, b: str) -> list[str]:
    """Lines setting __cl_x to 1 if value ``a`` is above value ``b``, else 0 (no number is
    compared with ``unlimited``: csh would abort on it)."""
    return [
        "set __cl_x = 0",
        f'if ( "{b}" != unlimited ) then',
        f'    if ( "{a}" == unlimited ) then',
        "        set __cl_x = 1",
        f"    else if ( {a} > {b} ) then",
        "        set __cl_x = 1",
        "    endif",
        "endif",
    ]


def _units(spec: Spec, var: str) -> list[str]:
    """Lines setting __cl_u to ``var`` (bytes, count, seconds) in ``limit`` units."""
    if spec.block == "1":
        return [f'set __cl_u = "{var}"']
    return [f'if ( "{var}" == unlimited ) then',
            "    set __cl_u = unlimited",
            "else",
            f"    @ __cl_u = {var} / {spec.block}",
            "endif"]


def _limit(spec: Spec, hard: bool, then: list[str], otherwise: list[str]) -> list[str]:
    """Lines running ``limit [-h] NAME $__cl_u`` if a subshell shows it works."""
    command = f"limit {'-h ' if hard else ''}{spec.csh} $__cl_u"
    return [f"( {command} ) >& /dev/null",
            "if ( $status == 0 ) then",
            f"    {command}",
            *_indent(then),
            *(["else", *_indent(otherwise)] if otherwise else []),
            "endif"]


def _case(resource: Resource, *more: str) -> list[str]:
    """The ``case`` of ``resource`` in a switch on ``$__cl_n``: it sets the :data:`VARIABLE`
    words, and ``more`` (``NAME = VALUE`` csh words)."""
    spec = Spec.of(resource)
    return [f"case {resource.key.upper()}:",
            f'    set __cl_label = "{spec.label}" __cl_words = {spec.words} '
            f"__cl_csh = {spec.csh} __cl_blk = {spec.block} __cl_letter = {spec.letter} "
            f'__cl_shblk = {spec.sh_block} __cl_name = {spec.name} __cl_unit = "{spec.unit}"'
            + "".join(f" {word}" for word in more),
            "    breaksw"]


def _switch(cases: list[str]) -> list[str]:
    return ["switch ( $__cl_n )", *_indent(cases), "endsw"]


def _full_activate(limits: LimitSet) -> list[str]:
    """The full path, one loop over the limits (its text is what the fast path's ``goto``
    passes over, so it is written once, not once per limit): each limit's soft and hard
    values (``__cl_sv``, ``__cl_hv``: figures, or '' where not set) and their text for
    people (``__cl_st``, ``__cl_ht``) come from a switch."""
    spec, cases = VARIABLE, []
    for resource, limit in limits.items_with_resource():
        values = {"row": str(ROW[resource.key] + 1),  # csh lists count from 1, after the header
                  "sv": figure(limit.soft) if limit.soft is not None else '""',
                  "hv": figure(limit.hard) if limit.hard is not None else '""',
                  "st": text(resource, limit.soft), "ht": text(resource, limit.hard)}
        cases += _case(resource, *(f"__cl_{name} = {value}" for name, value in values.items()))
    marker = f"_CONDA_LIMITS_${{__cl_lvl}}_{HARD_KEY}"
    hard = [*_above("$__cl_hv", "$__cl_h"),
            "if ( $__cl_x ) then",
            *_indent(_once("${__cl_n}-H=${__cl_hv}/${__cl_h}",
                           f"{spec.name} hard limit ${{__cl_ht}} is above this shell's hard "
                           f"limit, ${{__cl_h}}{spec.unit}; keeping that")),
            "else",
            "    set __cl_c = $__cl_hv",
            "endif"]
    body = [
        *_load("__cl_v", EVAL_KEY).splitlines(),
        'if ( "$__cl_v" == "" ) setenv _CONDA_LIMITS_${__cl_lvl}_${__cl_n} "$__cl_s"',
        'set __cl_c = "$__cl_h"',
        'if ( "$__cl_hv" != "" ) then', *_indent(hard), "endif",
        'set __cl_t = "$__cl_s"',
        'if ( "$__cl_sv" != "" ) set __cl_t = $__cl_sv',
        *_above("$__cl_t", "$__cl_c"),
        "if ( $__cl_x ) then",
        '    if ( "$__cl_sv" != "" ) then',
        *_indent(_once("${__cl_n}=${__cl_sv}/${__cl_c}",
                       f"{spec.name} ${{__cl_st}} is above the hard limit, "
                       f"${{__cl_c}}{spec.unit}; using the hard limit"), 2),
        "    endif",
        '    set __cl_t = "$__cl_c"',
        "endif",
        "set __cl_done = 1",
        'if ( "$__cl_t" != "$__cl_s" ) then',
        *_indent(_units(spec, "$__cl_t")),
        *_indent(_limit(spec, False, [], [
            _warn(f"could not set the {spec.name} limit{spec.unit} to ${{__cl_t}}; "
                  f"{spec.name} left as it is"),
            "set __cl_done = 0"])),
        "endif",
        # Without a hard value, __cl_c is __cl_h.
        'if ( $__cl_done && "$__cl_c" != "$__cl_h" ) then',
        *_indent(_units(spec, "$__cl_c")),
        *_indent(_limit(spec, True,
                        [*_load("__cl_g", f"{HARD_KEY}_{EVAL_KEY}").splitlines(),
                         'if ( "$__cl_g" == "" ) setenv '
                         f"_CONDA_LIMITS_${{__cl_lvl}}_{HARD_KEY}_${{__cl_n}} \"$__cl_h\"",
                         'set __cl_k = "$__cl_k $__cl_n"',
                         f'setenv {marker} "$__cl_k"'],
                        [_warn(f"could not set the {spec.name} hard limit{spec.unit} to "
                               "${__cl_c}")])),
        "endif"]
    keys = " ".join(protocol.key(r) for r, _ in limits.items_with_resource())
    return [f"foreach __cl_n ( {keys} )",
            *_indent(_switch(cases)),
            *_indent(_read(spec, "$__cl_row")),
            '    if ( "$__cl_s" == "" ) then',
            "        " + _warn(f"cannot read the current {spec.name} limit; {spec.name} left "
                               "as it is"),
            "    else",
            *_indent(body, 2),
            "    endif",
            "end"]


# The key in $__cl_n inside a single-quoted eval string, for _load.
EVAL_KEY = "'\"$__cl_n\"'"


def _full_deactivate() -> list[str]:
    """The full path, one loop over every key (its text is what the fast path's ``goto``
    passes over, so it is written once, not once per limit). A key saved at this level:
    the hard limit that activation lowered goes back up first, where the shell may (root
    with CAP_SYS_RESOURCE); then the soft value, at once unless activation lowered that hard
    limit, else (or if that fails) after comparing it with the hard limit (a warning)."""
    spec = VARIABLE
    keys = " ".join(protocol.key(r) for r in RESOURCES)
    raise_hard = [
        'if ( "$__cl_g" != "" ) then',
        f"    unsetenv _CONDA_LIMITS_${{__cl_lvl}}_{HARD_KEY}_${{__cl_n}}",
        '    if ( "$__cl_g" == unlimited || "$__cl_g" !~ *[^0-9]* ) then',
        *_indent(_units(spec, "$__cl_g"), 2),
        *_indent(_limit(spec, True, [], []), 2),
        "    endif",
        "endif"]
    compared = [
        *_read(spec),
        'if ( "$__cl_s" != "" ) then',
        *_indent(_above("$__cl_v", "$__cl_h")),
        "    if ( $__cl_x ) then",
        "        " + _warn(f"{spec.name}{spec.unit} cannot go back up to ${{__cl_v}}: its "
                           f"hard limit was lowered to ${{__cl_h}}"),
        '        set __cl_v = "$__cl_h"',
        "    endif",
        "endif",
        *_units(spec, "$__cl_v"),
        *_limit(spec, False, [], [
            _warn(f"could not restore the {spec.name} limit{spec.unit} to ${{__cl_v}}")])]
    restore = [
        'if ( "$__cl_v" != "" ) then',
        "    unsetenv _CONDA_LIMITS_${__cl_lvl}_${__cl_n}",
        '    if ( "$__cl_v" == unlimited || "$__cl_v" !~ *[^0-9]* ) then',
        "        set __cl_done = 0",
        '        if ( "$__cl_k" !~ *${__cl_n}* ) then',
        *_indent(_units(spec, "$__cl_v"), 3),
        *_indent(_limit(spec, False, ["set __cl_done = 1"], []), 3),
        "        endif",
        "        if ( $__cl_done == 0 ) then",
        *_indent(compared, 3),
        "        endif",
        "    endif",
        "endif"]
    return [
        f"foreach __cl_n ( {keys} )",
        *_indent(_load("__cl_v", EVAL_KEY).splitlines()),
        '    set __cl_g = ""',
        '    if ( "$__cl_k" != "" ) then',
        *_indent(_load("__cl_g", f"{HARD_KEY}_{EVAL_KEY}").splitlines()[1:], 2),
        "    endif",
        '    if ( "$__cl_v" != "" || "$__cl_g" != "" ) then',
        *_indent([*_switch([line for r in RESOURCES for line in _case(r)]), *raise_hard,
                   *restore], 2),
        "    endif",
        "end",
    ]


# The fast paths end at this label, before the cleanup (goto works in a sourced file).
END = "__cl_end:\n"
# The level inside a single-quoted eval string (csh cannot nest variable names).
EVAL_LEVEL = "'\"$__cl_lvl\"'"


def _trial_then(commands: list[str], then: list[str]) -> list[str]:
    """All ``commands`` (``limit`` lines) tried at once in one subshell (one fork), then run
    with ``then`` if they all worked; a failing ``limit`` would abort the file."""
    return [f"( {' && '.join(commands)} ) >& /dev/null",
            "if ( $status == 0 ) then",
            *_indent(commands), *_indent(then), "    goto __cl_end",
            "endif"]


def _fast_activate(pairs: list[tuple[Resource, Value]]) -> list[str]:
    """Soft values within the hard limits: the rows activation read, checked by label and
    word count, the hard limits compared, and the limits set after one trial."""
    last = max(ROW[r.key] for r, _ in pairs) + 1  # csh lists count from 1, after the header
    rows = " ".join(f"__cl_{i} = ( $__cl_rows[{ROW[r.key] + 1}] )"
                    for i, (r, _) in enumerate(pairs, 1))
    checks, hards, saves, limits = [], [], [], []
    for i, (r, value) in enumerate(pairs, 1):
        words = len(r.label.split())
        checks.append(f'if ( "$__cl_{i}" !~ "{r.label} "* || $#__cl_{i} != {words + 3} ) '
                      "set __cl_f = 0")
        hard = f"$__cl_{i}[{words + 2}]"
        if value == UNLIMITED:
            hards.append(f'if ( "{hard}" != unlimited ) set __cl_f = 0')
        else:  # no number is compared with unlimited: csh would abort on it
            hards += [f'if ( "{hard}" != unlimited ) then',
                      f"    if ( {hard} < {int(value)} ) set __cl_f = 0", "endif"]
        name = protocol.saved_name(EVAL_LEVEL, protocol.key(r))
        saves.append(f"eval 'if ( ! $?{name} ) setenv {name} '\"$__cl_{i}[{words + 1}]\"")
        limits.append(f"limit {r.csh} {_csh_figure(r, value)}")
    return ["if ( $?__cl_rows && $__cl_f ) then",
            f"    if ( $#__cl_rows >= {last} ) then",
            f"        set {rows}",
            *_indent(checks, 2),
            "        if ( $__cl_f ) then",
            *_indent(hards, 3),
            "        endif",
            "        if ( $__cl_f ) then",
            *_indent([*limits, *saves, "goto __cl_end"], 3),
            "        endif",
            "    endif",
            "endif"]


def _trial(pairs: list[tuple[Resource, Value]]) -> str:
    """The fast path's ``limit`` commands, for the subshell that reads the rows."""
    return " && ".join(f"limit {r.csh} {_csh_figure(r, value)} >& /dev/null"
                       for r, value in pairs)


def _csh_figure(resource: Resource, value: Value) -> str:
    return UNLIMITED if value == UNLIMITED else str(int(value) // resource.block)


def _fast_deactivate(own: list[Resource]) -> list[str]:
    """This environment's saved values, and nothing else at the level: set back after one
    trial."""
    others = [r for r in RESOURCES if r not in own]
    keys = [*(protocol.key(r) for r in [*own, *others]), HARD_KEY]
    flags = "".join(f"$?{protocol.saved_name(EVAL_LEVEL, key)}" for key in keys)
    expected = "1" * len(own) + "0" * (len(others) + 1)
    lines = [f"eval 'set __cl_o = \"{flags}\"'",
             f'if ( "$__cl_o" == "{expected}" ) then']
    if not own:
        return [*lines, "    goto __cl_end", "endif"]
    loads = " ".join(f'__cl_{i} = "${protocol.saved_name(EVAL_LEVEL, protocol.key(r))}"'
                     for i, r in enumerate(own, 1))
    body = [f"eval 'set {loads}'", "set __cl_f = 1"]
    converts, limits = [], []
    for i, r in enumerate(own, 1):
        body.append(f'if ( "$__cl_{i}" == "" ) set __cl_f = 0')
        body.append(f'if ( "$__cl_{i}" != unlimited && "$__cl_{i}" =~ *[^0-9]* ) '
                    "set __cl_f = 0")
        if r.block != 1:
            converts.append(f'if ( "$__cl_{i}" != unlimited ) @ __cl_{i} = $__cl_{i} / {r.block}')
        limits.append(f"limit {r.csh} $__cl_{i}")
    unsets = [f"unsetenv {protocol.saved_name('${__cl_lvl}', protocol.key(r))}" for r in own]
    return [*lines, *_indent(body),
            "    if ( $__cl_f ) then",
            *_indent(converts, 2),
            *_indent(_trial_then(limits, unsets), 2),
            "    endif",
            "endif"]


def _flat(text: str) -> str:
    """``text`` without indentation: the fast path's ``goto`` has tcsh read every line of the
    full script it passes over, and leading blanks made a tenth of that work."""
    return "".join(line.lstrip(" ") for line in text.splitlines(keepends=True))


def render_activate(limits: LimitSet) -> str:
    """The ``activate.d`` script applying ``limits`` (nothing but the header without any)."""
    if not len(limits):
        return header(True, SHELL)
    lines: list[str] = []
    pairs = [(r, limit.soft) for r, limit in limits.items_with_resource()
             if limit.hard is None and limit.soft is not None]
    rows = READ_ROWS
    if len(pairs) == len(limits):
        lines += _fast_activate(pairs)
        rows = TRIAL_ROWS.format(trial=_trial(pairs))
    lines += _full_activate(limits)
    return header(True, SHELL) + _flat(cleaned(SETUP + rows + "\n".join(lines) + "\n" + END))


def render_deactivate(limits: LimitSet) -> str:
    """The ``deactivate.d`` script: restores every limit saved at this level."""
    own = [r for r, _ in limits.items_with_resource()]
    lines = [*_fast_deactivate(own), *_full_deactivate()]
    lines.append(f"unsetenv _CONDA_LIMITS_${{__cl_lvl}}_{HARD_KEY}")
    return header(False, SHELL) + _flat(cleaned(SETUP + "\n".join(lines) + "\n" + END))


def cleaned(script: str) -> str:
    """``script`` and, at its end, an ``unset`` of every temporary variable it uses."""
    names = protocol.temporaries(script)
    lines = [" ".join(names[i:i + 12]) for i in range(0, len(names), 12)]
    return script + "unset " + " \\\n".join(lines) + "\n"


__all__ = ["render_activate", "render_deactivate"]
