"""What a job asks Slurm for, and the user's srun options winning over ours."""

from __future__ import annotations

import pytest

from conda_limits.limits.cpu import CpuSettings
from conda_limits.limits.model import parse_limits
from conda_limits.slurm.options import (
    Request,
    SlurmOptionsError,
    cpus_for,
    given_groups,
    merged,
    slurm_size,
    user_options,
)

MiB = 2**20


@pytest.mark.parametrize(("size", "text"), [
    (100 * MiB, "100M"), (4 * 2**30, "4G"), (2**40, "1T"), (1536 * MiB, "1536M"),
    (MiB + 1024, "2M"),  # rounded up: Slurm counts MiB
    (1024, "1M"),  # never --mem=0, which would mean the whole node
])
def test_slurm_size(size, text):
    assert slurm_size(size) == text


def test_request_options():
    assert Request().options() == []
    assert Request(mem=6 * 2**30, cpus=3).options() == ["--mem=6G", "--cpus-per-task=3"]


def cpu(**settings) -> CpuSettings:
    return parse_limits(settings).cpu


def test_cpus_from_cores_else_cpuset_else_threads():
    assert cpus_for(cpu(cores=2.5, cpuset="0-1", threads=8)) == 3
    assert cpus_for(cpu(cores="0.25")) == 1
    assert cpus_for(cpu(cpuset="0-3,8", threads=2)) == 5
    assert cpus_for(cpu(threads=4)) == 4
    assert cpus_for(cpu()) is None
    assert Request.of(parse_limits({"cores": 2, "nofile": 10}), 2**30).options() == [
        "--mem=1G", "--cpus-per-task=2"]


def test_user_options_are_split_like_a_shell_without_expansion():
    assert user_options("-p debug --time=10 -J 'my job' --comment=$HOME") == [
        "-p", "debug", "--time=10", "-J", "my job", "--comment=$HOME"]
    assert user_options("") == [] and user_options(None) == []


@pytest.mark.parametrize(("text", "problem"), [
    ("-p debug python", "'python' in the srun options is not an option"),
    ("--pty bash", "'bash' in the srun options is not an option"),
    ("-l x", "'x' in the srun options is not an option"),
    ("--mem=1G -- python", "must not contain `--`"),
    ("-p 'debug", "cannot read the srun options"),
])
def test_user_options_refuse_a_command(text, problem):
    with pytest.raises(SlurmOptionsError, match=problem):
        user_options(text)


def test_option_values_are_not_commands():
    assert user_options("--partition debug -c 4 -lJ name --mem-per-cpu 2G") == [
        "--partition", "debug", "-c", "4", "-lJ", "name", "--mem-per-cpu", "2G"]


@pytest.mark.parametrize(("words", "groups"), [
    (["--mem=2G"], {"mem"}),
    (["--mem-per-cpu", "1G"], {"mem"}),
    (["--mem-per-c=1G"], {"mem"}),  # getopt takes an unambiguous prefix
    (["-c4"], {"cpus"}),
    (["-lc", "4"], {"cpus"}),
    (["-J", "name"], {"name"}),
    (["-p", "c"], set()),  # the value "c" of -p is not -c
    (["-pc"], set()),  # -p with the value "c"
    (["--export=NONE", "--comment=x"], {"export", "comment"}),
])
def test_given_groups(words, groups):
    assert given_groups(words) == groups


def test_the_users_options_win():
    ours = ["--mem=100M", "--cpus-per-task=2", "--job-name=python", "--export=ALL"]
    assert merged(ours, ["--mem-per-cpu=1G", "-p", "debug"]) == [
        "--cpus-per-task=2", "--job-name=python", "--export=ALL", "--mem-per-cpu=1G", "-p",
        "debug"]
    assert merged(ours, ["-c", "8", "-J", "x"]) == [
        "--mem=100M", "--export=ALL", "-c", "8", "-J", "x"]
    assert merged(ours, []) == ours


@pytest.mark.parametrize(("text", "option", "where"), [
    ("-J", "-J", "ends the srun options"),
    ("-p", "-p", "ends the srun options"),
    ("--time=5 --partition", "--partition", "ends the srun options"),
    ("-lJ", "-lJ", "ends the srun options"),
    ("-J --time=5", "-J", "is followed by '--time=5'"),
    ("--job-name -l", "--job-name", "is followed by '-l'"),
])
def test_an_option_without_its_value_is_refused(text, option, where):
    """srun would take the next word, or the `--` before the command, as the value: a job
    named `--`, or "invalid partition specified: --"."""
    with pytest.raises(SlurmOptionsError) as caught:
        user_options(text)
    assert f"the srun option {option!r} takes a value, but {where}" in str(caught.value)


def test_options_with_their_values_and_flags_last_are_kept():
    assert user_options("-J name -l --exclusive -c4") == ["-J", "name", "-l", "--exclusive", "-c4"]


def test_the_job_name_is_the_programs_name_escaped():
    from conda_limits.slurm.job import job_name

    assert job_name("/usr/bin/python3") == "python3"
    assert job_name("/tmp/a\nb\x1b") == "a\\nb\\x1b"
    assert job_name("/") == "/"
