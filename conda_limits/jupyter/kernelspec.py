"""Jupyter kernelspecs whose kernels run under an environment's limits.

A kernelspec written here holds paths only: the Python that runs the launcher
(:mod:`conda_limits.jupyter.launch`), the environment's prefix and the kernelspec's own folder.
The launcher reads the environment's limits when the kernel starts, so ``conda limits set``
takes effect at the next kernel start without reinstalling. Jupyter's own packages are not
needed here: the data-dir rules of jupyter_core are followed directly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Kind, LimitsError
from ..printable import escape, shell_word, shown
from ..state import atomicfile

MARKER = "conda_limits"  # key in kernel.json's metadata that marks our kernelspecs
OVERRIDES = "conda-limits.yml"  # per-kernel limits given at install (e.g. --mem)
_NAME_RE = re.compile(r"[a-zA-Z0-9._-]+")


class KernelSpecError(LimitsError):
    """A kernelspec cannot be installed or removed; nothing was changed."""

    kind = Kind.KERNEL


@dataclass(frozen=True)
class InstalledKernel:
    name: str
    directory: Path
    prefix: Path
    display_name: str


def user_data_dir() -> Path:
    """Jupyter's per-user data dir (``JUPYTER_DATA_DIR`` wins, as in jupyter_core)."""
    if os.environ.get("JUPYTER_DATA_DIR"):
        return Path(os.environ["JUPYTER_DATA_DIR"])
    home = Path.home()
    if sys.platform == "darwin":
        return home / "Library" / "Jupyter"
    xdg = os.environ.get("XDG_DATA_HOME") or str(home / ".local" / "share")
    return Path(xdg) / "jupyter"


def data_dirs() -> list[Path]:
    """Every folder Jupyter searches for kernelspecs, in its order of precedence."""
    dirs = [user_data_dir()]
    dirs += [Path(p) for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    dirs += [Path(sys.prefix, "share", "jupyter"), Path("/usr/local/share/jupyter"),
             Path("/usr/share/jupyter")]
    return list(dict.fromkeys(dirs))


def kernels_dir(*, user: bool = True, sys_prefix: bool = False,
                jupyter_prefix: str | os.PathLike[str] | None = None) -> Path:
    """The ``kernels`` folder for ``--user`` (default), ``--sys-prefix`` or a prefix."""
    if jupyter_prefix is not None:
        return Path(jupyter_prefix) / "share" / "jupyter" / "kernels"
    if sys_prefix:
        return Path(sys.prefix) / "share" / "jupyter" / "kernels"
    return user_data_dir() / "kernels"


def default_name(prefix: Path) -> str:
    base = re.sub(r"[^a-zA-Z0-9._-]+", "-", prefix.name).strip("-") or "env"
    return f"{base}-limited".lower()


def check_name(name: str) -> str:
    if not _NAME_RE.fullmatch(name) or len(name) > 128:
        raise KernelSpecError(f"invalid kernel name {name!r}: use letters, digits, '.', '_' "
                              "and '-' only")
    return name.lower()


def find_ipykernel(prefix: Path) -> Path | None:
    """The ``ipykernel`` package folder inside ``prefix``, if it is installed there."""
    patterns = ("lib/python3*/site-packages/ipykernel", "Lib/site-packages/ipykernel")
    for pattern in patterns:
        for candidate in sorted(prefix.glob(pattern)):
            if (candidate / "__init__.py").is_file():
                return candidate
    return None


def env_python(prefix: Path) -> Path | None:
    python = prefix / "bin" / "python"
    return python if python.exists() else None


def kernel_json(name: str, prefix: Path, directory: Path, display_name: str,
                launcher_python: str) -> dict[str, Any]:
    """The kernel.json content: paths only, never limit values. The display name is shown in
    Jupyter's menus and `jupyter kernelspec list`: what is not printable in it is escaped."""
    return {
        "argv": [launcher_python, "-m", "conda_limits.jupyter.launch", "--prefix", str(prefix),
                 "--spec-dir", str(directory), "--", "{connection_file}"],
        "display_name": escape(display_name),
        "language": "python",
        "interrupt_mode": "signal",
        "metadata": {MARKER: {"prefix": str(prefix)}, "debugger": True},
    }


def install(prefix: Path, *, name: str, display_name: str, kernels: Path,
            launcher_python: str = sys.executable, overrides_yaml: str | None = None,
            force: bool = False) -> Path:
    """Write the kernelspec folder ``kernels/name``; returns it.

    The folder is assembled next to its destination and renamed into place, so a failure
    leaves no half-written kernelspec (and, with ``force``, the old one intact).
    """
    name = check_name(name)
    if env_python(prefix) is None:
        raise KernelSpecError(f"the environment at {shown(prefix)} has no Python: install one "
                              f"with `conda install -p {shell_word(prefix)} python ipykernel`")
    ipykernel = find_ipykernel(prefix)
    if ipykernel is None:
        raise KernelSpecError(f"the environment at {shown(prefix)} has no ipykernel: install it "
                              f"with `conda install -p {shell_word(prefix)} ipykernel`")
    target = kernels / name
    if target.exists() and read(target) is None:
        raise KernelSpecError(f"a kernelspec named {name!r} that conda-limits did not install "
                              f"exists at {shown(target)}: choose another --kernel-name (--force "
                              "replaces only conda-limits' own kernelspecs)")
    if target.exists() and not force:
        raise KernelSpecError(f"a kernelspec named {name!r} exists at {shown(target)}: choose "
                              "another --kernel-name, or give --force to replace it")
    try:
        kernels.mkdir(parents=True, exist_ok=True)
        staging = Path(_mkdtemp(kernels, name))
    except OSError as error:
        raise KernelSpecError(f"cannot write to {shown(kernels)}: "
                              f"{error.strerror or error}") from None
    try:
        spec = kernel_json(name, prefix, target, display_name, launcher_python)
        (staging / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
        for logo in ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg"):
            source = ipykernel / "resources" / logo
            if source.is_file():
                shutil.copyfile(source, staging / logo)
        if overrides_yaml:
            atomicfile.write_text(staging / OVERRIDES, overrides_yaml)
        os.chmod(staging, 0o755)
        if target.exists():
            old = Path(_mkdtemp(kernels, f"{name}.old"))
            os.replace(target, old / name)
            os.replace(staging, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, target)
    except OSError as error:
        shutil.rmtree(staging, ignore_errors=True)
        raise KernelSpecError(f"cannot write {shown(target)}: "
                              f"{error.strerror or error}") from None
    return target


def _mkdtemp(parent: Path, name: str) -> str:
    import tempfile

    return tempfile.mkdtemp(prefix=f".{name}.", dir=parent)


def read(directory: Path) -> InstalledKernel | None:
    """The kernelspec in ``directory`` if it is one of ours."""
    try:
        spec = json.loads((directory / "kernel.json").read_text())
        meta = spec["metadata"][MARKER]
        return InstalledKernel(directory.name, directory, Path(meta["prefix"]),
                               str(spec.get("display_name", directory.name)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def installed(dirs: list[Path] | None = None) -> list[InstalledKernel]:
    """Our kernelspecs in every Jupyter data dir (the first of a name wins, as in Jupyter)."""
    seen: dict[str, InstalledKernel] = {}
    for data_dir in dirs if dirs is not None else data_dirs():
        folder = data_dir / "kernels"
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name.lower() in seen or not entry.is_dir():
                continue
            kernel = read(entry)
            if kernel is not None:
                seen[entry.name.lower()] = kernel
    return list(seen.values())


def remove(name: str, dirs: list[Path] | None = None) -> InstalledKernel:
    """Delete our kernelspec called ``name``; other kernelspecs are never touched."""
    for kernel in installed(dirs):
        if kernel.name.lower() == name.lower():
            try:
                shutil.rmtree(kernel.directory)
            except OSError as error:
                raise KernelSpecError(f"cannot remove {shown(kernel.directory)}: "
                                      f"{error.strerror or error}") from None
            return kernel
    raise KernelSpecError(f"no kernelspec named {name!r} was installed by conda-limits "
                          "(see `conda limits kernel list`)")
