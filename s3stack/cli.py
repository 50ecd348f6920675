"""``python3 -m s3stack build|load|down|status|logs|run``: what the S3 variant needs on the local
cluster that no registry can give it here. The suite runs the S3 server and installs the driver
itself (`--s3-server in-cluster`); this tool builds their images and loads them into the node."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from labkit import mountpoint
from s3stack import images, kube, mounts
from s3stack.layout import RUN_SYSTEMD, STATE_DIR, SYSTEMD_DIR_MARK
from stackbase import wrap
from stackbase.ui import Progress, ToolError, say, warn

TAG = "s3stack"  # its lines say whose they are inside another tool's run


def cmd_build(_: argparse.Namespace) -> int:
    progress = Progress(tag=TAG)
    images.built_images(progress)
    progress.note("build done")
    return 0


def _prepare_host() -> None:
    """The chart's node plugin mounts /run/systemd (type Directory): a host without systemd lacks it."""
    if not RUN_SYSTEMD.exists():
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        RUN_SYSTEMD.mkdir(parents=True)
        SYSTEMD_DIR_MARK.write_text(f"{RUN_SYSTEMD}\n")


def _unprepare_host() -> None:
    if SYSTEMD_DIR_MARK.is_file():
        try:
            RUN_SYSTEMD.rmdir()
        except OSError as err:
            warn(f"left {RUN_SYSTEMD} in place: {err}", TAG)
        SYSTEMD_DIR_MARK.unlink(missing_ok=True)


def cmd_load(_: argparse.Namespace) -> int:
    progress = Progress(tag=TAG)
    if not kube.api_reachable():
        raise ToolError("the local cluster is not running: python3 -m localcluster up")
    built = images.built_images(progress)
    images.import_images(built, progress)
    _prepare_host()
    say("images: " + ", ".join(image.name for image in built))
    return 0


def _driver_left() -> list[str]:
    """What of a driver is on the cluster (the suite removes the one it installs)."""
    left = []
    if kube.get_json("csidriver", mountpoint.DRIVER):
        left.append(f"CSIDriver {mountpoint.DRIVER}")
    if kube.get_json("namespace", mountpoint.MOUNTPOINT_NAMESPACE):
        left.append(f"namespace {mountpoint.MOUNTPOINT_NAMESPACE}")
    return left


def cmd_down(_: argparse.Namespace) -> int:
    """Unmount what Mountpoint left on the host; report a driver still installed."""
    left = mounts.unmount_all()
    _unprepare_host()
    leftovers = [f"mounts {', '.join(left)}"] if left else []
    if kube.api_reachable():
        leftovers += _driver_left()
    if leftovers:
        raise ToolError("down found: " + "; ".join(leftovers) + " (a run was cut off before its clean-up: see python3 -m s3stack status)")
    say("s3stack: down, no Mountpoint mount or driver left")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """`load`, the command, then `down`, also on failure or SIGTERM."""

    def up() -> dict[str, str]:
        cmd_load(args)
        return {}

    def down() -> None:
        cmd_down(args)

    return wrap.around(args.argv, "python3 -m s3stack run -- pytest ...", ToolError, up, down, grace=wrap.NESTED_GRACE_SECONDS)


def cmd_status(args: argparse.Namespace) -> int:
    reachable = kube.api_reachable()
    report: dict[str, object] = {
        "cluster": "reachable" if reachable else "not reachable",
        "driver": ", ".join(_driver_left()) or "none" if reachable else "unknown",
        "mounts": mounts.fuse_mounts(),
    }
    if args.json:
        say(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            say(f"{key}: {value}")
    return 0 if reachable else 1


def cmd_logs(args: argparse.Namespace) -> int:
    tail = f"--tail={args.lines}"
    if args.what in ("node", "controller"):
        say(
            kube.kubectl(
                "logs", "-n", mountpoint.NAMESPACE, "-l", f"app=s3-csi-{args.what}", "--all-containers", "--prefix", tail, check=False
            )
        )
        return 0
    pods = kube.get_json("pods", "-n", mountpoint.MOUNTPOINT_NAMESPACE).get("items", [])
    for pod in pods:
        name = pod["metadata"]["name"]
        say(f"--- {mountpoint.MOUNTPOINT_NAMESPACE}/{name}")
        say(kube.kubectl("logs", "-n", mountpoint.MOUNTPOINT_NAMESPACE, name, tail, check=False))
    if not pods:
        say(f"no pods in namespace {mountpoint.MOUNTPOINT_NAMESPACE}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python3 -m s3stack", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build mount-s3, the driver, sidecars, S3 server, helm and the images (cached)").set_defaults(
        func=cmd_build
    )
    sub.add_parser("load", help="build, then import the images into the local cluster").set_defaults(func=cmd_load)
    sub.add_parser("down", help="unmount what Mountpoint left; fail when a driver is still installed").set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="driver objects and Mountpoint mounts on the local cluster")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="logs of the driver's node plugin, controller or Mountpoint pods")
    logs.add_argument("what", nargs="?", choices=("node", "controller", "mountpoint"), default="mountpoint")
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.set_defaults(func=cmd_logs)
    run = sub.add_parser("run", help="load, run a command (the suite, with --s3-server in-cluster), then down")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(func=cmd_run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return wrap.command_line("s3stack", lambda: int(args.func(args)), (ToolError,))
