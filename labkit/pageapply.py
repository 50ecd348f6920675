"""A page's own `kubectl apply` (or `create`, `replace`), run for real with what the run adds:
the run's labels on every object it applies, so the run's clean-up finds a PersistentVolume the
page made, and on a volume of the variant's CSI driver the variant's optional components (the
run's S3 endpoint, which the workshop does not need on AWS itself).

The replay's `kubectl` (labkit.scope) hands such a command here with the spec file the stage
wrote; the objects go on to the real kubectl through stdin, with the rest of the command as the
page wrote it. What cannot be read here (a URL, YAML kubectl itself would refuse) goes to
kubectl untouched, so the page sees kubectl's own answer.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from labkit import render

VERBS = ("apply", "create", "replace")
STAND_IN = {
    "kubectl apply": "the page's own apply, with the run's labels on what it makes (its clean-up finds them)"
    " and, on a volume of the variant's CSI driver, the run's S3 endpoint",
}
# Flags before the verb that take a value as the next word (`kubectl -n ui apply ...`).
_VALUE_FLAGS = {"-n", "--namespace", "-l", "--selector", "-o", "--output", "-v", "--v"}
_MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

Obj = dict[str, Any]


@dataclass(frozen=True)
class Spec:
    """What the run adds to a page's apply; written by the stage, read by each apply."""

    labels: Mapping[str, str]
    csi_driver: str | None = None
    components: Sequence[str] = ()  # relative to the suite's manifests/
    values: Mapping[str, str] = field(default_factory=dict)  # the components' ${NAME} values
    timeout: float = 60.0

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self)))
        return path

    @classmethod
    def read(cls, path: Path) -> Spec:
        return cls(**json.loads(path.read_text()))


def verb(args: Sequence[str]) -> str | None:
    """kubectl's subcommand: its first word that is neither a flag nor a flag's value."""
    skip = False
    for arg in args:
        if arg == "--":
            return None
        if skip:
            skip = False
        elif arg.startswith("-"):
            skip = arg in _VALUE_FLAGS
        else:
            return arg
    return None


def sources(args: Sequence[str]) -> tuple[list[tuple[str, str]], list[str], bool]:
    """(("-f" or "-k", value) in order, the other arguments, -R given)."""
    found: list[tuple[str, str]] = []
    rest: list[str] = []
    recursive = False
    items = iter(args)
    for arg in items:
        name, eq, value = arg.partition("=")
        flag = {"-f": "-f", "--filename": "-f", "-k": "-k", "--kustomize": "-k"}.get(name if eq else arg)
        if flag is None and arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            found.append(("-f", arg[2:]))  # `-f-`, `-fFILE`
        elif flag is not None:
            found.append((flag, value if eq else next(items, "")))
        else:
            recursive = recursive or arg in ("-R", "--recursive", "--recursive=true")
            rest.append(arg)
    return found, rest, recursive


def read(found: Sequence[tuple[str, str]], recursive: bool, kubectl: Sequence[str], timeout: float, stdin: str) -> list[Obj] | None:
    """Every object the sources hold, or None where the stand-in cannot read one as kubectl would."""
    docs: list[Obj] = []
    for flag, value in found:
        if flag == "-k":
            out = subprocess.run([*kubectl, "kustomize", value], capture_output=True, text=True, timeout=timeout, check=False)
            if out.returncode != 0:
                return None
            texts = [out.stdout]
        elif value == "-":
            texts = [stdin]
        elif "://" in value:
            return None
        elif Path(value).is_dir():
            pattern = "**/*" if recursive else "*"
            texts = [p.read_text() for p in sorted(Path(value).glob(pattern)) if p.suffix in _MANIFEST_SUFFIXES and p.is_file()]
        elif Path(value).is_file():
            texts = [Path(value).read_text()]
        else:
            return None
        for text in texts:
            try:
                loaded = [doc for doc in yaml.safe_load_all(text) if doc]
            except yaml.YAMLError:
                return None
            if not all(isinstance(doc, dict) for doc in loaded):
                return None
            for doc in loaded:
                docs += doc.get("items") or [] if str(doc.get("kind", "")).endswith("List") else [doc]
    return docs


def dress(docs: Sequence[Obj], spec: Spec) -> list[Obj]:
    """The page's objects with the run's labels, and its volumes of the variant's driver with
    the variant's components (the S3 endpoint)."""
    out = []
    for doc in docs:
        doc = dict(doc)
        meta = doc["metadata"] = dict(doc.get("metadata") or {})
        meta["labels"] = {**(meta.get("labels") or {}), **spec.labels}
        out.append(doc)
    volumes = [i for i, doc in enumerate(out) if _is_volume(doc, spec.csi_driver)]
    if volumes and spec.components:
        patched = render.with_components([out[i] for i in volumes], spec.components, timeout=spec.timeout)
        patched = render.substitute(patched, dict(spec.values))
        for index, doc in zip(volumes, patched, strict=True):
            out[index] = doc
    return out


def _is_volume(doc: Obj, driver: str | None) -> bool:
    return driver is not None and doc.get("kind") == "PersistentVolume" and (doc.get("spec") or {}).get("csi", {}).get("driver") == driver


def main(argv: Sequence[str]) -> int:
    """`python -m labkit.pageapply SPEC KUBECTL... -- ARGS...`: the page's command, dressed."""
    split = list(argv).index("--")
    spec_path, kubectl, args = Path(argv[0]), list(argv[1:split]), list(argv[split + 1 :])
    spec, doing = Spec.read(spec_path), verb(args)
    found, rest, recursive = sources(args) if doing in VERBS else ([], list(args), False)
    piped = ("-f", "-") in found
    stdin = sys.stdin.read() if piped else ""
    docs = read(found, recursive, kubectl, spec.timeout, stdin) if found else None
    if docs is None:
        return subprocess.run([*kubectl, *args], input=stdin if piped else None, text=True, check=False).returncode
    try:
        dressed = dress(docs, spec)
    except render.ManifestError as err:
        print(f"kubectl {doing}: the suite could not add the run's settings: {err}", file=sys.stderr)
        return 1
    return subprocess.run([*kubectl, *rest, "-f", "-"], input=render.to_yaml(dressed), text=True, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
