"""The docs as a new user follows them: the console blocks fit the page's column, show no
build machine's paths, the example scripts run, and the captured outputs agree with a real
run in conda (``docs/examples/regenerate.py``, which also rewrites them)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import requires_conda

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
WIDTH = 88  # columns a code block of the theme shows without scrolling

_spec = importlib.util.spec_from_file_location("regenerate", EXAMPLES / "regenerate.py")
assert _spec is not None and _spec.loader is not None
regenerate = importlib.util.module_from_spec(_spec)
sys.modules["regenerate"] = regenerate  # dataclasses look their module up
_spec.loader.exec_module(regenerate)

FENCE = re.compile(r"^(?P<fence>```+)(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=fence)$",
                   re.DOTALL | re.MULTILINE)


def code_blocks(language: str | None = None) -> list[tuple[str, int, str]]:
    """(file, line, body) of every fenced block of README.md and docs/ (of one language)."""
    blocks = []
    for path in regenerate.documents():
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if language is None or match["lang"] == language:
                line = text.count("\n", 0, match.start()) + 1
                blocks.append((str(path.relative_to(ROOT)), line, match["body"]))
    return blocks


def test_typed_console_lines_fit_the_column():
    """Commands and their comments (what a reader must see whole) fit in WIDTH columns: long
    commands are wrapped with a backslash, comments go on a line of their own."""
    too_wide = []
    for name, line, body in code_blocks("console"):
        for command in regenerate.parse_body(body):
            typed = [command.prompt + command.lines[0], *command.lines[1:]]
            too_wide += [f"{name}:{line}: {len(text)} columns: {text}"
                         for text in typed if len(text) > WIDTH]
    assert not too_wide, "\n".join(too_wide)


def test_console_blocks_parse():
    """Every console block starts with a command; a wrapped command's last line has no
    backslash (else the next output line would be taken for a part of it)."""
    for name, line, body in code_blocks("console"):
        commands = regenerate.parse_body(body)
        assert commands, f"{name}:{line}: no command"
        for command in commands:
            assert not command.lines[-1].endswith("\\"), f"{name}:{line}: unfinished command"


@pytest.mark.parametrize("machine_path", ["/opt/conda-root", "/work/", "/tmp/tmp", "/tmp/console-",
                                          "/root/", "/tmp/scratch", "/usr/lib/python"])
def test_no_build_machine_paths(machine_path):
    """Captured outputs show a user's paths (a Miniforge base in a home directory), never
    those of the machine the docs were written on."""
    found = [f"{name}:{line}" for name, line, body in code_blocks() if machine_path in body]
    assert not found, f"{machine_path} in {found}"


def test_the_examples_are_shipped_and_used():
    """Every script a documented command runs is in docs/examples/, and every example there
    is run by some documented command."""
    shipped = {path.name for path in EXAMPLES.glob("*.py")} - {"regenerate.py"}
    used = set()
    for _, _, body in code_blocks("console"):
        for command in regenerate.parse_body(body):
            used |= set(re.findall(r"(?<![\w/])(\w+\.py)\b", command.script))
    used -= {"bench_cpu.py"}  # benchmarks/ of the checkout
    assert used <= shipped, f"used but not shipped: {sorted(used - shipped)}"
    assert shipped <= used, f"shipped but never used: {sorted(shipped - used)}"


@pytest.mark.parametrize(("script", "args", "expected"), [
    ("train.py", ["64"], "trained with 64 MiB"),
    ("train_gpu.py", ["64"], "trained on CPU with 64 MiB"),
])
def test_an_example_runs_as_documented(script, args, expected, tmp_path):
    done = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_the_fit_example_follows_the_thread_variables(tmp_path):
    pytest.importorskip("numpy")
    done = subprocess.run([sys.executable, str(EXAMPLES / "fit.py"), "3"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "OMP_NUM_THREADS": "1",
                               "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"fitted: 3 products, BLAS threads 1(,1)*, \d+\.\d\d s\n", done.stdout)


def test_train_stops_at_a_data_limit(tmp_path):
    """What docs/usage.md shows: a data limit below the size asked makes train.py fail with
    MemoryError."""
    code = ("import resource, runpy, sys; "
            "resource.setrlimit(resource.RLIMIT_DATA, (256 << 20, -1)); "
            "sys.argv = ['train.py', '512']; "
            f"runpy.run_path({str(EXAMPLES / 'train.py')!r})")
    done = subprocess.run([sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.rstrip().endswith("MemoryError")


# -- the machinery of regenerate.py ------------------------------------------------------

def test_a_block_parses_into_commands_prompts_and_outputs():
    body = ("$ conda activate ai_env\n(ai_env) $ ulimit -n   # open files\n1024\n"
            "(ai_env) $ conda run-limited -n ai_env \\\n    -- python train.py\ntrained\n")
    commands = regenerate.parse_body(body)
    assert [c.prompt for c in commands] == ["$ ", "(ai_env) $ ", "(ai_env) $ "]
    assert commands[2].script == "conda run-limited -n ai_env \\\n    -- python train.py"
    assert [c.output for c in commands] == [[], ["1024"], ["trained"]]
    assert regenerate.render_body(commands) == body


def test_a_loop_goes_on_at_the_second_prompt():
    body = ("$ conda limits list --quiet | while IFS= read -r p; do\n"
            ">     conda limits unset -p \"$p\" --all\n> done\nRemoved all limits\n"
            "> not a prompt\n")
    commands = regenerate.parse_body(body)
    assert len(commands) == 1
    assert commands[0].script == ("conda limits list --quiet | while IFS= read -r p; do\n"
                                  "    conda limits unset -p \"$p\" --all\ndone")
    assert commands[0].output == ["Removed all limits", "> not a prompt"]
    assert regenerate.render_body(commands) == body


def test_figures_dates_and_alignment_are_masked():
    mask = regenerate.mask
    assert mask("  data    1 GiB    1280M  695.9 MiB  2026-12-01 23:08  ▄▅▅█▆") == mask(
        "  data  1 GiB  1536M     1.0 GiB    2026-12-06 11:42  ▁█")
    assert mask("nofile 256 in 0.35 s") == mask("nofile 4096 in 12 s")
    assert mask("data 1 GiB") != mask("vmem 1 GiB")  # words are compared
    assert mask("exit status 1") != mask("exit status")


def test_an_ellipsis_keeps_the_lines_next_to_it():
    real = ["report", "a: ok", "limits:", "  vmem too high", "  -> fix", "b: ok", "c: ok"]
    documented = ["...", "limits:", "  vmem too high", "  -> fix", "..."]
    assert regenerate.shown(documented, real) == documented
    assert regenerate.shown(["report", "..."], real) == ["report", "..."]
    assert regenerate.shown(["..."], real) == ["..."]
    assert regenerate.shown(["...", "b: ok", "c: ok"], real) == ["...", "b: ok", "c: ok"]
    with pytest.raises(LookupError, match="is not in the output"):
        regenerate.shown(["...", "gone"], real)


def test_a_real_run_is_shown_as_a_users(tmp_path):
    scratch = regenerate.Scratch(tmp_path, Path(sys.prefix) / "bin" / "conda")
    text = (f"{scratch.envs}/ai_env\n{tmp_path}/home/project/train.py\n{tmp_path}/home/.x\n"
            f"{sys.prefix}/lib\n{tmp_path}/tmp/y\nbash: line 12: ulimit: open files")
    assert scratch.normalise(text).splitlines() == [
        "/home/me/miniforge3/envs/ai_env", "/home/me/project/train.py", "/home/me/.x",
        "/home/me/miniforge3/lib", "/tmp/y", "bash: ulimit: open files"]


def test_a_table_is_aligned_again_for_the_paths_shown():
    lines = ["# Name  Environment                  Location",
             "k1      /tmp/tmp.XYZ123/home/envs/a  /tmp/tmp.XYZ123/home/k1",
             "",
             "# Other  Table",
             "x        y"]
    shown = [line.replace("/tmp/tmp.XYZ123/home", "/home/me") for line in lines]
    assert regenerate.realign(shown, {1}) == [
        "# Name  Environment      Location",
        "k1      /home/me/envs/a  /home/me/k1",
        "",
        "# Other  Table",
        "x        y"]


@requires_conda
@pytest.mark.conda
def test_the_captured_outputs_agree_with_a_real_run():
    """Every marked console block of README.md and docs/, run in a scratch conda setup, gives
    the output shown (figures, dates and alignment masked). To refresh them after a change:
    ``python docs/examples/regenerate.py`` with a conda base's Python."""
    import conda

    if not conda.__version__.startswith(regenerate.CONDA_RELEASE + "."):
        pytest.skip(f"the captured outputs are made with conda {regenerate.CONDA_RELEASE}; "
                    f"this is conda {conda.__version__}")
    done = subprocess.run([sys.executable, str(EXAMPLES / "regenerate.py"), "--check"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
