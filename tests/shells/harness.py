"""Run snippets in real shells and read the limits a child process of the shell sees.

A :class:`Session` collects commands written once and spelled per shell family (POSIX sh,
fish, csh); :meth:`Session.run` writes them to a file, runs it in the shell (no rc files) and
splits the output at the snapshots taken along the way. A snapshot is what ``cat`` (a child of
the shell) reads in ``/proc/self/limits``, plus the shell's ``_CONDA_LIMITS_*`` variables and
any leftover name with conda-limits' internal prefix.
"""

from __future__ import annotations

import functools
import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conda_limits.limits import resources
from conda_limits.limits.values import UNLIMITED, Value
from conda_limits.shells import protocol

INTERNAL_PREFIXES = (protocol.PREFIX, "__conda_limits")
SAVED_PREFIX = protocol.SAVED_PREFIX
MARK = "@@conda-limits-test@@"

# Internal function names a script may define (checked for leftovers in shells that cannot
# list functions).
SH_FUNCTIONS = ("__cl_main", "__cl_w", "__cl_above", "__cl_set", "__cl_get", "__cl_apply",
                "__cl_restore")


@dataclass(frozen=True)
class Shell:
    """One shell binary and how to run a script file in it without user configuration."""

    name: str  # test id
    family: str  # "sh", "fish" or "csh"
    argv: tuple[str, ...]  # prefix: the script path is appended

    @property
    def binary(self) -> str | None:
        return shutil.which(self.argv[0])

    def skip_reason(self) -> str | None:
        if self.binary is None:
            return f"{self.argv[0]} is not installed (CI installs it from Debian's packages)"
        return None

    def required(self) -> Shell:
        """This shell, or a skip of the test that needs it."""
        reason = self.skip_reason()
        if reason:
            pytest.skip(reason)
        return self


BASH = Shell("bash", "sh", ("bash", "--noprofile", "--norc"))
BASH_POSIX = Shell("bash-posix", "sh", ("bash", "--posix", "--noprofile", "--norc"))
DASH = Shell("dash", "sh", ("dash",))
ZSH = Shell("zsh", "sh", ("zsh", "-f"))
KSH = Shell("ksh", "sh", ("ksh",))
MKSH = Shell("mksh", "sh", ("mksh",))
FISH = Shell("fish", "fish", ("fish", "--no-config"))
TCSH = Shell("tcsh", "csh", ("tcsh", "-f"))

SH_SHELLS = (BASH, BASH_POSIX, DASH, ZSH, KSH)
ALL_SHELLS = (*SH_SHELLS, FISH, TCSH)
SUFFIX = {"sh": protocol.POSIX_SUFFIX, "fish": protocol.FISH_SUFFIX, "csh": protocol.CSH_SUFFIX}


# The bytes-per-unit of `ulimit`/`limit` for -f and -c, per shell (for tests that set a
# baseline in the shell's own units).
def file_block(shell: Shell) -> int:
    return 1024 if shell in (BASH, FISH, TCSH) else 512


@dataclass
class Snapshot:
    """What the shell's child saw at one point, and the shell's own variables."""

    limits: dict[str, tuple[Value, Value]]  # resource key -> (soft, hard)
    saved: dict[str, str]  # _CONDA_LIMITS_* variables (exported, as a child sees them)
    leftovers: list[str]  # names with an internal prefix still defined in the shell

    def soft(self, key: str) -> Value:
        return self.limits[key][0]

    def hard(self, key: str) -> Value:
        return self.limits[key][1]

    def softs(self) -> dict[str, Value]:
        return {key: pair[0] for key, pair in self.limits.items()}


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    snapshots: dict[str, Snapshot]
    lines: list[str] = field(default_factory=list)  # stdout lines outside snapshots

    def __getitem__(self, tag: str) -> Snapshot:
        return self.snapshots[tag]

    def warnings(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("conda-limits:")]


def parse_limits(text: str) -> dict[str, tuple[Value, Value]]:
    """``/proc/self/limits`` text -> resource key -> (soft, hard)."""
    by_label = {r.label: r.key for r in resources.RESOURCES}
    out: dict[str, tuple[Value, Value]] = {}
    for line in text.splitlines()[1:]:
        label, rest = line[:25].rstrip(), line[26:].split()
        if label in by_label:
            out[by_label[label]] = (_value(rest[0]), _value(rest[1]))
    return out


def _value(text: str) -> Value:
    return UNLIMITED if text == UNLIMITED else int(text)


class Session:
    """Commands for one shell process, spelled for its family."""

    def __init__(self, shell: Shell) -> None:
        self.shell = shell
        self.family = shell.family
        self.lines: list[str] = []

    # -- building blocks ---------------------------------------------------------------
    def raw(self, text: str) -> Session:
        self.lines.append(text)
        return self

    def level(self, level: int) -> Session:
        return self.setenv("CONDA_SHLVL", str(level))

    def setenv(self, name: str, value: str) -> Session:
        if self.family == "fish":
            return self.raw(f"set -gx {name} {value}")
        if self.family == "csh":
            return self.raw(f"setenv {name} {value}")
        return self.raw(f"{name}={value}; export {name}")

    def source(self, path: str | os.PathLike[str]) -> Session:
        word = "." if self.family == "sh" else "source"
        return self.raw(f'{word} "{path}"')

    def activate(self, prefix: Path, level: int) -> Session:
        """conda's part of an activation: the new level and prefix, then the activate
        scripts."""
        return self.level(level).setenv_quoted("CONDA_PREFIX", str(prefix)).source(
            script(prefix, "activate", self.family))

    def deactivate(self, prefix: Path, level: int) -> Session:
        """conda's part of a deactivation: deactivate scripts at the old level, with the
        prefix of the environment being left (conda changes it after them)."""
        return self.level(level).setenv_quoted("CONDA_PREFIX", str(prefix)).source(
            script(prefix, "deactivate", self.family))

    def refuse_limits(self) -> Session:
        """Make every limit change fail from here on, as a kernel refusal would."""
        if self.family == "fish":
            return self.raw("function ulimit; return 1; end")
        if self.family == "csh":
            return self.raw("alias limit 'sh -c \"exit 1\"'")
        return self.raw("ulimit() { return 1; }")

    def log_limits(self, log: Path) -> Session:
        """From here on, append every limit command the shell runs to ``log`` (one line,
        ``ulimit ARGS`` or ``limit ARGS``), then run it."""
        if self.family == "fish":
            return self.raw(f"function ulimit; echo ulimit $argv >> '{log}'; "
                            "builtin ulimit $argv; end")
        if self.family == "csh":
            return self.raw(f"alias limit 'echo limit \\!* >> {log}; \\limit \\!*'")
        run = "builtin" if self.shell in (BASH, BASH_POSIX, ZSH) else "command"
        return self.raw(f'ulimit() {{ echo "ulimit $*" >> \'{log}\'; {run} ulimit "$@"; }}')

    def lower_hard_nofile(self, value: int) -> Session:
        """Lower the shell's hard open-files limit to ``value``."""
        if self.family == "csh":
            return self.raw(f"limit -h descriptors {value}")
        return self.raw(f"ulimit -H -n {value}")

    def allow_limits(self) -> Session:
        if self.family == "fish":
            return self.raw("functions -e ulimit")
        if self.family == "csh":
            return self.raw("unalias limit")
        return self.raw("unset -f ulimit")

    def setenv_quoted(self, name: str, value: str) -> Session:
        """Set ``name`` to ``value`` literally (no ' or ! in it)."""
        assert "'" not in value and "!" not in value
        if self.family == "fish":
            return self.raw(f"set -gx {name} '{value}'")
        if self.family == "csh":
            return self.raw(f"setenv {name} '{value}'")
        return self.raw(f"{name}='{value}'; export {name}")

    def echo(self, text: str) -> Session:
        return self.raw(f"echo {text}")

    def snapshot(self, tag: str) -> Session:
        self.raw(f"echo '{MARK} {tag}'")
        self.raw("cat /proc/self/limits")
        self.raw(f"echo '{MARK}:env'")
        self.raw("env")
        self.raw(f"echo '{MARK}:internal'")
        self.lines.extend(self._internal_listing())
        return self.raw(f"echo '{MARK}:done'")

    def _internal_listing(self) -> list[str]:
        if self.family == "fish":
            return ["set -n", "functions -a -n"]
        if self.family == "csh":
            return ["set", "alias"]
        # `set` lists shell variables; `command -v` names a defined function.
        return ["set", *(f"command -v {name} || :" for name in SH_FUNCTIONS)]

    # -- running -------------------------------------------------------------------------
    def run(self, workdir: Path, *, limits: Mapping[int, tuple[int, int]] | None = None,
            env: Mapping[str, str] | None = None, timeout: float = 120) -> Result:
        """Run the session in a fresh shell whose starting limits are ``limits``
        (``resource.RLIMIT_*`` -> (soft, hard), set in the child before exec)."""
        path = workdir / f"session-{self.shell.name}-{len(list(workdir.iterdir()))}"
        path.write_text("\n".join(self.lines) + "\n")
        environ = clean_environ(env)

        def start() -> None:
            for rlimit, (soft, hard) in (limits or {}).items():
                resource.setrlimit(rlimit, (soft, hard))

        proc = subprocess.run([*self.shell.argv, str(path)], capture_output=True, text=True,
                              env=environ, timeout=timeout, preexec_fn=start, cwd=workdir)
        return _split(proc)


def clean_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without conda's or conda-limits' variables."""
    drop = ("CONDA_", "_CONDA_", "_CE_", "BASH_ENV", "ENV", "XONSH", "ZDOTDIR")
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith(drop) and not k.startswith(SAVED_PREFIX)}
    environ.setdefault("HOME", "/tmp")
    environ.update(extra or {})
    return environ


def script(prefix: Path, which: str, family: str) -> Path:
    folder = protocol.ACTIVATE_D if which == "activate" else protocol.DEACTIVATE_D
    return prefix / folder / f"{protocol.SCRIPT_NAME}{SUFFIX[family]}"


def _split(proc: subprocess.CompletedProcess[str]) -> Result:
    snapshots: dict[str, Snapshot] = {}
    free: list[str] = []
    tag: str | None = None
    section: str | None = None
    parts: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        if line == f"{MARK}:done" and tag is not None:
            snapshots[tag] = _snapshot(parts)
            tag = section = None
        elif line in (f"{MARK}:env", f"{MARK}:internal") and tag is not None:
            section = line.partition(":")[2]
            parts[section] = []
        elif line.startswith(MARK + " "):
            tag, section, parts = line[len(MARK) + 1:], "limits", {"limits": []}
        elif section is None:
            free.append(line)
        else:
            parts[section].append(line)
    return Result(proc.returncode, proc.stdout, proc.stderr, snapshots, free)


def _snapshot(parts: dict[str, list[str]]) -> Snapshot:
    saved = {}
    for line in parts.get("env", []):
        name, _, value = line.partition("=")
        if name.startswith(SAVED_PREFIX):
            saved[name] = value
    leftovers = sorted({_name(line) for line in parts.get("internal", [])
                        if _name(line).startswith(INTERNAL_PREFIXES)})
    return Snapshot(parse_limits("\n".join(parts.get("limits", []))), saved, leftovers)


def _name(line: str) -> str:
    word = line.strip().split("=", 1)[0].split()[0] if line.strip() else ""
    return word.split("\t")[0]


FORK = re.compile(r"^\d+\s+(?:clone3?|v?fork)\((.*)$", re.M)


def forks(shell: Shell, body: str, workdir: Path, env: Mapping[str, str]) -> list[str]:
    """The processes (not threads) ``shell -c body`` starts, as strace sees them."""
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed (CI installs it)")
    trace = workdir / "trace"
    proc = subprocess.run(["strace", "-f", "-o", str(trace), "-e",
                           "trace=clone,clone3,fork,vfork", *shell.argv, "-c", body],
                          env=clean_environ(env), capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 and "ptrace" in proc.stderr:
        pytest.skip(f"strace cannot trace here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return [call for call in FORK.findall(trace.read_text()) if "CLONE_THREAD" not in call]


@functools.cache
def raises_hard_limits() -> bool:
    """Whether this user may raise a hard limit (root with CAP_SYS_RESOURCE): then
    deactivation puts a hard limit that activation lowered back."""
    code = ("import resource as r; s, h = r.getrlimit(r.RLIMIT_NOFILE); "
            "r.setrlimit(r.RLIMIT_NOFILE, (min(s, h - 1), h - 1)); "
            "r.setrlimit(r.RLIMIT_NOFILE, (min(s, h - 1), h))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def reaches_full_script(shell: Shell, env: Path, workdir: Path) -> bool:
    """Whether activating and deactivating ``env`` in ``shell`` (traced) runs the full
    script (its ``__cl_main``; in csh, which has no functions, ``set __cl_done``), rather
    than ending in the fast path at the top."""
    trace = {"fish": "set fish_trace 1", "csh": "set echo"}.get(
        shell.family, "setopt xtrace" if shell is ZSH else "set -x")
    body = ";".join([trace, Session(shell).source(script(env, "activate", shell.family)).lines[0],
                     Session(shell).source(script(env, "deactivate", shell.family)).lines[0]])
    proc = subprocess.run([*shell.argv, "-c", body], capture_output=True, text=True,
                          env=clean_environ({"CONDA_SHLVL": "2"}), timeout=60, cwd=workdir)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return ("set __cl_done" if shell.family == "csh" else "__cl_main") in proc.stderr


def rlimit(key: str) -> int:
    return getattr(resource, resources.get(key).rlimit)


def kernel(value: Value) -> int:
    return resource.RLIM_INFINITY if value == UNLIMITED else int(value)


def current_hard(key: str) -> Value:
    hard = resource.getrlimit(rlimit(key))[1]
    return UNLIMITED if hard == resource.RLIM_INFINITY else hard


def baseline(**pairs: tuple[Value, Value]) -> dict[int, tuple[int, int]]:
    """Starting limits for :meth:`Session.run`: key=(soft, hard) in bytes/counts/seconds.

    Skips the test where this machine's hard limit is below the one asked for (a hard limit
    cannot be raised here)."""
    out = {}
    for key, (soft, hard) in pairs.items():
        ceiling = current_hard(key)
        for value in (soft, hard):
            if ceiling != UNLIMITED and (value == UNLIMITED or int(value) > int(ceiling)):
                pytest.skip(f"needs a {key} hard limit of at least {value}; "
                            f"this machine's is {ceiling}")
        out[rlimit(key)] = (kernel(soft), kernel(hard))
    return out


# -- Scenarios shared by the per-family test modules --------------------------------------


def make_env(root: Path, name: str, limits: Mapping[str, object]) -> Path:
    """An environment prefix named ``name`` under ``root`` with ``limits`` written into it."""
    from conda_limits.limits.model import parse_limits
    from conda_limits.state import prefix_files

    prefix = root / name
    (prefix / "conda-meta").mkdir(parents=True, exist_ok=True)
    prefix_files.write(prefix, parse_limits(dict(limits)))
    return prefix


def repeat(session: Session, times: int, body: list[str]) -> Session:
    """Run ``body`` ``times`` times inside one shell process."""
    if session.family == "fish":
        return session.raw("\n".join([f"for __t_i in (seq {times})", *body, "end",
                                      "set -e __t_i"]))
    if session.family == "csh":
        return session.raw("\n".join(["@ t_i = 0", f"while ( $t_i < {times} )", *body,
                                      "@ t_i++", "end", "unset t_i"]))
    return session.raw("\n".join(["t_i=0", f'while [ "$t_i" -lt {times} ]; do', *body,
                                  "t_i=$((t_i + 1))", "done", "unset t_i"]))


def sourcing(session: Session, path: Path) -> str:
    return f'{"." if session.family == "sh" else "source"} "{path}"'


def fitting(key: str, wanted: int) -> int:
    """``wanted``, or the largest KiB multiple below this machine's hard limit of ``key``."""
    hard = current_hard(key)
    if hard == UNLIMITED or hard >= wanted:
        return wanted
    assert isinstance(hard, int)
    return hard // 1024 * 1024 if resources.get(key).kind.value == "size" else hard


def all_limits() -> dict[str, int]:
    """A value for every resource, each different from a fresh shell's and below its hard
    limit, in bytes/counts/seconds."""
    return {
        "vmem": 4 * 2**30, "data": 2 * 2**30, "stack": 16 * 2**20,
        "memlock": fitting("memlock", 4 * 2**20), "fsize": 3 * 2**20,
        "core": fitting("core", 2 * 2**20), "nofile": fitting("nofile", 1000),
        "nproc": fitting("nproc", 5000), "cpu": 3600,
    }


def assert_clean(snap: Snapshot) -> None:
    assert snap.saved == {}, "saved variables left behind"
    assert snap.leftovers == [], "internal names left behind"


class ActivationScenarios:
    """Behaviour every family's scripts must show; a test module subclasses this as
    ``Test...`` and provides a ``shell`` fixture (one :class:`Shell`)."""

    def test_applies_exact_values_and_restores_them(self, shell: Shell, tmp_path: Path) -> None:
        values = all_limits()
        env = make_env(tmp_path, "all", values)
        start = baseline(vmem=(current_hard("vmem"), current_hard("vmem")),
                         nofile=(fitting("nofile", 2000), current_hard("nofile")))
        s = Session(shell).level(1).snapshot("before")
        s.activate(env, 2).snapshot("active").deactivate(env, 2).snapshot("after")
        result = s.run(tmp_path, limits=start)
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["active"].softs() == values
        before, after = result["before"], result["after"]
        assert after.limits == before.limits
        if current_hard("vmem") == UNLIMITED:
            assert after.soft("vmem") == UNLIMITED
        assert set(result["active"].saved) == {f"_CONDA_LIMITS_2_{k.upper()}" for k in values}
        assert result["active"].saved["_CONDA_LIMITS_2_NOFILE"] == str(before.soft("nofile"))
        assert_clean(after)

    def test_conda_activation_order(self, shell: Shell, tmp_path: Path) -> None:
        a = make_env(tmp_path, "a", {"nofile": 1000, "vmem": "4G"})
        b = make_env(tmp_path, "b", {"nofile": 500, "stack": "16M"})
        s = Session(shell).level(1).snapshot("base")
        s.activate(a, 2).snapshot("A")
        # conda activate b (switch): A's deactivate.d at 2, then B's activate.d at 3
        s.deactivate(a, 2).activate(b, 3).snapshot("B")
        # conda deactivate: B's deactivate.d at 3, A's activate.d again at 2
        s.deactivate(b, 3).activate(a, 2).snapshot("A again")
        # conda activate --stack b: B's activate.d at 3 only
        s.activate(b, 3).snapshot("B on A")
        # conda deactivate: B's deactivate.d at 3, A's activate.d again at 2
        s.deactivate(b, 3).activate(a, 2).snapshot("A after stack")
        # reactivation (conda install in A): deactivate.d then activate.d at the same level
        s.deactivate(a, 2).activate(a, 2).snapshot("A reactivated")
        s.deactivate(a, 2).level(1).snapshot("end")
        result = s.run(tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        base = result["base"].softs()
        a_view = {**base, "nofile": 1000, "vmem": 4 * 2**30}
        assert result["A"].softs() == a_view
        assert result["B"].softs() == {**base, "nofile": 500, "stack": 16 * 2**20}
        assert result["B"].saved == {"_CONDA_LIMITS_3_NOFILE": str(base["nofile"]),
                                     "_CONDA_LIMITS_3_STACK": str(base["stack"])}
        assert result["A again"].softs() == a_view
        assert result["B on A"].softs() == {**a_view, "nofile": 500, "stack": 16 * 2**20}
        assert result["B on A"].saved["_CONDA_LIMITS_3_NOFILE"] == "1000"
        assert result["B on A"].saved["_CONDA_LIMITS_2_NOFILE"] == str(base["nofile"])
        assert result["A after stack"].softs() == a_view
        assert result["A after stack"].saved == result["A"].saved
        assert result["A reactivated"].softs() == a_view
        assert result["A reactivated"].saved == result["A"].saved
        assert result["end"].limits == result["base"].limits
        assert_clean(result["end"])

    def test_a_limit_removed_while_active_is_still_undone(
            self, shell: Shell, tmp_path: Path) -> None:
        # `conda limits unset --vmem` rewrote the scripts while the environment was active:
        # deactivation restores whatever this level saved.
        both = make_env(tmp_path, "both", {"nofile": 1500, "vmem": "4G"})
        fewer = make_env(tmp_path, "fewer", {"nofile": 1500})
        s = Session(shell).level(1).snapshot("base").activate(both, 2).snapshot("on")
        s.deactivate(fewer, 2).level(1).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["on"].soft("vmem") == 4 * 2**30
        assert result["off"].limits == result["base"].limits
        assert_clean(result["off"])

    def test_every_limit_removed_while_active_is_still_undone(
            self, shell: Shell, tmp_path: Path) -> None:
        # The limits' part of a deactivate script with no limits (an environment left with
        # CPU settings only) restores what this level saved.
        from conda_limits.limits.model import LimitSet
        from conda_limits.shells.families import FAMILIES

        env = make_env(tmp_path, "gone", {"nofile": 1500, "vmem": "4G"})
        [family] = [f for f in FAMILIES if f.suffix == SUFFIX[shell.family]]
        empty = tmp_path / f"empty-deactivate{family.suffix}"
        empty.write_text(family.render_deactivate(LimitSet()))
        s = Session(shell).level(1).snapshot("base").activate(env, 2).snapshot("on")
        s.level(2).source(empty).level(1).snapshot("off")
        s.level(2).source(empty).level(1).snapshot("again")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["on"].soft("nofile") == 1500
        assert result["off"].limits == result["base"].limits
        assert_clean(result["off"])
        assert result["again"].limits == result["base"].limits

    def test_a_limit_added_while_active_is_left_alone(self, shell: Shell, tmp_path: Path) -> None:
        one = make_env(tmp_path, "one", {"nofile": 1500})
        more = make_env(tmp_path, "more", {"nofile": 1500, "vmem": "4G"})
        s = Session(shell).level(1).snapshot("base").activate(one, 2).snapshot("on")
        s.deactivate(more, 2).level(1).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["off"].limits == result["base"].limits
        assert_clean(result["off"])

    def test_a_function_that_sources_the_scripts_goes_on_after_them(
            self, shell: Shell, tmp_path: Path) -> None:
        # conda sources the scripts from inside its own shell function (an alias in csh).
        env = make_env(tmp_path, "caller", {"nofile": 1500, "vmem": "4G"})
        s = Session(shell).level(2)
        if shell.family == "fish":
            s.raw('function f; source $argv[1]; echo "went on"; end')
        elif shell.family == "csh":
            s.raw("alias f 'source \\!:1; echo went on'")
        else:
            s.raw('f() { . "$1"; echo "went on"; }')
        s.raw(f'f "{script(env, "activate", shell.family)}"').snapshot("on")
        s.raw(f'f "{script(env, "deactivate", shell.family)}"').snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result.lines.count("went on") == 2, result.stdout
        assert result["on"].soft("nofile") == 1500
        assert result["off"].soft("nofile") == 1000
        assert_clean(result["off"])

    def test_the_common_case_never_reaches_the_full_script(
            self, shell: Shell, tmp_path: Path) -> None:
        # Shells parse what they reach (fish and ksh93 a whole file): the common case (soft
        # values within the hard limits) ends in the short path at the top of each script;
        # a hard value goes through the full one.
        soft = make_env(tmp_path, "soft", {"nofile": 1000, "vmem": "4G", "fsize": "1M",
                                           "nproc": 500, "cpu": "unlimited"})
        hard = make_env(tmp_path, "hard", {"nofile": {"soft": 1000, "hard": 1000}})
        assert not reaches_full_script(shell, soft, tmp_path)
        assert reaches_full_script(shell, hard, tmp_path)

    def test_a_thousand_cycles_leave_no_drift(self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "cyc", {"nofile": 1000, "vmem": "4G", "fsize": "1M",
                                         "cpu": "1h"})
        s = Session(shell).level(2).snapshot("before")
        act = script(env, "activate", shell.family)
        deact = script(env, "deactivate", shell.family)
        repeat(s, 1000, [sourcing(s, act), sourcing(s, deact)])
        s.snapshot("after").source(act).snapshot("active")
        result = s.run(tmp_path, timeout=600)
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["after"].limits == result["before"].limits
        assert_clean(result["after"])
        assert result["active"].soft("nofile") == 1000
        assert result["active"].soft("fsize") == 2**20

    def test_soft_value_above_the_hard_limit_uses_the_hard_limit(
            self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "ceil", {"nofile": 4000})
        s = Session(shell).activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result["on"].limits["nofile"] == (2000, 2000)
        [warning] = result.warnings()
        assert "nofile" in warning and "4000" in warning and "2000" in warning
        assert result["off"].limits["nofile"] == (1000, 2000)
        assert_clean(result["off"])

    def test_a_value_above_the_hard_limit_is_said_once_per_shell(
            self, shell: Shell, tmp_path: Path) -> None:
        # Said again only when the value or the hard limit changes; the note of what was
        # said is the shell's own (not exported), so every new shell says it once.
        env = make_env(tmp_path, "once", {"nofile": 4000})
        s = Session(shell)
        for _ in range(3):
            s.activate(env, 2).snapshot("on").deactivate(env, 2)
        s.lower_hard_nofile(1800).activate(env, 2).snapshot("lowered").deactivate(env, 2)
        s.activate(env, 2).deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        warnings = result.warnings()
        assert len(warnings) == 2, result.stderr
        assert "nofile" in warnings[0] and "4000" in warnings[0] and "2000" in warnings[0]
        assert "nofile" in warnings[1] and "4000" in warnings[1] and "1800" in warnings[1]
        assert result["on"].limits["nofile"] == (2000, 2000)
        assert result["lowered"].limits["nofile"] == (1800, 1800)
        assert protocol.WARNED not in result["on"].saved
        assert result["off"].limits["nofile"] == (1000, 1800)
        assert_clean(result["off"])

    def test_raising_a_soft_limit_up_to_the_hard_limit(self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "raise", {"nofile": 4000})
        s = Session(shell).activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 4000)))
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["on"].limits["nofile"] == (4000, 4000)
        assert result["off"].limits["nofile"] == (1000, 4000)

    def test_hard_limit_lowered_goes_back_only_where_the_shell_may_raise_it(
            self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "hard", {"nofile": {"soft": 2000, "hard": 2000},
                                          "vmem": {"soft": "4G", "hard": "4G"}})
        s = Session(shell).snapshot("before").activate(env, 2).snapshot("on")
        s.deactivate(env, 2).snapshot("off")
        vmem_hard = current_hard("vmem")
        result = s.run(tmp_path, limits=baseline(nofile=(3000, 4000),
                                                 vmem=(vmem_hard, vmem_hard)))
        assert result.returncode == 0, result.stderr
        assert result["on"].limits["nofile"] == (2000, 2000)
        assert result["on"].limits["vmem"] == (4 * 2**30, 4 * 2**30)
        assert result["on"].saved["_CONDA_LIMITS_2_HARD_NOFILE"] == "4000"
        assert_clean(result["off"])
        if raises_hard_limits():  # root with CAP_SYS_RESOURCE: back to what it was
            assert result.warnings() == []
            assert result["off"].limits == result["before"].limits
            return
        assert result.stderr.count("conda-limits:") == 2, result.stderr
        assert any("nofile" in w and "2000" in w for w in result.warnings())
        assert any("vmem" in w for w in result.warnings())
        assert result["off"].limits["nofile"] == (2000, 2000)
        assert result["off"].limits["vmem"] == (4 * 2**30, 4 * 2**30)

    def test_deactivation_asks_for_the_lowered_hard_limit_back(
            self, shell: Shell, tmp_path: Path) -> None:
        # Where the shell may not raise it (as here without CAP_SYS_RESOURCE), the request
        # fails quietly; the test above checks the outcome.
        env = make_env(tmp_path, "hardback", {"nofile": {"soft": 2000, "hard": 2000}})
        log = tmp_path / "limit-commands"
        s = Session(shell).activate(env, 2).log_limits(log).deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(3000, 4000)))
        assert result.returncode == 0, result.stderr
        asked = log.read_text().splitlines()
        wanted = "limit -h descriptors 4000" if shell.family == "csh" else "ulimit -H -n 4000"
        assert wanted in asked, asked
        assert_clean(result["off"])

    def test_hard_value_above_the_hard_limit_keeps_the_hard_limit(
            self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "hard2", {"nofile": {"soft": 1500, "hard": 3000}})
        s = Session(shell).activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result["on"].limits["nofile"] == (1500, 2000)
        [warning] = result.warnings()
        assert "nofile" in warning and "3000" in warning
        assert result["off"].limits["nofile"] == (1000, 2000)

    def test_hard_value_alone_pulls_the_soft_limit_down(self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "hardonly", {"nofile": {"hard": 2000}})
        s = Session(shell).activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(3000, 4000)))
        assert result.returncode == 0, result.stderr
        assert result["on"].limits["nofile"] == (2000, 2000)
        if raises_hard_limits():
            assert result["off"].limits["nofile"] == (3000, 4000)
            assert result.warnings() == []
        else:
            assert result["off"].limits["nofile"] == (2000, 2000)
            assert len(result.warnings()) == 1  # the soft limit cannot go back up to 3000

    def test_limits_of_every_kind_in_one_environment_keep_their_own_values(
            self, shell: Shell, tmp_path: Path) -> None:
        # The full path (a hard value is set) goes over the limits one after another: a
        # hard-only value, a soft value above the hard limit, a pair and a plain soft value
        # each get their own values, warnings and restoring.
        env = make_env(tmp_path, "kinds", {"nofile": {"hard": 1500}, "stack": "64M",
                                           "cpu": {"soft": 100, "hard": 200}, "fsize": "1M"})
        s = Session(shell).snapshot("before").activate(env, 2).snapshot("on")
        s.deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000), stack=(8 * 2**20, 32 * 2**20),
                                                 cpu=(300, 400), fsize=(2**30, 2**31)))
        assert result.returncode == 0, result.stderr
        on = result["on"].limits
        assert on["nofile"] == (1000, 1500)
        assert on["stack"] == (32 * 2**20, 32 * 2**20)
        assert on["cpu"] == (100, 200)
        assert on["fsize"] == (2**20, 2**31)
        warnings = result.warnings()
        assert "stack" in warnings[0] and "64M" in warnings[0] and str(32 * 2**20) in warnings[0]
        assert_clean(result["off"])
        off = result["off"].limits
        assert off["stack"] == (8 * 2**20, 32 * 2**20)
        assert off["fsize"] == (2**30, 2**31)
        if raises_hard_limits():
            assert len(warnings) == 1, result.stderr
            assert off == result["before"].limits
            return
        assert len(warnings) == 2, result.stderr  # cpu cannot go back up to 300
        assert "cpu" in warnings[1] and "300" in warnings[1] and "200" in warnings[1]
        assert off["nofile"] == (1000, 1500)
        assert off["cpu"] == (200, 200)

    def test_unlimited_value(self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "unl", {"cpu": "unlimited", "vmem": "unlimited"})
        s = Session(shell).activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(cpu=(60, UNLIMITED), vmem=(2**32, UNLIMITED)))
        assert result.returncode == 0, result.stderr
        assert result.warnings() == []
        assert result["on"].soft("cpu") == UNLIMITED
        assert result["on"].soft("vmem") == UNLIMITED
        assert result["off"].soft("cpu") == 60
        assert result["off"].soft("vmem") == 2**32

    def test_unlimited_above_a_finite_hard_limit_uses_the_hard_limit(
            self, shell: Shell, tmp_path: Path) -> None:
        # bash, for a user who is not root, would quietly take the hard limit; root gets an
        # error: either way the script says so and uses the hard limit.
        env = make_env(tmp_path, "unlhard", {"cpu": "unlimited", "nofile": 1500})
        s = Session(shell).activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
        result = s.run(tmp_path, limits=baseline(cpu=(60, 3600), nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert result["on"].limits["cpu"] == (3600, 3600)
        assert result["on"].soft("nofile") == 1500
        [warning] = result.warnings()
        assert "cpu" in warning and "unlimited" in warning and "3600" in warning
        assert result["off"].limits["cpu"] == (60, 3600)
        assert result["off"].limits["nofile"] == (1000, 2000)
        assert_clean(result["off"])

    def test_refused_limit_is_a_warning_and_the_shell_goes_on(
            self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "refuse", {"nofile": 1500, "vmem": "4G"})
        s = Session(shell).refuse_limits().activate(env, 2).echo("alive")
        s.allow_limits().snapshot("on").refuse_limits().deactivate(env, 2).echo("still alive")
        s.allow_limits().snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert "alive" in result.lines and "still alive" in result.lines
        warnings = result.warnings()
        assert len(warnings) == 4, result.stderr
        assert [w.split()[3] for w in warnings] == ["set", "set", "restore", "restore"]
        assert result["on"].soft("nofile") == 1000
        assert result["off"].limits == result["on"].limits
        assert_clean(result["off"])

    def test_a_level_that_is_not_a_number_counts_as_zero(
            self, shell: Shell, tmp_path: Path) -> None:
        env = make_env(tmp_path, "lvl", {"nofile": 1500})
        value = "1 `echo injected` $(echo injected) (echo injected); echo injected"
        s = Session(shell).setenv_quoted("CONDA_SHLVL", value)
        s.source(script(env, "activate", shell.family)).snapshot("on")
        s.source(script(env, "deactivate", shell.family)).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
        assert result.returncode == 0, result.stderr
        assert "injected" not in result.lines
        assert result["on"].saved == {"_CONDA_LIMITS_0_NOFILE": "1000"}
        assert result["off"].soft("nofile") == 1000
        assert_clean(result["off"])

    def test_without_a_level_the_scripts_count_it_as_zero(
            self, shell: Shell, tmp_path: Path) -> None:
        # Scripts sourced by hand, outside conda: no CONDA_SHLVL at all (csh must not read it).
        env = make_env(tmp_path, "nolvl", {"nofile": 1500, "threads": 2})
        s = Session(shell).source(script(env, "activate", shell.family)).snapshot("on")
        s.echo("alive").source(script(env, "deactivate", shell.family)).snapshot("off")
        result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)),
                       env={"OMP_NUM_THREADS": "7"})
        assert result.returncode == 0, result.stderr
        assert not result.stderr, result.stderr
        assert "alive" in result.lines
        assert result["on"].soft("nofile") == 1500
        assert result["on"].saved["_CONDA_LIMITS_0_NOFILE"] == "1000"
        assert result["off"].soft("nofile") == 1000
        assert_clean(result["off"])

    def test_deactivates_what_an_outer_bash_activated(self, shell: Shell, tmp_path: Path) -> None:
        # Same variables and units in every family: a shell started inside an activated
        # bash can run `conda deactivate` (units differ: -f in 512-byte blocks in dash).
        BASH.required()
        env = make_env(tmp_path, "nested", {"nofile": {"soft": 1500, "hard": 1500},
                                            "vmem": "4G", "fsize": "1M", "cpu": "1h"})
        inner = Session(shell).deactivate(env, 2).snapshot("inner after")
        inner_file = tmp_path / "inner"
        inner_file.write_text("\n".join(inner.lines) + "\n")
        s = Session(BASH).snapshot("before").activate(env, 2).snapshot("on")
        s.raw(f'{" ".join(shell.argv)} "{inner_file}"')
        result = s.run(tmp_path, limits=baseline(nofile=(1800, 2000)))
        assert result.returncode == 0, result.stderr
        on, after = result["on"], result["inner after"]
        assert on.limits["nofile"] == (1500, 1500) and on.soft("fsize") == 2**20
        assert_clean(after)
        if raises_hard_limits():
            assert after.limits == result["before"].limits
            return
        assert after.softs() == {**result["before"].softs(), "nofile": 1500}
        [warning] = result.warnings()  # nofile cannot go back up under its lowered hard limit
        assert "nofile" in warning and "1800" in warning and "1500" in warning

