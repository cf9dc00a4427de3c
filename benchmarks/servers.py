"""The measured servers as processes: started the same way (`python -m <module>` with the
bot's environment, from an empty folder so no `.env` is read), ready when HTTP answers,
watched through /proc (CPU time to know when they are idle, VmHWM for their peak memory)."""

from __future__ import annotations

import contextlib
import http.client
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config.sentences import HINTS
from bot.runtime.http import EVENTS_PATH

ROOT = Path(__file__).resolve().parent.parent
TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: dict[str, str]) -> dict[str, str]:
    """This process's environment without any of the bot's settings, plus `settings`."""
    clean = {k: v for k, v in os.environ.items() if k.upper() not in HINTS}
    return {**clean, "PYTHONPATH": str(ROOT), **settings}


@dataclass
class Served:
    """A server process a benchmark started: its address, its log, its time to first answer."""
    name: str
    process: subprocess.Popen[bytes]
    url: str
    log: Path
    ready_s: float   # from the start of the process to its first HTTP answer

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_rss_mb(self) -> float:
        """The process's resident-memory high-water mark (VmHWM), in MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM (the bot stops gracefully), then SIGKILL if it takes too long."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("POST", EVENTS_PATH, body=b"")
        connection.getresponse().read()
        return True
    except OSError:
        return False
    finally:
        connection.close()


def start(name: str, command: list[str], settings: dict[str, str], folder: Path,
          timeout_s: float = 60) -> Served:
    """`python -m <command>` in `folder` with the bot's `settings` (PORT among them)."""
    port = int(settings["PORT"])
    log = folder / f"{name}.log"
    begun = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", *command], cwd=folder,
                                   env=environment(settings), stdout=out,
                                   stderr=subprocess.STDOUT)
    while not _answers(port):
        if process.poll() is not None or time.perf_counter() - begun > timeout_s:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} did not start (python -m {shlex.join(command)}):\n{tail}")
        time.sleep(0.02)
    return Served(name, process, f"http://127.0.0.1:{port}{EVENTS_PATH}", log,
                  time.perf_counter() - begun)


def cpu_s(pid: int) -> float:
    """CPU time (user + system) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * TICK_S


def wait_idle(pids: list[int], progress: Callable[[], object] = lambda: None,
              cap_s: float = 30, step_s: float = 0.25, steps: int = 3) -> float:
    """Wait until, for `steps` steps in a row, the processes used (almost) no CPU and
    `progress()` (a snapshot of work done and under way) did not change; gives up after
    `cap_s`. Returns the seconds waited."""
    begun = time.perf_counter()
    quiet = 0
    last = (sum(cpu_s(p) for p in pids), progress())
    while time.perf_counter() - begun < cap_s and quiet < steps:
        time.sleep(step_s)
        now = (sum(cpu_s(p) for p in pids), progress())
        quiet = quiet + 1 if now[0] - last[0] <= 0.02 and now[1] == last[1] else 0
        last = now
    return time.perf_counter() - begun
