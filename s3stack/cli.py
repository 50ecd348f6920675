"""``python3 -m s3stack build|up|down|status|logs``: the Mountpoint S3 stack on the local cluster."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from localcluster import wrap
from s3stack import build, deploy, images, kube, mounts, server
from s3stack.layout import (
    CREDENTIALS_FILE,
    DRIVER_NAMESPACE,
    ENDPOINT,
    LOG_DIR,
    MOUNTPOINT_NAMESPACE,
    REGION,
    RENDERED_MANIFEST,
    SERVER_LOG,
)
from s3stack.ui import Progress, StackError, say, warn
from s3stack.versions import load


def cmd_build(_: argparse.Namespace) -> int:
    progress = Progress()
    versions = load()
    artifacts = build.build_all(versions, progress)
    manifest = deploy.render(artifacts, versions)
    images.build_images(images.names_from_manifest(manifest), artifacts, versions, progress)
    progress.note("build done")
    return 0


def cmd_up(_: argparse.Namespace) -> int:
    progress = Progress()
    versions = load()
    if not kube.api_reachable():
        raise StackError("the local cluster is not running: python3 -m localcluster up")
    artifacts = build.build_all(versions, progress)
    manifest = deploy.render(artifacts, versions)
    built = images.build_images(images.names_from_manifest(manifest), artifacts, versions, progress)
    changed = images.import_images(built, progress)
    server.start(artifacts.versitygw, progress)
    deploy.apply(manifest, server.credentials(), progress, images_changed=bool(changed))
    deploy.wait_ready(progress)
    deploy.prune_orphans(progress)
    say(f"endpoint: {ENDPOINT}")
    say(f"region: {REGION}")
    say(f"credentials: {CREDENTIALS_FILE}")
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    progress = Progress()
    if kube.api_reachable():
        deploy.remove(progress)
    else:
        warn("the local cluster is not reachable: skipped deleting the driver's objects")
    left = mounts.unmount_all()
    server.stop(progress)
    deploy.remove_host_prerequisites()
    leftovers = [f"mounts {', '.join(left)}"] if left else []
    leftovers += server.leftovers()
    if leftovers:
        raise StackError("down left: " + "; ".join(leftovers) + " (run `python3 -m s3stack down` again)")
    say("s3stack: down, no server, namespace, interface, rule or mount left")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """The stack's whole life around one command: the command gets the server's endpoint,
    region and credentials in the standard AWS variables (never printed), and the stack
    always goes down, also on failure or SIGTERM."""

    def up() -> dict[str, str]:
        cmd_up(args)
        creds = server.credentials()
        return {
            "AWS_ACCESS_KEY_ID": creds["AWS_ACCESS_KEY_ID"],
            "AWS_SECRET_ACCESS_KEY": creds["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL_S3": ENDPOINT,
        }

    def down() -> None:
        cmd_down(args)

    return wrap.around(args.argv, "python3 -m s3stack run -- pytest ...", StackError, up, down, grace=wrap.NESTED_GRACE_SECONDS)


def cmd_status(args: argparse.Namespace) -> int:
    pid = server.server_pid()
    report: dict[str, object] = {
        "server": {"pid": pid, "endpoint": ENDPOINT, "reachable": server.reachable(), "netns": server.netns_exists()},
        "credentials_file": str(CREDENTIALS_FILE) if CREDENTIALS_FILE.is_file() else None,
        "mounts": mounts.fuse_mounts(),
    }
    driver_ok = False
    if kube.api_reachable():
        problem = deploy._node_problem()
        driver_ok = problem is None
        report["driver"] = "ready" if driver_ok else problem
    else:
        report["driver"] = "cluster not reachable"
    if args.json:
        say(json.dumps(report, indent=2))
    else:
        server_state = f"running (pid {pid}) at {ENDPOINT}" if pid and server.reachable() else "stopped"
        say(f"s3 server: {server_state}")
        say(f"driver: {report['driver']}")
        say(f"credentials: {report['credentials_file']}")
        say(f"mountpoint mounts: {len(mounts.fuse_mounts())}")
    return 0 if pid and driver_ok else 1


def cmd_logs(args: argparse.Namespace) -> int:
    tail = f"--tail={args.lines}"
    if args.what == "server":
        lines = SERVER_LOG.read_text(errors="replace").splitlines()[-args.lines :] if SERVER_LOG.is_file() else []
        say("\n".join(lines) or f"no log at {SERVER_LOG}")
    elif args.what == "node":
        say(kube.kubectl("logs", "-n", DRIVER_NAMESPACE, "-l", "app=s3-csi-node", "--all-containers", "--prefix", tail, check=False))
    elif args.what == "controller":
        say(kube.kubectl("logs", "-n", DRIVER_NAMESPACE, "-l", "app=s3-csi-controller", "--all-containers", "--prefix", tail, check=False))
    elif args.what == "mountpoint":
        pods = kube.get_json("pods", "-n", MOUNTPOINT_NAMESPACE).get("items", [])
        for pod in pods:
            name = pod["metadata"]["name"]
            say(f"--- {MOUNTPOINT_NAMESPACE}/{name}")
            say(kube.kubectl("logs", "-n", MOUNTPOINT_NAMESPACE, name, tail, check=False))
        if not pods:
            say(f"no pods in namespace {MOUNTPOINT_NAMESPACE}")
    else:
        say(f"log directory: {LOG_DIR}\nrendered chart: {RENDERED_MANIFEST}")
        for path in sorted(LOG_DIR.glob("*")) if LOG_DIR.is_dir() else []:
            say(f"  {path}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python3 -m s3stack", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build mount-s3, the driver, sidecars, S3 server and images (cached)").set_defaults(func=cmd_build)
    sub.add_parser("up", help="start the S3 server, deploy the driver, wait until it is registered").set_defaults(func=cmd_up)
    sub.add_parser("down", help="delete the driver and its Mountpoint pods, unmount, stop the server").set_defaults(func=cmd_down)
    status = sub.add_parser("status", help="what runs; exit 0 only when server and driver are ready")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=cmd_status)
    logs = sub.add_parser("logs", help="logs of the server, node plugin, controller or Mountpoint pods")
    logs.add_argument("what", nargs="?", choices=("server", "node", "controller", "mountpoint"), default=None)
    logs.add_argument("-n", "--lines", type=int, default=100)
    logs.set_defaults(func=cmd_logs)
    run = sub.add_parser("run", help="up, run a command with the S3 endpoint and credentials in its environment, then down")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    run.set_defaults(func=cmd_run)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except StackError as err:
        print(f"s3stack: error: {err}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("s3stack: interrupted", file=sys.stderr, flush=True)
        return 130
