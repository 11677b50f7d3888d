"""k8s-install: Kubernetes plus its addons as one unit, from a cluster.yaml kept in Git."""

__version__ = "0.1.0"
