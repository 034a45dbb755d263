"""What a job asks Slurm for: ``srun``/``sbatch`` options from an environment's settings.

Ours come from validated numbers (:class:`Request`); the user's own ``srun`` options arrive as
one string (:func:`user_options`), are split like a shell would and never pass through a
shell. :func:`merged` puts the user's options after ours and drops each of ours that the
user's options already decide (``--mem`` against any of ``--mem``, ``--mem-per-cpu``,
``--mem-per-gpu``, which Slurm refuses together), so the user's always win.
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import Kind, LimitsError
from ..limits.cpu import CpuSettings
from ..limits.model import LimitSet

#: Options that decide the same thing: if the user gives one, ours of that group is dropped.
GROUPS: dict[str, tuple[str, ...]] = {
    "mem": ("--mem", "--mem-per-cpu", "--mem-per-gpu"),
    "cpus": ("--cpus-per-task", "-c"),
    "name": ("--job-name", "-J"),
    "comment": ("--comment",),
    "export": ("--export",),
}
# srun's options that take no argument (or only an optional one, after "="): a word after
# one of them is not its value.
_NO_ARGUMENT_LONG = frozenset({
    "--compress", "--contiguous", "--disable-status", "--exact", "--exclusive", "--help",
    "--hold", "--immediate", "--kill-on-bad-exit", "--label", "--multi-prog", "--nice",
    "--no-allocate", "--no-kill", "--overcommit", "--overlap", "--oversubscribe",
    "--preserve-env", "--propagate", "--pty", "--quiet", "--quit-on-interrupt", "--reboot",
    "--resv-ports", "--send-libs", "--spread-job", "--test-only", "--unbuffered", "--usage",
    "--use-min-nodes", "--verbose", "--version",
})
_NO_ARGUMENT_SHORT = frozenset("EHhkKlOQsuvVXZI")


class SlurmOptionsError(LimitsError, ValueError):
    """The user's srun options cannot be used; the message says why."""

    kind = Kind.RUN
    heading = "Cannot run the command with Slurm"


@dataclass(frozen=True)
class Request:
    """What conda-limits asks Slurm for on the environment's behalf."""

    mem: int | None = None  # bytes, the job's resident memory (--mem)
    cpus: int | None = None  # CPUs per task (--cpus-per-task)

    @classmethod
    def of(cls, limits: LimitSet, mem: int | None = None) -> Request:
        """What ``limits`` (its mem and CPU settings) ask Slurm for; ``mem`` (bytes), when
        given, wins over theirs."""
        from ..limits.mem import cap

        return cls(mem if mem is not None else cap(limits.mem), cpus_for(limits.cpu))

    def options(self) -> list[str]:
        out = []
        if self.mem is not None:
            out.append(f"--mem={slurm_size(self.mem)}")
        if self.cpus is not None:
            out.append(f"--cpus-per-task={int(self.cpus)}")
        return out


def slurm_size(size: int) -> str:
    """A byte count as Slurm's ``--mem`` takes it: whole MiB, GiB or TiB (rounded up to MiB;
    Slurm counts memory in MiB and ``--mem=0`` would mean the whole node)."""
    mib = max(1, math.ceil(int(size) / 2**20))
    for suffix, factor in (("T", 2**20), ("G", 2**10)):
        if mib % factor == 0:
            return f"{mib // factor}{suffix}"
    return f"{mib}M"


def cpus_for(cpu: CpuSettings) -> int | None:
    """CPUs per task for a core quota (rounded up), else a CPU set's size, else a thread
    count; ``None`` when none is set."""
    if cpu.cores is not None:
        return cpu.cores.ceil()
    if cpu.cpuset is not None:
        return len(cpu.cpuset)
    return cpu.threads


def user_options(text: str | None) -> list[str]:
    """The user's srun options, split as a POSIX shell splits words (no expansion)."""
    if not text:
        return []
    try:
        words = shlex.split(text)
    except ValueError as error:
        raise SlurmOptionsError(f"cannot read the srun options {text!r}: {error}") from None
    check_options_only(words)
    return words


def check_options_only(words: Sequence[str]) -> None:
    """Refuse a word that is neither an option nor an option's value (a command: it goes
    after ``--``), and ``--`` itself."""
    takes_value, option = False, ""
    for word in words:
        if "\0" in word:
            raise SlurmOptionsError("the srun options contain a NUL character")
        if word == "--":
            raise SlurmOptionsError("the srun options must not contain `--`; put the command "
                                    "after the `--` of conda's own command line")
        if takes_value and word.startswith("-"):
            # srun would take this word as the option's value (getopt does): a job named
            # "--time=5", or a partition "-l", is never what was meant.
            raise _missing_value(option, f"is followed by {word!r}")
        if word.startswith("--"):
            takes_value = "=" not in word and word not in _NO_ARGUMENT_LONG
        elif word.startswith("-") and len(word) > 1:
            takes_value = _short_takes_next(word[1:])
        elif takes_value:
            takes_value = False
            continue
        else:
            raise SlurmOptionsError(
                f"{word!r} in the srun options is not an option: only srun options go there; "
                "the command goes after `--`")
        option = word
    if takes_value:
        # Without a value, srun would take the `--` conda-limits puts before the command.
        raise _missing_value(option, "ends the srun options")


def _missing_value(option: str, where: str) -> SlurmOptionsError:
    return SlurmOptionsError(f"the srun option {option!r} takes a value, but {where}: give "
                             f"its value after it (e.g. {option.split('=')[0]} VALUE)")


def _short_takes_next(letters: str) -> bool:
    """Whether a bundle of short options (``-lc4``, ``-c``) takes the next word as a value."""
    for index, letter in enumerate(letters):
        if letter not in _NO_ARGUMENT_SHORT:
            return index == len(letters) - 1  # the rest of the bundle is its value, if any
    return False


def given_groups(words: Sequence[str]) -> set[str]:
    """The :data:`GROUPS` the user's options decide."""
    found = set()
    for word in words:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            for group, names in GROUPS.items():
                # getopt takes any unambiguous prefix of a long option: --mem-per-c is one
                if any(n.startswith("--") and len(name) > 2 and n.startswith(name)
                       for n in names):
                    found.add(group)
        elif word.startswith("-") and len(word) > 1:
            for letter in word[1:]:
                for group, names in GROUPS.items():
                    if f"-{letter}" in names:
                        found.add(group)
                if letter not in _NO_ARGUMENT_SHORT:
                    break  # the rest of the bundle is this option's value
    return found


def merged(ours: Sequence[str], users: Sequence[str]) -> list[str]:
    """Our options the user's do not decide, then the user's (later options win in srun)."""
    decided = given_groups(users)
    kept = [option for option in ours if not (given_groups([option]) & decided)]
    return [*kept, *users]
