"""A workshop lab module (a folder of pages), in the order the workshop's harness runs it.

The harness walks the folder with names in byte order, skips a folder holding `.notest` (and
everything under it), and makes each folder a suite: its index page (`_index.md`,
`index.en.md` or `index.md`) gives the folder its title and weight and then runs with weight 1;
the folder's pages run first, sorted by weight (stable, so ties keep name order), then its
child folders, sorted the same way. A page without a bash block is left out (an index page
stays); so is a folder left with nothing. `tests/hook-suite.sh` of a folder runs `before` its
suite and `after` it, child folders included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labkit.page import DEFAULT_HOOK_TIMEOUT, Page, PageError, parse
from labkit.replay import HOOKS_DIR, HookResult, PageRun, Replay

INDEX_NAMES = ("_index.md", "index.en.md", "index.md")
NOTEST = ".notest"
SUITE_HOOK = "hook-suite.sh"
INDEX_WEIGHT = 1


@dataclass
class Folder:
    path: Path
    title: str
    weight: int
    pages: list[Page] = field(default_factory=list)
    children: list[Folder] = field(default_factory=list)
    # Folders the harness does not test (a `.notest`), to name in the report.
    skipped: list[Path] = field(default_factory=list)

    @property
    def suite_hook(self) -> Path | None:
        hook = self.path / HOOKS_DIR / SUITE_HOOK
        return hook if hook.is_file() else None

    def walk(self) -> Iterator[tuple[Folder, Page]]:
        """Every page with its folder, in the harness's order."""
        for page in self.pages:
            yield self, page
        for child in self.children:
            yield from child.walk()

    def all_skipped(self) -> list[Path]:
        return [*self.skipped, *(path for child in self.children for path in child.all_skipped())]


def discover(root: Path) -> Folder:
    """The module at `root` in the harness's order; PageError names a page it cannot read."""
    if not root.is_dir():
        raise PageError(f"{root}: not a folder")
    if (root / NOTEST).exists():
        raise PageError(f"{root}: it holds {NOTEST}, so the workshop's harness tests none of it; remove it to replay the module")
    folder = _folder(root)
    if folder is None or not any(True for _ in folder.walk()):
        raise PageError(f"{root}: no page with a ```bash block: nothing to replay")
    return folder


def _folder(path: Path) -> Folder | None:
    names = sorted(p.name for p in path.iterdir())  # byte order, as the harness lists them
    index_name = next((n for n in INDEX_NAMES if n in names), None)
    folder = Folder(path, path.name, 0)
    found: list[Page] = []
    for name in names:
        entry = path / name
        if entry.is_dir():
            if (entry / NOTEST).exists():
                folder.skipped.append(entry)
                continue
            child = _folder(entry)
            if child is not None:
                folder.children.append(child)
        elif name.endswith(".md"):
            page = parse(entry)
            if name == index_name:
                folder.title, folder.weight = page.title, page.weight
                page.weight = INDEX_WEIGHT
                found.append(page)
            elif any(block.raw_text.strip() for block in page.blocks):
                found.append(page)
    folder.pages = sorted(found, key=lambda p: p.weight)
    folder.children.sort(key=lambda f: f.weight)
    if not folder.pages and not folder.children:
        return None
    return folder


@dataclass
class ModuleRun:
    """A module's replay: each page's run in the harness's order, and its folders' suite hooks."""

    root: Folder
    pages: list[PageRun] = field(default_factory=list)
    suite_hooks: list[HookResult] = field(default_factory=list)

    def failures(self) -> list[str]:
        hooks = [h.failure for h in self.suite_hooks if h.failure]
        return [*hooks, *(f"{run.page.path.name}: {failure}" for run in self.pages for failure in run.failures())]

    def verdict(self) -> str:
        passed = sum(1 for run in self.pages if not run.failures())
        not_run = sum(1 for run in self.pages if run.not_run)
        skipped = self.root.all_skipped()
        line = f"{len(self.pages)} page(s): {passed} passed, {len(self.pages) - passed - not_run} failed"
        if not_run:
            line += f", {not_run} not run"
        if any(h.failure for h in self.suite_hooks):
            line += "; a suite hook failed"
        if skipped:
            line += f"; not tested ({NOTEST}): {', '.join(p.name for p in skipped)}"
        return line


def replay(folder: Folder, shell: Replay, run: ModuleRun | None = None) -> ModuleRun:
    """Every page of the module in one shell session, between its folders' suite hooks, as
    the harness runs it: a page after a failed page still runs; a failed `before` suite hook
    leaves its folder's pages not run."""
    run = run or ModuleRun(folder)
    hook = folder.suite_hook
    if hook is not None:
        before = shell.hook(hook, "before", shell.timeouts.of(DEFAULT_HOOK_TIMEOUT))
        run.suite_hooks.append(before)
        if before.failure:
            run.pages += [PageRun(page, [], f"not run: {before.failure}") for _, page in folder.walk()]
            return run
    for page in folder.pages:
        run.pages.append(PageRun(page, shell.run(page, hooks=True)))
    for child in folder.children:
        replay(child, shell, run)
    if hook is not None:
        run.suite_hooks.append(shell.hook(hook, "after", shell.timeouts.of(DEFAULT_HOOK_TIMEOUT)))
    return run
