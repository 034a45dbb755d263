"""Run ``srun`` with the terminal's stdio, pass signals on, and keep what srun itself said.

srun's stdin and stdout are the caller's. Its stderr passes through this process, byte for
byte as it arrives, so that the lines srun and slurmstepd print about the job (``srun: error:
... Out Of Memory``, ``*** STEP 12.0 CANCELLED ... DUE TO TIME LIMIT ***``) can be read
afterwards; on the node the command's stderr is a pipe to slurmstepd anyway (a terminal only
with ``--pty``). A Ctrl-C from the terminal reaches srun directly (same process group) and is
not sent twice; every signal sent to this process alone that would end it (SIGTERM, SIGHUP,
SIGINT, SIGUSR1, SIGALRM, ...: :data:`~conda_limits.run.process.FORWARDED`) is passed on to
srun, which passes them to the job.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import Kind, LimitsError
from ..run.process import FORWARDED

_HELD = {signal.SIGCHLD, *FORWARDED}
_SI_KERNEL = 0x80  # si_code of a signal the kernel sent, e.g. the terminal's Ctrl-C
#: Lines of srun's and slurmstepd's own output kept for the diagnosis, and their length.
KEPT_LINES = 64
KEPT_LENGTH = 400
POLL_INTERVAL = 0.2
_OWN_LINES = (b"srun: ", b"slurmstepd")


class SrunError(LimitsError, RuntimeError):
    """srun could not be started; nothing ran."""

    kind = Kind.RUN
    heading = "Cannot run the command with Slurm"


@dataclass(frozen=True)
class Finished:
    """How srun ended and what it said about the job."""

    status: int  # srun's exit status: the job's, 128+N for signal N, or srun's own error
    said: tuple[str, ...]  # srun's and slurmstepd's lines (the job's own stderr left out)
    wall: float  # seconds
    requested: tuple[int, ...]  # signals the user sent (through this process or the terminal)


class _Tee:
    """Copy a pipe to a descriptor as bytes arrive; keep srun's own lines."""

    def __init__(self, source: int, target: int) -> None:
        self.source = source
        self.target: int | None = target
        self.lines: deque[bytes] = deque(maxlen=KEPT_LINES)
        self.partial = b""
        self.thread = threading.Thread(target=self._run, name="conda-limits-srun-stderr",
                                       daemon=True)

    def _run(self) -> None:
        while True:
            try:
                chunk = os.read(self.source, 65536)
            except OSError:
                break
            if not chunk:
                break
            self._write(chunk)
            self._keep(chunk)
        if self.partial.startswith(_OWN_LINES):
            self.lines.append(self.partial[:KEPT_LENGTH])
        os.close(self.source)

    def _write(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        while self.target is not None and view:
            try:
                view = view[os.write(self.target, view):]
            except InterruptedError:
                continue
            except OSError:  # stderr closed or broken: srun's output is still read
                self.target = None

    def _keep(self, chunk: bytes) -> None:
        *complete, self.partial = (self.partial + chunk).split(b"\n")
        for line in complete:
            if line.startswith(_OWN_LINES):
                self.lines.append(line[:KEPT_LENGTH])
        if len(self.partial) > 65536:
            self.partial = self.partial[:KEPT_LENGTH]

    def said(self) -> tuple[str, ...]:
        return tuple(line.decode("utf-8", "replace").rstrip("\r") for line in self.lines)


def run(argv: Sequence[str], environ: Mapping[str, str], *, stderr_fd: int = 2) -> Finished:
    """Run ``argv`` (srun and its arguments, ``argv[0]`` a path) and wait for it."""
    read_end, write_end = os.pipe()
    os.set_inheritable(read_end, False)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    tee = _Tee(read_end, stderr_fd)
    passed: list[int] = []
    try:
        started = time.monotonic()
        try:
            pid = os.posix_spawn(argv[0], list(argv), dict(environ),
                                 file_actions=[(os.POSIX_SPAWN_DUP2, write_end, 2)],
                                 setsigmask=(), setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
        except OSError as error:
            os.close(read_end)
            raise SrunError(f"cannot start {argv[0]}: {error.strerror or error}") from None
        finally:
            os.close(write_end)
        tee.thread.start()  # after the mask: the thread holds the signals too
        status = _wait(pid, passed)
        wall = time.monotonic() - started
    finally:
        while signal.sigtimedwait(_HELD, 0) is not None:
            pass  # drop what arrived for srun after it ended
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    tee.thread.join(10)  # EOF once srun has exited, unless something it started holds the pipe
    return Finished(status, tee.said(), wall, tuple(passed))


def _wait(pid: int, passed: list[int]) -> int:
    while True:
        # A thread this process had before may take SIGCHLD: look at srun regularly too.
        info = signal.sigtimedwait(_HELD, POLL_INTERVAL)
        if info is None or info.si_signo == signal.SIGCHLD:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
            if done:
                code = os.waitstatus_to_exitcode(wait_status)
                return 128 - code if code < 0 else code
        elif info.si_code != _SI_KERNEL:
            try:
                os.kill(pid, info.si_signo)
                passed.append(info.si_signo)
            except ProcessLookupError:
                pass
        else:
            passed.append(info.si_signo)  # the terminal sent it to srun as well
