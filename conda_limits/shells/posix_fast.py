"""The fast paths at the top of the ``.sh`` scripts: the common case in as few statements as can be.

A shell parses a sourced file as it goes, and every statement costs (bash spends some 40,000
instructions on the simplest one); a fast path ends the script with ``return 0`` before the
shell reaches the full script (:mod:`conda_limits.shells.posix`), or falls through to it,
which does everything again (harmlessly for what is done already) and says what is wrong.
bash and zsh each have their own block, in plain code (``eval`` would cost them a second
parse): the shell whose block comes second parses the first one's for nothing, so bash's
comes first in activation and zsh's in deactivation, one such cost per cycle each. ksh93
parses the whole file before it runs any of it, so every block is written in text it can
parse (``${(P)name}`` yes, zsh's nested ``${${...}}`` no):

- activation, for soft values only: the rows of ``/proc/self/limits`` (``mapfile`` in bash;
  in zsh and ksh93 the text, ``$(<file)`` without a fork, each row at its fixed offset; one
  ``read`` loop elsewhere), each checked by its label (and, for ``unlimited``, an unlimited
  hard limit) in one ``case``; then the previous soft values are saved unless this level
  saved them already, and one ``ulimit`` sets the limits. A value above the hard limit makes
  ``ulimit`` fail in bash, dash and ksh; zsh would raise the hard limit where allowed, so
  zsh compares first. zsh first adopts the limits its children get (``limit -s``: it keeps
  a hard limit lowered with ``ulimit -H`` in its table and applies it to itself only on its
  next change).
- deactivation: the saved soft values of this environment's limits go back with one
  ``ulimit`` unless a hard limit was lowered; if anything else is saved at this level (the
  environment's limits changed while it was active), the full script restores that.

The level (one digit; any other goes to the full script) is in the variable names: bash and
zsh reach them through a variable holding the name (``${!name}``, ``${(P)name}``) or test
them with ``[[ -v`` (bash 4.2, zsh 5.3; an older zsh fails the test and falls through, its
complaint sent to /dev/null with the rest), dash and ksh through one ``eval``. zsh declares
its variables with ``typeset -g``: conda sources the scripts inside a function, where
``warn_create_global`` would warn of each. An empty saved value reads as ``x``, which
``ulimit`` refuses (an empty one would set 0); a size is checked to be digits before any
arithmetic. The ``2147483647 + 1`` test keeps mksh, which computes in 32 bits, out. Nothing
here can fail under ``set -e`` (failures are ``if`` or ``case`` conditions), every variable
is read as ``${X-}`` for ``set -u``, and every name is removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..limits.resources import Resource
from ..limits.values import UNLIMITED, Value
from . import protocol
from .protocol import HARD_COLUMN, HARD_KEY, ROW, ROW_WIDTH, SOFT_COLUMN

# The level, digits or 0 (as the full script reads it).
LEVEL = ("  case ${CONDA_SHLVL:-0} in *[!0-9]*) __cl_l=0 ;; "
         "*) __cl_l=${CONDA_SHLVL:-0} ;; esac\n")
# A level the fast paths take: one digit (any other goes to the full script).
LEVEL_DIGIT = "[0-9]"
# Empty unless this is xonsh's source-bash (a bash subprocess; see posix.XONSH).
XONSH = "${XONSH_VERSION:+${BASH_EXECUTION_STRING-}}"
# bash counts -f/-c in 1024-byte blocks, but in POSIX mode; dash, zsh and ksh in 512.
BASH_BLOCK = "case :${SHELLOPTS-}: in *:posix:*) __cl_b=512 ;; *) __cl_b=1024 ;; esac"
# BASH_BLOCK in the block for bash and zsh: zsh counts -f/-c in 512 too.
SH_BLOCK = ("case ${ZSH_VERSION:+zsh}:${SHELLOPTS-}: in zsh*|*:posix:*) __cl_b=512 ;; "
            "*) __cl_b=1024 ;; esac")
# The process limit is -p in dash (and mksh, busybox), -u in ksh93.
NPROC_LETTER = "__cl_p=p; case ${KSH_VERSION-} in ''|*MIRBSD*|*PD\\ KSH*) ;; *) __cl_p=u ;; esac"
# Neither bash nor zsh (they have their own blocks) nor mksh, which computes in 32 bits.
OTHER_SH = '[ -z "${BASH_VERSION-}${ZSH_VERSION-}" ] && [ "$((2147483647 + 1))" -gt 0 ]'
SKIP_LABEL = "?" * SOFT_COLUMN


@dataclass(frozen=True)
class Item:
    """One limit of a fast path and the script variables it uses."""

    resource: Resource
    value: Value  # the soft value to apply (activation); unused in deactivation
    index: int  # 1, 2...

    @property
    def key(self) -> str:
        return protocol.key(self.resource)

    @property
    def row(self) -> int:
        return ROW[self.resource.key]

    @property
    def var(self) -> str:
        """The limit's row, then its soft value."""
        return f"__cl_{self.index}"

    @property
    def hard(self) -> str:
        """Its row's hard value (zsh's activation)."""
        return f"__cl_h{self.index}"

    @property
    def offset(self) -> int:
        """Where its row starts in the text of ``/proc/self/limits``."""
        return ROW_WIDTH * self.row

    @property
    def name(self) -> str:
        """The name of its saved variable (``_CONDA_LIMITS_<level>_<KEY>``)."""
        return f"__cl_n{self.index}"

    def saved(self) -> str:
        """That name as script text, with the level in ``$__cl_l``."""
        return protocol.saved_name("${__cl_l}", self.key)

    @property
    def sized(self) -> bool:
        """Whether ``ulimit`` counts it in blocks of bytes (a size)."""
        return self.resource.block != 1

    def pattern(self) -> str:
        """A ``case`` pattern for the row: its label, and for ``unlimited`` an unlimited hard
        limit (a finite one is left to the full script)."""
        label = self.resource.label
        if self.value == UNLIMITED:
            return f'"{label} "{"?" * (HARD_COLUMN - len(label) - 1)}unlimited*'
        return f'"{label} "*'

    def letter(self, nproc: str) -> str:
        """The ``ulimit`` option; ``nproc``: the process limit's in this shell."""
        return nproc if self.resource.key == "nproc" else self.resource.ulimit

    def block(self, fblock: int | str) -> int | str:
        """Bytes per ``ulimit`` unit; ``fblock``: -f/-c's, or the variable holding it."""
        return fblock if self.resource.posix_block is not None else self.resource.block

    def argument(self, fblock: int | str, nproc: str) -> str:
        """``-X N`` setting the value (activation)."""
        letter, block = self.letter(nproc), self.block(fblock)
        if self.value == UNLIMITED:
            return f"-{letter} unlimited"
        if isinstance(block, str):
            return f'-{letter} "$(({int(self.value)} / {block}))"'
        return f"-{letter} {int(self.value) // block}"


def items(pairs: Sequence[tuple[Resource, Value]]) -> list[Item]:
    return [Item(resource, value, i) for i, (resource, value) in enumerate(pairs, 1)]


def _fblock(limits: list[Item], statement: str) -> tuple[int | str, str, list[str]]:
    """bash's (and zsh's) bytes per -f/-c unit: the variable that ``statement``
    (:data:`BASH_BLOCK` or :data:`SH_BLOCK`) sets where a limit counts in them, with that
    statement (and its ``; ``) and the names it uses; else 1024 and nothing."""
    if any(s.resource.posix_block is not None for s in limits):
        return "__cl_b", statement + "; ", ["__cl_b"]
    return 1024, "", []


def _nproc(limits: list[Item]) -> tuple[str, str, list[str]]:
    """dash's and ksh's process limit letter: script text, the statements setting it (with
    their ``; ``), and the names they use."""
    if any(s.resource.key == "nproc" for s in limits):
        return "$__cl_p", NPROC_LETTER + "; ", ["__cl_p"]
    return "u", "", []


def _names(*groups: Sequence[str]) -> str:
    return " ".join(name for group in groups for name in group if name)


def _patterns(limits: list[Item]) -> str:
    return "@".join(s.pattern() for s in limits)


def _done(cleanup: str, indent: str) -> str:
    """The end of a fast path that worked: remove its names, leave the script."""
    return f"{indent}unset {cleanup} || :; return 0"


# -- activation ---------------------------------------------------------------------------


def bash_activate(limits: list[Item]) -> str:
    rows = "@".join(f"${{__cl_r[{s.row}]-}}" for s in limits)
    fblock, units, unit_names = _fblock(limits, BASH_BLOCK)
    values = " ".join(f"{s.var}=${{__cl_r[{s.row}]:{SOFT_COLUMN}}}" for s in limits)
    names = " ".join(f"{s.name}={s.saved()}" for s in limits)
    exports = " ".join(f'"${s.name}=${{!{s.name}:-${{{s.var}%% *}}}}"' for s in limits)
    args = " ".join(s.argument(fblock, "u") for s in limits)
    cleanup = _names(["__cl_l", "__cl_r"], [s.var for s in limits], [s.name for s in limits],
                     unit_names)
    return (f'if [ -n "${{BASH_VERSION-}}" ] && '
            f"[[ -r /proc/self/limits ]] && mapfile -t __cl_r </proc/self/limits; then\n"
            f"  __cl_l=${{CONDA_SHLVL:-0}}\n"
            f"  case $__cl_l@{XONSH}@{rows} in {LEVEL_DIGIT}@@{_patterns(limits)})\n"
            f"    {units}{values} {names}\n"
            f"    if export {exports} && ulimit -S {args} 2>/dev/null; then"
            f"{_done(cleanup, ' ')}; fi ;;\n"
            f"  esac\n"
            f"fi\n")


def zsh_activate(limits: list[Item]) -> str:
    """zsh's block: the text of ``/proc/self/limits`` in ``__cl_t`` (``$(<file)``), each
    limit's row at its offset. ``typeset -g``: no warning where ``warn_create_global`` is
    set (conda sources the script inside a function)."""
    fields = "@".join(f"${{__cl_t:{s.offset}:{SOFT_COLUMN}}}"
                      + (f"${{__cl_t:{s.offset + HARD_COLUMN}:9}}" if s.value == UNLIMITED else "")
                      for s in limits)
    labels = "@".join(f'"{s.resource.label.ljust(SOFT_COLUMN)}"'
                      + (UNLIMITED if s.value == UNLIMITED else "") for s in limits)
    finite = [s for s in limits if s.value != UNLIMITED]
    values = " ".join([*(f'{s.var}="${{__cl_t:{s.offset + SOFT_COLUMN}:20}}"' for s in limits),
                       *(f'{s.hard}="${{__cl_t:{s.offset + HARD_COLUMN}:20}}"' for s in finite),
                       *(f"{s.name}={s.saved()}" for s in limits)])
    # Above the hard limit zsh would raise it (where allowed) instead of failing.
    within = " && ".join(f"${{{s.hard}/unlimited/{int(s.value)}}} >= {int(s.value)}"
                         for s in finite)
    exports = " ".join(f'"${s.name}=${{(P){s.name}:-${{{s.var}%% *}}}}"' for s in limits)
    args = " ".join(s.argument(512, "u") for s in limits)
    cleanup = _names(["__cl_t", "__cl_l"], [s.var for s in limits], [s.hard for s in finite],
                     [s.name for s in limits])
    return (f'if [ -n "${{ZSH_VERSION-}}" ] && [[ -r /proc/self/limits ]]; then\n'
            f"  limit -s || :\n"
            f'  typeset -g __cl_t="$(</proc/self/limits)" __cl_l="${{CONDA_SHLVL:-0}}"\n'
            f"  case $__cl_l@{fields} in {LEVEL_DIGIT}@{labels})\n"
            f"    typeset -g {values}\n"
            f"    if {f'(( {within} )) && ' if within else ''}export {exports} && "
            f"ulimit -S {args}; then{_done(cleanup, ' ')}; fi ;;\n"
            f"  esac\n"
            f"fi\n")


def _eval_save(limits: list[Item]) -> str:
    """One eval exporting each limit's soft value (its variable up to the first space)
    unless this level saved one."""
    exports = " ".join(f'{s.saved()}=\\"\\${{{s.saved()}:-\\${{{s.var}%% *}}}}\\"'
                       for s in limits)
    return f'eval "export {exports}"'


def posix_activate(limits: list[Item]) -> str:
    last = max(limits, key=lambda s: s.row)
    cases = " ".join(f'"{s.resource.label} "*) {s.var}=$__cl_r'
                     + ("; break" if s is last else "") + " ;;"
                     for s in sorted(limits, key=lambda s: s.row))
    # ksh93 reads the file without a fork ($(<file)) faster than it reads its lines.
    rows = " ".join(f"{s.var}=${{__cl_r:{s.offset}:{ROW_WIDTH - 1}}}" for s in limits)
    nproc, units, unit_names = _nproc(limits)
    values = " ".join(f"{s.var}=${{{s.var}#{SKIP_LABEL}}}" for s in limits)
    sets = " && ".join(f"ulimit -S {s.argument(512, nproc)}" for s in limits)
    cleanup = _names(["__cl_l", "__cl_r"], [s.var for s in limits], unit_names)
    return (f"if {OTHER_SH} && [ -r /proc/self/limits ]; then\n"
            f"{LEVEL}"
            f"  case ${{KSH_VERSION-}} in *93*) __cl_r=$(</proc/self/limits); {rows} ;;\n"
            f"  *) {' '.join(f'{s.var}=' for s in limits)}\n"
            f"    while IFS= read -r __cl_r; do case $__cl_r in {cases} esac; "
            f"done </proc/self/limits ;;\n"
            f"  esac\n"
            f"  case {'@'.join(f'${s.var}' for s in limits)} in {_patterns(limits)})\n"
            f"    {units}{values}\n"
            f"    {_eval_save(limits)}\n"
            f"    if {{ {sets}; }} 2>/dev/null; then{_done(cleanup, ' ')}; fi ;;\n"
            f"  esac\n"
            f"fi\n")


def activate(pairs: Sequence[tuple[Resource, Value]]) -> str:
    """The activation fast paths for soft values only, bash's first."""
    limits = items(pairs)
    return bash_activate(limits) + zsh_activate(limits) + posix_activate(limits)


# -- deactivation -------------------------------------------------------------------------


def _sizes(limits: list[Item], fblock: int | str, saved: str, indent: str = "  ") -> str:
    """Statements setting each size's variable to its saved value in ``ulimit`` units
    (``x`` if that is not digits or ``unlimited``), one per line; ``saved`` is the
    expansion of a saved value, with ``{name}`` for the item's name variable and ``{var}``
    for its own."""
    lines = ""
    for s in limits:
        if s.sized:
            value = saved.format(name=s.name, var=s.var)
            lines += (f"{indent}case {value} in unlimited) {s.var}=unlimited ;; ''|*[!0-9]*) "
                      f"{s.var}=x ;; *) {s.var}=$(({value} / {s.block(fblock)})) ;; esac\n")
    return lines


def _restore(limits: list[Item], nproc: str, saved_or_x: str) -> str:
    """``ulimit -S -X V ...`` for the saved values: a size from its variable, a count or
    time as ``saved_or_x`` expands it (``x`` when empty)."""
    args = " ".join(f'-{s.letter(nproc)} "${s.var}"' if s.sized
                    else f'-{s.letter(nproc)} "{saved_or_x.format(name=s.name, var=s.var)}"'
                    for s in limits)
    return f"ulimit -S {args}" if limits else ":"


def _others(limits: list[Item], every: Sequence[Resource]) -> str:
    """For an ``eval "...__cl_o=<this>"``: the saved values at this level of the keys that
    are not this environment's, and of ``HARD`` (a lowered hard limit), one after another;
    where any is saved, the full script restores it."""
    own = {s.resource.key for s in limits}
    keys = [protocol.key(r) for r in every if r.key not in own] + [HARD_KEY]
    return "".join(f"\\${{{protocol.saved_name('${__cl_l}', key)}-}}" for key in keys)


def sh_deactivate(limits: list[Item], every: Sequence[Resource]) -> str:
    """bash's and zsh's block, one for both (neither parses the other's): one eval reads the
    saved values (``__cl_1``...) and any other saved at this level (``__cl_o``); zsh
    declares the names first (``typeset -g``)."""
    fblock, units, unit_names = _fblock(limits, SH_BLOCK)
    loads = " ".join(f"{s.var}=\\${{{s.saved()}-}}" for s in limits)
    unsets = " ".join(f'"{s.saved()}"' for s in limits)
    temporaries = ["__cl_l", "__cl_o", *(s.var for s in limits), *unit_names]
    cleanup = _names([unsets], temporaries)
    return (f'if [ -n "${{BASH_VERSION-}}${{ZSH_VERSION-}}" ]; then\n'
            f'  [[ -z ${{ZSH_VERSION-}} ]] || {{ limit -s; typeset -g {" ".join(temporaries)}; }} || :\n'
            f"  __cl_l=${{CONDA_SHLVL:-0}}\n"
            f"  case $__cl_l in {LEVEL_DIGIT})\n"
            f'    {units}eval "{loads} __cl_o={_others(limits, every)}"\n'
            + _sizes(limits, fblock, "${{{var}}}", "    ")
            + f'    if [[ -z $__cl_o ]] && {_restore(limits, "u", "${{{var}:-x}}")}; then\n'
            f"    {_done(cleanup, '  ')}\n    fi 2>/dev/null ;;\n"
            f"  esac\n"
            f"fi\n")


def posix_deactivate(limits: list[Item], every: Sequence[Resource]) -> str:
    """dash, ksh: ``__cl_n1``... hold the saved values themselves, read with one eval."""
    nproc, units, unit_names = _nproc(limits)
    loads = " ".join(f"{s.name}=\\${{{s.saved()}-}}" for s in limits)
    sets = " && ".join(f'ulimit -S -{s.letter(nproc)} "${s.var}"' if s.sized
                       else f'ulimit -S -{s.letter(nproc)} "${{{s.name}:-x}}"'
                       for s in limits) or ":"
    unsets = " ".join(f'"{s.saved()}"' for s in limits)
    cleanup = _names([unsets, "__cl_l", "__cl_o"], [s.var for s in limits if s.sized],
                     [s.name for s in limits], unit_names)
    return (f"if {OTHER_SH}; then\n"
            f"{LEVEL}"
            f'  {units}eval "{loads} __cl_o={_others(limits, every)}"\n'
            f"{_sizes(limits, 512, '${{{name}}}')}"
            f'  if [ -z "$__cl_o" ] && {{ {sets}; }} 2>/dev/null; then{_done(cleanup, " ")}; fi\n'
            f"fi\n")


def deactivate(keys: Sequence[Resource], every: Sequence[Resource]) -> str:
    """The deactivation fast paths for the limits of ``keys`` (``every``: all resources);
    with no keys, they only make sure that nothing is saved at this level."""
    limits = [Item(r, 0, i) for i, r in enumerate(keys, 1)]
    return sh_deactivate(limits, every) + posix_deactivate(limits, every)


#: Names the fast paths may leave behind when they fall through (the full script removes them).
NAMES = ("__cl_r", "__cl_o", "__cl_t", *(f"__cl_{i}" for i in range(1, 10)),
         *(f"__cl_n{i}" for i in range(1, 10)), *(f"__cl_h{i}" for i in range(1, 10)))
