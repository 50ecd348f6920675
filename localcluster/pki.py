"""Certificates, the service-account key pair and kubeconfigs (openssl CLI, ECDSA P-256).

etcd has a CA of its own, as kubeadm gives it: a certificate of the cluster CA (a kubelet's,
a user's) must not open etcd, where every client certificate its CA signed has full access.
"""

from __future__ import annotations

import base64
import ssl
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
from stackbase.ui import ToolError

DAYS = "3650"
EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


@dataclass(frozen=True)
class Client:
    """A client certificate: file stem, common name (user) and organisation (group)."""

    stem: str
    user: str
    group: str | None = None


@dataclass(frozen=True)
class Leaf:
    """One of kubeadm's etcd certificates, each for one use, so that none opens more than it needs."""

    stem: str
    subject: str
    usage: str
    sans: str = ""


ETCD_CA = "etcd/ca"
ETCD_SANS = "DNS:localhost,IP:127.0.0.1"  # etcd listens on loopback only
# Server and peer certificates are clients too: etcd's gRPC gateway and peers dial with them.
ETCD_LEAVES = (
    Leaf("etcd/server", "/CN=labcluster-etcd", "serverAuth,clientAuth", ETCD_SANS),
    Leaf("etcd/peer", "/CN=labcluster-etcd-peer", "serverAuth,clientAuth", ETCD_SANS),
    Leaf("etcd/healthcheck-client", "/CN=labcluster-etcd-healthcheck-client", "clientAuth"),
    Leaf("apiserver-etcd-client", "/CN=kube-apiserver-etcd-client", "clientAuth"),
)

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
        raise ToolError("`openssl` is missing: apt-get install openssl") from None
    if result.returncode != 0:
        raise ToolError(f"openssl {args[0]} failed: {result.stderr.strip()}")


def _subject(user: str, group: str | None) -> str:
    return (f"/O={group}" if group else "") + f"/CN={user}"


def _have(stem: str) -> bool:
    return (PKI_DIR / f"{stem}.crt").is_file() and (PKI_DIR / f"{stem}.key").is_file()


def _ensure_ca(stem: str, subject: str) -> bool:
    """Make the CA when missing; True when made (what it signed before is then re-signed)."""
    if _have(stem):
        return False
    _openssl(
        "req",
        "-x509",
        *EC_KEY,
        "-keyout",
        str(PKI_DIR / f"{stem}.key"),
        "-out",
        str(PKI_DIR / f"{stem}.crt"),
        "-days",
        DAYS,
        "-subj",
        subject,
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
    )
    (PKI_DIR / f"{stem}.key").chmod(0o600)
    return True


def _sign(stem: str, subject: str, extensions: str, ca: str = "ca") -> None:
    key, csr, crt, ext = (PKI_DIR / f"{stem}.{suffix}" for suffix in ("key", "csr", "crt", "ext"))
    ext.write_text(extensions)
    _openssl("req", "-new", *EC_KEY, "-keyout", str(key), "-out", str(csr), "-subj", subject)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(PKI_DIR / f"{ca}.crt"),
        "-CAkey",
        str(PKI_DIR / f"{ca}.key"),
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
    for directory in (PKI_DIR, PKI_DIR / "etcd"):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o700)
    new_ca = _ensure_ca("ca", "/CN=labcluster-ca")
    if not (PKI_DIR / "sa.key").is_file():
        _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(PKI_DIR / "sa.key"))
        _openssl("ec", "-in", str(PKI_DIR / "sa.key"), "-pubout", "-out", str(PKI_DIR / "sa.pub"))
    client_ext = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n"
    for client in CLIENTS:
        if new_ca or not _have(client.stem):
            _sign(client.stem, _subject(client.user, client.group), client_ext)
    new_etcd_ca = _ensure_ca(ETCD_CA, "/CN=labcluster-etcd-ca")
    for leaf in ETCD_LEAVES:
        if new_etcd_ca or not _have(leaf.stem):
            sans = f"subjectAltName={leaf.sans}\n" if leaf.sans else ""
            # ECDSA keys sign; they encipher nothing.
            ext = f"basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={leaf.usage}\n{sans}"
            _sign(leaf.stem, leaf.subject, ext, ETCD_CA)
    sans = apiserver_sans(node_ip)
    sans_file = PKI_DIR / "apiserver.sans"
    if new_ca or not _have("apiserver") or not sans_file.is_file() or sans_file.read_text() != sans:
        _sign(
            "apiserver",
            "/CN=kube-apiserver",
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
            f"extendedKeyUsage=serverAuth\nsubjectAltName={sans}\n",
        )
        sans_file.write_text(sans)


def etcd_client_context() -> ssl.SSLContext:
    """TLS to etcd as a client it admits: its own CA for the server, the health-check
    certificate for etcd's client-certificate check."""
    context = ssl.create_default_context(cafile=str(PKI_DIR / f"{ETCD_CA}.crt"))
    context.load_cert_chain(PKI_DIR / "etcd/healthcheck-client.crt", PKI_DIR / "etcd/healthcheck-client.key")
    return context


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
