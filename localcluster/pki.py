"""Certificates, the service-account key pair and kubeconfigs (openssl CLI, ECDSA P-256)."""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass
from pathlib import Path

from localcluster.layout import (
    ADMIN_KUBECONFIG,
    API_PORT,
    ETC_DIR,
    KUBERNETES_SERVICE_IP,
    NODE_NAME,
    PKI_DIR,
    write_if_changed,
)
from localcluster.ui import ClusterError

DAYS = "3650"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Client:
    """A client certificate: file stem, common name (user) and organisation (group)."""

    stem: str
    user: str
    group: str | None = None


CLIENTS = (
    Client("admin", "labcluster-admin", "system:masters"),
    Client("apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"),
    Client("controller-manager", "system:kube-controller-manager"),
    Client("scheduler", "system:kube-scheduler"),
    Client("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
    Client("kube-proxy", "system:kube-proxy"),
)


def _openssl(*args: str) -> None:
    try:
        result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise ClusterError("`openssl` is missing: apt-get install openssl") from None
    if result.returncode != 0:
        raise ClusterError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _subject(user: str, group: str | None) -> str:
    return (f"/O={group}" if group else "") + f"/CN={user}"


def _sign(stem: str, subject: str, extensions: str) -> None:
    key, csr, crt, ext = (PKI_DIR / f"{stem}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text(extensions)
    _openssl("req", "-new", *EC_KEY, "-keyout", str(key), "-out", str(csr), "-subj", subject)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(PKI_DIR / "ca.crt"),
        "-CAkey",
        str(PKI_DIR / "ca.key"),
        "-CAcreateserial",
        "-days",
        DAYS,
        "-out",
        str(crt),
        "-extfile",
        str(ext),
    )
    csr.unlink()
    key.chmod(0o600)


def apiserver_sans(node_ip: str) -> str:
    names = [
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        NODE_NAME,
    ]
    ips = sorted({node_ip, "127.0.0.1", KUBERNETES_SERVICE_IP})
    return ",".join([f"DNS:{name}" for name in names] + [f"IP:{ip}" for ip in ips])


def ensure_pki(node_ip: str) -> None:
    """Create what is missing; the serving certificate follows the node address."""
    PKI_DIR.mkdir(parents=True, exist_ok=True)
    PKI_DIR.chmod(0o700)
    if not (PKI_DIR / "ca.crt").is_file():
        _openssl(
            "req",
            "-x509",
            *EC_KEY,
            "-keyout",
            str(PKI_DIR / "ca.key"),
            "-out",
            str(PKI_DIR / "ca.crt"),
            "-days",
            DAYS,
            "-subj",
            "/CN=labcluster-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        )
    if not (PKI_DIR / "sa.key").is_file():
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(PKI_DIR / "sa.key"))
        _openssl("ec", "-in", str(PKI_DIR / "sa.key"), "-pubout", "-out", str(PKI_DIR / "sa.pub"))
    client_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    for client in CLIENTS:
        if not (PKI_DIR / f"{client.stem}.crt").is_file():
            _sign(client.stem, _subject(client.user, client.group), client_ext)
    sans = apiserver_sans(node_ip)
    sans_file = PKI_DIR / "apiserver.sans"
    if not (PKI_DIR / "apiserver.crt").is_file() or not sans_file.is_file() or sans_file.read_text() != sans:
        _sign(
            "apiserver",
            "/CN=kube-apiserver",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
        )
        sans_file.write_text(sans)


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def kubeconfig_text(stem: str, server: str) -> str:
    return f"""apiVersion: v1
kind: Config
clusters:
- name: labcluster
  cluster:
    server: {server}
    certificate-authority-data: {_b64(PKI_DIR / "ca.crt")}
users:
- name: {stem}
  user:
    client-certificate-data: {_b64(PKI_DIR / f"{stem}.crt")}
    client-key-data: {_b64(PKI_DIR / f"{stem}.key")}
contexts:
- name: labcluster
  context:
    cluster: labcluster
    user: {stem}
current-context: labcluster
"""


def kubeconfig_path(stem: str) -> Path:
    return ADMIN_KUBECONFIG if stem == "admin" else ETC_DIR / f"{stem}.kubeconfig"


def write_kubeconfigs(node_ip: str) -> None:
    ETC_DIR.mkdir(parents=True, exist_ok=True)
    server = f"https://{node_ip}:{API_PORT}"
    for client in CLIENTS:
        if client.stem == "apiserver-kubelet-client":
            continue
        path = kubeconfig_path(client.stem)
        write_if_changed(path, kubeconfig_text(client.stem, server))
        path.chmod(0o600)
