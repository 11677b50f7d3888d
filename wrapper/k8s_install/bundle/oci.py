"""OCI image layouts: pull images into one layout, write our own into it, push it to a registry.

Speaks the OCI distribution API over urllib (anonymous bearer tokens included, as public
registries use them). Every blob is verified against its digest; blobs go through the same
content-addressed cache as file downloads. One layout holds every image of a bundle; each entry
in index.json carries the image's full name in `org.opencontainers.image.ref.name`. Images of
our own are written with write_layer (layers from bundle.layers) and write_layered_image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import ssl
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import layers
from k8s_install.bundle.sources import Fetcher, place
from k8s_install.bundle.verify import sha256_file

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST))
REF_NAME = "org.opencontainers.image.ref.name"
CONTAINERD_NAME = "io.containerd.image.name"
DOCKER_HUB = "registry-1.docker.io"
# The PATH Docker and buildkit give an image that sets none.
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class RegistryError(K8sInstallError):
    pass


DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Reference:
    """registry/repository[:tag][@digest]: a digest pins the exact manifest or index."""

    registry: str
    repository: str
    tag: str
    digest: str = ""

    @property
    def name(self) -> str:
        tag = f":{self.tag}" if self.tag else ""
        pinned = f"@{self.digest}" if self.digest else ""
        return f"{self.registry}/{self.repository}{tag}{pinned}"

    @property
    def unpinned(self) -> str:
        """The name without its digest (the tag, or latest when only a digest was given)."""
        return f"{self.registry}/{self.repository}:{self.tag or 'latest'}"

    @property
    def manifest_ref(self) -> str:
        """What a registry is asked for: the digest when pinned, else the tag."""
        return self.digest or self.tag

    def with_registry(self, registry: str) -> Reference:
        return dataclasses.replace(self, registry=registry)


def parse_ref(ref: str) -> Reference:
    """registry.k8s.io/pause:3.10 -> (registry.k8s.io, pause, 3.10); docker.io naming rules.

    `name:tag@sha256:...` and `name@sha256:...` keep their digest; a digest of another shape
    is refused.
    """
    ref, _, digest = ref.partition("@")
    if digest and not DIGEST.match(digest):
        raise RegistryError(
            f"{ref}@{digest}: the digest is not sha256:<64 lowercase hex digits>",
            fix="pin images by their sha256 digest, or by tag alone",
            code=ExitCode.INVALID_INPUT,
        )
    first, _, rest = ref.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        first, rest = "docker.io", ref
    if first == "docker.io" and "/" not in rest:
        rest = f"library/{rest}"
    repository, _, tag = rest.rpartition(":") if ":" in rest.split("/")[-1] else (rest, "", "")
    return Reference(first, repository, tag or ("" if digest else "latest"), digest)


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- layout

_INDEX_LOCK = threading.Lock()


def init_layout(layout: Path) -> None:
    with _INDEX_LOCK:
        _init_layout(layout)


def _init_layout(layout: Path) -> None:
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    marker = layout / "oci-layout"
    if not marker.exists():
        marker.write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    if not (layout / "index.json").exists():
        write_index(layout, [])


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


def write_blob(layout: Path, data: bytes) -> str:
    digest = digest_of(data)
    path = blob_path(layout, digest)
    if not path.exists():
        partial = path.with_name(f"{path.name}.{threading.get_ident()}")
        partial.write_bytes(data)
        partial.replace(path)
    return digest


def read_index(layout: Path) -> list[dict[str, Any]]:
    data = json.loads((layout / "index.json").read_text())
    return list(data.get("manifests", []))


def write_index(layout: Path, manifests: list[dict[str, Any]]) -> None:
    ordered = sorted(manifests, key=lambda m: m.get("annotations", {}).get(REF_NAME, ""))
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": ordered}
    partial = layout / f"index.json.{threading.get_ident()}"
    partial.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    partial.replace(layout / "index.json")  # readers never see a half-written index


def add_to_index(layout: Path, ref: str, media_type: str, digest: str, size: int) -> None:
    with _INDEX_LOCK:
        _add_to_index(layout, ref, media_type, digest, size)


def _add_to_index(layout: Path, ref: str, media_type: str, digest: str, size: int) -> None:
    entries = [m for m in read_index(layout) if m.get("annotations", {}).get(REF_NAME) != ref]
    entries.append(
        {
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {REF_NAME: ref, CONTAINERD_NAME: ref},
        }
    )
    write_index(layout, entries)


def images(layout: Path) -> dict[str, dict[str, Any]]:
    """Full image name -> its index entry."""
    return {m["annotations"][REF_NAME]: m for m in read_index(layout)}


def named_images(layout: Path) -> dict[str, dict[str, Any]]:
    """A layout someone else wrote: full, normalized image name -> its index entry.

    The name comes from io.containerd.image.name or org.opencontainers.image.ref.name (which
    this module writes as the full name); entries without either are left out.
    """
    if not (layout / "index.json").is_file():
        raise K8sInstallError(
            f"{layout}: no index.json, not an OCI image layout",
            fix="give the directory of an OCI layout (oci-layout, index.json, blobs/)",
            code=ExitCode.INVALID_INPUT,
        )
    try:
        entries = read_index(layout)
    except (OSError, ValueError) as exc:
        raise K8sInstallError(f"{layout}/index.json: {exc}", code=ExitCode.INVALID_INPUT) from exc
    result = {}
    for entry in entries:
        annotations = entry.get("annotations") or {}
        name = annotations.get(CONTAINERD_NAME) or annotations.get(REF_NAME)
        if name and "digest" in entry:
            result[parse_ref(str(name)).name] = dict(entry)
    return result


def _copy_blob(source: Path, target: Path, digest: str) -> None:
    """Copy one blob, checked against its digest: a damaged local layout never enters a bundle."""
    path = blob_path(source, digest)
    if not path.is_file():
        raise K8sInstallError(
            f"{source}: blob {digest} is missing",
            fix="rebuild the layout, or leave the image out of it",
            code=ExitCode.INVALID_INPUT,
        )
    if sha256_file(path)[0] != digest.partition(":")[2]:
        raise K8sInstallError(
            f"{path}: the blob does not match its digest {digest}",
            fix="the local layout is damaged: rebuild it",
            code=ExitCode.INVALID_INPUT,
        )
    destination = blob_path(target, digest)
    if not destination.exists():
        place(path, destination)


def copy_image(
    source: Path, entry: Mapping[str, Any], name: str, layout: Path, *, arch: str = "amd64"
) -> dict[str, Any]:
    """Copy one image of another layout into ours, as `name`; returns its index entry.

    An image index is resolved to its linux/arch manifest, as pull does, unless `name` pins the
    index's digest: then the index is carried whole, every manifest it lists with it, so the
    registry serves it by the digest the pod asks for.
    """
    init_layout(layout)
    digest = str(entry["digest"])
    _copy_blob(source, layout, digest)
    body = blob_path(layout, digest).read_bytes()
    media = str(entry.get("mediaType") or json.loads(body).get("mediaType") or OCI_MANIFEST)
    if media in INDEX_TYPES and parse_ref(name).digest != digest:
        chosen = _platform_manifest(body, arch, name)
        return copy_image(source, chosen, name, layout, arch=arch)
    children = _children(body, media)
    for child in children:
        _copy_blob(source, layout, str(child["digest"]))
    for blob in _blob_descriptors(layout, [*children, {"digest": digest, "mediaType": media}]):
        _copy_blob(source, layout, str(blob["digest"]))
    add_to_index(layout, name, media, digest, len(body))
    return images(layout)[name]


def _children(body: bytes, media: str) -> list[dict[str, Any]]:
    """The manifests an index lists (none for an image manifest)."""
    if media not in INDEX_TYPES:
        return []
    return [dict(m) for m in json.loads(body).get("manifests", [])]


def _blob_descriptors(layout: Path, manifests: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Config and layer descriptors of the image manifests among `manifests`."""
    result: list[dict[str, Any]] = []
    for descriptor in manifests:
        if descriptor.get("mediaType") in INDEX_TYPES:
            continue
        manifest = json.loads(blob_path(layout, str(descriptor["digest"])).read_bytes())
        if manifest.get("mediaType") in INDEX_TYPES or "manifests" in manifest:
            continue
        result += [manifest["config"], *manifest["layers"]]
    return result


def image_blobs(layout: Path, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Descriptors of every blob of one image in the layout: its manifest (or index, with the
    manifests it lists), configs and layers."""
    body = blob_path(layout, entry["digest"]).read_bytes()
    media = str(entry.get("mediaType") or json.loads(body).get("mediaType") or OCI_MANIFEST)
    manifests = [dict(entry), *_children(body, media)]
    unique: dict[str, dict[str, Any]] = {}
    for descriptor in manifests + _blob_descriptors(layout, manifests):
        unique.setdefault(str(descriptor["digest"]), dict(descriptor))
    return list(unique.values())


def write_layer(layout: Path, entries: Iterable[layers.Entry]) -> layers.LayerFile:
    """Write one layer blob into the layout (once: a layer already there is kept)."""
    init_layout(layout)
    written = layers.write_layer_file(entries, layout / "blobs" / "sha256")
    target = blob_path(layout, written.digest)
    if target.exists():
        written.path.unlink()
    else:
        written.path.replace(target)
    return dataclasses.replace(written, path=target)


@dataclass(frozen=True)
class ImageConfig:
    """The run settings of an image (the `config` object of its OCI config)."""

    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: tuple[str, ...] = (DEFAULT_PATH,)
    working_dir: str | None = None
    user: str | None = None

    def as_json(self) -> dict[str, Any]:
        fields = {
            "Entrypoint": self.entrypoint,
            "Cmd": self.cmd,
            "Env": self.env,
            "WorkingDir": self.working_dir,
            "User": self.user,
        }
        return {key: list(v) if isinstance(v, tuple) else v for key, v in fields.items() if v}


def write_layered_image(
    layout: Path,
    ref: str,
    image_layers: Sequence[layers.LayerFile],
    config: ImageConfig,
    arch: str = "amd64",
) -> dict[str, Any]:
    """Make an image from layers already in the layout (see write_layer). Returns its entry.

    There is no creation time or history, so the same layers and config give the same
    digests on every build.
    """
    init_layout(layout)
    config_blob = json.dumps(
        {
            "architecture": arch,
            "os": "linux",
            "config": config.as_json(),
            "rootfs": {"type": "layers", "diff_ids": [layer.diff_id for layer in image_layers]},
        },
        sort_keys=True,
    ).encode()
    descriptors = [
        {"mediaType": OCI_LAYER, "digest": layer.digest, "size": layer.size}
        for layer in image_layers
    ]
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_CONFIG,
                "digest": digest_of(config_blob),
                "size": len(config_blob),
            },
            "layers": descriptors,
        },
        sort_keys=True,
    ).encode()
    write_blob(layout, config_blob)
    digest = write_blob(layout, manifest)
    add_to_index(layout, ref, OCI_MANIFEST, digest, len(manifest))
    return images(layout)[ref]


def write_image(
    layout: Path, ref: str, files: Mapping[str, bytes], arch: str = "amd64"
) -> dict[str, Any]:
    """Make a one-layer image from in-memory files, mode 0755 (fixtures, benchmarks).

    Its entrypoint is the first file by name. Returns its index entry.
    """
    layer = write_layer(layout, [layers.file(name, data, 0o755) for name, data in files.items()])
    config = ImageConfig(entrypoint=("/" + sorted(files)[0],))
    return write_layered_image(layout, ref, [layer], config, arch)


# ---------------------------------------------------------------- registry client


class Registry:
    """One registry endpoint, e.g. https://registry.k8s.io or http://127.0.0.1:5001."""

    def __init__(self, base_url: str, context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.context = context
        self.tokens: dict[str, str] = {}

    def _open(
        self,
        method: str,
        path: str,
        repository: str,
        *,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        scope: str = "pull",
    ) -> Any:
        url = path if path.startswith("http") else self.base_url + path
        for attempt in range(2):
            request = urllib.request.Request(
                url, data=data, method=method, headers=dict(headers or {})
            )
            token = self.tokens.get(f"{repository}:{scope}")
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                return urllib.request.urlopen(request, timeout=60, context=self.context)
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code == 401 and attempt == 0 and challenge.startswith("Bearer "):
                    self.tokens[f"{repository}:{scope}"] = self._token(challenge, repository, scope)
                    continue
                if method == "HEAD" and exc.code == 404:
                    return None
                body = exc.read()[:300].decode(errors="replace")
                raise RegistryError(f"{method} {url}: HTTP {exc.code} {body}".strip()) from exc
            except (urllib.error.URLError, OSError) as exc:
                raise RegistryError(
                    f"{method} {url}: {getattr(exc, 'reason', exc)}",
                    fix="check the registry address, its TLS CA, or the --registry-mirror map",
                ) from exc
        raise RegistryError(f"{method} {url}: authorization failed")

    def _token(self, challenge: str, repository: str, scope: str) -> str:
        params = dict(
            part.split("=", 1) for part in challenge[len("Bearer ") :].split(",") if "=" in part
        )
        params = {k.strip(): v.strip().strip('"') for k, v in params.items()}
        query = {"scope": f"repository:{repository}:{scope}"}
        if "service" in params:
            query["service"] = params["service"]
        url = params.get("realm", "") + "?" + urllib.parse.urlencode(query)
        try:
            with urllib.request.urlopen(url, timeout=60, context=self.context) as response:
                data = json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise RegistryError(f"token from {url}: {exc}") from exc
        return str(data.get("token") or data.get("access_token") or "")

    def get_manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        with self._open(
            "GET", f"/v2/{repository}/manifests/{reference}", repository, headers={"Accept": ACCEPT}
        ) as response:
            body: bytes = response.read()
            media = response.headers.get("Content-Type", "").split(";")[0]
        return body, json.loads(body).get("mediaType") or media

    def blob_url(self, repository: str, digest: str) -> str:
        return f"{self.base_url}/v2/{repository}/blobs/{digest}"

    def auth_headers(self, repository: str) -> dict[str, str]:
        token = self.tokens.get(f"{repository}:pull")
        return {"Authorization": f"Bearer {token}"} if token else {}

    def has_blob(self, repository: str, digest: str) -> bool:
        response = self._open(
            "HEAD", f"/v2/{repository}/blobs/{digest}", repository, scope="push,pull"
        )
        if response is None:
            return False
        response.close()
        return True

    def push_blob(self, repository: str, digest: str, path: Path) -> None:
        if self.has_blob(repository, digest):
            return
        with self._open(
            "POST", f"/v2/{repository}/blobs/uploads/", repository, data=b"", scope="push,pull"
        ) as response:
            location = response.headers["Location"]
        if not location.startswith("http"):
            location = self.base_url + location
        separator = "&" if "?" in location else "?"
        url = f"{location}{separator}digest={urllib.parse.quote(digest)}"
        with path.open("rb") as handle:
            self._open(
                "PUT",
                url,
                repository,
                data=handle,  # type: ignore[arg-type]  # urllib streams a file with a length
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(path.stat().st_size),
                },
                scope="push,pull",
            ).close()

    def put_manifest(self, repository: str, tag: str, body: bytes, media_type: str) -> None:
        self._open(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            repository,
            data=body,
            headers={"Content-Type": media_type},
            scope="push,pull",
        ).close()


def _platform_manifest(index: bytes, arch: str, name: str) -> dict[str, Any]:
    for entry in json.loads(index).get("manifests", []):
        platform = entry.get("platform", {})
        if platform.get("os") == "linux" and platform.get("architecture") == arch:
            return dict(entry)
    raise RegistryError(f"{name}: no linux/{arch} image in its index")


def endpoint_for(registry: str, registry_mirrors: Mapping[str, str]) -> str:
    if registry in registry_mirrors:
        return registry_mirrors[registry]
    return f"https://{DOCKER_HUB if registry == 'docker.io' else registry}"


def pull(
    ref: str,
    layout: Path,
    fetcher: Fetcher,
    *,
    arch: str = "amd64",
    registry_mirrors: Mapping[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Copy one image into the layout; returns its index entry.

    By tag, an index is resolved to its linux/arch manifest. A reference pinned by digest gets
    exactly that manifest or index (checked against the digest); a pinned index comes whole,
    with every manifest it lists and their blobs, since a registry serves an index only with
    all of them.
    """
    init_layout(layout)
    reference = parse_ref(ref)
    registry = Registry(endpoint_for(reference.registry, registry_mirrors or {}), context)
    body, media = _get_checked(registry, reference.repository, reference.manifest_ref, ref)
    manifests = [(body, media)]
    if media in INDEX_TYPES and reference.digest:
        manifests += [
            _get_checked(registry, reference.repository, str(child["digest"]), ref)
            for child in _children(body, media)
        ]
    elif media in INDEX_TYPES:
        chosen = _platform_manifest(body, arch, ref)
        body, media = _get_checked(registry, reference.repository, chosen["digest"], ref)
        manifests = [(body, media)]
    for child_body, child_media in manifests:
        if child_media in INDEX_TYPES:
            continue
        manifest = json.loads(child_body)
        for blob in [manifest["config"], *manifest["layers"]]:
            target = blob_path(layout, blob["digest"])
            if target.exists():
                continue
            cached = fetcher.fetch(
                registry.blob_url(reference.repository, blob["digest"]),
                blob["digest"].partition(":")[2],
                headers=registry.auth_headers(reference.repository),
            )
            place(cached, target)
    for child_body, _media in manifests[1:]:
        write_blob(layout, child_body)
    digest = write_blob(layout, body)
    add_to_index(layout, reference.name, media, digest, len(body))
    return images(layout)[reference.name]


def _get_checked(registry: Registry, repository: str, wanted: str, ref: str) -> tuple[bytes, str]:
    """A manifest by tag or digest; one asked for by digest must hash to it."""
    body, media = registry.get_manifest(repository, wanted)
    if DIGEST.match(wanted) and digest_of(body) != wanted:
        raise RegistryError(
            f"{ref}: the registry answered {wanted} with a manifest of digest {digest_of(body)}",
            fix="the registry or its mirror serves other content than the digest pins",
        )
    return body, media


def target_repository(name: str) -> Reference:
    """Where an image lives in the offline registry: its path without the source registry."""
    return parse_ref(name)


def push(
    layout: Path,
    base_url: str,
    *,
    context: ssl.SSLContext | None = None,
    only: set[str] | None = None,
) -> Iterator[str]:
    """Push every image of the layout to one registry; yields each image name when done.

    registry.k8s.io/pause:3.10 becomes <registry>/pause:3.10, quay.io/calico/node:v3 becomes
    <registry>/calico/node:v3: the layout Kubespray expects when every *_image_repo points at
    registry_host. An index goes after every manifest it lists; each manifest is put under its
    tag, or its digest when it has no tag, and is then served by digest too.
    """
    registry = Registry(base_url, context)
    for name, entry in sorted(images(layout).items()):
        if only is not None and name not in only:
            continue
        reference = parse_ref(name)
        children = _children_of(layout, entry)
        manifests = {str(entry["digest"])} | {str(child["digest"]) for child in children}
        for blob in image_blobs(layout, entry):
            if str(blob["digest"]) not in manifests:
                registry.push_blob(
                    reference.repository, blob["digest"], blob_path(layout, blob["digest"])
                )
        for child in children:
            body = blob_path(layout, child["digest"]).read_bytes()
            media = str(child.get("mediaType") or json.loads(body).get("mediaType"))
            registry.put_manifest(reference.repository, str(child["digest"]), body, media)
        registry.put_manifest(
            reference.repository,
            reference.tag or str(entry["digest"]),
            blob_path(layout, entry["digest"]).read_bytes(),
            entry["mediaType"],
        )
        yield name


def _children_of(layout: Path, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
    body = blob_path(layout, entry["digest"]).read_bytes()
    return _children(body, str(entry.get("mediaType") or json.loads(body).get("mediaType")))
