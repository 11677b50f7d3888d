"""Integration tests on podman sandbox hosts (marker: integration)."""
