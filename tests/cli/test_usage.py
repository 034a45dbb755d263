"""Measure -> suggest -> apply through the real conda: ``conda run-limited`` records runs,
``conda limits usage`` shows them, ``conda limits suggest`` proposes limits and writes them,
``conda doctor`` reports limits the runs contradict."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conda_limits.limits import resources
from conda_limits.usage import log, optout
from conda_limits.usage.suggest import readable

from ..conftest import requires_conda
from ..test_prefix_files import read_only

pytestmark = requires_conda

CONDA = Path(sys.prefix, "bin", "conda")
MiB = 1 << 20
# Holds SIZE MiB touched for a few of the runner's looks.
GROW = textwrap.dedent("""
    import sys, time
    held = bytearray(int(sys.argv[1]) << 20)
    held[::4096] = b"x" * len(held[::4096])
    time.sleep(0.5)
""")


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch) -> Path:
    """The user's state directory (and conda configuration) under tmp_path."""
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("CONDA_LIMITS_NO_RECORD", raising=False)
    return folder


def conda(*args: str, **kwargs) -> subprocess.CompletedProcess:
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    return subprocess.run([str(CONDA), *args], capture_output=True, text=True, timeout=300,
                          check=False, **kwargs)


def grow(prefix: Path, size: int, *flags: str) -> None:
    result = conda("run-limited", "-p", str(prefix), *flags, "--", sys.executable, "-c", GROW,
                   str(size))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def recorded(prefix: Path) -> int:
    return len(log.read(prefix).runs)


def test_measure_suggest_apply(tmp_env, tmp_path):
    size = 300
    with tmp_env() as prefix:
        out = conda("limits", "usage", "-p", str(prefix)).stdout
        assert "No runs are recorded" in out and "recording is on" in out
        for _ in range(3):
            grow(prefix, size, "--nofile", "2048")
        out = conda("limits", "usage", "-p", str(prefix)).stdout
        assert f"# runs recorded for the environment at {prefix} (3; recording is on)" in out
        assert out.count(" run-limited ") == 3
        assert "Peak resident memory, oldest to newest (3 runs" in out
        assert f"Log: {prefix / log.LOG}" in out
        data = json.loads(conda("limits", "usage", "-p", str(prefix), "--json").stdout)
        assert data["recording"] is True and data["recorded"] == 3
        assert all(run["limits"]["nofile"] == 2048 for run in data["runs"])

        result = conda("limits", "suggest", "-p", str(prefix), "--json")
        found = {s["key"]: s for s in json.loads(result.stdout)["suggestions"]}
        peak = found["data"]["peak"]
        assert size * MiB < peak < (size + 64) * MiB
        expected = readable(resources.get("data"), peak * 1.25)
        assert found["data"]["suggested"] == expected and found["data"]["runs"] == 3
        assert size * MiB < expected <= readable(resources.get("data"), (size + 64) * MiB * 1.25)

        out = conda("limits", "suggest", "-p", str(prefix)).stdout
        assert "with a margin of 25%" in out and "--apply` records them" in out
        out = conda("limits", "suggest", "-p", str(prefix), "--only", "data,nofile",
                    "--apply", "--dry-run").stdout
        assert "# limits the environment at" in out
        assert not (prefix / "etc" / "conda" / "limits.yml").exists()
        result = conda("limits", "suggest", "-p", str(prefix), "--only", "data,nofile",
                       "--apply")
        assert result.returncode == 0, result.stderr
        shown = json.loads(conda("limits", "show", "-p", str(prefix), "--json").stdout)
        assert shown["limits"]["data"]["soft"] == expected
        assert shown["limits"]["nofile"]["soft"] == 256
        assert "vmem" not in shown["limits"]
        grow(prefix, size)  # the applied limits leave the program working

        envfile = tmp_path / "environment.yml"
        envfile.write_text("name: demo\n# keep me\ndependencies: [python]\n")
        result = conda("limits", "suggest", "-p", str(prefix), "--only", "data", "-f",
                       str(envfile), "--margin", "50%")
        assert result.returncode == 0, result.stderr
        text = envfile.read_text()
        assert "# keep me" in text
        assert f"data: {readable(resources.get('data'), peak * 1.5) // MiB}M" in text


def test_too_few_runs_propose_nothing(tmp_env):
    with tmp_env() as prefix:
        grow(prefix, 10)
        out = conda("limits", "suggest", "-p", str(prefix)).stdout
        assert "vmem, data, nofile, cpu, mem: too few runs: 1 recorded, 2 more needed" in out
        result = conda("limits", "suggest", "-p", str(prefix), "--apply")
        assert result.returncode == 1
        assert "No limit can be proposed yet" in result.stderr
        assert not (prefix / "etc" / "conda" / "limits.yml").exists()


def test_vmem_is_not_proposed_with_cuda_packages(tmp_env):
    with tmp_env() as prefix:
        (prefix / "conda-meta" / "pytorch-2.5.1-cuda126_py312h0_0.json").write_text("{}")
        for _ in range(3):
            grow(prefix, 50)
        data = json.loads(conda("limits", "suggest", "-p", str(prefix), "--json").stdout)
        found = {s["key"]: s for s in data["suggestions"]}
        assert found["vmem"]["suggested"] is None and "pytorch" in found["vmem"]["warning"]
        assert found["mem"]["suggested"] is not None
        out = conda("limits", "suggest", "-p", str(prefix)).stdout
        assert "warning: vmem: not proposed" in out and "conda run-limited --mem" in out


def test_recording_can_be_turned_off_per_run_environment_and_user(tmp_env, tmp_path):
    with tmp_env() as prefix:
        grow(prefix, 1, "--no-record")
        assert conda("run-limited", "-p", str(prefix), "--", "true",
                     env={**os.environ, "CONDA_LIMITS_NO_RECORD": "1"}).returncode == 0
        assert recorded(prefix) == 0

        out = conda("limits", "usage", "-p", str(prefix), "--disable").stdout
        assert "Recording is off" in out and (prefix / optout.MARKER).exists()
        grow(prefix, 1)
        assert recorded(prefix) == 0
        out = conda("limits", "usage", "-p", str(prefix)).stdout
        assert "recording is off: recording is off for this environment" in out
        conda("limits", "usage", "-p", str(prefix), "--enable")
        assert not (prefix / optout.MARKER).exists()
        grow(prefix, 1)
        assert recorded(prefix) == 1

        rc = tmp_path / "config" / "conda" / ".condarc"
        rc.parent.mkdir(parents=True)
        rc.write_text("plugins:\n  limits_record_usage: false\n")
        grow(prefix, 1)
        assert recorded(prefix) == 1
        out = conda("limits", "usage", "-p", str(prefix)).stdout
        assert "plugins.limits_record_usage is false" in out
        described = conda("config", "--describe", "plugins.limits_record_usage")
        if "Invalid configuration parameters" not in described.stderr:  # conda 24.11 cannot
            assert "conda-limits: record what" in described.stdout

        rc.write_text("")
        assert conda("limits", "usage", "-p", str(prefix), "--clear").returncode == 0
        assert recorded(prefix) == 0 and not (prefix / log.LOG).exists()


def test_twenty_runs_at_once_are_all_recorded(tmp_env):
    with tmp_env() as prefix:
        procs = [subprocess.Popen([str(CONDA), "run-limited", "-p", str(prefix), "--", "sh",
                                   "-c", f"exit {n % 3}"], stderr=subprocess.PIPE, text=True)
                 for n in range(20)]
        for n, proc in enumerate(procs):
            assert proc.wait(timeout=600) == n % 3
            assert proc.stderr is not None and proc.stderr.read() == ""
        lines = (prefix / log.LOG).read_text().splitlines()
        assert len(lines) == 20
        assert sorted(json.loads(line)["status"] for line in lines) == \
            sorted(n % 3 for n in range(20))


def test_a_read_only_environment_records_into_the_users_dir(tmp_env, state):
    with tmp_env() as prefix:
        (prefix / "etc" / "conda").mkdir(parents=True, exist_ok=True)
        with read_only(prefix / "etc" / "conda"):
            result = conda("run-limited", "-p", str(prefix), "--", "sh", "-c", "exit 4")
            assert (result.returncode, result.stderr) == (4, "")
        assert not (prefix / log.LOG).exists()
        assert list(state.rglob("*.jsonl"))
        out = conda("limits", "usage", "-p", str(prefix)).stdout
        assert "(1; recording is on)" in out and f"Log: {state}" in out


def test_doctor_reports_limits_the_runs_contradict(tmp_env):
    with tmp_env() as prefix:
        assert conda("limits", "set", "-p", str(prefix), "--cpu", "1", "--allow-tiny",
                     "--nofile", "16384").returncode == 0
        for _ in range(3):
            result = conda("run-limited", "-p", str(prefix), "--", "sh", "-c",
                           "while :; do :; done")
            assert result.returncode == 152
        out = conda("doctor", "-p", str(prefix)).stdout
        assert "cpu 1 s stopped 3 recorded runs" in out
        assert "nofile 16384 is far above what 3 recorded runs used" in out
        assert f"conda limits set -p {prefix} --nofile 256" in out


@pytest.mark.parametrize("condarc, variable, expected", [
    ("", None, True),
    ("plugins:\n  limits_record_usage: false\n", None, False),
    ("plugins:\n  limits_record_usage: false\n", "true", True),
    ("", "no", False),
    ("plugins:\n  limits_defaults: {nofile: 100}\n", None, True),
])
def test_the_users_setting_is_read_without_loading_plugins(tmp_path, monkeypatch, condarc,
                                                           variable, expected):
    from conda.base.context import reset_context

    from conda_limits.run.conda_env import plugin_flag

    rc = tmp_path / "config" / "conda" / ".condarc"
    rc.parent.mkdir(parents=True)
    rc.write_text(condarc)
    if variable is None:
        monkeypatch.delenv("CONDA_PLUGINS_LIMITS_RECORD_USAGE", raising=False)
    else:
        monkeypatch.setenv("CONDA_PLUGINS_LIMITS_RECORD_USAGE", variable)
    reset_context()
    try:
        assert plugin_flag(optout.SETTING, True) is expected
    finally:
        monkeypatch.undo()
        reset_context()


def test_hand_made_dates_and_figures_are_skipped_not_shown_or_a_crash(tmp_env):
    """Anyone who can write the log (a group-writable or copied environment) can put any
    line in it: a date after 9999-12-31 in UTC ended usage/suggest in a traceback, and a
    negative figure was shown as a measurement."""
    with tmp_env() as prefix:
        good = {"v": 1, "at": "2026-01-01T10:00:00Z", "via": "run-limited", "command": "c",
                "wall": 1, "status": 0, "used": {"rss": 300 * MiB}}
        bad = [{**good, "at": "9999-12-31T23:59:59-14:00"},
               {**good, "mem": {"limit": 1 << 30, "peak": -5}},
               {**good, "status": -3}]
        path = log.prefix_log(prefix)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(d, separators=(",", ":")) + "\n"
                                for d in [good, good, good, *bad]))
        for args in (["usage"], ["usage", "--json"], ["suggest"], ["suggest", "--json"]):
            result = conda("limits", *args, "-p", str(prefix))
            assert result.returncode == 0, result.stderr
            # the output names the environment's path, which holds random numbers ("pytest-51")
            shown = result.stdout.replace(str(prefix), "PREFIX")
            assert "Traceback" not in result.stderr
            assert not re.search(r"(?<![\w/.-])-5(?!\d)", shown)
            if args == ["usage", "--json"]:
                data = json.loads(result.stdout)
                assert (data["recorded"], data["skipped"]) == (3, 3)


def test_suggest_apply_never_lowers_a_data_limit_the_runs_failed_under(tmp_env):
    with tmp_env() as prefix:
        assert conda("limits", "set", "-p", str(prefix), "--data", "256M").returncode == 0
        for _ in range(3):
            result = conda("run-limited", "-p", str(prefix), "--", sys.executable, "-c",
                           "x = bytearray(600 << 20)")
            assert result.returncode == 1 and "MemoryError" in result.stderr
        assert [run.stopped_by for run in log.read(prefix).runs] == ["data"] * 3
        result = conda("limits", "suggest", "-p", str(prefix), "--apply")
        assert result.returncode == 0, result.stderr
        from conda_limits.state import record

        assert record.read(prefix)["data"].soft > 256 * MiB
