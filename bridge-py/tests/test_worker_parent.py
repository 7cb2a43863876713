"""A local worker exits when the process that started it dies, rather than reconnecting forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid

from conftest import BRIDGE_DIR

# Starts a worker as its child (passing its own pid when asked), prints the worker's pid, and exits.
LAUNCHER = """
import os, subprocess, sys
args = [sys.executable, "-m", "dspy_bridge.worker", "--connect", sys.argv[1], "--id", "w-orphan", "--heartbeat-ms", "100"]
if sys.argv[2] == "yes":
    args += ["--parent-pid", str(os.getpid())]
child = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
print(child.pid, flush=True)
"""


def launch_orphan(pass_parent: bool) -> int:
    # Nothing listens there: the worker keeps trying to reach a pool that is gone, as after a crash.
    endpoint = f"ipc:///tmp/dspyb-gone-{uuid.uuid4().hex[:8]}.sock"
    out = subprocess.run([sys.executable, "-c", LAUNCHER, endpoint, "yes" if pass_parent else "no"], cwd=BRIDGE_DIR, capture_output=True, text=True, check=True, timeout=30)
    return int(out.stdout.strip())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its new parent) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_a_worker_given_its_parent_pid_exits_once_the_parent_is_gone() -> None:
    pid = launch_orphan(pass_parent=True)
    try:
        assert wait_gone(pid, 30), "the orphaned worker is still running"
    finally:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_without_a_parent_pid_an_orphaned_worker_keeps_running() -> None:
    # The control: remote workers pass no parent pid and must survive their launcher.
    pid = launch_orphan(pass_parent=False)
    try:
        assert not wait_gone(pid, 8), "a worker without --parent-pid exited on its own"
    finally:
        os.kill(pid, signal.SIGKILL)
