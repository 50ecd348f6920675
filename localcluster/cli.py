"""Command line: ``python3 -m localcluster up|down|status|build|logs|kubeconfig``."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from labkit.tools import KUBECTL_ENV
from localcluster import cluster, preflight
from localcluster.build import binaries, build_all
from localcluster.images import build_images
from localcluster.layout import ADMIN_KUBECONFIG, LOG_DIR
from localcluster.versions import Versions, load
from stackbase import wrap
from stackbase.ui import Progress, ToolError, say


def release_option() -> argparse.ArgumentParser:
    """`--kubernetes-version`, as a parent parser: kindstack's commands take it too."""
    release = argparse.ArgumentParser(add_help=False)
    release.add_argument(
        "--kubernetes-version",
        default=None,
        help="another Kubernetes release than versions.env's (a minor like 1.35 is the patch KUBERNETES_VERSIONS pins; "
        "default $LABCLUSTER_KUBERNETES_VERSION, else the pin)",
    )
    return release


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python3 -m localcluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    release = release_option()
    commands.add_parser("up", parents=[release], help="build if needed, start the cluster, wait until the node is Ready")
    commands.add_parser("down", help="stop everything and remove its mounts, interfaces and iptables chains")
    status = commands.add_parser("status", parents=[release], help="what is running; the kubeconfig path")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    commands.add_parser("build", parents=[release], help="build and cache the binaries and images")
    commands.add_parser("kubeconfig", help="print the admin kubeconfig path")
    logs = commands.add_parser("logs", help="print the log directory, or the end of one component's log")
    logs.add_argument("component", nargs="?", help="e.g. kubelet, kube-apiserver, containerd, etcd")
    logs.add_argument("-n", "--lines", type=int, default=50)
    run = commands.add_parser(
        "run", parents=[release], help="up, run a command with KUBECONFIG set to the cluster's, then down whatever happened"
    )
    run.add_argument("--save-logs", type=Path, help="copy the component logs into this folder at the end")
    run.add_argument("--keep", action="store_true", help="leave the cluster up afterwards")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARGS...]")
    return parser


def run_command(versions: Versions, argv: list[str], save_logs: Path | None, keep: bool) -> int:
    """The cluster's whole life around one command: the cluster always goes down and its
    logs are always saved, also when the command fails or CI sends SIGTERM."""

    def up() -> dict[str, str]:
        cluster.up(versions)
        kubectl = shutil.which("kubectl")
        if kubectl:
            subprocess.run([kubectl, "--kubeconfig", str(ADMIN_KUBECONFIG), "get", "nodes", "-o", "wide"], check=False)
        # The page replay and the suite use the kubectl of the cluster's own release.
        return {"KUBECONFIG": str(ADMIN_KUBECONFIG), KUBECTL_ENV: str(binaries(versions).kube("kubectl"))}

    def down() -> None:
        if save_logs is not None and LOG_DIR.is_dir():
            shutil.copytree(LOG_DIR, save_logs, dirs_exist_ok=True)
            say(f"component logs saved in {save_logs}")
        if not keep:
            cluster.down()

    return wrap.around(argv, "python3 -m localcluster run -- pytest ...", ToolError, up, down)


def run(args: argparse.Namespace) -> int:
    if args.command == "kubeconfig":
        say(str(ADMIN_KUBECONFIG))
        return 0
    if args.command == "logs":
        if not args.component:
            say(str(LOG_DIR))
            for path in sorted(LOG_DIR.glob("*.log")):
                say(f"  {path.name}  {path.stat().st_size} bytes")
            return 0
        path = LOG_DIR / f"{args.component}.log"
        if not path.is_file():
            raise ToolError(f"no log {path}: one of {', '.join(p.stem for p in LOG_DIR.glob('*.log'))}")
        sys.stdout.write("".join(path.read_text(errors="replace").splitlines(keepends=True)[-args.lines :]))
        return 0
    versions = load(getattr(args, "kubernetes_version", None))  # down has no --kubernetes-version
    if args.command == "build":
        progress = Progress(3)
        preflight.install_packages(versions, progress)  # the images need busybox and bash
        build_all(versions, progress)
        progress.step("building images (pause, the apps' stand-ins)")
        build_images(versions, progress)
        say(f"build done in {progress.elapsed()}")
    elif args.command == "up":
        cluster.up(versions)
    elif args.command == "down":
        cluster.down()
    elif args.command == "run":
        return run_command(versions, args.argv, args.save_logs, args.keep)
    elif args.command == "status":
        state = cluster.status(versions)
        if args.json:
            say(json.dumps(state, indent=2))
        else:
            say(
                f"cluster: {'running' if state['running'] else 'not running'} ({state['kubernetes_version']}), "
                f"node {state['node_name']} ready: {state['node_ready']}"
            )
            for name, pid in state["daemons"].items():
                say(f"  {name:24} {'pid ' + str(pid) if pid else 'stopped'}")
            for key in (
                "kubeconfig",
                "log_dir",
                "state_dir",
                "binaries",
                "containerd_socket",
                "pod_cidr",
                "service_cidr",
            ):
                say(f"{key}: {state[key]}")
        return 0 if state["running"] else 3
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return wrap.command_line("localcluster", lambda: run(args), (ToolError,))
