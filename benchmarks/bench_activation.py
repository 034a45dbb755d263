"""What activation costs: figures, not a test.

(a) One activate+deactivate cycle of conda-limits' scripts in each shell (bash, dash, zsh,
    ksh, fish, tcsh), against a floor: a minimal hand-written pair for the same limits that
    saves the soft limits from /proc/self/limits, sets them and puts them back (no level, no
    checks, no warnings). Each shell runs many cycles in one process, timed from outside;
    rounds alternate scripts, floor and empty scripts, and the fastest round of each counts
    (the machine is shared). Printed: CPU milliseconds (user + system) per cycle above empty
    scripts, the ratio to the floor (target: at most 2.5), and the processes the scripts start
    (strace; target 0 but in tcsh, whose floor forks too).
(b) The import time of ``conda_limits.plugin``, which conda imports on every command, in a
    fresh interpreter that has conda: on top of ``conda.plugins`` (which conda has loaded by
    then) and in ``python -X importtime``; and whether ruamel got imported. Target: < 1 ms.

Usage: python benchmarks/bench_activation.py [--cycles N] [--rounds N] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from conda_limits.limits.model import LimitSet, parse_limits
from conda_limits.limits.resources import Resource
from conda_limits.shells import protocol
from conda_limits.state import prefix_files

CONFIGS = {
    "3 limits": {"vmem": "4G", "nofile": 1024, "stack": "16M"},
    "all 9 limits": {"vmem": "4G", "data": "2G", "stack": "16M", "memlock": "4M",
                     "fsize": "1G", "core": 0, "nofile": 1024, "nproc": 4096, "cpu": "2h"},
}


@dataclass(frozen=True)
class Shell:
    name: str
    argv: tuple[str, ...]
    family: str  # "sh", "fish", "csh"
    loop: str  # {n} cycles of sourcing {a} then {d}
    block: int = 1024  # bytes per -f/-c unit
    nproc: str = "u"  # ulimit letter of the process limit

    @property
    def suffix(self) -> str:
        return {"sh": protocol.POSIX_SUFFIX, "fish": protocol.FISH_SUFFIX,
                "csh": protocol.CSH_SUFFIX}[self.family]

    def source(self, path: Path) -> str:
        return f'{"." if self.family == "sh" else "source"} "{path}"'


SH_LOOP = 'i=0; while [ $i -lt {n} ]; do . "{a}"; . "{d}"; i=$((i+1)); done'
SHELLS = (
    Shell("bash", ("bash", "--norc", "--noprofile"), "sh", SH_LOOP),
    Shell("dash", ("dash",), "sh", SH_LOOP, block=512, nproc="p"),
    Shell("zsh", ("zsh", "-f"), "sh", SH_LOOP, block=512),
    Shell("ksh", ("ksh",), "sh", SH_LOOP, block=512),
    Shell("fish", ("fish", "--no-config"), "fish",
          'for i in (seq {n}); source "{a}"; source "{d}"; end'),
    Shell("tcsh", ("tcsh", "-f"), "csh",
          '@ i = 0\nwhile ( $i < {n} )\nsource "{a}"\nsource "{d}"\n@ i++\nend'),
)


# -- the floor: what a person would write by hand for these limits in this shell ------------


def _block(shell: Shell, resource: Resource) -> int:
    return shell.block if resource.posix_block is not None else resource.block


def _letter(shell: Shell, resource: Resource) -> str:
    return shell.nproc if resource.key == "nproc" else resource.ulimit


def _arg(shell: Shell, resource: Resource, value: object) -> str:
    figure = protocol.figure(value)  # type: ignore[arg-type]
    return figure if figure == "unlimited" else str(int(figure) // _block(shell, resource))


def floor_scripts(shell: Shell, limits: LimitSet) -> tuple[str, str]:
    """A minimal activate/deactivate pair for ``limits`` (soft values only) in ``shell``."""
    items = [(r, limit.soft) for r, limit in limits.items_with_resource()]
    act: list[str] = []
    deact: list[str] = []
    names = " ".join(f"_CL_{protocol.key(r)}" for r, _ in items)
    if shell.family == "fish":
        for r, value in items:
            var, letter, block = f"_CL_{protocol.key(r)}", _letter(shell, r), r.block
            act += [f"set -gx {var} (string match -r -g '^{r.label} +(\\S+)' "
                    "</proc/self/limits)",
                    f"ulimit -S -{letter} {_arg(shell, r, value)}"]
            arg = f"${var}" if block == 1 else f"(math ${var} / {block})"
            deact += [f"if test ${var} = unlimited; ulimit -S -{letter} unlimited; "
                      f"else; ulimit -S -{letter} {arg}; end"]
        deact.append(f"set -e {names}")
    elif shell.family == "csh":
        act.append('set __r = ( "`cat /proc/self/limits`" )')
        for r, value in items:
            var, words = f"_CL_{protocol.key(r)}", len(r.label.split())
            act += [f"set __x = ( $__r[{protocol.ROW[r.key] + 1}] )",
                    f"setenv {var} $__x[{words + 1}]",
                    f"limit {r.csh} {_arg(shell, r, value)}"]
            deact += [f'if ( "${var}" == unlimited ) then', f"limit {r.csh} unlimited", "else",
                      f"@ __x = ${var} / {r.block}", f"limit {r.csh} $__x", "endif"]
        act.append("unset __r __x")
        deact += [f"unsetenv {name}" for name in names.split()] + ["unset __x"]
    else:
        if shell.name == "bash":
            act.append("mapfile -t __r < /proc/self/limits")
        elif shell.name == "zsh":
            act.append('__r=("${(@f)$(</proc/self/limits)}")')
        else:  # a read loop up to the last row needed
            last = max(items, key=lambda item: protocol.ROW[item[0].key])[0]
            act.append("while IFS= read -r __l; do\n  case $__l in")
            for r, _ in items:
                act.append(f'    "{r.label} "*) __s=${{__l#{"?" * protocol.SOFT_COLUMN}}}; '
                           f"export _CL_{protocol.key(r)}=${{__s%% *}}"
                           + ("; break" if r is last else "") + " ;;")
            act.append("  esac\ndone < /proc/self/limits")
        for r, value in items:
            var, letter, block = f"_CL_{protocol.key(r)}", _letter(shell, r), _block(shell, r)
            if shell.name in ("bash", "zsh"):
                row = protocol.ROW[r.key] + (shell.name == "zsh")
                act.append(f"__s=${{__r[{row}]:{protocol.SOFT_COLUMN}}}; "
                           f"export {var}=${{__s%% *}}")
            act.append(f"ulimit -S -{letter} {_arg(shell, r, value)}")
            arg = f"${var}" if block == 1 else f"$(({var} / {block}))"
            deact.append(f"case ${var} in unlimited) ulimit -S -{letter} unlimited ;; "
                         f"*) ulimit -S -{letter} {arg} ;; esac")
        act.append("unset __r __s __l")
        deact.append(f"unset {names}")
    return "\n".join(act) + "\n", "\n".join(deact) + "\n"


# -- measuring ----------------------------------------------------------------------------


def environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CONDA_", "_CONDA_", "BASH_ENV"))}
    env["CONDA_SHLVL"] = "2"
    return env


def run_loop(shell: Shell, loop: str, workdir: Path) -> float:
    """CPU seconds (user + system) of one shell process running ``loop``: less disturbed than
    wall time by other work on the machine."""
    path = workdir / "loop"
    path.write_text(loop + "\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run([*shell.argv, str(path)], env=environ(), stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or proc.stderr:
        raise RuntimeError(f"{shell.name}: {proc.stderr.strip() or proc.returncode}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def per_cycle(shell: Shell, pairs: dict[str, tuple[Path, Path]], cycles: int, rounds: int,
              workdir: Path) -> dict[str, float]:
    """CPU milliseconds per cycle of each pair above the ``empty`` pair: the fastest of
    ``rounds`` alternating rounds."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, (act, deact) in pairs.items():
            wall = run_loop(shell, shell.loop.format(n=cycles, a=act, d=deact), workdir)
            best[label] = min(best.get(label, wall), wall)
    return {label: (wall - best["empty"]) / cycles * 1e3
            for label, wall in best.items() if label != "empty"}


def forks(shell: Shell, body: str, workdir: Path) -> int | None:
    """Processes (not threads) started while running ``body``, or None without strace."""
    if shutil.which("strace") is None:
        return None
    trace = workdir / "trace"
    proc = subprocess.run(["strace", "-f", "-o", str(trace), "-e",
                           "trace=clone,clone3,fork,vfork", *shell.argv, "-c", body],
                          env=environ(), capture_output=True, text=True)
    if proc.returncode != 0:
        return None
    calls = re.findall(r"^\d+\s+(?:clone3?|v?fork)\((.*)$", trace.read_text(), re.M)
    return len([call for call in calls if "CLONE_THREAD" not in call])


def make_env(root: Path, name: str, limits: LimitSet) -> Path:
    prefix = root / name
    (prefix / "conda-meta").mkdir(parents=True)
    prefix_files.write(prefix, limits)
    return prefix


def scripts(prefix: Path, suffix: str) -> tuple[Path, Path]:
    name = protocol.SCRIPT_NAME + suffix
    return prefix / protocol.ACTIVATE_D / name, prefix / protocol.DEACTIVATE_D / name


def activation_figures(cycles: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        calib = subprocess.run(["bash", "-c", "t=${EPOCHREALTIME/./}; i=0; while [ $i -lt "
                                "100000 ]; do i=$((i+1)); done; echo $(( ${EPOCHREALTIME/./}"
                                " - t ))"], capture_output=True, text=True).stdout.strip()
        print(f"machine: a bash loop iteration takes {int(calib) / 1e5:.2f} us "
              f"(about 1 us on a current laptop); load average {os.getloadavg()[0]:.2f}")
        for label, config in CONFIGS.items():
            limits = parse_limits(config)
            prefix = make_env(root, label.replace(" ", "-"), limits)
            print(f"(a) {label} ({', '.join(f'{k} {v}' for k, v in config.items())}): "
                  f"CPU ms per activate+deactivate cycle above empty scripts, fastest of "
                  f"{rounds} rounds of {cycles} cycles")
            for shell in SHELLS:
                if shutil.which(shell.argv[0]) is None:
                    print(f"    {shell.name:5} not installed")
                    continue
                work = root / f"{label}-{shell.name}".replace(" ", "-")
                work.mkdir()
                empty = work / f"empty{shell.suffix}"
                empty.write_text("")
                floor = [work / f"floor-{which}{shell.suffix}" for which in ("act", "deact")]
                for path, text in zip(floor, floor_scripts(shell, limits)):
                    path.write_text(text)
                pairs = {"empty": (empty, empty), "scripts": scripts(prefix, shell.suffix),
                         "floor": (floor[0], floor[1])}
                times = per_cycle(shell, pairs, cycles, rounds, work)
                act, deact = pairs["scripts"]
                count = forks(shell, f"{shell.source(act)}; {shell.source(deact)}", work)
                floor_forks = forks(shell, f"{shell.source(floor[0])}; "
                                           f"{shell.source(floor[1])}", work)
                shown = "" if count is None else f"; forks {count} (floor {floor_forks})"
                print(f"    {shell.name:5} scripts {times['scripts']:6.3f}  floor "
                      f"{times['floor']:6.3f}  ratio {times['scripts'] / times['floor']:5.2f}"
                      f"{shown}")


# -- (b) the entry module -----------------------------------------------------------------

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
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--python", default=sys.executable,
                        help="an interpreter with conda and conda-limits (for (b))")
    parser.add_argument("--no-import", action="store_true", help="skip (b)")
    args = parser.parse_args()
    activation_figures(args.cycles, args.rounds)
    if not args.no_import:
        import_figures(args.python, args.rounds)


if __name__ == "__main__":
    main()
