"""The ``.sh`` activation scripts in real POSIX shells: bash, ``bash --posix``, dash, zsh, ksh.

Limits are read from ``/proc/self/limits`` by a child process of the shell (``cat``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conda_limits.limits.model import parse_limits
from conda_limits.limits.values import UNLIMITED
from conda_limits.shells import posix

from .harness import (
    BASH,
    BASH_POSIX,
    DASH,
    MKSH,
    SH_SHELLS,
    ZSH,
    ActivationScenarios,
    Session,
    all_limits,
    assert_clean,
    baseline,
    clean_environ,
    current_hard,
    forks,
    make_env,
    script,
    sourcing,
)

pytestmark = pytest.mark.shell


@pytest.fixture(params=SH_SHELLS, ids=lambda s: s.name)
def shell(request):
    return request.param.required()


class TestShScenarios(ActivationScenarios):
    pass


def test_fsize_and_core_units(shell, tmp_path):
    # bash counts -f/-c in 1024-byte blocks, POSIX mode and the other shells in 512-byte ones.
    env = make_env(tmp_path, "units", {"fsize": "3K", "core": "5K"})
    hard = current_hard("core")
    if hard != UNLIMITED and hard < 5 * 1024:
        pytest.skip("the core hard limit here is below 5 KiB")
    result = Session(shell).activate(env, 2).snapshot("on").run(tmp_path)
    assert result["on"].soft("fsize") == 3 * 1024
    assert result["on"].soft("core") == 5 * 1024


@pytest.mark.parametrize("level", [2, 12])  # 12: the full script
def test_a_field_separator_of_digits_splits_no_value(shell, tmp_path, level):
    # IFS is the user's: a figure the script computes ($((...)), -f/-c in bash) must not be
    # split by it into other numbers (fsize 1 would stop the shell's next write).
    limits = all_limits()
    env = make_env(tmp_path, "ifs", limits)
    s = Session(shell).raw("IFS=0123456789").activate(env, level).snapshot("on")
    result = s.deactivate(env, level).snapshot("off").run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.warnings() == []
    assert result["on"].softs() == limits
    assert_clean(result["off"])


def test_nproc_letter(shell, tmp_path):
    # dash calls the process limit -p, bash and zsh -u (where -p is the pipe size).
    hard = current_hard("nproc")
    value = 777 if hard == UNLIMITED or hard > 777 else hard - 1
    env = make_env(tmp_path, "nproc", {"nproc": value})
    result = Session(shell).activate(env, 2).snapshot("on").run(tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.warnings() == []
    assert result["on"].soft("nproc") == value


def _errexit(shell) -> str:
    if shell is ZSH:
        return "setopt errexit nounset"
    return "set -eu"


@pytest.mark.parametrize("case", ["ceiling", "refused", "clean"])
def test_survives_set_eu(shell, tmp_path, case):
    env = make_env(tmp_path, "eu", {"nofile": 4000 if case == "ceiling" else 1500,
                                    "vmem": "4G"})
    s = Session(shell).raw(_errexit(shell))
    if case == "refused":
        s.raw("ulimit() { return 1; }")
    s.activate(env, 2).echo("alive-after-activate")
    if case == "refused":
        s.raw("unset -f ulimit")
    s.snapshot("on").deactivate(env, 2).echo("alive-after-deactivate").snapshot("off")
    result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
    assert result.returncode == 0, result.stderr
    assert "alive-after-activate" in result.lines
    assert "alive-after-deactivate" in result.lines
    if case == "ceiling":
        assert result["on"].limits["nofile"] == (2000, 2000)
        assert len(result.warnings()) == 1
    elif case == "refused":
        assert result["on"].soft("nofile") == 1000
        assert len(result.warnings()) == 2
        assert all("could not set" in w for w in result.warnings())
    else:
        assert result.warnings() == []
        assert result["on"].soft("nofile") == 1500
    assert result["off"].limits["nofile"] == (1000, 2000)
    assert_clean(result["off"])


@pytest.mark.parametrize("option", ["nounset errexit", "warn_create_global", "ksh_arrays",
                                    "sh_word_split", "err_return", "no_glob"])
def test_zsh_options(tmp_path, option):
    # Options users set in their .zshrc change neither the result nor the options, and print
    # nothing.
    ZSH.required()
    env = make_env(tmp_path, "zsh", {"nofile": 1500, "vmem": "4G"})
    s = Session(ZSH).raw(f"setopt {option}").raw("setopt > before.txt")
    s.source(script(env, "activate", "sh")).echo("alive").snapshot("on")
    s.source(script(env, "deactivate", "sh")).snapshot("off").raw("setopt > after.txt")
    result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "alive" in result.lines
    assert result["on"].soft("nofile") == 1500 and result["on"].soft("vmem") == 4 * 2**30
    assert result["off"].soft("nofile") == 1000
    assert (tmp_path / "before.txt").read_text() == (tmp_path / "after.txt").read_text()
    assert_clean(result["off"])


@pytest.mark.parametrize("nofile", [1500, 3000, {"soft": 1500, "hard": 1800}])
def test_zsh_warns_of_no_global_inside_a_function(tmp_path, nofile):
    # conda sources the scripts inside its `conda activate` function; with warn_create_global
    # zsh warns of every global a function creates. 3000 is above the hard limit, and a hard
    # limit is the full scripts' to apply and restore: they run, and say only that.
    ZSH.required()
    env = make_env(tmp_path, "fn", {"nofile": nofile, "vmem": "4G"})
    if isinstance(nofile, dict):
        nofile = nofile["soft"]
    s = Session(ZSH).raw("setopt warn_create_global nounset")
    s.raw(f'act() {{ {sourcing(s, script(env, "activate", "sh"))}; }}')
    s.raw(f'deact() {{ {sourcing(s, script(env, "deactivate", "sh"))}; }}')
    s.raw("act").snapshot("on").raw("deact").snapshot("off")
    result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
    assert result.returncode == 0, result.stderr
    assert result["on"].soft("nofile") == min(nofile, 2000)
    assert result["off"].soft("nofile") == 1000
    if nofile > 2000:
        assert result.stderr.splitlines() == [
            "conda-limits: nofile 3000 is above the hard limit, 2000; using the hard limit"]
    else:
        assert result.stderr == ""
    assert_clean(result["off"])


@pytest.mark.parametrize("option", ["nounset errexit", "ksh_arrays", "sh_word_split", "no_glob"])
def test_zsh_options_where_the_fast_path_cannot_finish(tmp_path, option):
    # The rest of the script is read back from its file: a value above the hard limit on
    # activation, a lowered hard limit on deactivation.
    ZSH.required()
    above = make_env(tmp_path, "above", {"nofile": 3000})
    hard = make_env(tmp_path, "hard", {"nofile": {"soft": 1500, "hard": 1800}})
    s = Session(ZSH).raw(f"setopt {option}").raw("setopt > before.txt")
    s.source(script(above, "activate", "sh")).snapshot("above")
    s.source(script(above, "deactivate", "sh")).source(script(hard, "activate", "sh"))
    s.snapshot("hard").source(script(hard, "deactivate", "sh")).snapshot("off")
    s.raw("setopt > after.txt")
    result = s.run(tmp_path, limits=baseline(nofile=(1000, 2000)))
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "conda-limits: nofile 3000 is above the hard limit, 2000; using the hard limit"]
    assert result["above"].soft("nofile") == 2000
    assert result["hard"].limits["nofile"] == (1500, 1800)
    assert result["off"].soft("nofile") == 1000
    assert (tmp_path / "before.txt").read_text() == (tmp_path / "after.txt").read_text()
    assert_clean(result["off"])


# -- zsh's own table of hard limits --------------------------------------------------------
# zsh keeps a hard limit lowered with `ulimit -H` in a table that its children get, and applies
# it to itself only on its next change: the shell's own /proc/self/limits shows the old one.


@pytest.mark.parametrize("nofile, on", [(3000, (2000, 2000)), (1500, (1500, 2000))])
def test_zsh_activation_honours_a_hard_limit_lowered_in_zsh(tmp_path, nofile, on):
    ZSH.required()
    env = make_env(tmp_path, "zshhard", {"nofile": nofile})
    s = Session(ZSH).raw("ulimit -S -n 1000; ulimit -H -n 2000").snapshot("before")
    s.activate(env, 2).snapshot("on").deactivate(env, 2).snapshot("off")
    result = s.run(tmp_path, limits=baseline(nofile=(1000, 4000)))
    assert result.returncode == 0, result.stderr
    assert result["before"].limits["nofile"] == (1000, 2000)
    assert result["on"].limits["nofile"] == on
    if nofile > 2000:
        [warning] = result.warnings()
        assert "3000" in warning and "2000" in warning
    else:
        assert result.warnings() == []
    assert result["off"].limits["nofile"] == (1000, 2000)
    assert_clean(result["off"])


def test_zsh_deactivation_honours_a_hard_limit_lowered_in_zsh(tmp_path):
    ZSH.required()
    env = make_env(tmp_path, "zshhard", {"nofile": 1000})
    s = Session(ZSH).activate(env, 2).raw("ulimit -H -n 1500").snapshot("lowered")
    s.deactivate(env, 2).snapshot("off")
    result = s.run(tmp_path, limits=baseline(nofile=(1800, 4000)))
    assert result.returncode == 0, result.stderr
    assert result["lowered"].limits["nofile"] == (1000, 1500)
    assert result["off"].limits["nofile"] == (1500, 1500)
    [warning] = result.warnings()  # 1800 cannot come back under the hard limit 1500
    assert "1800" in warning and "1500" in warning
    assert_clean(result["off"])


# -- forks ------------------------------------------------------------------------------


@pytest.mark.parametrize("sh", [BASH, BASH_POSIX, DASH, ZSH], ids=lambda s: s.name)
def test_no_forks(sh, tmp_path):
    sh.required()
    env = make_env(tmp_path, "forks", {"nofile": 1000, "vmem": "4G", "stack": "16M",
                                       "fsize": "1M", "cpu": "1h", "nproc": 500, "core": 0,
                                       "data": "8G"})
    activate, deactivate = script(env, "activate", "sh"), script(env, "deactivate", "sh")
    body = f'. "{activate}"; . "{deactivate}"; . "{activate}"'
    assert forks(sh, body, tmp_path, {"CONDA_SHLVL": "2"}) == []


def test_the_fork_count_sees_forks(tmp_path):
    # The test above can fail: a command substitution is seen.
    BASH.required()
    assert forks(BASH, "x=$(ulimit -n)", tmp_path, {})


# -- other shells and conda's xonsh path -------------------------------------------------


def test_xonsh_source_bash_gets_a_hint_and_nothing_else(tmp_path):
    BASH.required()
    env = make_env(tmp_path, "xonsh", {"nofile": 1500})
    # What xonsh's `source-bash` runs: bash -c with the file sourced, then its markers.
    command = (f'set -e\nsource "{script(env, "activate", "sh")}"\n'
               "echo __XONSH_ENV_BEG__\nenv\necho __XONSH_ENV_END__\n")
    # A parent whose stderr is captured: the hint goes there (source-bash discards bash's).
    proc = subprocess.run(["sh", "-c", 'bash -c "$1"; exit $?', "sh", command],
                          capture_output=True, text=True,
                          env=clean_environ({"XONSH_VERSION": "0.25.0", "CONDA_SHLVL": "2"}),
                          timeout=60)
    assert proc.returncode == 0
    [hint] = proc.stderr.splitlines()
    assert hint.startswith("conda-limits: xonsh")
    assert "_CONDA_LIMITS_" not in proc.stdout
    assert "__cl_" not in proc.stdout


def test_bash_started_from_xonsh_applies_limits(tmp_path):
    BASH.required()
    env = make_env(tmp_path, "fromxonsh", {"nofile": 1500})
    s = Session(BASH).activate(env, 2).snapshot("on")
    result = s.run(tmp_path, env={"XONSH_VERSION": "0.25.0"},
                   limits=baseline(nofile=(1000, 2000)))
    assert result.warnings() == []
    assert result["on"].soft("nofile") == 1500


def test_real_xonsh_gets_the_hint(tmp_path):
    # beside the test interpreter (a venv's or conda base's bin, often not on PATH), or on PATH
    xonsh = shutil.which("xonsh", path=os.path.dirname(sys.executable)) or shutil.which("xonsh")
    if xonsh is None:
        pytest.skip("xonsh is not installed (pip install xonsh to run this)")
    env = make_env(tmp_path, "realxonsh", {"nofile": 1500})
    # conda's xonsh activator runs .sh scripts with this template (conda/activate.py).
    command = f'source-bash --suppress-skip-message -n "{script(env, "activate", "sh")}"'
    proc = subprocess.run([xonsh, "--no-rc", "-c", command], capture_output=True, text=True,
                          env=clean_environ({"CONDA_SHLVL": "2"}), timeout=120)
    assert "conda-limits: xonsh" in proc.stderr


def test_mksh_is_refused_with_a_warning(tmp_path):
    # mksh computes in 32 bits: `ulimit -v $((4294967296 / 1024))` would set 0.
    MKSH.required()
    env = make_env(tmp_path, "mksh", {"nofile": 1500, "vmem": "4G"})
    s = Session(MKSH).snapshot("before").activate(env, 2).echo("alive").snapshot("on")
    s.deactivate(env, 2).snapshot("off")
    result = s.run(tmp_path)
    assert result.returncode == 0
    assert "alive" in result.lines
    [warning] = result.warnings()
    assert "32 bits" in warning
    assert result["on"].limits == result["before"].limits
    assert_clean(result["off"])


# -- the text itself ---------------------------------------------------------------------


def test_scripts_contain_only_rendered_integers_and_fixed_text():
    limits = parse_limits({"vmem": "4G", "nofile": {"soft": 1024, "hard": 4096},
                           "cpu": "unlimited"})
    text = posix.render_activate(limits)
    calls = [line for line in text.splitlines() if line.startswith("  __cl_apply ")]
    assert calls == [
        '  __cl_apply 10 "Max address space" VMEM "v" "1024" vmem " (in bytes)" 4294967296 - 4G -'
        ' "$__cl_VMEM"',
        '  __cl_apply 8 "Max open files" NOFILE "n" "1" nofile "" 1024 4096 1024 4096'
        ' "$__cl_NOFILE"',
        '  __cl_apply 1 "Max cpu time" CPU "t" "1" cpu " (in seconds)" unlimited - unlimited -'
        ' "$__cl_CPU"',
    ]
    assert text.startswith("# Written by conda-limits")
    assert "exit" not in text.replace("exits the shell", "")


@pytest.mark.parametrize("path", ["activate", "deactivate"])
def test_scripts_parse_in_every_posix_shell(tmp_path, path):
    # The full script after a fast path is a quoted string there: it is checked on its own.
    limits = parse_limits({"vmem": "4G", "nofile": {"soft": 100, "hard": 200}})
    env = make_env(tmp_path, "parse", {"vmem": "4G"})
    full = tmp_path / "full.sh"
    full.write_text(posix.full_activate(limits) if path == "activate"
                    else posix.full_deactivate())
    for sh in (*SH_SHELLS, MKSH):
        if sh.binary is None:
            continue
        for text in (script(env, path, "sh"), full):
            proc = subprocess.run([*sh.argv, "-n", str(text)], capture_output=True,
                                  text=True, timeout=30)
            assert proc.returncode == 0, (sh.name, text.name, proc.stderr)
