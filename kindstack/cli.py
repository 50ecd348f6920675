"""``python3 -m kindstack build|up|down|status|run``: kind where no registry is reachable.

Where Docker runs and registries answer, kind needs nothing from here: `run` uses that engine
and kind's published node image. Where neither holds (this project's CI machine), `run` starts
an engine of its own, builds kind and a node image from source, and builds the lab's images for
`kind load`; `down` removes every container, network and volume of that engine and stops it.
`--kubernetes-version` (else $LABCLUSTER_KUBERNETES_VERSION) runs another release than the pin:
built here from its module, or, online, kind's published image of its minor (else kind's build of it).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

import localcluster
import s3stack
from kindstack import engine as engines
from kindstack import host, nodeimage
from kindstack.layout import DOCKER_SOCKET, ENGINE_LOG, NODE_IMAGE_REPO
from kindstack.versions import Versions, load
from labkit.kindenv import KIND_ARCHIVES_ENV, KIND_NODE_IMAGE_ENV
from labkit.tools import KUBECTL_ENV
from stackbase import packages, wrap
from stackbase.ui import Progress, ToolError, say

STEPS = 4


def _engine(mode: str, versions: Versions, progress: Progress) -> engines.Engine:
    users = engines.users() if mode != "built" else None
    if users is not None:
        progress.note("using the Docker engine of this environment" + (f" ({users.host})" if users.host else ""))
        return users
    packages.ensure(progress.note, versions.host_packages)
    programs = nodeimage.build_programs(progress)
    return engines.start(programs["labrunc"], progress)


def _mode(requested: str, engine: engines.Engine) -> str:
    return requested if requested != "auto" else ("built" if engine.ours else "published")


def up(requested: str, kubernetes: str | None = None) -> dict[str, str]:
    """Engine, kind and (offline) the node image and the lab's images; the command's environment."""
    progress = Progress(STEPS)
    versions = load(pins_only=True)
    release = localcluster.release(kubernetes)
    host.begin()  # before any engine or node: what kind's kubelets change, `down` puts back
    progress.step("Docker's engine")
    engine = _engine(requested, versions, progress)
    mode = _mode(requested, engine)
    env = engine.env()
    if mode == "published":
        kind = nodeimage.build_kind(versions, progress)
        published = versions.published_image(release)
        if release == versions.kubernetes:
            progress.step("kind (the published node image is pulled by kind)")
        elif published:
            progress.step(f"kind, and kind's published node image of Kubernetes {release}'s minor ({published})")
            env[KIND_NODE_IMAGE_ENV] = published
        else:  # no published image of this minor is pinned
            progress.step(f"kind, and a node image of Kubernetes {release} kind builds from the release")
            env[KIND_NODE_IMAGE_ENV] = nodeimage.published_release_image(engine, kind, release, progress)
        env["PATH"] = os.pathsep.join([str(kind.parent), os.environ.get("PATH", "")])
        return env
    versions = load(kubernetes)
    if not engine.ours:  # an engine of its own was started after installing them
        packages.ensure(progress.note, versions.host_packages)
    progress.step("kind and its node image, built here")
    built = nodeimage.build(engine, versions, progress)
    progress.step("the lab's images, for kind load")
    archives = [
        image.archive for image in localcluster.build_images(versions.cluster, progress) if image.name != versions.cluster.pause_image
    ]
    archives += [image.archive for image in s3stack.built_images(Progress(tag="s3stack"))]
    progress.step(f"ready: node image {built.node_image}")
    env.update(
        {
            "PATH": nodeimage.tool_path(built),
            KIND_NODE_IMAGE_ENV: built.node_image,
            KUBECTL_ENV: str(built.kubectl),  # the page replay's kubectl: the cluster's release
            KIND_ARCHIVES_ENV: os.pathsep.join(str(path) for path in archives),
        }
    )
    return env


def down() -> None:
    recorded = host.RECORD.is_file()
    try:
        left = engines.stop(Progress(1))
    finally:
        # After the nodes are gone; also when stopping failed (the record stays for the next `down`).
        not_restored = host.restore()
    left += [f"not restored: {what}" for what in not_restored]
    if left:
        raise ToolError("down left: " + "; ".join(left) + f" (see {ENGINE_LOG}; run `python3 -m kindstack down` again as root)")
    host.finish()
    restored = "; the host's kernel tunables as they were" if recorded else ""
    say(f"kindstack: down, no container, network, volume or engine left{restored}")


def cmd_run(args: argparse.Namespace) -> int:
    return wrap.around(
        args.argv, "python3 -m kindstack run -- pytest ...", ToolError, lambda: up(args.node_image, args.kubernetes_version), down
    )


def cmd_up(args: argparse.Namespace) -> int:
    for key, value in up(args.node_image, args.kubernetes_version).items():
        say(f"export {key}={value}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    """Build everything; an engine started for it is stopped again."""
    started = engines.own().host if not engines.users() else ""
    try:
        up("built", args.kubernetes_version)
    finally:
        if started:
            down()
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    down()
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    engine = engines.own()
    running = engines.running()
    say(f"engine: {'running on ' + str(DOCKER_SOCKET) if running else 'not running'}")
    if running:
        say("containers: " + (", ".join(engine.docker("ps", "-a", "--format", "{{.Names}}").split()) or "none"))
        say("node images: " + (", ".join(engine.docker("images", NODE_IMAGE_REPO, "--format", "{{.Tag}}").split()) or "none"))
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python3 -m kindstack", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    def node_image(command: argparse.ArgumentParser) -> None:
        command.add_argument(
            "--node-image",
            choices=("auto", "built", "published"),
            default="auto",
            help="built here (offline) or kind's published one; auto: built unless a Docker engine is already reachable",
        )

    release = [localcluster.release_option()]
    sub.add_parser("build", parents=release, help="build kind, the node image and the lab's images (cached)").set_defaults(func=cmd_build)
    up_parser = sub.add_parser(
        "up", parents=release, help="start the engine when none runs, build what is missing; print the environment for kind"
    )
    node_image(up_parser)
    up_parser.set_defaults(func=cmd_up)
    sub.add_parser("down", help="remove the engine's containers, networks and volumes, and stop it").set_defaults(func=cmd_down)
    sub.add_parser("status", help="the engine, its containers and node images").set_defaults(func=cmd_status)
    run = sub.add_parser("run", parents=release, help="up, run a command (the suite with --cluster kind), then down whatever happened")
    node_image(run)
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(func=cmd_run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return wrap.command_line("kindstack", lambda: int(args.func(args)), (ToolError,))
