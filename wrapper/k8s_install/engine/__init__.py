"""The engine: the pinned Kubespray release, fetched, verified and resolved."""
