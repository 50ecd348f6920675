"""The workshop's own yq for pages that pipe into it: built once from its Go module, first on
the replay's PATH; left to the machine, and said, where it cannot be had."""

from __future__ import annotations

from pathlib import Path

import pytest

from labkit import gomod, workshoptools


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_pages_without_yq_get_nothing_built(cache: Path, tmp_path: Path) -> None:
    notes: list[str] = []
    assert workshoptools.provide(tmp_path / "bin", {"kubectl", "jq"}, notes.append) == {}
    assert notes == []
    assert not (tmp_path / "bin").exists()


def test_the_cached_build_is_first_on_the_replays_path(cache: Path, tmp_path: Path) -> None:
    built = workshoptools.cached_yq()
    assert built.is_relative_to(cache), "outside the repository, shared by checkouts"
    built.parent.mkdir(parents=True)
    built.write_text("#!/bin/sh\n")
    provided = workshoptools.provide(tmp_path / "bin", {"kubectl", "yq"}, print)
    assert (tmp_path / "bin" / "yq").resolve() == built
    assert provided == {"yq": f"the workshop's yq (mikefarah/yq {workshoptools.yq_version()}), built from its Go module"}


def test_without_go_the_machines_yq_is_used_and_that_is_said(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gomod, "go_binary", lambda: None)
    notes: list[str] = []
    assert workshoptools.provide(tmp_path / "bin", {"yq"}, notes.append) == {}
    assert notes == [
        f"yq: the workshop's (mikefarah/yq {workshoptools.yq_version()}) needs Go to build; the page gets the machine's yq, if any"
    ]
