"""The run wrapper under real signals, sent the way a terminal or CI sends them: to the
wrapper's process group (the wrapper runs in a session of its own, as under `setsid`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from labkit.settings import ROOT
from stackbase import wrap

# A wrapper around a command that cleans up on its first signal; every stage leaves a mark.
HARNESS = """
import sys, time
from pathlib import Path
from stackbase import wrap

marks = Path(sys.argv[1])
up_seconds, down_seconds, grace = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])

def up():
    (marks / "up-started").touch()
    time.sleep(up_seconds)
    (marks / "up-done").touch()
    return {"MARKS": str(marks)}

def down():
    (marks / "down-started").touch()
    time.sleep(down_seconds)
    for _ in range(3):
        wrap.say("down: removing things")  # output while the reader may be gone
    (marks / "down-done").touch()

sys.exit(wrap.around(["--", sys.executable, str(marks / "command.py")], "usage", RuntimeError, up, down, grace=grace))
"""

# The command: on each signal it records it; it needs a moment to clean up, then exits 1.
COMMAND = """
import os, signal, sys, time
from pathlib import Path
marks = Path(os.environ["MARKS"])
ignore = (marks / "ignore-signals").exists()

def on_signal(signum, frame):
    with (marks / "command-signals").open("a") as f:
        f.write(signal.Signals(signum).name + "\\n")
    if not ignore:
        time.sleep(0.5)
        for _ in range(100):
            print("cleaning up " * 100, flush=True)  # more than a pipe buffer holds
        (marks / "command-cleaned").touch()
        sys.exit(1)

for s in (signal.SIGINT, signal.SIGTERM):
    signal.signal(s, on_signal)
(marks / "command-started").touch()
time.sleep(60)
"""


def start(
    tmp_path: Path, *, up: float = 0, down: float = 0, grace: float = 30, ignore: bool = False, piped: bool = False
) -> subprocess.Popen[bytes]:
    (tmp_path / "harness.py").write_text(HARNESS)
    (tmp_path / "command.py").write_text(COMMAND)
    if ignore:
        (tmp_path / "ignore-signals").touch()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, str(tmp_path / "harness.py"), str(tmp_path), str(up), str(down), str(grace)]
    return subprocess.Popen(args, env=env, start_new_session=True, stdout=subprocess.PIPE if piped else None)


def wait_for(path: Path, bound: float = 20) -> None:
    deadline = time.monotonic() + bound
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_the_command_is_passed_once_and_down_runs(tmp_path: Path, sig: signal.Signals) -> None:
    wrapper = start(tmp_path)
    wait_for(tmp_path / "command-started")
    os.killpg(wrapper.pid, sig)  # the wrapper's group: the command sits in a group of its own
    assert wrapper.wait(30) == 128 + sig
    assert (tmp_path / "command-signals").read_text().split() == [sig.name]
    assert (tmp_path / "command-cleaned").exists()
    assert (tmp_path / "down-done").exists()


def test_a_reader_that_dies_with_the_signal_does_not_stop_the_clean_up(tmp_path: Path) -> None:
    """tox dies at once on SIGTERM and its pipe breaks; the clean-up still runs to its end."""
    wrapper = start(tmp_path, piped=True)
    wait_for(tmp_path / "command-started")
    assert wrapper.stdout is not None
    wrapper.stdout.close()  # the runner reading our output is gone
    os.killpg(wrapper.pid, signal.SIGTERM)
    assert wrapper.wait(30) == 128 + signal.SIGTERM
    assert (tmp_path / "command-cleaned").exists()
    assert (tmp_path / "down-done").exists()


def test_signal_during_up_skips_the_command_and_still_brings_it_down(tmp_path: Path) -> None:
    wrapper = start(tmp_path, up=30)
    wait_for(tmp_path / "up-started")
    os.killpg(wrapper.pid, signal.SIGTERM)
    assert wrapper.wait(30) == 128 + signal.SIGTERM
    assert not (tmp_path / "command-started").exists()
    assert (tmp_path / "down-done").exists()


def test_signals_during_down_do_not_cut_it_short(tmp_path: Path) -> None:
    wrapper = start(tmp_path, down=2)
    wait_for(tmp_path / "command-started")
    os.killpg(wrapper.pid, signal.SIGINT)
    wait_for(tmp_path / "down-started")
    os.killpg(wrapper.pid, signal.SIGINT)
    os.killpg(wrapper.pid, signal.SIGTERM)
    assert wrapper.wait(30) == 128 + signal.SIGINT
    assert (tmp_path / "down-done").exists()
    assert (tmp_path / "command-signals").read_text().split() == ["SIGINT"]


def test_a_command_that_ignores_the_signal_is_killed_after_the_grace(tmp_path: Path) -> None:
    wrapper = start(tmp_path, grace=1, ignore=True)
    wait_for(tmp_path / "command-started")
    started = time.monotonic()
    os.kill(wrapper.pid, signal.SIGTERM)  # to the wrapper alone, as `kill PID` does
    assert wrapper.wait(30) == 128 + signal.SIGTERM
    assert time.monotonic() - started < 15
    assert (tmp_path / "down-done").exists()


def test_command_exit_code_is_kept_and_down_failure_fails_the_run() -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert wrap.around(["--", "sh", "-c", "exit 3"], "u", RuntimeError, dict, lambda: None) == 3

    def leaky_down() -> None:
        raise RuntimeError("down left: interface labs3h")

    with pytest.raises(RuntimeError, match="down left: interface labs3h"):
        wrap.around(["--", "true"], "u", RuntimeError, dict, leaky_down)
    assert signal.getsignal(signal.SIGTERM) is before  # handlers restored


def test_nested_grace_fits_inside_the_outer_one() -> None:
    assert wrap.NESTED_GRACE_SECONDS < wrap.GRACE_SECONDS
