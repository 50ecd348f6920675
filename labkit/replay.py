"""Running a lab page's commands, in order, the way its readers (and the harness) run them.

Each block runs in one `bash` with `set -e`, as the harness runs it; markers between the
commands (on stdout and stderr) give each command its own output. Only exported variables
reach the next block. A command the harness would drop after a blank line is run too, and
marked; a `test=false` block is not run.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from labkit import scope, standins
from labkit.compare import Comparison, Verdict, compare, diff_lines
from labkit.page import Block, Command, Page
from labkit.settings import Timeouts

HOOKS_DIR = "tests"
_DOWNLOAD = re.compile(r"^not run: it (downloads|fetches) from the internet")

# Commands whose output has no order of its own: their lines are compared as a set.
UNORDERED = re.compile(r"\bkubectl\b.*\bget\s+(events|ev)\b|^\s*(env|printenv|find)\b")

# Programs the replay never runs, whatever the machine has: they act on the workshop's own
# account or environment, or fetch from the internet. The page's readers run them in the
# workshop's environment; the suite stands in for what they set up (the lab's objects, the bucket).
WORKSHOP_ONLY = {
    "aws": "it acts on the workshop's AWS account",
    "eksctl": "it acts on the workshop's AWS account",
    "terraform": "it acts on the workshop's AWS account",
    "prepare-environment": "it resets the workshop's environment",
    "curl": "it downloads from the internet",
    "wget": "it downloads from the internet",
}
# Paths that exist only in the workshop's environment (its checkout of the repository), unless
# the replay's home has a stand-in for it (labkit.standins.environment).
ENVIRONMENT = standins.ENVIRONMENT_DIR
WORKSHOP_PATHS = tuple(f"{home}/{ENVIRONMENT}" for home in standins.HOME_SPELLINGS)
# An address on the internet, wherever in the command (a pod's curl too): never fetched from here.
# Cluster-local names (*.svc, *.cluster.local, one-label names), localhost and private
# addresses are the run's own.
_URL = re.compile(r"\bhttps?://([A-Za-z0-9.-]+)")
_LOCAL_NAME = re.compile(r"^(localhost|[^.]+|.*\.svc|.*\.local)$")


def _remote(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_global
    except ValueError:
        return not _LOCAL_NAME.match(host)


_SEPARATORS = {"|", "||", "&", "&&", ";", ";;", "(", ")", "\n"}
# Words after which the next word starts a command (`for ...; do aws ...`, `if aws ...`).
_LEADS = {"if", "then", "else", "elif", "do", "while", "until", "!", "{", "time"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_SUBSTITUTION = re.compile(r"\$\(([^()]*)\)")
# The instance metadata service: link-local, yet the workshop's EC2 host's, never the run's.
METADATA_HOSTS = ("169.254.169.254", "fd00:ec2::254", "[fd00:ec2::254]")


@functools.cache
def _shell_words() -> frozenset[str]:
    """bash's builtins and keywords: commands that need no program on PATH."""
    listed = subprocess.run(["bash", "-c", "compgen -b; compgen -k"], capture_output=True, text=True, check=False).stdout
    return frozenset(listed.split())


def _words(text: str) -> list[str]:
    """A command line's words and operators as bash splits them; [] when it cannot be read."""
    lexer = shlex.shlex(text.replace("\\\n", " "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:
        return []


def programs(text: str) -> list[str]:
    """The programs a command line starts (first words of its pipelines and lists, `$(...)`
    included, quoted strings not); [] when it cannot be read. A heredoc's body is not read."""
    head = text.split("\n", 1)[0] if "<<" in text else text
    tokens = _words(head)
    found, starts = [], True
    for index, token in enumerate(tokens):
        if token in _SEPARATORS or token.endswith("$") or (starts and token in _LEADS):  # `X=$(` ends in `$` before its `(`
            starts = True
        elif starts and not _ASSIGNMENT.match(token):
            found.append(token)
            starts = False
            if token in ("bash", "sh") and tokens[index + 1 : index + 2] == ["-c"] and index + 2 < len(tokens):
                found += programs(tokens[index + 2])  # `bash -c '...'` here runs its string here
    for match in _SUBSTITUTION.finditer(head):
        if head[: match.start()].count("'") % 2 == 0:  # `"$(...)"` runs here; `'$(...)'` is text
            found += [word for word in programs(match.group(1)) if word not in found]
    return found


def _stood_in(text: str, program: str, stand_ins: Mapping[str, str]) -> bool:
    """Whether every use of `program` in the command has a stand-in (`aws s3`, not `aws iam`)."""
    words = text.split()
    uses = [words[i:] for i, word in enumerate(words) if word == program]
    return bool(uses) and all(any(standins.starts(use, key) for key in stand_ins) for use in uses)


def why_not_run(text: str, path: str, stand_ins: Mapping[str, str] | None = None, home: Path | None = None) -> str | None:
    """Why the replay leaves a command out, or None to run it (a workshop-only program runs
    where the suite stands in for what it does; `~/environment` where `home` has one)."""
    hosts = _URL.findall(text)
    metadata = [host for host in hosts if host in METADATA_HOSTS]
    if metadata:
        return f"not run: it asks the workshop's EC2 instance metadata service ({metadata[0]})"
    words = programs(text)
    for word in words:
        if word in WORKSHOP_ONLY and not _stood_in(text, word, stand_ins or {}):
            return f"not run: {WORKSHOP_ONLY[word]} ({word})"
    remote = [host for host in hosts if _remote(host)]
    if remote:
        return f"not run: it fetches from the internet ({remote[0]})"
    for place in WORKSHOP_PATHS:
        if place in text and not (home is not None and (home / ENVIRONMENT).is_dir()):
            return f"not run: it reads the workshop's environment ({place})"
    for word in words:
        if "/" not in word and word not in _shell_words() and word not in (stand_ins or {}) and shutil.which(word, path=path) is None:
            return f"not run: it needs `{word}`, which the workshop's environment has and this run's PATH does not"
    return None


def download_outputs(text: str) -> list[str]:
    """The files a `wget` or `curl` command would write (`-O FILE`, `-o FILE`, or the URL's
    name), as the command spells them; [] when it cannot be read."""
    words = _words(text)
    found: list[str] = []
    named: list[str] = []  # the URL's own name, where no output file is given
    program = None
    for index, word in enumerate(words):
        following = words[index + 1] if index + 1 < len(words) else ""
        if word in _SEPARATORS:
            program = None
        elif program is None:
            program = word if word in ("wget", "curl") else ""
        elif _names_output(program, word) and following:
            found.append(following)
        elif word.startswith(("--output-document=", "--output=")):
            found.append(word.split("=", 1)[1])
        elif program == "wget" and "O" in _short(word) and not _short(word).endswith("O"):
            found.append(word.split("O", 1)[1])  # `-O/tmp/x`, `-qO-`
        elif _URL.match(word) and (program == "wget" or any(_remote_name(w) for w in words)):
            named += _braces(word.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1])
    return [name for name in found or named if name not in ("", "-")]


def _short(word: str) -> str:
    """The letters of a cluster of short options (`-sSLO` -> `sSLO`), else ''."""
    return word[1:] if word.startswith("-") and not word.startswith("--") else ""


def _names_output(program: str, word: str) -> bool:
    """Whether the next word is the file the download writes (`wget -qO FILE`, `curl -sSLo FILE`)."""
    letter, long = {"wget": ("O", "--output-document"), "curl": ("o", "--output")}.get(program, ("", ""))
    return bool(letter) and (word == long or _short(word).endswith(letter))


def _remote_name(word: str) -> bool:
    """curl's `-O`, also in a cluster (`-sSLO`), and its long forms: write under the URL's name."""
    return word in ("--remote-name", "--remote-name-all") or "O" in _short(word)


def _braces(word: str) -> list[str]:
    """bash's brace expansion of one `{a,b}` group (`{x.jpg,y.jpg}` is two names)."""
    match = re.search(r"\{([^{}]*,[^{}]*)\}", word)
    if not match:
        return [word]
    return [name for part in match.group(1).split(",") for name in _braces(word[: match.start()] + part + word[match.end() :])]


def _reads(text: str, name: str) -> bool:
    return re.search(rf"(?<![\w./-]){re.escape(name)}(?![\w.-])", text) is not None


@dataclass
class CommandResult:
    command: Command
    ran: bool
    exit_code: int | None = None
    stdout: str = ""
    stderr: str = ""
    comparison: Comparison = field(default_factory=lambda: Comparison(Verdict.NOT_COMPARED, "not run"))
    notes: list[str] = field(default_factory=list)


@dataclass
class HookResult:
    """One run of an authors' hook script (`tests/hook-NAME.sh before|after`)."""

    script: Path
    phase: str
    exit_code: int | None  # None: it ran over its timeout
    stdout: str = ""
    stderr: str = ""
    seconds: float = 0.0

    @property
    def failure(self) -> str | None:
        if self.exit_code == 0:
            return None
        where = f"{self.script.parent.name}/{self.script.name}"
        if self.exit_code is None:
            return f"the {self.phase} hook {where} ran over its timeout"
        return f"the {self.phase} hook {where} failed (exit {self.exit_code}){_cause(self.stderr, self.stdout)}"


def _cause(*outputs: str) -> str:
    """`: <the last line it printed>`, the likeliest cause, or nothing."""
    for output in outputs:
        lines = [line.strip() for line in output.splitlines() if line.strip()]
        if lines:
            return f": {lines[-1]}"
    return ""


@dataclass
class BlockResult:
    block: Block
    commands: list[CommandResult]
    seconds: float = 0.0
    failure: str | None = None  # a command or hook failed (unless expected), or the block timed out
    hooks: list[HookResult] = field(default_factory=list)
    # Its commands ran to the end, or to an error the block expects: the harness goes on to the after hook.
    completed: bool = False

    @property
    def verdict(self) -> Verdict:
        verdicts = {result.comparison.verdict for result in self.commands}
        for verdict in (Verdict.DIFFERS, Verdict.MATCHES):
            if verdict in verdicts:
                return verdict
        return Verdict.NOT_COMPARED


def _split(text: str, mark: str) -> dict[int, str]:
    """Per-command output: the text after each `mark N` line, up to the next mark."""
    parts: dict[int, str] = {}
    current: int | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        if line.startswith(mark):
            if current is not None:
                parts[current] = "\n".join(lines)
            tail = line[len(mark) :].strip()
            current, lines = (int(tail) if tail.isdigit() else None), []
        elif current is not None:
            lines.append(line)
    if current is not None:
        parts[current] = "\n".join(lines)
    # The newline printed before each mark ends the previous command's output.
    return {key: value[:-1] if value.endswith("\n") else value for key, value in parts.items()}


def _read_env(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    pairs = path.read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in pairs if b"=" in item)


class Replay:
    """One page's shell session: the environment exported so far, carried block to block."""

    def __init__(
        self,
        env: Mapping[str, str],
        workdir: Path,
        renamed: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        stand_ins: Mapping[str, str] | None = None,
    ) -> None:
        self.env = dict(env)
        # Workshop-only commands the suite stands in for (labkit.standins), and with what.
        self.stand_ins = dict(stand_ins or {})
        # Downloads left out so far: a later failure may come from what they would have fetched.
        self.downloads_left_out: list[str] = []
        # What those downloads would have written -> where the page downloads it: a command
        # that reads one is not run, for that cause.
        self.fetched: dict[str, str] = {}
        self.page_name = ""
        # A block's `timeout=` is the page's bound; --timeout-scale applies to it as to the suite's.
        self.timeouts = timeouts or Timeouts()
        self.workdir = workdir
        # Names the suite made run-unique (a PV, a volume handle) -> the names the page uses:
        # the live output is compared under the page's names.
        self.renamed = dict(renamed or {})

    def as_the_page_names(self, output: str) -> str:
        for unique, name in sorted(self.renamed.items(), key=lambda pair: -len(pair[0])):
            output = re.sub(rf"(?<![\w.-]){re.escape(unique)}(?![\w.-])", name, output)
        return output

    def _bash(self, argv: list[str], env: Mapping[str, str], timeout: float) -> tuple[int | None, str, str]:
        """Run bash in a session of its own (a timeout kills all it started): exit code (None
        when it ran over), stdout, stderr."""
        process = subprocess.Popen(
            ["bash", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            env=dict(env),
            cwd=self.workdir,
            start_new_session=True,
        )
        try:
            stdout, stderr = process.communicate(timeout=timeout)
            return process.returncode, stdout, stderr
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            stdout, stderr = process.communicate()
            return None, stdout, stderr

    def hook(self, script: Path, phase: str, timeout: float, output: str | None = None) -> HookResult:
        """`bash SCRIPT before|after` as the harness runs it: the page's exported environment,
        and for `after` the block's output as TEST_OUTPUT."""
        env = self.env if output is None else {**self.env, "TEST_OUTPUT": output}
        started = time.monotonic()
        # Absolute: it runs in the replay's working directory.
        code, stdout, stderr = self._bash([str(script.resolve()), phase], env, timeout)
        return HookResult(script, phase, code, stdout, stderr, time.monotonic() - started)

    def run_block(self, block: Block, page_dir: Path | None = None) -> BlockResult:
        """The block between its hooks (when it names one and `page_dir` is given)."""
        script = page_dir / HOOKS_DIR / f"hook-{block.hook}.sh" if page_dir is not None and block.hook else None
        if script is not None and block.tested:
            if not script.is_file():
                outcome = self._not_run(block, "not run: its hook is missing")
                outcome.failure = (
                    f"block at line {block.line} names hook={block.hook}, and {HOOKS_DIR}/{script.name} is not beside the page"
                )
                return outcome
            before = self.hook(script, "before", self.timeouts.of(block.hook_timeout))
            if before.failure:
                outcome = self._not_run(block, "not run: its before hook failed")
                outcome.hooks, outcome.failure = [before], before.failure
                return outcome
        outcome = self._run_commands(block)
        if script is not None and block.tested:
            outcome.hooks.append(before)
            if outcome.completed:
                after = self.hook(script, "after", self.timeouts.of(block.hook_timeout), self._test_output(outcome))
                outcome.hooks.append(after)
                outcome.failure = outcome.failure or after.failure
        if block.wait and outcome.failure is None:
            time.sleep(min(block.wait, 600))
        return outcome

    @staticmethod
    def _test_output(outcome: BlockResult) -> str:
        """TEST_OUTPUT as the harness gives it: the block's stdout; after an expected error,
        its output list as JavaScript joins it (`,stdout,stderr`)."""
        stdout = "".join(c.stdout + "\n" for c in outcome.commands if c.ran)
        if any(c.exit_code not in (None, 0) for c in outcome.commands):
            stderr = "".join(c.stderr + "\n" for c in outcome.commands if c.ran)
            return f",{stdout},{stderr}"
        return stdout

    @staticmethod
    def _not_run(block: Block, why: str) -> BlockResult:
        return BlockResult(block, [CommandResult(c, False, comparison=Comparison(Verdict.NOT_COMPARED, why)) for c in block.commands])

    def _left_out(self, block: Block) -> dict[int, str]:
        """Why each command the replay leaves out is left out, in order: one that reads what a
        left-out download would have written is left out for that cause."""
        home = Path(self.env["HOME"]) if self.env.get("HOME") else None
        found: dict[int, str] = {}
        for number, command in enumerate(block.commands):
            why = why_not_run(command.text, self.env.get("PATH", ""), self.stand_ins, home)
            if why is None:
                needed = [name for name in self.fetched if _reads(command.text, name)]
                if needed:
                    why = f"not run: it reads {needed[0]}, which {self.fetched[needed[0]]} would have fetched"
            elif _DOWNLOAD.search(why):
                page = f"{self.page_name} " if self.page_name else ""
                self.fetched.update(dict.fromkeys(download_outputs(command.text), f"the download at {page}line {command.line}"))
                self.downloads_left_out.append(f"{page}line {command.line}, {why.removeprefix('not run: ')}")
            if why:
                found[number] = why
        return found

    def _run_commands(self, block: Block) -> BlockResult:
        if not block.tested:
            return BlockResult(
                block,
                [CommandResult(c, False, comparison=Comparison(Verdict.NOT_COMPARED, "its block says test=false")) for c in block.commands],
            )
        mark = f"@@labkit-{secrets.token_hex(4)}@@ "
        with tempfile.TemporaryDirectory(dir=self.workdir) as scratch:
            env_file = Path(scratch) / "env"
            script = ["set -e"]
            left_out = self._left_out(block)
            for number, command in enumerate(block.commands):
                script.append(f"printf '\\n%s%d\\n' '{mark}' {number}; printf '\\n%s%d\\n' '{mark}' {number} >&2")
                script.append(":" if number in left_out else command.text)
            script.append(f"printf '\\n%sdone\\n' '{mark}'; env -0 > {env_file}")
            started = time.monotonic()
            code, stdout, stderr = self._bash(["-c", "\n".join(script)], self.env, self.timeouts.of(block.timeout))
            timed_out = code is None
            seconds = time.monotonic() - started
            exported = _read_env(env_file)
        outs, errs = _split(stdout, mark), _split(stderr, mark)
        reached = max(outs) if outs else -1
        finished = f"{mark}done" in stdout
        results = []
        for number, command in enumerate(block.commands):
            result = CommandResult(command, number <= reached, stdout=outs.get(number, ""), stderr=errs.get(number, ""))
            if number in left_out:
                result.ran = False
                result.comparison = Comparison(Verdict.NOT_COMPARED, left_out[number])
            elif result.ran:
                last = number == reached and not finished
                result.exit_code = code if last else 0
                live = self.as_the_page_names(result.stdout).split("\n")
                result.comparison = compare(command.output, live, unordered=bool(UNORDERED.search(command.text)))
            else:
                result.comparison = Comparison(Verdict.NOT_COMPARED, "not run: a command before it failed")
            for note in (command.harness_drops, command.harness_breaks):
                if note:
                    result.notes.append(f"the workshop's harness would not run this as written: {note}")
            if result.ran:
                result.notes += [f"stood in: {what}" for what in standins.served(command.text, self.stand_ins)]
            results.append(result)
        outcome = BlockResult(block, results, seconds, completed=not timed_out and (finished or block.expect_error))
        failed = results[reached] if reached >= 0 and not finished else None
        if timed_out:
            outcome.failure = f"block at line {block.line} ran over its timeout of {self.timeouts.of(block.timeout):g}s"
        elif finished and block.expect_error:
            outcome.failure = (
                f"expected an error: block at line {block.line} says expectError=true and every command succeeded: "
                "the page documents an error its commands do not produce"
            )
        elif not finished and not block.expect_error:
            where = f"line {failed.command.line}" if failed else f"the block at line {block.line}"
            outcome.failure = f"the command at {where} exited {code}{_cause(failed.stderr, failed.stdout) if failed else ''}"
            if failed and scope.refused(failed.stderr):
                outcome.failure += " (refused by the cluster: the page's account may change only what the run owns)"
        if finished:
            self.env = exported
        return outcome

    def run(self, page: Page, hooks: bool = False) -> list[BlockResult]:
        """Every block in order (between its hooks, with `hooks`); after a failure the rest is
        reported as not run, as the harness does."""
        results: list[BlockResult] = []
        self.page_name = page.path.name
        for block in page.blocks:
            if any(r.failure for r in results):
                results.append(self._not_run(block, "not run: an earlier block failed"))
                continue
            result = self.run_block(block, page.path.parent if hooks else None)
            if result.failure and self.downloads_left_out:
                result.failure += f" (it may need what an earlier download would have fetched: {'; '.join(self.downloads_left_out)})"
            results.append(result)
        return results


@dataclass
class PageRun:
    """A page's replay: its blocks' results, or why none ran (a suite hook failed)."""

    page: Page
    results: list[BlockResult]
    not_run: str | None = None

    def failures(self) -> list[str]:
        found = [r.failure for r in self.results if r.failure]
        return [self.not_run, *found] if self.not_run else found

    def differences(self) -> list[BlockResult]:
        return [r for r in self.results if r.verdict is Verdict.DIFFERS]

    def block_verdicts(self) -> list[str]:
        """`page.md:LINE verdict` per block, for the report's properties: a run across
        Kubernetes versions tells from them which versions' output matches the page."""
        return [f"{self.page.path.name}:{r.block.line} {'failed' if r.failure else r.verdict.value}" for r in self.results]

    def block_diffs(self) -> list[str]:
        """`page.md:LINE -documented` / `+live` per line a block's output differs by: a run across
        versions tells from them how one version's output differs from another's."""
        return [
            f"{self.page.path.name}:{r.block.line} {line}"
            for r in self.results
            for c in r.commands
            if c.comparison.verdict is Verdict.DIFFERS
            for line in diff_lines(c.comparison.detail)
        ]

    def summary(self) -> str:
        if self.not_run:
            return self.not_run
        counts = {v: sum(1 for r in self.results if r.verdict is v) for v in Verdict}
        line = ", ".join(f"{n} block(s) {v.value}" for v, n in counts.items() if n)
        failed = len([r for r in self.results if r.failure])
        return f"{line}; {failed} failed" if failed else line
