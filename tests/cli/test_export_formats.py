"""``conda limits export --format sbatch|systemd-run|docker`` through the real conda; a batch
script made of the exported lines and a real ``conda activate`` runs on the test cluster."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import conda_limits
from conda_limits import exports
from conda_limits.state import record

from ..conftest import requires_conda

pytestmark = requires_conda

CONDA = Path(sys.prefix, "bin", "conda")
SOURCE = str(Path(conda_limits.__file__).resolve().parent.parent)


def conda(*args: str, environ=None, cwd=None) -> subprocess.CompletedProcess:
    if not CONDA.exists():
        pytest.skip(f"no conda executable at {CONDA}")
    return subprocess.run([str(CONDA), *args], capture_output=True, text=True, timeout=300,
                          env=environ or {**os.environ, "PYTHONPATH": SOURCE}, cwd=cwd)


@pytest.fixture(scope="module")
def env():
    folder = Path(tempfile.mkdtemp(prefix="conda-limits-export-"))
    folder.chmod(0o755)
    prefix = folder / "env"
    try:
        for args in (["create", "-q", "-p", str(prefix), "--yes"],
                     ["limits", "set", "-p", str(prefix), "--nofile", "333", "--vmem", "3G",
                      "--stack", "8M", "--hard"]):
            done = conda(*args)
            assert done.returncode == 0, done.stderr
        yield prefix
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("format", exports.FORMATS)
def test_text_on_stdout_notes_on_stderr(env, format):
    done = conda("limits", "export", "-p", str(env), "--format", format)
    assert done.returncode == 0, done.stderr
    expected = exports.render(format, exports.Settings(record.read(env), name=str(env)))
    assert done.stdout == expected.text
    assert done.stderr == "".join(f"# {note}\n" for note in expected.notes)


def test_json_and_refusals(env, tmp_path):
    done = conda("limits", "export", "-p", str(env), "--format", "docker", "--json")
    data = json.loads(done.stdout)
    assert data["format"] == "docker" and data["prefix"] == str(env)
    assert data["text"] == "--ulimit=stack=8388608:8388608 --ulimit=nofile=333:333\n"
    assert any(note.startswith("vmem 3G, hard 3G: docker refuses --ulimit as")
               for note in data["notes"])
    target = tmp_path / "environment.yml"
    target.write_text("name: x\n")
    refused = conda("limits", "export", "-p", str(env), "--format", "sbatch", "-f", str(target))
    assert refused.returncode == 2
    assert "--format sbatch prints to stdout" in refused.stderr
    assert target.read_text() == "name: x\n"


def test_a_batch_script_with_the_lines_and_conda_activate(slurm_cluster, env):
    lines = conda("limits", "export", "-p", str(env), "--format", "sbatch").stdout
    script = env.parent / "job.sh"
    script.write_text(
        "#!/bin/bash\n#SBATCH --mem=200M\n" + lines
        + f'eval "$({CONDA} shell.bash hook)"\n'
        + f"conda activate {env}\n"
        + "grep -E '^Max (open files|address space|stack size) ' /proc/self/limits\n"
        + 'echo "active: $CONDA_PREFIX"\n')
    output = env.parent / "out.txt"
    state = slurm_cluster.batch(script, output, environ={**os.environ, "PYTHONPATH": SOURCE})
    assert state == "COMPLETED"
    out = output.read_text()
    rows = {line[:25].strip(): line[25:].split()[:2] for line in out.splitlines()
            if line.startswith("Max ")}
    assert rows == {"Max open files": ["333", "333"],
                    "Max address space": [str(3 << 30)] * 2,
                    "Max stack size": [str(8 << 20)] * 2}
    assert f"active: {env}\n" in out


def test_a_newline_in_the_environments_path_never_starts_a_line(env, tmp_path):
    """A path with a newline (`conda rename`, a move, an unpacked copy): what followed it
    was a live line of the batch script (a command, or an #SBATCH line of the path's)."""
    hostile = env.parent / "x\ntouch pwned\n#SBATCH --mem=1T\r\x1b[2J"
    env.rename(hostile)
    try:
        for format in exports.FORMATS:
            done = conda("limits", "export", "-p", str(hostile), "--format", format)
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            if format == "sbatch":
                assert all(line.startswith(("# ", "#SBATCH ")) for line in lines), lines
                assert "#SBATCH --mem=1T" not in lines
                script = tmp_path / "job.sh"
                script.write_text("#!/bin/sh\n" + done.stdout)
                subprocess.run(["sh", str(script)], cwd=tmp_path, check=True, timeout=60)
                assert not (tmp_path / "pwned").exists()
            else:
                assert len(lines) == 1
            assert all(line.startswith("# ") and line.isprintable()
                       for line in done.stderr.splitlines()), done.stderr
            assert all(line.isprintable() for line in lines)
            data = json.loads(conda("limits", "export", "-p", str(hostile), "--format", format,
                                    "--json").stdout)
            assert data["text"] == done.stdout
            assert all("\n" not in note and note.isprintable() for note in data["notes"])
    finally:
        hostile.rename(env)
