"""registry_trust: the node trusts the offline CA, and containerd sends pulls, for the
mirrored registries and the registry itself, to the offline registry with that CA."""

from __future__ import annotations

from typing import Any

import helpers
import pytest

ACCESS_LOG = "/var/log/nginx/access.log"


def test_system_trusts_the_ca(host: Any) -> None:
    # No --cacert: curl uses the system trust store.
    result = helpers.curl(host, f"https://{helpers.address(host)}:5000/v2/")
    assert result.rc == 0, result.stderr


@pytest.mark.parametrize(
    ("image", "path"),
    [
        (
            "docker.io/library/molecule-probe:1",
            "/v2/library/molecule-probe/manifests/1?ns=docker.io",
        ),
        ("registry.k8s.io/molecule-probe:1", "/v2/molecule-probe/manifests/1?ns=registry.k8s.io"),
        ("{registry}/molecule-probe:1", "/v2/molecule-probe/manifests/1"),
    ],
)
def test_containerd_pulls_go_to_the_mirror(host: Any, image: str, path: str) -> None:
    registry = f"{helpers.address(host)}:5000"
    image = image.format(registry=registry)
    # The image does not exist: the mirror answers 404 (then ctr tries upstream, which this
    # internal network cannot reach). The 404 in nginx's log shows the request reached the
    # mirror over TLS with the CA: a TLS failure is an x509 error in ctr, and never reaches nginx.
    pull = host.run("timeout 30 ctr images pull --hosts-dir /etc/containerd/certs.d %s", image)
    assert pull.rc != 0
    assert "x509" not in pull.stderr and "certificate" not in pull.stderr, pull.stderr
    log = host.file(ACCESS_LOG).content_string
    assert f'"HEAD {path} HTTP/1.1" 404' in log, log[-2000:]
