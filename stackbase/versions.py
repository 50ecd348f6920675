"""versions.env for the tools: one reader, with the grammar the suite reads it with
(`labkit.settings.parse_pins`), so a pin means the same to every reader. Each tool's
`Versions` takes the pins it needs from here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labkit import settings
from stackbase.ui import ToolError


@dataclass(frozen=True)
class Pins:
    values: dict[str, str]
    path: Path

    def need(self, key: str) -> str:
        if not self.values.get(key):
            raise ToolError(f"{self.path} has no {key}=...: add the pin")
        return self.values[key]

    def names(self, key: str) -> tuple[str, ...]:
        """A comma-separated pin (Debian packages)."""
        return tuple(name for name in self.need(key).split(",") if name)


def load_pins(path: Path = settings.VERSIONS_FILE) -> Pins:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ToolError(f"{path} is missing: run from the repository checkout") from None
    try:
        return Pins(settings.parse_pins(text), path)
    except ValueError as err:
        raise ToolError(str(err)) from None
