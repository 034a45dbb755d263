"""The export formats: golden files, the real docker client's flag parser, a real sbatch job."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conda_limits import exports
from conda_limits.exports import Settings
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files

GOLDEN = Path(__file__).parent.parent / "data" / "exports"
FULL = Settings(parse_limits({"vmem": "4G", "nofile": {"soft": 1024, "hard": 4096},
                              "stack": {"hard": "16M"}, "core": "unlimited", "cpu": "10m",
                              "nproc": 200, "cores": 2.5, "threads": 2, "cpuset": "0-3",
                              "mem": "6G"}),
                name="ai_env")
SMALL = Settings(parse_limits({"nofile": 1024}), name="/envs/small")
EMPTY = Settings(parse_limits({}), name="bare")
CASES = {"full": FULL, "small": SMALL, "empty": EMPTY}


def shown(export: exports.Export) -> str:
    """What the CLI prints: stdout, then the notes (stderr) as comment lines."""
    return export.text + "".join(f"# {note}\n" for note in export.notes)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("format", exports.FORMATS)
def test_golden(format: str, case: str):
    path = GOLDEN / f"{case}.{format}.txt"
    text = shown(exports.render(format, CASES[case]))
    if os.environ.get("CONDA_LIMITS_WRITE_GOLDEN") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown export format 'podman'"):
        exports.render("podman", SMALL)


def test_sbatch_is_comments_and_directives_only():
    for line in exports.render("sbatch", FULL).text.splitlines():
        assert line.startswith(("#SBATCH ", "# "))


@pytest.mark.skipif(shutil.which("docker") is None, reason="no docker client here")
def test_the_docker_client_accepts_the_flags():
    """docker parses --ulimit/--memory/--cpus before it contacts the daemon: without one,
    valid flags fail on the connection, invalid ones on the flag."""
    flags = exports.render("docker", FULL).text.split()
    done = subprocess.run(["docker", "run", *flags, "--", "busybox", "true"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode == 0:
        return  # a daemon ran it
    assert "invalid argument" not in done.stderr and "flag" not in done.stderr, done.stderr
    refused = subprocess.run(["docker", "run", "--ulimit=as=1:1", "busybox", "true"],
                             capture_output=True, text=True, timeout=60)
    assert "invalid ulimit type: as" in refused.stderr  # the reason vmem is a note


def test_prlimit_takes_the_systemd_run_limits():
    """The prlimit part of the systemd-run line, run for real (systemd itself is not)."""
    if shutil.which("prlimit") is None:
        pytest.skip("no prlimit (util-linux) here")
    words = exports.render("systemd-run", SMALL).text.split()
    prlimit = words[words.index("prlimit"):]
    done = subprocess.run([*prlimit, "sh", "-c", "ulimit -S -n; ulimit -H -n"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert done.stdout.split() == ["1024", "unlimited" if hard < 0 else str(hard)]  # hard kept


def test_an_sbatch_job_with_the_exported_lines(slurm_cluster):
    """The exported lines in a real batch script: Slurm takes --mem and --cpus-per-task
    (after the comment lines), the script's activation applies the rlimits; as an
    unprivileged user."""
    from tests.slurm_cluster import Unavailable, ensure_user

    try:
        user = ensure_user("limtest")
    except Unavailable as error:
        pytest.skip(str(error))
    folder = Path(tempfile.mkdtemp(prefix="conda-limits-sbatch-"))
    try:
        folder.chmod(0o755)
        prefix = folder / "env"
        (prefix / "conda-meta").mkdir(parents=True)
        limits = parse_limits({"nofile": 333, "vmem": "3G", "cores": 2, "mem": "150M"})
        prefix_files.write(prefix, limits)
        settings = Settings(limits, name=str(prefix))
        script = folder / "job.sh"
        script.write_text(
            "#!/bin/sh\n" + exports.render("sbatch", settings).text
            # what `conda activate` does in a POSIX shell: source activate.d/*.sh
            + f'for f in "{prefix}"/etc/conda/activate.d/*.sh; do . "$f"; done\n'
            + "grep -E '^Max (open files|address space) ' /proc/self/limits\n"
            + "scontrol -o show job $SLURM_JOB_ID | grep -o ' TRES=[^ ]*'\n")
        os.chown(folder, user.pw_uid, user.pw_gid)
        assert slurm_cluster.batch(script, folder / "out.txt", user=user) == "COMPLETED"
        out = (folder / "out.txt").read_text()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    rows = {line[:25].strip(): line[25:].split()[0] for line in out.splitlines()
            if line.startswith("Max ")}
    assert rows == {"Max open files": "333", "Max address space": str(3 * 2**30)}
    assert " TRES=cpu=2,mem=150M,node=1,billing=2" in out


def test_prlimit_starts_under_a_hard_only_limit_below_the_soft_one_it_inherits():
    """A hard-only limit: prlimit refuses ":N" when the soft limit it keeps is above N, so
    the export gives N:N (as docker's), and says so."""
    if shutil.which("prlimit") is None:
        pytest.skip("no prlimit (util-linux) here")
    settings = Settings(parse_limits({"cpu": {"hard": "2h"}, "nofile": {"hard": 64}}))
    export = exports.render("systemd-run", settings)
    words = export.text.split()
    prlimit = words[words.index("prlimit"):-1]
    assert "--cpu=7200:7200" in prlimit and "--nofile=64:64" in prlimit
    assert any("cpu hard 2h has no soft value" in note for note in export.notes)
    done = subprocess.run(["prlimit", "--nofile=100:100", *prlimit, "sh", "-c",
                           "ulimit -S -n; ulimit -H -n; ulimit -S -t"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["64", "64", "7200"]


HOSTILE = "/envs/x\ntouch pwned\n#SBATCH --mem=1T\r\x1b[2J it's"


@pytest.mark.parametrize("format", exports.FORMATS)
def test_a_name_with_newlines_stays_inside_its_comment_or_note(format: str):
    export = exports.render(format, Settings(FULL.limits, name=HOSTILE))
    lines = export.text.splitlines()
    if format == "sbatch":
        assert all(line.startswith(("# ", "#SBATCH ")) for line in lines)
        assert "#SBATCH --mem=1T" not in lines
    else:
        assert len(lines) == 1
    for text in (*lines, *export.notes):
        assert text.isprintable()
    # The name is one shell word in the `conda activate` it gives to copy.
    assert r"""`conda activate '/envs/x\ntouch pwned\n#SBATCH --mem=1T\r\x1b[2J it'"'"'s'`""" in (
        export.text + "".join(export.notes))


def test_a_format_that_breaks_its_lines_is_refused_not_printed():
    with pytest.raises(ValueError, match="lines that are not its own"):
        exports.checked("sbatch", exports.Export("#SBATCH --mem=1G\ntouch x\n"))
    with pytest.raises(ValueError, match="lines that are not its own"):
        exports.checked("docker", exports.Export("--memory=1g\n", ("a\nb",)))
    with pytest.raises(ValueError, match="lines that are not its own"):
        exports.checked("systemd-run", exports.Export("systemd-run\n-- x\n"))
