"""An SPDX 2.3 JSON SBOM of a bundle: one package per item, with its sha256 and source."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from k8s_install.bundle.manifest import LOCAL_SOURCE, Item


def _spdx_id(item: Item) -> str:
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", f"{item.kind}-{item.name}-{item.version}")


def _purl(item: Item) -> str | None:
    if item.kind == "image":
        return f"pkg:oci/{item.name.rsplit('/', 1)[-1]}@sha256:{item.sha256}?repository_url={item.name}&tag={item.version}"
    if item.kind == "wheel":
        return f"pkg:pypi/{item.name.lower()}@{item.version}"
    if item.kind == "package":
        return f"pkg:deb/debian/{item.name}@{item.version}"
    return None


def _local_info(item: Item) -> str:
    where = item.source.removeprefix(LOCAL_SOURCE)
    if not item.upstream_url:
        return f"built locally, taken from {where}"
    same = "identical to" if item.sha256 == item.upstream_sha256 else "replaces"
    return (
        f"built locally, taken from {where}; {same} {item.upstream_url} "
        f"(upstream sha256 {item.upstream_sha256})"
    )


def document(name: str, created: str, items: Iterable[Item]) -> dict[str, Any]:
    packages = []
    for item in sorted(items, key=lambda i: (i.kind, i.name)):
        package: dict[str, Any] = {
            "SPDXID": _spdx_id(item),
            "name": item.name,
            "versionInfo": item.version or "NOASSERTION",
            "downloadLocation": "NOASSERTION" if item.is_local else item.source or "NOASSERTION",
            "filesAnalyzed": False,
            "checksums": [{"algorithm": "SHA256", "checksumValue": item.sha256}],
            "primaryPackagePurpose": {
                "image": "CONTAINER",
                "wheel": "LIBRARY",
                "chart": "SOURCE",
                "engine": "SOURCE",
            }.get(item.kind, "APPLICATION"),
        }
        if item.is_local:
            package["sourceInfo"] = _local_info(item)
        purl = _purl(item)
        if purl:
            package["externalRefs"] = [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": purl,
                }
            ]
        packages.append(package)
    return {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": name,
        "documentNamespace": f"https://k8s-install.dev/spdx/{name}-{created}",
        "creationInfo": {"created": created, "creators": ["Tool: k8s-install"]},
        "packages": packages,
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": p["SPDXID"],
            }
            for p in packages
        ],
    }
