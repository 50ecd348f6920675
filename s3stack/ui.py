"""Progress lines and the one error type whose message the CLI prints."""

from __future__ import annotations

import sys
import time

from localcluster.ui import fmt_duration, say, write

__all__ = ["Progress", "StackError", "fmt_duration", "say", "warn"]


class StackError(Exception):
    """A failure with a one-line message that names the cause or the fix."""


class Progress:
    """Prints ``[s3stack] text (elapsed)`` lines."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def elapsed(self) -> str:
        return fmt_duration(time.monotonic() - self.started)

    def note(self, text: str) -> None:
        say(f"[s3stack] {text} ({self.elapsed()} elapsed)")


def warn(text: str) -> None:
    write(sys.stderr, f"s3stack: warning: {text}\n")
