"""A workshop lab page, read the way the workshop's test harness reads it.

The harness (the workshop repository's `testing/` tool) takes every top-level fenced block
whose language is `bash`, reads the block's annotations (`test=false`, `timeout=`, `wait=`,
`hook=`, `hookTimeout=`, `expectError=`, `raw=`), and keeps the lines that start with `$`
(two characters stripped) plus their continuations: a line ending in a backslash, and the body
of a heredoc opened with exactly `<<EOF` up to the next line containing `EOF`. Every other line
is the documented output of the command above it. A blank line ends the harness's reading of
the block: the commands after it are silently dropped. All commands of a block run in one
`bash` with `set -e`; only exported variables reach the next block.

This module reads each command the way the harness would and also the way bash would, and
says where they part: `Command.harness_drops` (after a blank line, or inside a `test=false`
block the harness skips) and `Command.harness_breaks` (a heredoc the harness cuts).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it import MarkdownIt

DEFAULT_TIMEOUT = 120
# The harness's `--hook-timeout` default, for a block whose `hookTimeout=` is absent or 0.
DEFAULT_HOOK_TIMEOUT = 300
KNOWN_KEYS = ("test", "timeout", "wait", "hook", "hookTimeout", "expectError", "raw")
# CommonMark with remark-gfm's tables (the harness parses with remark and remark-gfm).
_MARKDOWN = MarkdownIt("commonmark").enable("table")
# A heredoc, not a here-string (`<<<`).
_HEREDOC = re.compile(r"(?<!<)<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


class PageError(ValueError):
    """The page cannot be read as a lab page; the message names the line and the fix."""


@dataclass
class Command:
    text: str  # as bash runs it (continuations and heredoc bodies included)
    line: int  # 1-based line of its `$` in the page
    output: list[str] = field(default_factory=list)  # the documented output below it
    harness_drops: str | None = None  # why the workshop's harness would not run it
    harness_breaks: str | None = None  # why the harness would run something else


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    annotations: dict[str, str]
    commands: list[Command]
    raw_text: str = ""

    @property
    def tested(self) -> bool:
        return self.annotations.get("test") != "false"

    @property
    def expect_error(self) -> bool:
        return self.annotations.get("expectError") == "true"

    @property
    def timeout(self) -> int:
        return _int(self.annotations.get("timeout"), DEFAULT_TIMEOUT)

    @property
    def wait(self) -> int:
        return _int(self.annotations.get("wait"), 0)

    @property
    def hook(self) -> str | None:
        return self.annotations.get("hook") or None

    @property
    def hook_timeout(self) -> int:
        given = _int(self.annotations.get("hookTimeout"), 0)
        return given if given > 0 else DEFAULT_HOOK_TIMEOUT


@dataclass
class Page:
    path: Path
    title: str
    blocks: list[Block]
    warnings: list[str]
    # Its place in its folder, as the harness orders pages: front matter `weight`, else
    # `sidebar_position`, read with JavaScript's parseInt; 0 when absent.
    weight: int = 0

    @property
    def namespaces(self) -> list[str]:
        """The namespaces the page's commands name (`-n X`, `--namespace X`), first seen first."""
        found: list[str] = []
        for block in self.blocks:
            for command in block.commands:
                for name in re.findall(r"(?:\s-n|--namespace)[=\s]+([a-z0-9][-a-z0-9]*)", command.text):
                    if name not in found:
                        found.append(name)
        return found


_JS_INT = re.compile(r"^[\s\ufeff\xa0]*([+-]?)(0[xX][0-9a-fA-F]+|\d+)")


def js_int(value: object) -> int | None:
    """A value as the harness's JavaScript `parseInt` reads it (`30s` is 30, `10.5` is 10,
    `0x10` is 16); None where parseInt gives NaN."""
    match = _JS_INT.match(str(value))
    if not match:
        return None
    sign, digits = match.groups()
    number = int(digits, 16) if digits[:2].lower() == "0x" else int(digits)
    return -number if sign == "-" else number


def _int(value: str | None, default: int) -> int:
    number = js_int(value) if value is not None else None
    return default if number is None else number


def _annotations(meta: str, line: int, warnings: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for param in meta.split(" "):
        parts = param.split("=")
        if len(parts) != 2:
            continue
        if parts[0] not in KNOWN_KEYS:
            warnings.append(f"line {line}: unknown block annotation {parts[0]!r} (the harness ignores it)")
            continue
        found[parts[0]] = parts[1]
    return found


def _front_matter(text: str, path: Path) -> tuple[dict[str, object], int]:
    """The front matter, and the index of the first line after it."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise PageError(f"{path}: no front matter (a first line '---' and a title): the harness refuses such a page")
    try:
        end = lines.index("---", 1)
    except ValueError:
        raise PageError(f"{path}: the front matter is not closed by a line '---'") from None
    try:
        meta = yaml.safe_load("\n".join(lines[1:end])) or {}
    except yaml.YAMLError as err:
        raise PageError(f"{path}: the front matter is not YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(meta, dict):
        raise PageError(f"{path}: the front matter is a {type(meta).__name__}, not a mapping of fields (title:, weight:)")
    return meta, end + 1


def weight(meta: dict[str, object]) -> int:
    """`weight`, else `sidebar_position`, as parseInt reads it; 0 when absent or not a number."""
    given = meta.get("weight", meta.get("sidebar_position"))
    return (js_int(given) or 0) if given is not None else 0


def _top_level_fences(text: str) -> Iterator[tuple[int, str, str]]:
    """(0-based line, info string, content) of each fenced code block at the document's top
    level, by CommonMark's rules as the harness's remark reads them: not inside an HTML
    comment, a list or a quote; indented up to three spaces; closed only by a bare fence."""
    for token in _MARKDOWN.parse(text):
        if token.type == "fence" and token.level == 0 and token.map:
            yield token.map[0], token.info, token.content


def parse(path: Path) -> Page:
    try:
        text = path.read_text()
    except UnicodeDecodeError as err:
        raise PageError(f"{path}: not UTF-8 text ({err.reason} at byte {err.start})") from None
    front, start = _front_matter(text, path)
    title = str(front.get("title", "Unknown"))
    lines = text.split("\n")
    blocks: list[Block] = []
    warnings: list[str] = []
    for first, info, content in _top_level_fences("\n".join(lines[start:])):
        lang, meta = [*info.split(None, 1), "", ""][:2]
        if lang == "bash" and content:
            fence_line = start + first + 1
            blocks.append(_block(content.removesuffix("\n").split("\n"), fence_line, _annotations(meta.strip(), fence_line, warnings)))
    return Page(path, title, blocks, warnings, weight(front))


def _block(body: list[str], fence_line: int, annotations: dict[str, str]) -> Block:
    """Commands as bash reads them, each marked where the harness would read otherwise."""
    block = Block(fence_line, annotations, [], "\n".join(body))
    if annotations.get("raw") == "true":
        block.commands.append(Command(block.raw_text, fence_line + 1))
        return block
    blank_seen = False
    index = 0
    while index < len(body):
        line = body[index]
        index += 1
        if not line.startswith("$"):
            if line == "":
                blank_seen = True
            elif block.commands:
                block.commands[-1].output.append(line)
            continue
        command = Command(line[2:], fence_line + index)
        parts = [command.text]
        opened = _HEREDOC.search(command.text)
        delimiter = opened.group(2) if opened else None
        continued = command.text.endswith("\\")
        while index < len(body) and (continued or delimiter):
            part = body[index]
            parts.append(part)
            index += 1
            if delimiter:
                delimiter = None if part.strip() == delimiter else delimiter
                continue
            continued = part.endswith("\\")
            found = _HEREDOC.search(part)
            if found:
                opened, delimiter = opened or found, found.group(2)
        command.text = "\n".join(parts)
        if blank_seen:
            command.harness_drops = "it follows a blank line in its block, where the harness stops reading"
        elif not block.tested:
            command.harness_drops = "its block says test=false"
        elif "" in parts[1:]:
            command.harness_breaks = "a blank line inside it ends the harness's reading of the block"
        elif any(part.startswith("$") for part in parts[1:]):
            command.harness_breaks = "a line inside it starts with `$`, and the harness cuts that line's first two characters"
        elif "<<<EOF" in command.text:
            command.harness_breaks = "its here-string `<<<EOF` reads to the harness as a heredoc, which swallows the lines after it"
        elif opened and "<<EOF" not in command.text:
            command.harness_breaks = f"its heredoc opens with {opened.group(0)!r}; the harness knows only <<EOF and drops the body"
        block.commands.append(command)
    return block
