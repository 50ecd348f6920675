"""One command inside a service's whole life: CI's e2e steps (`localcluster run`, `s3stack run`)."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable

from localcluster.ui import say


def around(argv: list[str], usage: str, error: type[Exception], up: Callable[[], dict[str, str]], down: Callable[[], None]) -> int:
    """`up` (which returns extra environment for the command), run `argv`, then `down`
    whatever happened: a failed `up`, a failing command, Ctrl-C or CI's SIGTERM."""
    argv = argv[1:] if argv[:1] == ["--"] else argv
    if not argv:
        raise error(f"run needs a command: {usage}")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    try:
        extra = up()
        say(f"run: {' '.join(argv)}")
        return subprocess.call(argv, env=dict(os.environ, **extra))
    finally:
        down()
