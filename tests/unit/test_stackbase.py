"""What the host tools share: the pins reader, progress lines, image archives, and the lab's
app images, whose names and users are the lab's facts."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from labkit import lab
from stackbase import labimages, oci, ui
from stackbase.versions import load_pins

# Stand-in tools: a layer is pure data, so this needs no Debian package on the host.
TOOLS = labimages.StaticTools(b"busybox", b"bash", ("bin/busybox", "bin/ls", "usr/bin/touch", "linuxrc"))


@pytest.mark.parametrize("line", ["kubernetes=v1", "KUBERNETES_VERSION", "1X=2"])
def test_bad_pin_line_is_named(line: str, tmp_path: Path) -> None:
    (tmp_path / "versions.env").write_text(line + "\n")
    with pytest.raises(ui.ToolError, match="is not KEY=value"):
        load_pins(tmp_path / "versions.env")


def test_a_missing_pin_names_the_file_and_the_key(tmp_path: Path) -> None:
    (tmp_path / "versions.env").write_text("# only a comment\nKIND_NODE_PACKAGES=a,,b\n")
    pins = load_pins(tmp_path / "versions.env")
    assert pins.names("KIND_NODE_PACKAGES") == ("a", "b")
    with pytest.raises(ui.ToolError, match=f"{tmp_path / 'versions.env'} has no KIND_VERSION=...: add the pin"):
        pins.need("KIND_VERSION")
    with pytest.raises(ui.ToolError, match="is missing: run from the repository checkout"):
        load_pins(tmp_path / "nothing.env")


def test_progress_lines(capsys: pytest.CaptureFixture[str]) -> None:
    steps = ui.Progress(2)
    steps.step("building")
    steps.note("cached")
    tagged = ui.Progress(tag="s3stack")
    tagged.note("build done")
    ui.warn("left /run/systemd in place", "s3stack")
    ui.warn("no tag")
    out, err = capsys.readouterr()
    assert out.splitlines() == ["[step 1/2] building (0s elapsed)", "           cached (0s elapsed)", "[s3stack] build done (0s elapsed)"]
    assert err.splitlines() == ["s3stack: warning: left /run/systemd in place", "warning: no tag"]


def test_docker_archive_is_loadable_shape() -> None:
    layer = oci.Layer()
    layer.file("hello.txt", b"hi")
    blob = layer.finish()
    archive = oci.docker_archive("example.test/x:1", blob, {"Cmd": ["/hello"]})
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        (entry,) = manifest
        assert entry["RepoTags"] == ["example.test/x:1"]
        config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
        stored = tar.extractfile(entry["Layers"][0]).read()  # type: ignore[union-attr]
    assert config["rootfs"]["diff_ids"] == ["sha256:" + hashlib.sha256(stored).hexdigest()]
    assert config["config"] == {"Cmd": ["/hello"]}


def test_the_app_images_carry_the_labs_names_and_users(tmp_path: Path) -> None:
    """The manifests name the images (the static tier holds them to labkit.lab); an image under
    any other name would never start, as nothing can be pulled."""
    built = labimages.write_app_images(b"#!server", TOOLS, tmp_path)
    assert [image.name for image in built] == [lab.UI.image, lab.ASSETS.image]
    for image, app in zip(built, (lab.UI, lab.ASSETS), strict=True):
        with tarfile.open(image.archive) as tar:
            (entry,) = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
            config = json.load(tar.extractfile(entry["Config"]))  # type: ignore[arg-type]
        assert config["config"]["User"] == f"{app.uid}:{app.uid}"
        assert f"PORT={app.port}" in config["config"]["Env"]


def test_assets_layer_ships_exactly_the_lab_images() -> None:
    blob = labimages.assets_layer(b"#!server", TOOLS)
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        shipped = sorted(Path(n).name for n in tar.getnames() if n.startswith("usr/share/nginx/html/assets/") and n.endswith(".jpg"))
        health = tar.getmember("usr/share/nginx/html/health.html")
        links = {m.name: m.linkname for m in tar.getmembers() if m.issym()}
        bash = tar.extractfile("bin/bash").read()  # type: ignore[union-attr]
    assert shipped == sorted(lab.PRODUCT_IMAGES)
    assert health.uid == lab.ASSETS.uid
    assert links == {"bin/ls": "/bin/busybox", "usr/bin/touch": "/bin/busybox"}
    assert bash == b"bash"


def test_missing_static_tools_name_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(labimages, "BUSYBOX", tmp_path / "busybox")
    with pytest.raises(ui.ToolError, match="apt-get install busybox-static"):
        labimages.StaticTools.from_host()
