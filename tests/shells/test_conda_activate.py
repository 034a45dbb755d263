"""``conda activate``/``conda deactivate`` through conda's own shell hooks, with real conda.

`conda limits set` writes the scripts through ``conda_cli``; a real shell then loads conda's
hook, activates and deactivates, and a child process (``cat``) reads /proc/self/limits. The
conda is the one of the interpreter running pytest (``sys.prefix``/bin/conda).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import requires_conda
from .harness import (
    BASH,
    DASH,
    FISH,
    TCSH,
    ZSH,
    Session,
    Shell,
    assert_clean,
    baseline,
    clean_environ,
)

pytestmark = [requires_conda, pytest.mark.shell, pytest.mark.conda]

CONDA = Path(sys.prefix, "bin", "conda")
A = {"nofile": ("1000",), "vmem": ("4G",)}
B = {"nofile": ("500",), "stack": ("16M",)}


@pytest.fixture
def envs(conda_cli, tmp_env):
    """Two environments with limits: A (nofile 1000, vmem 4G) and B (nofile 500, stack 16M)."""
    with tmp_env() as a, tmp_env() as b:
        for prefix, limits in ((a, A), (b, B)):
            flags = [arg for key, (value,) in limits.items() for arg in (f"--{key}", value)]
            _, _, code = conda_cli("limits", "set", "-p", prefix, *flags)
            assert code in (0, None)
        yield a, b


def hooked(shell: Shell, workdir: Path) -> Session:
    """A session of ``shell`` with conda's shell hook loaded."""
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    shell.required()
    session = Session(shell)
    if shell.family == "fish":
        return session.raw(f'"{CONDA}" shell.fish hook | source')
    if shell.family == "csh":
        hook = workdir / "hook.csh"
        hook.write_text(subprocess.run([str(CONDA), "shell.csh", "hook"], capture_output=True,
                                       text=True, check=True).stdout)
        session.raw(f'source "{hook}"')
        # conda.csh re-sources itself from <root>/etc/profile.d, which only `conda init` or a
        # conda package provides; else point the alias at the copy conda ships.
        import conda

        shipped = Path(conda.__file__).parent / "shell" / "etc" / "profile.d" / "conda.csh"
        if not (CONDA.parent.parent / "etc" / "profile.d" / "conda.csh").exists():
            session.raw(f'alias conda source "{shipped}"')
        return session
    name = "zsh" if shell is ZSH else "bash" if shell is BASH else "posix"
    return session.raw(f'eval "$("{CONDA}" shell.{name} hook)"')


def conda(session: Session, *args: str | Path) -> Session:
    return session.raw("conda " + " ".join(f'"{arg}"' for arg in args))


def stacked(shell: Shell, a: Path, b: Path, workdir: Path) -> Session:
    """Snapshots "base", "A", "B on A" (stacked), "A again" and "after" (all deactivated)."""
    s = hooked(shell, workdir).snapshot("base")
    conda(s, "activate", a).snapshot("A")
    conda(s, "activate", "--stack", b).snapshot("B on A")
    conda(s, "deactivate").snapshot("A again")
    return conda(s, "deactivate").snapshot("after")


A_VIEW = {"nofile": 1000, "vmem": 4 * 2**30}
B_VIEW = {"nofile": 500, "stack": 16 * 2**20}


def run_quietly(session: Session, workdir: Path):
    """Run the session under a known baseline; it must succeed without a warning."""
    result = session.run(workdir, limits=baseline(nofile=(2000, 4000)))
    assert result.returncode == 0, result.stderr
    assert result.warnings() == []
    return result


def assert_back_to_base(result) -> None:
    """The "after" snapshot has the "base" limits and no variables of conda-limits left."""
    assert result["after"].limits == result["base"].limits
    assert_clean(result["after"])


@pytest.mark.parametrize("shell", [BASH, ZSH, FISH, TCSH], ids=lambda s: s.name)
def test_activate_and_deactivate(shell, envs, tmp_path):
    a, _ = envs
    s = hooked(shell, tmp_path).snapshot("base")
    conda(s, "activate", a).snapshot("A")
    conda(s, "deactivate").snapshot("after")
    result = run_quietly(s, tmp_path)
    base = result["base"].softs()
    assert result["A"].softs() == {**base, **A_VIEW}
    assert_back_to_base(result)


@pytest.mark.parametrize("shell", [BASH, ZSH, FISH], ids=lambda s: s.name)
def test_stack_and_deactivate(shell, envs, tmp_path):
    a, b = envs
    s = stacked(shell, a, b, tmp_path)
    result = run_quietly(s, tmp_path)
    base = result["base"].softs()
    assert result["A"].softs() == {**base, **A_VIEW}
    assert result["B on A"].softs() == {**base, **A_VIEW, **B_VIEW}
    assert result["A again"].softs() == {**base, **A_VIEW}
    assert result["A again"].saved == result["A"].saved
    assert_back_to_base(result)


def test_switch_between_two_limited_environments(envs, tmp_path):
    a, b = envs
    s = hooked(BASH, tmp_path).snapshot("base")
    conda(s, "activate", a).snapshot("A")
    conda(s, "activate", b).snapshot("B")
    conda(s, "deactivate").snapshot("back to A")
    conda(s, "deactivate").snapshot("after")
    result = run_quietly(s, tmp_path)
    base = result["base"].softs()
    assert result["B"].softs() == {**base, **B_VIEW}  # A's limits were undone first
    assert result["back to A"].softs() == {**base, **A_VIEW}
    assert_back_to_base(result)


def test_reactivation(envs, tmp_path):
    # `conda install` in an active environment reactivates it (the hook's
    # __conda_reactivate); so does activating the active environment again.
    a, _ = envs
    s = hooked(BASH, tmp_path).snapshot("base")
    conda(s, "activate", a).snapshot("A")
    s.raw("__conda_reactivate").snapshot("reactivated")
    conda(s, "activate", a).snapshot("activated again")
    conda(s, "deactivate").snapshot("after")
    result = run_quietly(s, tmp_path)
    for tag in ("reactivated", "activated again"):
        assert result[tag].limits == result["A"].limits, tag
        assert result[tag].saved == result["A"].saved, tag
    assert_back_to_base(result)


def test_limit_unset_while_active_is_still_undone(envs, tmp_path):
    # deactivate.d restores whatever this level saved, whatever the record says by then.
    a, _ = envs
    s = hooked(BASH, tmp_path).snapshot("base")
    conda(s, "activate", a).snapshot("A")
    s.raw(f'"{CONDA}" limits unset -p "{a}" --vmem >/dev/null')
    conda(s, "deactivate").snapshot("after")
    result = s.run(tmp_path, limits=baseline(nofile=(2000, 4000)))
    assert result.returncode == 0, result.stderr
    assert result["A"].soft("vmem") == 4 * 2**30
    assert_back_to_base(result)


@pytest.fixture
def spaced(conda_cli, tmp_path):
    """Two environments under a path with a space: A (nofile 3000, hard too) and B (nofile
    5000, stack 16M), whose fast paths cannot finish under A (or a hard limit of 4000)."""
    envs = []
    for name, flags in (("a", ["--nofile", "3000", "--hard"]),
                        ("b", ["--nofile", "5000", "--stack", "16M"])):
        prefix = tmp_path / "with space" / name
        conda_cli("create", "-p", prefix, "--yes", "--offline", "--quiet")
        _, _, code = conda_cli("limits", "set", "-p", prefix, *flags)
        assert code in (0, None)
        envs.append(prefix)
    return envs


@pytest.mark.parametrize("shell", [BASH, DASH, ZSH], ids=lambda s: s.name)
def test_the_rest_of_a_script_is_found_under_conda(shell, spaced, tmp_path):
    # Where a fast path cannot finish, the script reads the rest of itself back from its
    # file: found by its own path (bash, zsh) or under CONDA_PREFIX (dash), in a stacked
    # activation (B's limit above A's hard limit) and in deactivation (A lowered a hard
    # limit), where CONDA_PREFIX is still the environment being left.
    a, b = spaced
    s = stacked(shell, a, b, tmp_path)
    result = s.run(tmp_path, limits=baseline(nofile=(2000, 4000)))
    assert result.returncode == 0, result.stderr
    assert result.warnings() == [
        "conda-limits: nofile 5000 is above the hard limit, 3000; using the hard limit"]
    base = result["base"].softs()
    assert result["A"].softs() == {**base, "nofile": 3000}
    assert result["B on A"].softs() == {**base, "nofile": 3000, "stack": 16 * 2**20}
    assert result["A again"].limits == result["A"].limits
    assert result["A again"].saved == result["A"].saved
    assert result["after"].softs() == base
    assert_clean(result["after"])


def test_the_rest_of_a_script_is_found_under_conda_run(spaced, tmp_path):
    # conda run sources the activate scripts from its own wrapper script.
    _, b = spaced
    limits = baseline(nofile=(2000, 4000))

    def start() -> None:
        import resource

        for rlimit, pair in limits.items():
            resource.setrlimit(rlimit, pair)

    proc = subprocess.run([str(CONDA), "run", "-p", str(b), "sh", "-c", "ulimit -n; ulimit -s"],
                          check=False,
                          capture_output=True, text=True, env=clean_environ(), timeout=120,
                          preexec_fn=start, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["4000", "16384"]
