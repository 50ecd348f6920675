"""A real single-node Kubernetes cluster on this machine, built from registry packages.

Run from the repository root: ``python3 -m localcluster up|down|status|build|logs``.
"""
