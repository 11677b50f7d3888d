"""addons.images: every image a rendered manifest makes a node pull, and nothing else.

The offline bundle carries exactly this list, so a missed image is an ImagePullBackOff on an
air-gapped site, and a false one a failed bundle build.
"""

from __future__ import annotations

import pytest
import yaml

from k8s_install.addons import images

DIGEST = "sha256:" + "c0" * 32
RELOADER = "quay.io/prometheus-operator/prometheus-config-reloader:v0.85.0"


def deployment(container: dict[str, object]) -> str:
    body = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"template": {"spec": {"containers": [{"name": "c", **container}]}}},
    }
    return yaml.safe_dump(body)


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({"image": "quay.io/a/op:v1"}, {"quay.io/a/op:v1"}),
        (
            {"image": "quay.io/a/op:v1", "args": [f"--prometheus-config-reloader={RELOADER}"]},
            {"quay.io/a/op:v1", RELOADER},
        ),
        (
            {"image": "x.io/op:1", "args": ["--helper-image", "registry.k8s.io/pause:3.10.1"]},
            {"x.io/op:1", "registry.k8s.io/pause:3.10.1"},
        ),
        (
            {"image": "x.io/op:1", "command": ["/op", f"--sidecar=ghcr.io/o/side@{DIGEST}"]},
            {"x.io/op:1", f"ghcr.io/o/side@{DIGEST}"},
        ),
        (
            {
                "image": f"registry.k8s.io/metrics-server/metrics-server:v0.8.0@{DIGEST}",
                "env": [{"name": "HELPER", "value": "127.0.0.1:5000/tools/busybox:1.36"}],
            },
            {
                f"registry.k8s.io/metrics-server/metrics-server:v0.8.0@{DIGEST}",
                "127.0.0.1:5000/tools/busybox:1.36",
            },
        ),
        (
            {
                "image": "x.io/op:1",
                "args": [
                    "--web.listen-address=:8080",
                    "--config=/etc/op/config.yaml",
                    "--kubelet-preferred-address-types=InternalIP",
                    "--url=https://example.com/a:b",
                    "--endpoint=example.com:443",
                    "--cluster-domain=cluster.local",
                    "--log-format={{ .Level }}",
                    "--image-pull-policy=IfNotPresent",
                    "--path=x.io/op",
                    "plain words: x.io/op:1 inside",
                ],
                "env": [
                    {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                    {"name": "PROXY", "value": "http://proxy.example:3128"},
                ],
            },
            {"x.io/op:1"},
        ),
    ],
)
def test_images_in_containers_and_their_arguments(
    container: dict[str, object], expected: set[str]
) -> None:
    assert images.images_in(deployment(container)) == expected
