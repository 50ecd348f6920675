"""Where the lab's manifests come from: the suite's own copy, or a workshop checkout.

A layout is a row of data: how to recognise it in a checkout, the kustomization each variant
renders, and the variables its manifests use (by the names they use there) with the suite's
value each one takes. The workshop fills `$BUCKET_NAME`-style variables with envsubst from its
environment; the suite's copy uses `${S3_BUCKET}`. Layouts are recognised from the files of the
checkout, never from a list of commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from labkit.lab import ASSETS, UI, App

S3_MODULE = "manifests/modules/fundamentals/storage/s3/deployment"


class SourceError(ValueError):
    """The checkout is not a lab layout the suite knows, or lacks a variant's path."""


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    # Relative paths that must all exist, and the base app the S3 module must build on.
    markers: tuple[str, ...]
    base_app: str | None
    overlays: dict[str, str]
    # Variable name in the manifests -> the suite's value for it (S3_BUCKET, AWS_REGION, ...).
    variables: dict[str, str]
    # The suite's own copy writes ${NAME} only; the workshop's envsubst also takes $NAME.
    envsubst: bool
    # The app the lab runs on there, whose facts the static tier holds the tree to.
    app: App = ASSETS
    # Variants whose live scenario cannot run on this layout, and why.
    not_live: dict[str, str] = field(default_factory=dict)


# The values the suite has for a run; the suite's copy names its variables after them.
SUITE_VALUES = ("S3_BUCKET", "AWS_REGION", "S3_ENDPOINT")
# The workshop's names; S3_ENDPOINT is the suite's own component, added to either tree.
WORKSHOP_VARIABLES = {"BUCKET_NAME": "S3_BUCKET", "AWS_REGION": "AWS_REGION", "S3_ENDPOINT": "S3_ENDPOINT"}


def _workshop(app: App, description: str, not_live: dict[str, str] | None = None) -> Layout:
    """A workshop tree: the baseline is the base application's `app`, the S3 module builds on it."""
    base = f"base-application/{app.name}"
    return Layout(
        name=f"workshop-{app.name}",
        description=description,
        markers=(f"manifests/{base}/kustomization.yaml", f"{S3_MODULE}/kustomization.yaml"),
        base_app=base,
        overlays={"emptydir": f"manifests/{base}", "s3-pv": S3_MODULE},
        variables=WORKSHOP_VARIABLES,
        envsubst=True,
        app=app,
        not_live=not_live or {},
    )


WORKSHOP_LAYOUTS: tuple[Layout, ...] = (
    _workshop(ASSETS, "the workshop tree of the lab page: the `assets` app, its S3 module on top"),
    _workshop(
        UI,
        "the workshop's current tree: the S3 module on the `ui` app",
        not_live={
            "emptydir": "the ui app keeps no files of its own to list (it serves its images from the application, "
            "not the filesystem), so the baseline's 'not shared' has nothing to show on it",
        },
    ),
)


@dataclass(frozen=True)
class LabSource:
    root: Path
    layout: Layout

    def overlay(self, variant: str) -> Path:
        """The variant's kustomization directory, or one line naming the missing path."""
        relative = self.layout.overlays.get(variant)
        if relative is None:
            raise SourceError(f"{self.layout.name} ({self.root}) has no path for variant {variant}")
        path = self.root / relative
        if not (path / "kustomization.yaml").is_file():
            raise SourceError(f"{variant}: {path}/kustomization.yaml is missing in {self.layout.name} ({self.root})")
        return path

    @property
    def workshop_manifests(self) -> Path | None:
        """A workshop checkout's `manifests/` (its environment's ~/environment/eks-workshop);
        None for the suite's own copy."""
        return self.root / "manifests" if self.layout.envsubst else None

    def __str__(self) -> str:
        return f"{self.layout.name} at {self.root}"


def built_in(manifests: Path, overlays: dict[str, str]) -> LabSource:
    """The suite's own copy; `overlays` come from the variant rows."""
    layout = Layout(
        name="built-in",
        description="the suite's own copy (manifests/)",
        markers=tuple(f"{path}/kustomization.yaml" for path in overlays.values()),
        base_app=None,
        overlays=overlays,
        variables={name: name for name in SUITE_VALUES},
        envsubst=False,
    )
    return LabSource(manifests, layout)


def _builds_on(root: Path, layout: Layout) -> bool:
    if not all((root / marker).is_file() for marker in layout.markers):
        return False
    if layout.base_app is None:
        return True
    kustomization = (root / S3_MODULE / "kustomization.yaml").read_text()
    return layout.base_app in kustomization


def detect(root: Path) -> LabSource:
    """The layout of a workshop checkout, recognised from its files."""
    if not root.is_dir():
        raise SourceError(f"--lab-source {root}: no such directory")
    for layout in WORKSHOP_LAYOUTS:
        if _builds_on(root, layout):
            return LabSource(root.resolve(), layout)
    looked = "; ".join(f"{layout.name}: {', '.join(layout.markers)} with the S3 module on {layout.base_app}" for layout in WORKSHOP_LAYOUTS)
    raise SourceError(f"--lab-source {root}: not a workshop checkout the suite knows (looked for {looked})")
