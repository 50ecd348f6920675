"""One command inside a service's whole life: CI's e2e steps (`localcluster run`, `s3stack run`, `kindstack run`).

Signals are what CI and people send: SIGINT from a terminal (to the foreground process group),
SIGTERM from a runner (to the process, or to its group). The command runs in a process group
of its own so it receives each signal exactly once, from here: a second Ctrl-C reaching
pytest directly would cut its own clean-up short.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import IO

from stackbase.ui import say, silence, warn

# How long the command may take to clean up after the first signal before it is killed.
# An inner wrapper gets less, so its own `down` still fits in the outer one's bound.
GRACE_SECONDS = 300.0
NESTED_GRACE_SECONDS = 240.0
# After the command exits, how long its last output may take to come through (a daemon it
# started may hold the pipe open).
RELAY_DRAIN_SECONDS = 5.0
HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    def __init__(self, signum: int) -> None:
        super().__init__(f"signal {signal.Signals(signum).name}")
        self.signum = signum


def around(
    argv: list[str],
    usage: str,
    error: type[Exception],
    up: Callable[[], dict[str, str]],
    down: Callable[[], None],
    grace: float = GRACE_SECONDS,
) -> int:
    """`up` (which returns extra environment for the command), run `argv`, then `down`
    whatever happened: a failed `up`, a failing command, Ctrl-C or CI's SIGTERM.

    Returns the command's exit code, or 128+signal when a signal stopped the run; `down`
    raising (leftovers) propagates, so the run fails."""
    argv = argv[1:] if argv[:1] == ["--"] else argv
    if not argv:
        raise error(f"run needs a command: {usage}")

    received: list[int] = []
    in_up = True

    def on_signal(signum: int, frame: FrameType | None) -> None:
        """Only notes the signal (the wait loop passes it on), except during `up`, which it stops."""
        received.append(signum)
        if len(received) == 1 and in_up:
            raise Interrupted(signum)  # `finally` brings things down

    previous = {s: signal.signal(s, on_signal) for s in HANDLED}
    code = 1
    try:
        extra = up()
        in_up = False
        say(f"run: {' '.join(argv)}")
        # The command's output passes through here, so it never writes into a pipe whose
        # reader died (tox killed by SIGTERM) and fails half-way through its clean-up.
        child = subprocess.Popen(argv, env=dict(os.environ, **extra), process_group=0, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        relay = threading.Thread(target=_relay, args=(child.stdout,), daemon=True)
        relay.start()
        code = _wait(child, received, grace)
        relay.join(timeout=RELAY_DRAIN_SECONDS)
    except Interrupted:
        pass  # a signal during `up`: nothing to run; the exit code says which signal
    finally:
        in_up = False  # `down` runs to its end: further signals are noted, not raised
        try:
            down()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 128 + received[0] if received else code


def _relay(source: IO[bytes] | None) -> None:
    """Copy the command's output to ours until it ends; once ours is broken, drop it."""
    assert source is not None
    out = sys.stdout.buffer
    while chunk := os.read(source.fileno(), 65536):
        try:
            out.write(chunk)
            out.flush()
        except BrokenPipeError:
            silence(out.fileno())


def _wait(child: subprocess.Popen[bytes], received: list[int], grace: float) -> int:
    """The child's exit code. The first signal is passed to its process group once (later
    ones are only noted); it is killed when it outlives the grace after that signal."""
    since: float | None = None
    noted = 0
    while True:
        try:
            return child.wait(timeout=0.2)
        except subprocess.TimeoutExpired:
            pass
        if received and since is None:
            since = time.monotonic()
            say(f"run: {signal.Signals(received[0]).name}: passing it to the command, waiting up to {grace:g}s for its clean-up")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, received[0])
        for later in received[max(noted, 1) :]:
            warn(f"run: {signal.Signals(later).name} again: already stopping")
        noted = len(received)
        if since is not None and time.monotonic() - since > grace:
            warn(f"run: the command did not finish its clean-up within {grace:g}s of the signal: killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)
            return child.wait()


def command_line(prog: str, command: Callable[[], int], errors: tuple[type[Exception], ...]) -> int:
    """A tool's exit code: its one-line error (1), or 130 on Ctrl-C, instead of a traceback."""
    try:
        return command()
    except errors as err:
        print(f"{prog}: error: {err}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return 130
