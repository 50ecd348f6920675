"""A lab module in the workshop harness's order, its authors' hooks run as the harness runs
them, and failures that name their cause: all without a cluster (the blocks here are shell)."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import module, page
from labkit.replay import Replay
from labkit.settings import ROOT

SHIPPED = ROOT / "tests" / "data" / "modules" / "storage-sample"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def md(title: str, *blocks: str, front: str = "") -> str:
    """A page; each block's first line is its annotations unless it is a command."""
    body = "\n\n".join(f"```bash{'' if b.startswith('$') else ' '}{chr(10) if b.startswith('$') else ''}{b}\n```" for b in blocks)
    return f"---\ntitle: {title}\n{front}---\n\n{body}\n"


def order(root: Path) -> list[str]:
    return [str(p.path.relative_to(root)) for _, p in module.discover(root).walk()]


def test_the_shipped_module_runs_index_first_then_by_weight_not_by_name() -> None:
    folder = module.discover(SHIPPED)
    assert order(SHIPPED) == [
        "index.md",
        "z-one-replica-writes.md",
        "a-the-other-does-not-see-it.md",
        "b-what-the-page-may-not-change.md",
        "c-the-bucket-is-shared.md",
    ]
    assert (folder.title, folder.weight) == ("Container storage, then S3 (the suite's own sample module)", 10)
    assert folder.all_skipped() == [SHIPPED / "drafts"]
    assert folder.suite_hook == SHIPPED / "tests" / "hook-suite.sh"


def test_harness_order_rules(tmp_path: Path) -> None:
    """The index gets weight 1 (so a page without weight runs before it); `weight` beats
    `sidebar_position`; parseInt reads `20abc` as 20; ties keep byte order (upper case first);
    a page without a bash block is left out; child folders follow the pages, by weight."""
    write(tmp_path / "index.md", md("Module", "$ echo index", front="weight: 50\n"))
    write(tmp_path / "no-weight.md", md("No weight", "$ echo a"))
    write(tmp_path / "b.md", md("B", "$ echo b", front="weight: 20abc\nsidebar_position: 1\n"))
    write(tmp_path / "B.md", md("Upper B", "$ echo B", front="sidebar_position: 20\n"))
    write(tmp_path / "prose.md", "---\ntitle: Only prose\nweight: 5\n---\n\nNo commands here.\n")
    write(tmp_path / "late" / "index.md", md("Late", "$ echo late", front="weight: 30\n"))
    write(tmp_path / "early" / "index.md", md("Early", "$ echo early", front="weight: 10\n"))
    write(tmp_path / "early" / "deeper.md", md("Deeper", "$ echo deeper", front="weight: 2\n"))
    write(tmp_path / "empty" / "notes.txt", "not a page\n")
    write(tmp_path / "skipped" / ".notest", "")
    write(tmp_path / "skipped" / "index.md", md("Skipped", "$ false"))
    assert order(tmp_path) == [
        "no-weight.md",
        "index.md",
        "B.md",
        "b.md",
        "early/index.md",
        "early/deeper.md",
        "late/index.md",
    ]
    assert module.discover(tmp_path).all_skipped() == [tmp_path / "skipped"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# no front matter\n\n```bash\n$ true\n```\n", "no front matter"),
        ("---\n- a\n- b\n---\n\n```bash\n$ true\n```\n", "the front matter is a list, not a mapping"),
        ("---\ntitle: [unclosed\n---\n", "the front matter is not YAML"),
    ],
)
def test_a_page_it_cannot_read_is_one_line_naming_it(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path / "index.md", md("Module", "$ true"))
    bad = write(tmp_path / "bad.md", text)
    with pytest.raises(page.PageError, match=message) as caught:
        module.discover(tmp_path)
    assert str(caught.value).startswith(str(bad))


def test_bad_bytes_are_one_line_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "index.md").write_bytes(b"---\ntitle: x\n---\n\n\xff\xfe\n")
    with pytest.raises(page.PageError, match=r"not UTF-8 text"):
        module.discover(tmp_path)


def test_a_module_of_notest_or_of_nothing_says_so(tmp_path: Path) -> None:
    write(tmp_path / ".notest", "")
    with pytest.raises(page.PageError, match=r"holds \.notest"):
        module.discover(tmp_path)
    (tmp_path / ".notest").unlink()
    write(tmp_path / "index.md", "---\ntitle: prose\n---\n")
    write(tmp_path / "sub" / "x.md", "---\ntitle: prose\n---\n")
    assert order(tmp_path) == ["index.md"]  # an index page stays, even without commands


@pytest.mark.parametrize(
    ("value", "expected"),
    [("30", 30), ("30s", 30), ("10.5", 10), (" 7", 7), ("-3", -3), ("0x10", 16), ("abc", None), ("", None), (True, None), (12, 12)],
)
def test_numbers_are_read_as_javascript_parseint_reads_them(value: object, expected: int | None) -> None:
    assert page.js_int(value) == expected


def shell(tmp_path: Path) -> Replay:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return Replay({"PATH": "/usr/bin:/bin", "HOME": str(work), "LANG": "C.UTF-8"}, work)


HOOK = """set -Eeuo pipefail
before() {{ {before}; }}
after() {{ {after}; }}
"$@"
"""


def hooked(tmp_path: Path, block: str, before: str = "true", after: str = "true") -> page.Page:
    write(tmp_path / "tests" / "hook-h.sh", HOOK.format(before=before, after=after))
    return page.parse(write(tmp_path / "p.md", md("Hooked", block)))


def test_the_after_hook_reads_the_blocks_output_as_test_output(tmp_path: Path) -> None:
    p = hooked(
        tmp_path, "hook=h\n$ echo divewatch.jpg", after='[[ $TEST_OUTPUT == *divewatch.jpg* ]] || { echo "no divewatch.jpg"; exit 1; }'
    )
    (result,) = shell(tmp_path).run(p, hooks=True)
    assert result.failure is None
    assert [(h.phase, h.exit_code) for h in result.hooks] == [("before", 0), ("after", 0)]


def test_a_failing_after_hook_fails_its_block_with_the_hooks_own_words(tmp_path: Path) -> None:
    p = hooked(
        tmp_path, "hook=h\n$ echo something-else", after='[[ $TEST_OUTPUT == *divewatch.jpg* ]] || { echo "no divewatch.jpg"; exit 1; }'
    )
    (result,) = shell(tmp_path).run(p, hooks=True)
    assert result.failure == "the after hook tests/hook-h.sh failed (exit 1): no divewatch.jpg"


def test_a_failing_before_hook_leaves_its_block_and_the_rest_of_the_page_not_run(tmp_path: Path) -> None:
    write(tmp_path / "tests" / "hook-h.sh", HOOK.format(before='echo "not ready" >&2; exit 3', after="true"))
    p = page.parse(write(tmp_path / "p.md", md("Hooked", "hook=h\n$ touch ran", "$ touch later")))
    first, second = shell(tmp_path).run(p, hooks=True)
    assert first.failure == "the before hook tests/hook-h.sh failed (exit 3): not ready"
    assert not (tmp_path / "work" / "ran").exists()
    assert second.commands[0].comparison.detail == "not run: an earlier block failed"


def test_a_missing_hook_script_fails_its_block_naming_the_script(tmp_path: Path) -> None:
    p = page.parse(write(tmp_path / "p.md", md("Hooked", "hook=absent\n$ true")))
    (result,) = shell(tmp_path).run(p, hooks=True)
    assert result.failure == "block at line 5 names hook=absent, and tests/hook-absent.sh is not beside the page"


def test_a_hook_over_its_hook_timeout_fails(tmp_path: Path) -> None:
    p = hooked(tmp_path, "hook=h hookTimeout=1\n$ true", after="sleep 30")
    (result,) = shell(tmp_path).run(p, hooks=True)
    assert result.failure == "the after hook tests/hook-h.sh ran over its timeout"


def test_expect_error_requires_the_block_to_fail(tmp_path: Path) -> None:
    p = page.parse(write(tmp_path / "p.md", md("Errors", "expectError=true\n$ ls /nonexistent-dir", "expectError=true\n$ true")))
    failing, succeeding = shell(tmp_path).run(p)
    assert failing.failure is None
    assert succeeding.failure is not None
    assert "says expectError=true and every command succeeded" in succeeding.failure


def test_after_an_expected_error_the_hook_gets_the_harness_joined_output(tmp_path: Path) -> None:
    p = hooked(tmp_path, "hook=h expectError=true\n$ echo out; echo err >&2; false", after='[[ $TEST_OUTPUT == ",out"*",err"* ]] || exit 1')
    (result,) = shell(tmp_path).run(p, hooks=True)
    assert result.failure is None, result.failure


def test_a_failed_command_names_its_cause(tmp_path: Path) -> None:
    p = page.parse(write(tmp_path / "p.md", md("Fails", "$ echo starting\n$ echo 'services \"ui-nlb\" not found' >&2; exit 1")))
    (result,) = shell(tmp_path).run(p)
    assert result.failure == 'the command at line 7 exited 1: services "ui-nlb" not found'


def test_a_module_runs_between_its_suite_hooks_and_a_failed_before_leaves_it_not_run(tmp_path: Path) -> None:
    write(tmp_path / "index.md", md("Module", "$ export STEP=index"))
    write(tmp_path / "page.md", md("Page", '$ [ "$STEP" = index ] && echo "$STEP"', front="weight: 5\n"))
    write(tmp_path / "tests" / "hook-suite.sh", HOOK.format(before="true", after="echo after-suite"))
    run = module.replay(module.discover(tmp_path), shell(tmp_path))
    assert run.failures() == []
    assert [h.phase for h in run.suite_hooks] == ["before", "after"]
    assert run.verdict() == "2 page(s): 2 passed, 0 failed"
    write(tmp_path / "tests" / "hook-suite.sh", HOOK.format(before="echo no cluster >&2; exit 1", after="true"))
    run = module.replay(module.discover(tmp_path), shell(tmp_path))
    assert run.verdict() == "2 page(s): 0 passed, 0 failed, 2 not run; a suite hook failed"
    assert run.failures()[0] == "the before hook tests/hook-suite.sh failed (exit 1): no cluster"


def test_a_failed_page_does_not_stop_the_next_one(tmp_path: Path) -> None:
    write(tmp_path / "index.md", md("Module", "$ false"))
    write(tmp_path / "next.md", md("Next", "$ echo runs", front="weight: 2\n"))
    run = module.replay(module.discover(tmp_path), shell(tmp_path))
    assert [bool(p.failures()) for p in run.pages] == [True, False]
    assert run.verdict() == "2 page(s): 1 passed, 1 failed"


# The page parser, held to what the harness's remark (CommonMark) reads: one case per way a
# line scanner used to read otherwise.
PARSER_CASES = [
    pytest.param("<!--\n```bash\n$ echo commented-out\n```\n-->\n\n```bash\n$ echo kept\n```\n", ["echo kept"], id="html-comment"),
    pytest.param("   ```bash\n   $ echo indented\n   ```\n", ["echo indented"], id="fence-indented-3"),
    pytest.param("    ```bash\n    $ echo code\n    ```\n", [], id="indented-4-is-code-not-a-fence"),
    pytest.param("- step\n\n  ```bash\n  $ echo in-a-list\n  ```\n", [], id="nested-in-a-list"),
    pytest.param("> ```bash\n> $ echo quoted\n> ```\n", [], id="nested-in-a-quote"),
    pytest.param("```sh``` is how the text names it.\n\n```bash\n$ echo after\n```\n", ["echo after"], id="inline-backticks-open-no-fence"),
    pytest.param("```text\n```bash\n$ echo inside\n```\n\n```bash\n$ echo real\n```\n", ["echo real"], id="fence-with-lang-does-not-close"),
    pytest.param("~~~bash\n$ echo tilde\n~~~\n", ["echo tilde"], id="tilde-fence"),
    pytest.param("```bash\n```\n\n```bash\n$ echo next\n```\n", ["echo next"], id="empty-block"),
    pytest.param("```Bash\n$ echo case\n```\n", [], id="lang-is-case-sensitive"),
]


@pytest.mark.parametrize(("body", "commands"), PARSER_CASES)
def test_blocks_are_what_commonmark_reads(tmp_path: Path, body: str, commands: list[str]) -> None:
    parsed = page.parse(write(tmp_path / "p.md", f"---\ntitle: t\n---\n\n{body}"))
    assert [c.text for b in parsed.blocks for c in b.commands] == commands


def test_a_block_keeps_its_line_and_annotations_when_indented(tmp_path: Path) -> None:
    parsed = page.parse(write(tmp_path / "p.md", "---\ntitle: t\n---\n\n  ```bash  timeout=30s wait=10.5\n  $ true\n  ```\n"))
    (block,) = parsed.blocks
    assert (block.line, block.timeout, block.wait) == (5, 30, 10)


def test_harness_quirks_inside_a_command_are_named(tmp_path: Path) -> None:
    body = '```bash\n$ cat <<EOF\n$HOME\nEOF\n$ read -r x <<< "$HOME"\n$ cat <<<EOF\n```\n'
    first, here_string, harness_heredoc = page.parse(write(tmp_path / "p.md", f"---\ntitle: t\n---\n\n{body}")).blocks[0].commands
    assert "starts with `$`" in str(first.harness_breaks)
    assert here_string.text == 'read -r x <<< "$HOME"'
    assert here_string.harness_breaks is None
    assert "here-string" in str(harness_heredoc.harness_breaks)


def test_a_module_named_by_a_relative_path_finds_its_hooks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "mod" / "index.md", md("Module", "hook=h\n$ echo x"))
    write(tmp_path / "mod" / "tests" / "hook-h.sh", HOOK.format(before="true", after="true"))
    write(tmp_path / "mod" / "tests" / "hook-suite.sh", HOOK.format(before="true", after="true"))
    monkeypatch.chdir(tmp_path)
    run = module.replay(module.discover(Path("mod")), shell(tmp_path))
    assert run.failures() == []
    assert [h.exit_code for h in run.suite_hooks + run.pages[0].results[0].hooks] == [0, 0, 0, 0]


def test_a_write_the_cluster_refuses_says_so(tmp_path: Path) -> None:
    refusal = 'Error from server (Forbidden): namespaces \\"default\\" is forbidden: User \\"system:serviceaccount:lab-replay-r1:lab-replay\\" cannot delete'
    p = page.parse(write(tmp_path / "p.md", md("Refused", f'$ echo "{refusal}" >&2; exit 1')))
    (result,) = shell(tmp_path).run(p)
    assert str(result.failure).endswith("(refused by the cluster: the page's account may change only what the run owns)")


def test_a_failure_after_a_download_that_was_not_run_points_at_it(tmp_path: Path) -> None:
    write(tmp_path / "index.md", md("Module", "$ curl -sSLO https://downloads.example.org/images.zip"))
    write(tmp_path / "next.md", md("Next", '$ test -n "$(ls *.zip)"', front="weight: 2\n"))
    run = module.replay(module.discover(tmp_path), shell(tmp_path))
    (failure,) = run.failures()
    assert failure == (
        "next.md: the command at line 7 exited 1: ls: cannot access '*.zip': No such file or directory "
        "(it may need what an earlier download would have fetched: "
        "index.md line 6, it downloads from the internet (curl))"
    )


def test_what_reads_a_download_that_was_not_run_is_not_run_for_that_cause(tmp_path: Path) -> None:
    write(tmp_path / "index.md", md("Module", "$ curl -sSLO https://downloads.example.org/images.zip"))
    write(tmp_path / "next.md", md("Next", "$ unzip images.zip", front="weight: 2\n"))
    run = module.replay(module.discover(tmp_path), shell(tmp_path))
    assert run.failures() == []
    (command,) = run.pages[1].results[0].commands
    assert command.comparison.detail == "not run: it reads images.zip, which the download at index.md line 6 would have fetched"
