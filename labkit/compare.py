"""A command's documented output next to its live output, under listed normalisations.

Each normalisation is one row of NORMALISATIONS (what it does and why): anything the page
cannot know in advance (generated names, ages, addresses, column widths) is replaced before
lines are compared. `[...]` in the documented output stands for lines the page left out: the
parts between such markers must appear, in order, each as consecutive lines of the live output.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass

ELISION = "[...]"


class Verdict(enum.Enum):
    MATCHES = "matches"
    DIFFERS = "differs"
    NOT_COMPARED = "not compared"


@dataclass(frozen=True)
class Normalisation:
    name: str
    why: str
    apply: Callable[[str], str | None]  # None drops the line


def _sub(pattern: str, replacement: str) -> Callable[[str], str]:
    compiled = re.compile(pattern)
    return lambda line: compiled.sub(replacement, line)


def _drop(pattern: str) -> Callable[[str], str | None]:
    compiled = re.compile(pattern)
    return lambda line: None if compiled.search(line) else line


NORMALISATIONS: tuple[Normalisation, ...] = (
    Normalisation(
        "rollout progress",
        "`kubectl rollout status` prints a 'Waiting for ...' line per change it sees, as many as the timing gives",
        _drop(r"^Waiting for (deployment|daemon set|statefulset|rollout)\b.*\bto finish\b|^Waiting for deployment spec update"),
    ),
    Normalisation("annotations", "a trailing arrow ('<-----') points the reader at a line", _sub(r"\s*<-{2,}\s*$", "")),
    Normalisation(
        "pod and ReplicaSet names",
        "the hash suffixes of generated names differ per run",
        _sub(r"\b([a-z0-9]+(?:-[a-z0-9]+)*?)-[a-f0-9]{8,10}(?:-[a-z0-9]{5})?\b", r"\1-<hash>"),
    ),
    Normalisation("ages", "how long ago something happened", _sub(r"\b\d+(?:\.\d+)?(?:ms|s|m|h|d)(?:\d+(?:s|m|h))?\b", "<age>")),
    Normalisation(
        "timestamps",
        "when something happened",
        _sub(r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d[\d:.]*Z?\b|\b\w{3}, \d\d \w{3} \d{4} [\d:]+ [+-]\d{4}\b", "<time>"),
    ),
    Normalisation("IP addresses", "addresses are assigned per cluster", _sub(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b", "<ip>")),
    Normalisation("column spacing", "column widths follow the longest value", lambda line: " ".join(line.split())),
)


def normalise(lines: list[str]) -> list[str]:
    out = []
    for raw in lines:
        line: str | None = raw
        for rule in NORMALISATIONS:
            if line is None:
                break
            line = rule.apply(line)
        if line is not None:
            out.append(line)
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


@dataclass(frozen=True)
class Comparison:
    verdict: Verdict
    detail: str  # the reason (not compared), the diff (differs), or how it matched


def _segments(documented: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for line in documented:
        if line.strip() == ELISION:
            segments.append([])
        else:
            segments[-1].append(line)
    return segments


def _find(live: list[str], segment: list[str], start: int) -> int:
    """Where `segment` starts as consecutive lines of `live` at or after `start`, or -1."""
    for at in range(start, len(live) - len(segment) + 1):
        if live[at : at + len(segment)] == segment:
            return at
    return -1


def _matches_with_elisions(documented: list[str], live: list[str]) -> bool:
    segments = _segments(documented)
    anchored_start = documented[:1] != [ELISION]
    anchored_end = documented[-1:] != [ELISION]
    position = 0
    for number, segment in enumerate(segments):
        if not segment:
            continue
        at = _find(live, segment, position)
        if at < 0 or (number == 0 and anchored_start and at != 0):
            return False
        position = at + len(segment)
    return not anchored_end or position == len(live) or not segments[-1]


def compare(documented: list[str], live: list[str], unordered: bool = False) -> Comparison:
    """The verdict for one command; `unordered` for a command whose lines have no order."""
    if not [line for line in documented if line.strip()]:
        return Comparison(Verdict.NOT_COMPARED, "the page shows no output for it")
    want = normalise(documented)
    got = normalise(live)
    if ELISION in (line.strip() for line in want):
        if _matches_with_elisions(want, got):
            return Comparison(Verdict.MATCHES, "every shown part appears in order ([...] elides the rest)")
    elif want == got:
        return Comparison(Verdict.MATCHES, "line for line")
    elif unordered and sorted(want) == sorted(got):
        return Comparison(Verdict.MATCHES, "the same lines (the command does not order them)")
    diff = "\n".join(difflib.unified_diff(want, got, "documented", "live", lineterm="", n=2))
    return Comparison(Verdict.DIFFERS, "\n".join([*_unmatched(want, got), diff]))


def diff_lines(detail: str) -> list[str]:
    """The changed lines of a differing comparison (`-` documented, `+` live), as normalized."""
    _, header, body = detail.partition("\n+++ live\n")
    return [line for line in body.splitlines() if line.startswith(("+", "-"))] if header else []


def _unmatched(want: list[str], got: list[str]) -> list[str]:
    """The lines only one side has, named first: a file the page lists that no step creates
    is the finding, not a line of the diff."""
    only_documented = [line.strip() for line in want if line.strip() and line.strip() != ELISION and line not in got]
    only_live = [line.strip() for line in got if line.strip() and line not in want]
    return [
        f"{side}: {_few(found)}"
        for side, found in (("documented, not live", only_documented), ("live, not documented", only_live))
        if found
    ]


def _few(lines: list[str], most: int = 5) -> str:
    return ", ".join(lines) if len(lines) <= most else f"{len(lines)} lines (see the diff)"
