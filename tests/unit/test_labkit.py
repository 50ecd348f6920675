"""The lab page's language (read as the workshop's harness reads it), the comparison of
documented and live output, and the replay of a page in bash (no cluster: plain commands)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fixtures import pages
from labkit import compare, lab, page, replay, settings
from labkit.compare import Verdict

PAGES = Path(__file__).resolve().parent.parent / "data" / "pages"
RULES = PAGES / "harness-rules.md"


def test_the_parser_reads_blocks_commands_outputs_and_annotations() -> None:
    read = page.parse(RULES)
    assert read.title.startswith("The harness's reading rules")
    assert [b.line for b in read.blocks] == [7, 20, 31, 35, 39]
    first = read.blocks[0]
    assert [c.text for c in first.commands][:3] == ["export GREETING=hello", "LOCAL=only-here", 'echo "$GREETING $LOCAL"']
    assert first.commands[2].output == ["hello only-here"]
    assert read.blocks[1].timeout == 5
    assert not read.blocks[2].tested
    assert read.warnings == ["line 31: unknown block annotation 'color' (the harness ignores it)"]


def test_what_the_harness_drops_or_breaks_is_marked() -> None:
    read = page.parse(RULES)
    after_blank = read.blocks[0].commands[-1]
    assert after_blank.text == "echo dropped-by-harness"
    assert after_blank.harness_drops is not None
    assert "blank line" in after_blank.harness_drops
    heredoc = read.blocks[1].commands[1]
    assert heredoc.text == "cat <<'END'\none\ntwo\nEND"
    assert heredoc.output == ["one", "two"]
    assert heredoc.harness_breaks is not None
    assert "knows only <<EOF" in heredoc.harness_breaks


def test_continuations_join_and_namespaces_are_found() -> None:
    read = page.parse(PAGES / "ephemeral-storage-sample.md")
    assert read.namespaces == ["assets"]
    listing = read.blocks[0].commands[0]
    assert listing.text.endswith('-n assets -- bash -c "ls /usr/share/nginx/html/assets/"')
    assert len(listing.output) == 6


def test_a_page_without_front_matter_is_refused_with_the_fix(tmp_path: Path) -> None:
    bare = tmp_path / "bare.md"
    bare.write_text("```bash\n$ true\n```\n")
    with pytest.raises(page.PageError, match="no front matter"):
        page.parse(bare)


@pytest.mark.parametrize(
    ("documented", "live", "verdict"),
    [
        (["a.jpg", "b.jpg <-----------"], ["a.jpg", "b.jpg"], Verdict.MATCHES),
        (["assets-7c9f8b6d5f-x2x9q   1/1   Running   0   3m12s"], ["assets-6cc4495b45-2k862 1/1 Running 0 12s"], Verdict.MATCHES),
        (
            ["Name: assets", "[...]", "  Mounts:", "    /tmp from tmp-volume (rw)", "[...]"],
            ["Name: assets", "x", "  Mounts:", "    /tmp from tmp-volume (rw)", "y"],
            Verdict.MATCHES,
        ),
        (
            ["Name: assets", "[...]", "  Mounts:", "    /data from d (rw)"],
            ["Name: assets", "  Mounts:", "    /tmp from tmp-volume (rw)"],
            Verdict.DIFFERS,
        ),
        (
            ['deployment "assets" successfully rolled out'],
            [
                'Waiting for deployment "assets" rollout to finish: 1 of 2 updated replicas are available...',
                'deployment "assets" successfully rolled out',
            ],
            Verdict.MATCHES,
        ),
        (  # `aws s3 ls`: a listing's times are the run's
            ["[...]", "2024-01-01 00:00:00          0 divewatch.jpg", "[...]"],
            ["2026-12-03 14:13:16       1091 chrono_classic.jpg", "2026-12-03 14:13:19          0 divewatch.jpg", "x"],
            Verdict.MATCHES,
        ),
        (["a.jpg", "newproduct_1.jpg"], ["a.jpg"], Verdict.DIFFERS),
        (["b", "a"], ["a", "b"], Verdict.DIFFERS),  # ls orders: another order is a difference
        ([], ["anything"], Verdict.NOT_COMPARED),
    ],
)
def test_documented_against_live(documented: list[str], live: list[str], verdict: Verdict) -> None:
    assert compare.compare(documented, live).verdict is verdict


def test_a_difference_comes_with_a_diff_naming_the_documented_line() -> None:
    found = compare.compare(["a.jpg", "newproduct_1.jpg"], ["a.jpg", "divewatch.jpg"])
    assert "-newproduct_1.jpg" in found.detail
    assert found.detail.splitlines()[:2] == ["documented, not live: newproduct_1.jpg", "live, not documented: divewatch.jpg"]


def test_a_differing_blocks_changed_lines_go_to_the_report_for_a_run_across_versions(tmp_path: Path) -> None:
    assert compare.diff_lines(compare.compare(["a", "Age: 3d", "---- ----"], ["a", "Age: 5m", "b"]).detail) == ["----- ----", "+b"]
    assert compare.diff_lines(compare.compare(["a"], ["a"]).detail) == []
    (results,) = [replay.Replay({"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, tmp_path).run(page.parse(RULES))]
    run = replay.PageRun(page.parse(RULES), results)
    assert run.block_diffs(), "the rules page has a block that differs"
    assert all(d.startswith(f"{RULES.name}:") and d.split(" ", 1)[1][:1] in "+-" for d in run.block_diffs())
    assert pages.report_properties(run, "zz")[: len(run.block_verdicts())] == [("block", v) for v in run.block_verdicts()]


def test_many_unmatched_lines_are_counted_not_listed() -> None:
    found = compare.compare([f"line {n}" for n in range(9)], ["other"])
    assert found.detail.splitlines()[0] == "documented, not live: 9 lines (see the diff)"


def test_unordered_commands_compare_as_sets() -> None:
    assert compare.compare(["b", "a"], ["a", "b"], unordered=True).verdict is Verdict.MATCHES


def test_the_replay_runs_each_block_in_one_bash_and_keeps_only_exports(tmp_path: Path) -> None:
    results = replay.Replay({"PATH": os.environ["PATH"], "HOME": str(tmp_path)}, tmp_path).run(page.parse(RULES))
    first, second, skipped, failing, after = results
    assert [c.comparison.verdict for c in first.commands[2:]] == [Verdict.MATCHES, Verdict.DIFFERS, Verdict.MATCHES]
    assert first.commands[-1].notes  # run, though the harness would drop it
    assert second.commands[0].stdout == "hello none"  # GREETING was exported, LOCAL was not
    assert second.verdict is Verdict.MATCHES
    assert not any(c.ran for c in skipped.commands)
    assert failing.failure == "the command at line 36 exited 1"
    assert failing.commands[0].exit_code == 1
    assert not after.commands[0].ran
    assert after.commands[0].comparison.detail == "not run: an earlier block failed"


@pytest.mark.parametrize(
    ("command", "started"),
    [
        ("POD_1=$(kubectl -n assets get pods -o jsonpath='{.items[0].metadata.name}')", ["kubectl"]),
        ("kubectl get deployment -o yaml | yq '.spec'", ["kubectl", "yq"]),
        ("kubectl kustomize ~/environment/x \\\n  | envsubst | kubectl apply -f-", ["kubectl", "envsubst", "kubectl"]),
        ("FOO=1 aws s3 ls $B && echo ok", ["aws", "echo"]),
        ("kubectl exec $P -- bash -c 'ls /x | wc -l'", ["kubectl"]),
        ("cat <<EOF | kubectl apply -f -\nkind: x\nEOF", ["cat", "kubectl"]),
        ("for f in a b; do aws s3 cp $f s3://x; done", ["for", "aws", "done"]),
        ("if aws s3 ls; then echo yes; fi", ["aws", "echo", "fi"]),
        ("bash -c 'aws s3 ls'", ["bash", "aws"]),
        ('echo "bucket: $(aws s3 ls)"', ["echo", "aws"]),
        ("echo '$(aws s3 ls) is text'", ["echo"]),
    ],
)
def test_the_programs_a_command_starts(command: str, started: list[str]) -> None:
    assert replay.programs(command) == started


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("aws eks create-addon --cluster-name $EKS_CLUSTER_NAME --addon-name x", "not run: it acts on the workshop's AWS account (aws)"),
        ("X=$(curl -s https://example.invalid/a)", "not run: it downloads from the internet (curl)"),
        (
            "kubectl kustomize ~/environment/eks-workshop/x | kubectl apply -f-",
            "not run: it reads the workshop's environment (~/environment)",
        ),
        (
            "kubectl get pods | no-such-tool-here",
            "not run: it needs `no-such-tool-here`, which the workshop's environment has and this run's PATH does not",
        ),
        ("kubectl exec p -- bash -c 'aws s3 ls'", None),  # in the pod, not here
        (
            "kubectl exec p -- bash -c 'curl -o /x https://images.example.org/a.jpg'",
            "not run: it fetches from the internet (images.example.org)",
        ),
        ("kubectl exec p -- curl -s http://ui.ui.svc/health http://localhost:8080/ http://10.96.0.1/", None),
        ("kubectl exec p -- curl -s http://8.8.8.8/", "not run: it fetches from the internet (8.8.8.8)"),
        ("cd /tmp && export X=1 && ls", None),
        ("for f in a b; do aws s3 cp $f s3://x; done", "not run: it acts on the workshop's AWS account (aws)"),
        (
            "TOKEN=$(curl -s -X PUT http://169.254.169.254/latest/api/token)",
            "not run: it asks the workshop's EC2 instance metadata service (169.254.169.254)",
        ),
        (
            "kubectl exec p -- curl -s http://169.254.169.254/latest/meta-data/",
            "not run: it asks the workshop's EC2 instance metadata service (169.254.169.254)",
        ),
    ],
)
def test_what_the_replay_leaves_to_the_workshops_environment(command: str, reason: str | None) -> None:
    assert replay.why_not_run(command, "/usr/bin:/bin") == reason


def test_a_left_out_command_is_reported_and_the_block_goes_on(tmp_path: Path) -> None:
    text = "---\ntitle: t\n---\n\n```bash\n$ echo before\nbefore\n$ aws s3 ls s3://bucket\n2024 x.jpg\n$ echo after\nafter\n```\n"
    (tmp_path / "p.md").write_text(text)
    (result,) = replay.Replay({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path).run(page.parse(tmp_path / "p.md"))
    before, left_out, after = result.commands
    assert (before.ran, after.ran, left_out.ran) == (True, True, False)
    assert left_out.comparison.detail == "not run: it acts on the workshop's AWS account (aws)"
    assert result.failure is None
    assert result.verdict is Verdict.MATCHES


@pytest.mark.parametrize(("sample", "expected"), [("ephemeral-storage-sample.md", "emptydir"), ("s3-storage-sample.md", "s3-pv")])
def test_a_page_runs_on_the_variant_whose_directory_it_works_in(sample: str, expected: str) -> None:
    assert pages.page_variant([page.parse(PAGES / sample)], lab.ASSETS).name == expected


def test_the_s3_sample_leaves_the_workshops_commands_out() -> None:
    read = page.parse(PAGES / "s3-storage-sample.md")
    left_out = [c.line for b in read.blocks for c in b.commands if replay.why_not_run(c.text, "/usr/bin:/bin")]
    assert left_out == [14, 49]  # kustomize of ~/environment, aws s3 ls


def test_live_output_is_compared_under_the_pages_names(tmp_path: Path) -> None:
    text = "---\ntitle: t\n---\n\n```bash\n$ echo s3-pv-r1-page Bound assets/s3-claim; echo s3-pv-r1-page-x\ns3-pv Bound assets/s3-claim\ns3-pv-r1-page-x\n```\n"
    (tmp_path / "p.md").write_text(text)
    session = replay.Replay({"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, tmp_path, {"s3-pv-r1-page": "s3-pv"})
    (result,) = session.run(page.parse(tmp_path / "p.md"))
    assert result.verdict is Verdict.MATCHES, result.commands[0].comparison.detail
    assert result.commands[0].stdout.startswith("s3-pv-r1-page Bound")  # the transcript shows what ran


def test_a_blocks_timeout_is_scaled_like_every_bound(tmp_path: Path) -> None:
    """`timeout=1` on a block that takes 2 s fails at the page's bound and passes at twice it
    (--timeout-scale 3): the page's bounds are the suite's, scaled once."""
    (tmp_path / "p.md").write_text("---\ntitle: t\n---\n\n```bash timeout=1\n$ sleep 2\n```\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    (slow,) = replay.Replay(env, tmp_path).run(page.parse(tmp_path / "p.md"))
    assert slow.failure == "block at line 5 ran over its timeout of 1s"
    (scaled,) = replay.Replay(env, tmp_path, timeouts=settings.Timeouts().scaled(3)).run(page.parse(tmp_path / "p.md"))
    assert scaled.failure is None
