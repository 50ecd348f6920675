"""The pod network kind applies from the node image (`/kind/manifests/default-cni.yaml`).

labnet (kindstack/gosrc/cmd/labnet) does what kindnetd does for the lab: on each node it
writes the CNI configuration for the node's pod CIDR and routes the other nodes' pod CIDRs
through them. The manifest carries kind's "patch" marker, so kind adds the API server's address
on the node network (CONTROL_PLANE_ENDPOINT) and the network does not wait for kube-proxy.
"""

from __future__ import annotations

LABELS = "app: labnet\n        k8s-app: labnet\n        tier: node"


def manifest(image: str) -> str:
    return f"""# labnet: the pod network of kind clusters built by kindstack
# would you kindly patch this file
apiVersion: v1
kind: ServiceAccount
metadata:
  name: labnet
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: labnet
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: labnet
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: labnet
subjects:
- kind: ServiceAccount
  name: labnet
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: labnet
  namespace: kube-system
  labels:
    app: labnet
spec:
  selector:
    matchLabels:
      app: labnet
  template:
    metadata:
      labels:
        {LABELS}
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      serviceAccountName: labnet
      tolerations:
      - operator: Exists
      containers:
      - name: labnet
        image: {image}
        imagePullPolicy: Never
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        volumeMounts:
        - name: cni-cfg
          mountPath: /etc/cni/net.d
        resources:
          requests:
            cpu: 10m
            memory: 20Mi
        securityContext:
          privileged: false
          capabilities:
            add: [NET_ADMIN, NET_RAW]
      volumes:
      - name: cni-cfg
        hostPath:
          path: /etc/cni/net.d
          type: DirectoryOrCreate
"""
