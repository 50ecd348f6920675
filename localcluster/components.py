"""The cluster's daemons: their configuration files and command lines, in start order."""

from __future__ import annotations

import json

from localcluster.build import Binaries
from localcluster.layout import (
    API_PORT,
    CGROUP_PARENT,
    CLUSTER_CIDR,
    CONTAINERD_SOCKET,
    ETC_DIR,
    ETCD_CLIENT_PORT,
    ETCD_DATA,
    ETCD_PEER_PORT,
    KUBELET_ROOT,
    NODE_NAME,
    PKI_DIR,
    SERVICE_CIDR,
    write_if_changed,
)
from localcluster.pki import kubeconfig_path
from localcluster.processes import Daemon
from localcluster.runtime import write_config

# Stop order is the reverse of this.
START_ORDER = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "containerd",
    "kubelet",
    "kube-proxy",
)


def _pki(name: str) -> str:
    return str(PKI_DIR / name)


def etcd(binaries: Binaries) -> Daemon:
    """TLS with client certificates on both ports: loopback is open to every local user and
    process, and etcd holds every Secret of the cluster."""
    client = f"https://127.0.0.1:{ETCD_CLIENT_PORT}"
    peer = f"https://127.0.0.1:{ETCD_PEER_PORT}"
    return Daemon(
        "etcd",
        [
            str(binaries.etcd),
            f"--name={NODE_NAME}",
            f"--data-dir={ETCD_DATA}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={NODE_NAME}={peer}",
            "--initial-cluster-state=new",
            f"--cert-file={_pki('etcd/server.crt')}",
            f"--key-file={_pki('etcd/server.key')}",
            "--client-cert-auth=true",
            f"--trusted-ca-file={_pki('etcd/ca.crt')}",
            f"--peer-cert-file={_pki('etcd/peer.crt')}",
            f"--peer-key-file={_pki('etcd/peer.key')}",
            "--peer-client-cert-auth=true",
            f"--peer-trusted-ca-file={_pki('etcd/ca.crt')}",
            # A throw-away test cluster: skipping fsync makes start-up and writes fast.
            "--unsafe-no-fsync=true",
            "--log-level=warn",
        ],
    )


def apiserver(binaries: Binaries, node_ip: str) -> Daemon:
    return Daemon(
        "kube-apiserver",
        [
            str(binaries.kube("kube-apiserver")),
            f"--advertise-address={node_ip}",
            f"--bind-address={node_ip}",
            f"--secure-port={API_PORT}",
            f"--etcd-servers=https://127.0.0.1:{ETCD_CLIENT_PORT}",
            f"--etcd-cafile={_pki('etcd/ca.crt')}",
            f"--etcd-certfile={_pki('apiserver-etcd-client.crt')}",
            f"--etcd-keyfile={_pki('apiserver-etcd-client.key')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            f"--client-ca-file={_pki('ca.crt')}",
            f"--tls-cert-file={_pki('apiserver.crt')}",
            f"--tls-private-key-file={_pki('apiserver.key')}",
            f"--kubelet-client-certificate={_pki('apiserver-kubelet-client.crt')}",
            f"--kubelet-client-key={_pki('apiserver-kubelet-client.key')}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            f"--service-account-key-file={_pki('sa.pub')}",
            f"--service-account-signing-key-file={_pki('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--profiling=false",
            "--v=1",
        ],
    )


def _control_loop(binaries: Binaries, name: str, kubeconfig_stem: str, flags: list[str]) -> Daemon:
    """controller-manager and scheduler: one kubeconfig for API, authn and authz; loopback only."""
    kubeconfig = str(kubeconfig_path(kubeconfig_stem))
    return Daemon(
        name,
        [
            str(binaries.kube(name)),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            *flags,
            "--profiling=false",
            "--v=1",
        ],
    )


def controller_manager(binaries: Binaries) -> Daemon:
    return _control_loop(
        binaries,
        "kube-controller-manager",
        "controller-manager",
        [
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={_pki('sa.key')}",
            f"--root-ca-file={_pki('ca.crt')}",
            f"--cluster-signing-cert-file={_pki('ca.crt')}",
            f"--cluster-signing-key-file={_pki('ca.key')}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={CLUSTER_CIDR}",
            "--node-cidr-mask-size=24",
        ],
    )


def scheduler(binaries: Binaries) -> Daemon:
    return _control_loop(binaries, "kube-scheduler", "scheduler", [])


def containerd(pause_image: str) -> Daemon:
    return Daemon("containerd", ["/usr/bin/containerd", f"--config={write_config(pause_image)}"])


def kubelet_config() -> dict[str, object]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": _pki("ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": f"unix://{CONTAINERD_SOCKET}",
        # cgroups v1 and no systemd on this machine.
        "cgroupDriver": "cgroupfs",
        # Pods under a parent of the cluster's own, so `down` removes only those cgroups.
        "cgroupRoot": f"/{CGROUP_PARENT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        # No CAP_SYS_RESOURCE: do not try to lower our own OOM score.
        "oomScoreAdj": 0,
        # Image GC must never remove the pre-imported images (nothing can be pulled again).
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "clusterDomain": "cluster.local",
        "resolvConf": "/etc/resolv.conf",
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "serializeImagePulls": False,
        "registerNode": True,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "protectKernelDefaults": False,
        "makeIPTablesUtilChains": True,
    }


def kubelet(binaries: Binaries, node_ip: str) -> Daemon:
    ETC_DIR.mkdir(parents=True, exist_ok=True)
    config = ETC_DIR / "kubelet.yaml"
    write_if_changed(config, json.dumps(kubelet_config(), indent=2) + "\n")  # JSON is YAML
    return Daemon(
        "kubelet",
        [
            str(binaries.kube("kubelet")),
            f"--config={config}",
            f"--kubeconfig={kubeconfig_path('kubelet')}",
            f"--hostname-override={NODE_NAME}",
            f"--node-ip={node_ip}",
            f"--root-dir={KUBELET_ROOT}",
            "--v=1",
        ],
    )


def kube_proxy(binaries: Binaries) -> Daemon:
    config = ETC_DIR / "kube-proxy.yaml"
    write_if_changed(
        config,
        json.dumps(
            {
                "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
                "kind": "KubeProxyConfiguration",
                "mode": "iptables",
                "clusterCIDR": CLUSTER_CIDR,
                "hostnameOverride": NODE_NAME,
                "clientConnection": {"kubeconfig": str(kubeconfig_path("kube-proxy"))},
                "healthzBindAddress": "127.0.0.1:10256",
                "metricsBindAddress": "127.0.0.1:10249",
                "nodePortAddresses": ["primary"],
                # Leave the host's conntrack sysctls alone.
                "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
            },
            indent=2,
        )
        + "\n",
    )
    return Daemon("kube-proxy", [str(binaries.kube("kube-proxy")), f"--config={config}", "--v=1"])
