"""The workshop IDE's own command-line tools, where a replayed page's output depends on which
program it is: the workshop installs mikefarah's `yq` (its `lab/scripts/installer.sh` pins
the version), which prints YAML; Debian's `yq` is another program that prints JSON, so a page's
documented output would differ for no fault of the lab. The suite builds the workshop's from
its Go module once (cached) and puts it first on the replay's PATH, only for pages that use it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path

from labkit import gomod, settings

YQ_MODULE = "github.com/mikefarah/yq/v4"


def yq_version() -> str:
    return settings.versions()["WORKSHOP_YQ_VERSION"]


def cached_yq() -> Path:
    return gomod.cache_root() / f"yq-{yq_version()}" / "yq"


def provide(bin_folder: Path, programs: Collection[str], note: Callable[[str], None]) -> dict[str, str]:
    """The workshop's tools the pages run (of `programs`), in `bin_folder`: program -> what it
    is, for the transcript. A tool that cannot be had is left to the machine's PATH, said once."""
    if "yq" not in programs:
        return {}
    if not cached_yq().is_file():
        if gomod.go_binary() is None:
            note(f"yq: the workshop's (mikefarah/yq {yq_version()}) needs Go to build; the page gets the machine's yq, if any")
            return {}
        note(f"building the workshop's yq {yq_version()} from its Go module into {cached_yq().parent} (once; about a minute cold)")
        try:
            gomod.build(YQ_MODULE, yq_version(), ".", cached_yq(), cached_yq().parent / "build.log")
        except gomod.GoError as err:
            note(f"yq: {err}; the page gets the machine's yq, if any")
            return {}
    bin_folder.mkdir(parents=True, exist_ok=True)
    (bin_folder / "yq").symlink_to(cached_yq())
    return {"yq": f"the workshop's yq (mikefarah/yq {yq_version()}), built from its Go module"}
