"""What activation costs: figures, not a test.

(a) One activate+deactivate cycle of the ``.sh`` scripts in bash against empty scripts,
    averaged over many cycles inside one bash (timed by bash's own clock), and the number of
    processes the scripts start (strace, when installed). The same for the other shells, timed
    from outside. Targets: 0 forks, < 1 ms per cycle in bash.
(b) The import time of ``conda_limits.plugin``, which conda imports on every command, in a
    fresh interpreter that has conda: on top of ``conda.plugins`` (which conda has loaded by
    then) and in ``python -X importtime``; and whether ruamel got imported. Target: < 1 ms.

Usage: python benchmarks/bench_activation.py [--cycles N] [--rounds N] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits import prefix_files  # noqa: E402
from conda_limits.model import parse_limits  # noqa: E402

CONFIGS = {
    "2 limits": {"vmem": "4G", "nofile": 1024},
    "all 9 limits": {"vmem": "4G", "data": "2G", "stack": "16M", "memlock": "4M",
                     "fsize": "1G", "core": 0, "nofile": 1024, "nproc": 4096, "cpu": "2h"},
}
SHELLS = {  # name: (argv, suffix, loop template)
    "bash": (["bash", "--norc", "--noprofile"], ".sh",
             'i=0; while [ $i -lt {n} ]; do . "{a}"; . "{d}"; i=$((i+1)); done'),
    "dash": (["dash"], ".sh",
             'i=0; while [ $i -lt {n} ]; do . "{a}"; . "{d}"; i=$((i+1)); done'),
    "zsh": (["zsh", "-f"], ".sh",
            'i=0; while [ $i -lt {n} ]; do . "{a}"; . "{d}"; i=$((i+1)); done'),
    "fish": (["fish", "--no-config"], ".fish",
             'for i in (seq {n}); source "{a}"; source "{d}"; end'),
    "tcsh": (["tcsh", "-f"], ".csh",
             '@ i = 0\nwhile ( $i < {n} )\nsource "{a}"\nsource "{d}"\n@ i++\nend'),
}

# Inside bash: microseconds per cycle by $EPOCHREALTIME (bash >= 5), CPU by `times`.
BASH_CLOCK = r"""
cycle() {{ i=0; while [ $i -lt {n} ]; do . "$1"; . "$2"; i=$((i+1)); done; }}
t0=${{EPOCHREALTIME/./}}; cycle "{a}" "{d}"; t1=${{EPOCHREALTIME/./}}
cycle "{ea}" "{ed}"; t2=${{EPOCHREALTIME/./}}
echo "$(( (t1 - t0) / {n} )) $(( (t2 - t1) / {n} ))"
"""


def make_env(root: Path, name: str, limits: dict) -> tuple[dict[str, Path], dict[str, Path]]:
    prefix = root / name
    (prefix / "conda-meta").mkdir(parents=True)
    prefix_files.write(prefix, parse_limits(limits))
    act = {suffix: prefix / prefix_files.ACTIVATE_D / f"{prefix_files.SCRIPT_NAME}{suffix}"
           for suffix in (".sh", ".fish", ".csh")}
    deact = {suffix: prefix / prefix_files.DEACTIVATE_D / f"{prefix_files.SCRIPT_NAME}{suffix}"
             for suffix in (".sh", ".fish", ".csh")}
    return act, deact


def empty_scripts(root: Path) -> tuple[dict[str, Path], dict[str, Path]]:
    paths = {}
    for suffix in (".sh", ".fish", ".csh"):
        paths[suffix] = root / f"empty{suffix}"
        paths[suffix].write_text("")
    return paths, paths


def environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONDA_", "_CONDA_", "BASH_ENV"))}
    env["CONDA_SHLVL"] = "2"
    return env


def bash_inside(act: Path, deact: Path, empty: Path, cycles: int, rounds: int) -> tuple:
    """Median microseconds per cycle (scripts, empty) measured by bash itself."""
    script = BASH_CLOCK.format(n=cycles, a=act, d=deact, ea=empty, ed=empty)
    runs = []
    for _ in range(rounds):
        out = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=environ(),
                             capture_output=True, text=True, check=True).stdout.split()
        runs.append((int(out[0]), int(out[1])))
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs))


def from_outside(argv: list[str], loop: str, cycles: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one shell process running ``loop``."""
    with tempfile.NamedTemporaryFile("w", suffix=".loop", delete=False) as handle:
        handle.write(loop + "\n")
    try:
        before = os.times()
        start = time.perf_counter()
        subprocess.run([*argv, handle.name], env=environ(), check=True,
                       stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        after = os.times()
        return wall, (after.children_user - before.children_user
                      + after.children_system - before.children_system)
    finally:
        os.unlink(handle.name)


def shell_cycle(name: str, act: dict, deact: dict, empty: dict, cycles: int,
                rounds: int) -> tuple[float, float]:
    """Median (wall, CPU) microseconds per cycle above empty scripts, timed from outside."""
    argv, suffix, template = SHELLS[name]
    walls, cpus = [], []
    for _ in range(rounds):
        full = from_outside(argv, template.format(n=cycles, a=act[suffix], d=deact[suffix]),
                            cycles)
        bare = from_outside(argv, template.format(n=cycles, a=empty[suffix],
                                                  d=empty[suffix]), cycles)
        walls.append((full[0] - bare[0]) / cycles * 1e6)
        cpus.append((full[1] - bare[1]) / cycles * 1e6)
    return statistics.median(walls), statistics.median(cpus)


def forks(argv: list[str], body: str, workdir: Path) -> int | None:
    """Processes (not threads) started while running ``body``, or None without strace."""
    if shutil.which("strace") is None:
        return None
    trace = workdir / "trace"
    proc = subprocess.run(["strace", "-f", "-o", str(trace), "-e",
                           "trace=clone,clone3,fork,vfork", *argv, "-c", body],
                          env=environ(), capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    calls = re.findall(r"^\d+\s+(?:clone3?|v?fork)\((.*)$", trace.read_text(), re.M)
    return len([call for call in calls if "CLONE_THREAD" not in call])


# What conda has imported by the time its plugin manager loads entry points.
CONDA_LOADED = "import conda.plugins, conda.plugins.hookspec, conda.plugins.types"


def import_figures(python: str, rounds: int) -> None:
    probe = subprocess.run([python, "-c", CONDA_LOADED], capture_output=True)
    if probe.returncode != 0:
        print(f"(b) skipped: conda is not importable by {python} (use --python)")
        return
    timed = (f"import sys, time; {CONDA_LOADED}; "
             "had = any(m.startswith('ruamel') for m in sys.modules); "
             "t = time.perf_counter(); import conda_limits.plugin; "
             "t = time.perf_counter() - t; "
             "new = [m for m in sys.modules if m.startswith('ruamel')] if not had else []; "
             "print(t * 1e6, int(had), int(bool(new)))")
    samples, had, added = [], False, False
    for _ in range(rounds):
        out = subprocess.run([python, "-c", timed], capture_output=True, text=True,
                             check=True).stdout.split()
        samples.append(float(out[0]))
        had, added = had or out[1] == "1", added or out[2] == "1"
    print(f"(b) import conda_limits.plugin once conda has loaded its plugin machinery: "
          f"{statistics.median(samples) / 1000:.3f} ms (median of {rounds}, target < 1 ms)")
    print(f"    ruamel imported by conda_limits.plugin: {'yes' if added else 'no'}"
          f"{' (conda itself had imported it already)' if had else ''}")
    err = subprocess.run([python, "-X", "importtime", "-c",
                          f"{CONDA_LOADED}; import conda_limits.plugin"],
                         capture_output=True, text=True).stderr
    own = [line.split("|") for line in err.splitlines() if "conda_limits" in line]
    print("    -X importtime, conda_limits modules (self us): "
          + ", ".join(f"{cols[-1].strip()} {cols[0].split(':')[1].strip()}" for cols in own))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable,
                        help="an interpreter with conda and conda-limits (for (b))")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        empty_act, empty_deact = empty_scripts(root)
        # Machine speed, for reading the figures: one bash loop iteration of `:`.
        calib = subprocess.run(["bash", "-c", "t=${EPOCHREALTIME/./}; i=0; while [ $i -lt "
                                "100000 ]; do i=$((i+1)); done; echo $(( ${EPOCHREALTIME/./}"
                                " - t ))"], capture_output=True, text=True).stdout.strip()
        print(f"machine: a bash loop iteration takes {int(calib) / 1e5:.2f} us "
              f"(about 1 us on a current laptop); load average {os.getloadavg()[0]:.2f}")
        for label, limits in CONFIGS.items():
            act, deact = make_env(root, label.replace(" ", "-"), limits)
            script, empty = bash_inside(act[".sh"], deact[".sh"], empty_act[".sh"],
                                        args.cycles, args.rounds)
            count = forks(["bash", "--norc", "--noprofile"],
                          f'. "{act[".sh"]}"; . "{deact[".sh"]}"', root)
            print(f"(a) {label}: bash activate+deactivate {script / 1000:.3f} ms per cycle, "
                  f"empty scripts {empty / 1000:.3f} ms (median of {args.rounds} x "
                  f"{args.cycles} cycles, target < 1 ms); forks: "
                  f"{'strace missing' if count is None else count} (target 0)")
            for name, (argv, suffix, _) in SHELLS.items():
                if shutil.which(argv[0]) is None:
                    continue
                wall, cpu = shell_cycle(name, act, deact, empty_act, max(args.cycles // 3, 20),
                                        max(args.rounds // 2, 1))
                word = "source" if suffix != ".sh" else "."
                count = (forks(argv, f'{word} "{act[suffix]}"; {word} "{deact[suffix]}"', root)
                         if name != "tcsh" else None)
                shown = "" if count is None else f", forks {count}"
                print(f"    {name:5} {wall / 1000:7.3f} ms wall, {cpu / 1000:7.3f} ms CPU per "
                      f"cycle above empty scripts{shown}")
    import_figures(args.python, args.rounds)


if __name__ == "__main__":
    main()
