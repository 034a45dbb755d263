"""``mem`` as a recorded setting through the real conda: ``conda limits set/unset/show``
(also ``-f FILE``), environment.yml's ``limits:`` (create, export, apply), the export formats,
``conda run-limited`` (the recorded cap, a flag that wins), ``conda limits suggest --apply``
and ``conda doctor``, as this user and, where there is one, as an unprivileged user."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.state import prefix_files, record

from ..conftest import requires_conda
from .test_environment_yml import CREATE_COMMANDS, write
from .test_tiny import USERS, conda_as, owned_dir

pytestmark = requires_conda

MiB = 2**20
SHELL_NOTE = ("mem applies to `conda run-limited`, Jupyter kernels and Slurm jobs only, not to "
              "an interactive shell")
# Holds SIZE MiB touched for a few of the runner's looks.
GROW = textwrap.dedent("""
    import sys, time
    held = bytearray(int(sys.argv[1]) << 20)
    held[::4096] = b"x" * len(held[::4096])
    time.sleep(0.5)
""")


def conda(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conda", *args], capture_output=True,
                          text=True, check=False, timeout=300)


def test_set_show_unset(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--mem", "4G")
        assert code == 0, err
        assert record.read(prefix) == LimitSet(mem=4 * 2**30)
        assert not any(p.exists() for p in prefix_files.script_paths(prefix))  # no shell part
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        row = next(line for line in out.splitlines() if line.startswith("mem "))
        assert row.split()[1:3] == ["4", "GiB"] and "conda limits set" in row
        assert out.count(SHELL_NOTE) == 1
        conda_cli("limits", "set", "-p", prefix, "--nofile", "1024", "--cores", "0.5")
        out, _, _ = conda_cli("limits", "show", "-p", prefix)
        assert out.count("mem and cores apply to `conda run-limited`, Jupyter kernels and "
                         "Slurm jobs only, not to an interactive shell") == 1
        data = json.loads(conda_cli("limits", "show", "-p", prefix, "--json")[0])["limits"]
        assert data["mem"] == {"kind": "mem", "value": 4 * 2**30, "soft": None, "hard": None,
                               "unit": "bytes", "source": {"kind": "conda-limits-set"}}
        assert set(data["cores"]) == set(data["mem"])  # the same shape as the CPU settings
        script = prefix / "etc" / "conda" / "activate.d" / "zz-conda-limits.sh"
        assert "4294967296" not in script.read_text() and "mem" not in script.read_text()
        out, _, code = conda_cli("limits", "unset", "-p", prefix, "--mem")
        assert code == 0 and "Removed mem" in out
        assert record.read(prefix).mem is None and record.read(prefix).names() == [
            "nofile", "cores"]


@pytest.mark.parametrize("value", ["0", "-1", "12", "1.5Q", "16M", "4 GB x"])
def test_bad_values_exit_2_and_write_nothing(tmp_env, value):
    with tmp_env() as prefix:
        proc = conda("limits", "set", "-p", str(prefix), f"--mem={value}")
        assert proc.returncode == 2, proc.stderr
        assert "--mem" in proc.stderr and "error" in proc.stderr.lower()
        assert not record.record_path(prefix).exists()
        proc = conda("run-limited", "-p", str(prefix), f"--mem={value}", "--", "true")
        assert proc.returncode == 2, proc.stderr


def test_a_tiny_value_is_allowed_on_request_but_not_0(tmp_env):
    with tmp_env() as prefix:
        proc = conda("limits", "set", "-p", str(prefix), "--mem", "16M")
        assert "--mem 16M is below 32M, the least a small program needs" in proc.stderr
        assert conda("limits", "set", "-p", str(prefix), "--mem", "16M",
                     "--allow-tiny").returncode == 0
        assert record.read(prefix).mem == 16 * MiB
        assert conda("limits", "set", "-p", str(prefix), "--mem", "0",
                     "--allow-tiny").returncode == 2
        assert record.read(prefix).mem == 16 * MiB


def test_a_cap_above_this_machine_is_recorded_with_a_warning(conda_cli, tmp_env):
    with tmp_env() as prefix:
        out, err, code = conda_cli("limits", "set", "-p", prefix, "--mem", "64T")
        assert code == 0, err
        assert "warning: mem 64T is more than this machine's memory" in out
        assert record.read(prefix).mem == 64 * 2**40


@pytest.mark.parametrize("command", CREATE_COMMANDS)
def test_environment_yml_create_export_apply(conda_cli, tmp_path, command):
    path = write(tmp_path / "environment.yml",
                 "name: x\ndependencies: []\nlimits:\n  mem: 2G  # for the GPU jobs\n")
    prefix = tmp_path / "env"
    _, err, code = conda_cli(*command, "-f", path, "-p", prefix)
    assert not code, err
    assert record.read(prefix) == LimitSet(mem=2 * 2**30)
    out, _, _ = conda_cli("limits", "export", "-p", prefix)
    assert out == "limits:\n  mem: 2G\n"
    out, _, _ = conda_cli("env", "export", "-p", prefix)
    assert "limits:\n  mem: 2G\n" in out
    out, err, code = conda_cli("limits", "set", "-f", path, "--mem", "3G")
    assert code == 0, err
    assert "  mem: 3G  # for the GPU jobs\n" in path.read_text()
    out, _, _ = conda_cli("limits", "show", "-f", path, "--json")
    assert json.loads(out)["limits"] == {"mem": {"kind": "mem", "value": 3 * 2**30,
                                                 "soft": None, "hard": None,
                                                 "unit": "bytes"}}
    conda_cli("limits", "apply", "-f", path, "-p", prefix)
    assert record.read(prefix).mem == 3 * 2**30
    conda_cli("limits", "unset", "-f", path, "--mem")
    assert "mem" not in path.read_text()


def test_a_tiny_value_in_a_file_is_refused_with_its_place(conda_cli, tmp_path, tmp_env):
    from conda_limits.cli.exceptions import LimitsFileError

    path = write(tmp_path / "environment.yml", "name: x\nlimits:\n  mem: 1M\n")
    with tmp_env() as prefix:
        _, _, error = conda_cli("limits", "apply", "-f", path, "-p", prefix,
                                raises=LimitsFileError)
        assert "environment.yml:3:8: limits.mem: 1M is below 32M" in str(error.value)
        assert not record.record_path(prefix).exists()


@pytest.mark.parametrize("format,expected", [
    ("docker", "--memory=6g"), ("systemd-run", "-p MemoryMax=6G"), ("sbatch", "#SBATCH --mem=6G"),
])
def test_the_export_formats(conda_cli, tmp_env, format, expected):
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--mem", "6G")
        out, err, _ = conda_cli("limits", "export", "-p", prefix, "--format", format)
        assert expected in out
        assert "mem: not set" not in out + err


def _cap_problem(user: str | None) -> str | None:
    """Why ``user`` can have no memory cap here (None: a backend can enforce one)."""
    probe = ("from conda_limits.system import memory_cap\n"
             "try:\n    memory_cap.choose(64 << 20).close()\n"
             "except memory_cap.MemoryCapUnavailable as e:\n    print(e)\n")
    argv = [sys.executable, "-c", probe]
    if user:
        argv = ["runuser", "-u", user, "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, cwd="/",
                          check=True).stdout.strip() or None


@pytest.mark.parametrize("user", USERS, ids=lambda u: u or "this user")
def test_run_limited_applies_the_recorded_mem_and_a_flag_wins(user):
    with owned_dir(user) as folder:
        prefix = folder / "env"
        assert conda_as(user, "create", "-p", str(prefix), "--yes", "--quiet").returncode == 0
        assert conda_as(user, "limits", "set", "-p", str(prefix), "--mem", "64M").returncode == 0

        def run(*flags: str, size: int = 160) -> subprocess.CompletedProcess[str]:
            return conda_as(user, "run-limited", "-p", str(prefix), "--no-record", *flags,
                            "--", sys.executable, "-c", GROW, str(size))

        problem = _cap_problem(user)
        if problem is not None:  # no backend for this user: refused clearly, nothing ran
            done = run()
            assert done.returncode == 1, done.stderr
            assert "Cannot cap resident memory at 64M (mem) here: " in done.stderr
            assert "--mem unlimited" in done.stderr
        else:
            done = run()
            assert done.returncode in (137, 143), done.stderr  # a cgroup's, or the watch's
            assert "conda-limits: the --mem limit stopped the command" in done.stderr
            assert run(size=8).returncode == 0
            assert run("--mem", "512M").returncode == 0
        done = run("--mem", "unlimited")
        assert (done.returncode, done.stderr) == (0, "")


def test_suggest_apply_records_mem(tmp_env):
    with tmp_env() as prefix:
        for _ in range(3):
            done = conda("run-limited", "-p", str(prefix), "--", sys.executable, "-c", GROW,
                         "100")
            assert done.returncode == 0, done.stderr
        done = conda("limits", "suggest", "-p", str(prefix), "--only", "mem", "--apply")
        assert done.returncode == 0, done.stderr
        assert "cannot" not in done.stdout and "mem is applied per run" not in done.stdout
        mem = record.read(prefix).mem
        assert isinstance(mem, int) and 100 * MiB < mem <= 512 * MiB
        assert record.read_sources(prefix)["mem"].kind == "conda-limits-set"


def test_doctor_says_whether_mem_can_be_enforced_here(conda_cli, tmp_env):
    with tmp_env() as prefix:
        conda_cli("limits", "set", "-p", prefix, "--mem", "64M")
        out, _, _ = conda_cli("doctor", "-p", prefix)
        said = "mem 64 MiB cannot be enforced here for this user" in out
        assert said == (_cap_problem(None) is not None), out


def test_site_defaults_give_new_environments_mem(conda_cli, tmp_path, monkeypatch):
    from conda.base.context import reset_context

    folder = tmp_path / "config" / "conda"
    folder.mkdir(parents=True)
    rc = write(folder / ".condarc", "plugins:\n  limits_defaults:\n    mem: 8G\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder.parent))
    monkeypatch.delenv("CONDA_LIMITS_NO_DEFAULTS", raising=False)
    reset_context()
    try:
        from contextlib import suppress

        from conda.base.context import context

        with suppress(AttributeError):
            del context.plugins
        if "limits_defaults" not in getattr(getattr(context, "plugins", None),
                                            "parameter_names", ()):
            pytest.skip("this conda has no plugin settings")
        _, err, code = conda_cli("create", "-p", tmp_path / "env", "--yes")
        assert not code, err
        assert record.read(tmp_path / "env") == parse_limits({"mem": "8G"})
        assert record.read_sources(tmp_path / "env")["mem"].path == str(rc)
    finally:
        monkeypatch.undo()
        reset_context()


def test_a_kernel_install_mem_below_the_floor_exits_2(tmp_env, tmp_path):
    with tmp_env() as prefix:
        done = conda("limits", "kernel", "install", "-p", str(prefix), "--mem", "0",
                     "--jupyter-prefix", str(tmp_path))
        assert done.returncode == 2, done.stderr
        assert not any(tmp_path.rglob("kernel.json"))

