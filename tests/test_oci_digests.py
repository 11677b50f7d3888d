"""Images pinned by digest (`name:tag@sha256:...`), as many upstream charts pin them.

A pinned reference keeps its digest from the rendered manifest to the registry: the bundle
carries exactly that manifest or index, a multi-arch index whole, and Debian's docker-registry
on loopback then serves it by the digest the pod asks for.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import oci
from k8s_install.bundle.sources import Fetcher
from test_bundle_servers import need_servers, registry

HEX = "ab" * 32


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("registry.k8s.io/pause:3.10", ("registry.k8s.io", "pause", "3.10", "")),
        ("busybox", ("docker.io", "library/busybox", "latest", "")),
        (
            f"quay.io/metallb/controller:v0.15.2@sha256:{HEX}",
            ("quay.io", "metallb/controller", "v0.15.2", f"sha256:{HEX}"),
        ),
        (f"nginx@sha256:{HEX}", ("docker.io", "library/nginx", "", f"sha256:{HEX}")),
        (
            f"127.0.0.1:5000/a/b:1@sha256:{HEX}",
            ("127.0.0.1:5000", "a/b", "1", f"sha256:{HEX}"),
        ),
    ],
)
def test_references_keep_their_digest(ref: str, expected: tuple[str, str, str, str]) -> None:
    reference = oci.parse_ref(ref)
    assert (reference.registry, reference.repository, reference.tag, reference.digest) == expected
    assert oci.parse_ref(reference.name) == reference
    assert reference.manifest_ref == (expected[3] or expected[2])


@pytest.mark.parametrize(
    "ref",
    [
        "quay.io/a/b:1@sha256:abc",
        f"quay.io/a/b:1@sha512:{HEX}",
        f"quay.io/a/b:1@sha256:{HEX.upper()}",
        f"quay.io/a/b@sha256:{HEX}x",
        "quay.io/a/b:1@{{ lookup('pipe','id') }}",
    ],
)
def test_a_digest_of_another_shape_is_refused(ref: str) -> None:
    with pytest.raises(K8sInstallError) as caught:
        oci.parse_ref(ref)
    assert caught.value.code == ExitCode.INVALID_INPUT
    assert "sha256:<64 lowercase hex digits>" in str(caught.value)


def two_platform_index(layout: Path, name: str) -> str:
    """An index of a linux/amd64 and a linux/arm64 image, stored under `name`; its digest."""
    children = []
    for arch in ("amd64", "arm64"):
        entry = oci.write_image(layout, f"{name}-{arch}", {"prog": arch.encode() * 64}, arch)
        children.append(
            {
                "mediaType": entry["mediaType"],
                "digest": entry["digest"],
                "size": entry["size"],
                "platform": {"os": "linux", "architecture": arch},
            }
        )
    body = json.dumps(
        {"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": children}, sort_keys=True
    ).encode()
    digest = oci.write_blob(layout, body)
    oci.add_to_index(layout, name, oci.OCI_INDEX, digest, len(body))
    return digest


def manifest_at(url: str, repository: str, reference: str) -> bytes:
    request = urllib.request.Request(
        f"{url}/v2/{repository}/manifests/{reference}", headers={"Accept": oci.ACCEPT}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
    return body


def test_a_pinned_multi_arch_index_is_carried_whole_and_served_by_its_digest(
    tmp_path: Path,
) -> None:
    need_servers()
    source = tmp_path / "source"
    index_digest = two_platform_index(source, "quay.io/demo/app:v1")
    with registry(tmp_path / "upstream") as upstream, registry(tmp_path / "offline") as offline:
        list(oci.push(source, upstream, only={"quay.io/demo/app:v1"}))
        pinned = f"quay.io/demo/app:v1@{index_digest}"
        bundle = tmp_path / "bundle"
        fetcher = Fetcher(tmp_path / "cache")
        entry = oci.pull(pinned, bundle, fetcher, registry_mirrors={"quay.io": upstream})
        assert entry["digest"] == index_digest
        assert entry["mediaType"] == oci.OCI_INDEX
        carried = {b["digest"] for b in oci.image_blobs(bundle, entry)}
        for arch in ("amd64", "arm64"):
            child = oci.images(source)[f"quay.io/demo/app:v1-{arch}"]
            assert {b["digest"] for b in oci.image_blobs(source, child)} <= carried

        assert list(oci.push(bundle, offline)) == [pinned]
        served = manifest_at(offline, "demo/app", index_digest)
        assert oci.digest_of(served) == index_digest
        assert oci.digest_of(manifest_at(offline, "demo/app", "v1")) == index_digest

        # By tag alone, only the linux/amd64 image comes, as before.
        by_tag = oci.pull(
            "quay.io/demo/app:v1",
            tmp_path / "tagged",
            fetcher,
            registry_mirrors={"quay.io": upstream},
        )
        assert by_tag["mediaType"] == oci.OCI_MANIFEST
        assert by_tag["digest"] == oci.images(source)["quay.io/demo/app:v1-amd64"]["digest"]


def test_a_pinned_single_manifest_is_served_by_its_digest(tmp_path: Path) -> None:
    need_servers()
    layout = tmp_path / "layout"
    entry = oci.write_image(layout, "registry.k8s.io/demo/tool:v2", {"tool": b"x" * 100})
    pinned = f"registry.k8s.io/demo/tool:v2@{entry['digest']}"
    copied = oci.copy_image(layout, entry, pinned, tmp_path / "bundle")
    with registry(tmp_path / "offline") as offline:
        assert list(oci.push(tmp_path / "bundle", offline)) == [pinned]
        assert oci.digest_of(manifest_at(offline, "demo/tool", entry["digest"])) == copied["digest"]
