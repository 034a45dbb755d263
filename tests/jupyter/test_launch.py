"""Jupyter kernels under an environment's limits, with real jupyter_client and ipykernel.

The kernel's environment is a prefix whose Python is the test interpreter itself (a
``pyvenv.cfg`` and a ``.pth`` file point it at this interpreter and its packages), so the
tests need no conda; with conda importable, the launcher uses conda's activator instead.
"""

from __future__ import annotations

import json
import os
import queue
import sys
import sysconfig
import time
from pathlib import Path

import pytest

from conda_limits.jupyter import kernelspec
from conda_limits.limits.model import parse_limits
from conda_limits.state import prefix_files

jupyter_client = pytest.importorskip("jupyter_client", reason="jupyter_client is not installed")
pytest.importorskip("ipykernel", reason="ipykernel is not installed")

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="resource limits are Linux's")


def make_env(root: Path) -> Path:
    """A conda-style prefix whose bin/python is this interpreter with its packages."""
    prefix = root / "kenv"
    (prefix / "conda-meta").mkdir(parents=True)
    (prefix / "conda-meta" / "history").write_text("")
    (prefix / "bin").mkdir()
    (prefix / "bin" / "python").symlink_to(os.path.realpath(sys.executable))
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = prefix / "lib" / version / "site-packages"
    site.mkdir(parents=True)
    (site / "_test_interpreter.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # ipykernel's folder, for kernelspec.install's check and logos
    (site / "ipykernel").symlink_to(Path(__import__("ipykernel").__file__).parent)
    home = Path(os.path.realpath(sys.executable)).parent
    (prefix / "pyvenv.cfg").write_text(f"home = {home}\ninclude-system-site-packages = false\n")
    return prefix


@pytest.fixture
def kenv(tmp_path, monkeypatch):
    prefix = make_env(tmp_path)
    data = tmp_path / "jupyter-data"
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(data))
    monkeypatch.setenv("JUPYTER_PATH", str(data))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    return prefix


def install(prefix: Path, name: str = "limited", mem: str | None = None) -> Path:
    return kernelspec.install(prefix, name=name, display_name="Limited",
                              kernels=kernelspec.kernels_dir(), launcher_python=sys.executable,
                              overrides_yaml=f"mem: {mem}\n" if mem else None)


class Kernel:
    """A started kernel and a client, with a helper that runs code and returns stdout."""

    def __init__(self, name: str) -> None:
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name=name)
        self.manager.start_kernel()
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 60) -> tuple[str, dict]:
        out: list[str] = []

        def hook(message: dict) -> None:
            if message["msg_type"] == "stream":
                out.append(message["content"]["text"])

        reply = self.client.execute_interactive(code, output_hook=hook, timeout=timeout)
        return "".join(out), reply["content"]

    def stop(self) -> None:
        self.client.stop_channels()
        if self.manager.is_alive():
            self.manager.shutdown_kernel(now=True)


@pytest.fixture
def start():
    kernels: list[Kernel] = []

    def starter(name: str) -> Kernel:
        kernels.append(Kernel(name))
        return kernels[-1]

    yield starter
    for kernel in kernels:
        kernel.stop()


def _strings(value: object) -> list[str]:
    """Every string in parsed JSON, keys included."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, item in value.items() for s in _strings(key) + _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def test_kernel_runs_under_the_limits_and_survives_memory_error(kenv, start):
    prefix_files.write(kenv, parse_limits({"data": "1G", "nofile": 512, "cpu": "1h"}))
    activate_d = kenv / "etc" / "conda" / "activate.d"
    (activate_d / "gdal.sh").write_text('export GDAL_DATA="$CONDA_PREFIX/share/gdal"\n')
    (kenv / "conda-meta" / "state").write_text(json.dumps({"env_vars": {"MY_SETTING": "on"}}))
    spec_dir = install(kenv)
    # kernel.json holds paths only: the limits are read anew at each start. (Not a search of
    # its text: the temporary paths in it are random and may contain "1G" or "512".)
    spec = json.loads((spec_dir / "kernel.json").read_text())
    assert "env" not in spec
    words = [word for word in _strings(spec) if not os.path.exists(word)]
    assert words and not [word for word in words if "512" in word or "1G" in word], words

    kernel = start("limited")
    out, _ = kernel.run(
        "import os, resource, sys\n"
        "print(resource.getrlimit(resource.RLIMIT_DATA))\n"
        "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
        "print(resource.getrlimit(resource.RLIMIT_CPU)[0])\n"
        "print(sys.prefix)\n"
        "for k in ('CONDA_PREFIX', 'GDAL_DATA', 'MY_SETTING', 'MEM_LIMIT'):\n"
        "    print(os.environ.get(k))\n"
        "print(os.environ['PATH'].split(os.pathsep)[0])\n"
        "print(open('/proc/self/limits').read())\n")
    lines = out.splitlines()
    data_soft = int(lines[0].strip("()").split(",")[0])
    assert data_soft == 2**30
    assert lines[1] == "512" and lines[2] == "3600"
    assert lines[3] == str(kenv)
    assert lines[4:8] == [str(kenv), f"{kenv}/share/gdal", "on", str(2**30)]
    assert lines[8] == str(kenv / "bin")
    assert any(line.startswith("Max open files") and line.split()[3] == "512" for line in lines)

    out, reply = kernel.run("x = bytearray(3 * 2**30)")
    assert reply["status"] == "error" and reply["ename"] == "MemoryError"
    out, reply = kernel.run("print('still alive', 6 * 7)")
    assert reply["status"] == "ok" and "still alive 42" in out
    assert kernel.manager.is_alive()


def test_changed_limits_apply_at_the_next_start_without_reinstalling(kenv, start):
    prefix_files.write(kenv, parse_limits({"nofile": 300}))
    install(kenv)
    kernel = start("limited")
    code = "import resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    assert kernel.run(code)[0].strip() == "300"
    prefix_files.write(kenv, parse_limits({"nofile": 200}))
    kernel.manager.restart_kernel(now=True)
    kernel.client.wait_for_ready(timeout=60)
    assert kernel.run(code)[0].strip() == "200"


def test_a_kernel_json_of_the_previous_version_still_starts_a_limited_kernel(kenv, start):
    """Kernelspecs installed before the launcher moved to conda_limits.jupyter.launch name
    ``-m conda_limits.kernel_launch``: the shim there starts the same launcher."""
    prefix_files.write(kenv, parse_limits({"nofile": 333}))
    spec_file = install(kenv) / "kernel.json"
    spec = json.loads(spec_file.read_text())
    assert spec["argv"][1:3] == ["-m", "conda_limits.jupyter.launch"]
    spec["argv"][2] = "conda_limits.kernel_launch"  # as the previous version wrote it
    spec_file.write_text(json.dumps(spec))
    kernel = start("limited")
    out, reply = kernel.run("import os, resource, sys\n"
                            "print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
                            "print(sys.prefix, os.environ['CONDA_PREFIX'])\n")
    assert reply["status"] == "ok"
    assert out.split() == ["333", str(kenv), str(kenv)]


def test_a_kernel_starts_with_a_path_that_holds_no_shell(kenv, tmp_path):
    """Jupyter may start kernels with a bare PATH: the launcher's shell is found in /bin."""
    from jupyter_client.manager import KernelManager

    prefix_files.write(kenv, parse_limits({"nofile": 321}))
    (kenv / "etc" / "conda" / "activate.d" / "gdal.sh").write_text("export GDAL_DATA=here\n")
    install(kenv)
    manager = KernelManager(kernel_name="limited")
    manager.start_kernel(env={**os.environ, "PATH": str(tmp_path / "no-shell-here")})
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        out: list[str] = []
        client.execute_interactive(
            "import os, resource; print(resource.getrlimit(resource.RLIMIT_NOFILE)[0], "
            "os.environ['GDAL_DATA'])",
            output_hook=lambda m: out.append(m["content"].get("text", "")), timeout=60)
        assert "".join(out).split() == ["321", "here"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_interrupt_reaches_the_kernel(kenv, start):
    prefix_files.write(kenv, parse_limits({"nofile": 256}))
    install(kenv)
    kernel = start("limited")
    message_id = kernel.client.execute("import time\ntry:\n    time.sleep(60)\n"
                                       "except KeyboardInterrupt:\n    print('interrupted')\n")
    time.sleep(1.0)
    kernel.manager.interrupt_kernel()
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline and "interrupted" not in text:
        try:
            message = kernel.client.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if message["parent_header"].get("msg_id") == message_id and \
                message["msg_type"] == "stream":
            text += message["content"]["text"]
    assert "interrupted" in text
    assert kernel.run("print(1 + 1)")[0].strip() == "2"


def _v1_memory_writable() -> bool:
    from conda_limits.system import memory_cap

    try:
        cap = memory_cap.choose(256 * 2**20, backends=("cgroup v1",))
    except Exception:  # noqa: BLE001 (any failure means: not here)
        return False
    cap.close()
    return True


@pytest.mark.skipif(not _v1_memory_writable(), reason="no writable cgroup v1 memory "
                    "controller here (needs root on a v1/hybrid hierarchy)")
def test_mem_cap_kills_the_kernel_and_its_cgroup_is_removed(kenv, start):
    install(kenv, mem="200M")
    kernel = start("limited")
    out, _ = kernel.run("import os; print(os.getpid()); print(os.environ['MEM_LIMIT']);"
                        "print(open('/proc/self/cgroup').read())")
    pid, limit, cgroup_text = out.split("\n", 2)
    assert int(limit) == 200 * 2**20
    line = next(line for line in cgroup_text.splitlines() if ":memory:" in line)
    cgroup = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/")
    assert cgroup.name.startswith("conda-limits")
    assert int((cgroup / "memory.limit_in_bytes").read_text()) == 200 * 2**20
    kernel.client.execute("b = bytearray(600 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1")
    deadline = time.monotonic() + 30
    while kernel.manager.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not kernel.manager.is_alive()
    while cgroup.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not cgroup.exists()


def _kernel_cap_here() -> bool:
    from conda_limits.jupyter.launch import KERNEL_MEM_BACKENDS
    from conda_limits.system import memory_cap

    try:
        memory_cap.choose(200 * 2**20, backends=KERNEL_MEM_BACKENDS).close()
    except memory_cap.MemoryCapUnavailable:
        return False
    return True


@pytest.mark.skipif(not _kernel_cap_here(), reason="no backend can cap a kernel's memory here")
def test_the_recorded_mem_caps_the_kernel_and_the_usage_log_says_mem(kenv, start):
    """Whatever backend holds it (a cgroup as root here, the watch as a user)."""
    from conda_limits.usage import log

    prefix_files.write(kenv, parse_limits({"mem": "200M"}))
    install(kenv)  # no --mem of its own: the environment's applies
    install(kenv, name="uncapped", mem="unlimited")  # the kernelspec's own wins
    out, _ = start("uncapped").run("import os; print(os.environ.get('MEM_LIMIT'))")
    assert out.strip() == "None"
    kernel = start("limited")
    out, _ = kernel.run("import os; print(os.environ['MEM_LIMIT'])")
    assert int(out) == 200 * 2**20
    kernel.client.execute("b = bytearray(600 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1")
    deadline = time.monotonic() + 60
    while kernel.manager.is_alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not kernel.manager.is_alive()
    while time.monotonic() < deadline:
        runs = [r for r in log.read(kenv).runs if r.stopped_by == "mem"]
        if runs:
            break
        time.sleep(0.2)
    assert runs and runs[-1].mem is not None and runs[-1].mem.limit == 200 * 2**20


def test_a_recorded_mem_nothing_enforces_is_one_clear_line(kenv, tmp_path):
    """Where the backend a kernel must use (forced here: a cgroup this user cannot write)
    cannot cap its memory, the kernel does not start without its cap: one line says why
    (the kernel's stderr is the Jupyter server's log)."""
    import subprocess

    from conda_limits.jupyter.launch import KERNEL_CGROUP_BACKENDS
    from conda_limits.system import memory_cap

    missing = [backend for backend, why in memory_cap.survey(KERNEL_CGROUP_BACKENDS) if why]
    if not missing:
        pytest.skip("every cgroup backend of a kernel can cap memory here")
    prefix_files.write(kenv, parse_limits({"mem": "200M"}))
    spec_dir = install(kenv)
    done = subprocess.run([sys.executable, "-m", "conda_limits.jupyter.launch", "--prefix",
                           str(kenv), "--spec-dir", str(spec_dir), "--", str(tmp_path / "c.json")],
                          capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, memory_cap.VARIABLE: missing[0]})
    assert done.returncode == 1
    assert done.stderr.startswith("conda-limits kernel: no backend can enforce a memory "
                                  "cap here"), done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 3


@pytest.mark.parametrize("what,content,message", [
    ("record", "limits:\n  nofile: lots\n", "cannot read the limits"),
    ("overrides", "mem: [\n", "cannot read the limits"),
    ("overrides", "mem: 4Q\n", "cannot read the limits"),
])
def test_broken_configuration_is_one_clear_line(kenv, tmp_path, what, content, message):
    """The kernel's stderr lands in the Jupyter server's log: one line, no traceback."""
    import subprocess

    spec_dir = install(kenv)
    if what == "record":
        path = kenv / "etc" / "conda" / "limits.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        path = spec_dir / kernelspec.OVERRIDES
    path.write_text(content)
    done = subprocess.run([sys.executable, "-m", "conda_limits.jupyter.launch", "--prefix",
                           str(kenv), "--spec-dir", str(spec_dir), "--", str(tmp_path / "c.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith(f"conda-limits kernel: {message}")
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) <= 3


def test_missing_environment_is_one_clear_line(tmp_path):
    import subprocess

    done = subprocess.run([sys.executable, "-m", "conda_limits.jupyter.launch", "--prefix",
                           str(tmp_path / "gone"), "--", str(tmp_path / "c.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr == f"conda-limits kernel: {tmp_path / 'gone'} has no bin/python " \
                          "(was the environment removed?)\n"
