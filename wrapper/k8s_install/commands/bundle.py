"""bundle: build, sign, verify, inspect and serve air-gapped offline bundles."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from k8s_install.ansible import progress
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.base.output import Output
from k8s_install.bundle import build as builder
from k8s_install.bundle import diff as differ
from k8s_install.bundle import download_list, sign, sources, tls
from k8s_install.bundle import manifest as mf
from k8s_install.bundle import serve as server
from k8s_install.bundle import verify as verifier
from k8s_install.commands.common import config_option, json_option, load_cluster, output
from k8s_install.model import config

DEFAULT_KEY = "bundle-signing"


@click.group()
def bundle() -> None:
    """Air-gapped installs: build a signed bundle, verify it, and serve it on site.

    \b
    Examples:
      k8s-install bundle keygen -o keys/site
      k8s-install bundle build -c cluster.yaml -o site.tar --key keys/site.key
      k8s-install bundle verify site.tar --key keys/site.pub
      k8s-install bundle serve -c cluster.yaml
    """


@bundle.command()
@click.option(
    "-o",
    "--output",
    "prefix",
    default=DEFAULT_KEY,
    show_default=True,
    type=click.Path(path_type=Path),
    help="Writes PREFIX.key (mode 0600) and PREFIX.pub.",
)
@click.option("--force", is_flag=True, help="Replace an existing key pair.")
@json_option
def keygen(prefix: Path, force: bool) -> None:
    """Make an ed25519 key pair for signing bundles.

    Keep the .key where bundles are built; carry the .pub to the air-gapped site
    (offline.public_key in cluster.yaml).

    \b
    Examples:
      k8s-install bundle keygen
      k8s-install bundle keygen -o keys/site --force
    """
    out = output()
    private, public = Path(f"{prefix}.key"), Path(f"{prefix}.pub")
    sign.keygen(private, public, force=force)
    if out.json_mode:
        out.emit({"private_key": str(private), "public_key": str(public)})
    else:
        out.info(f"private key: {private} (keep it secret)\npublic key:  {public}")


def _engine_plan(
    config_path: Path,
    engine_dir: Path | None,
    arch: str,
    python: str,
    mirrors: dict[str, str] | None = None,
) -> download_list.Plan:
    cluster = config.load(config_path)
    engine = download_list.engine_dir(engine_dir)
    return download_list.from_cluster(cluster, engine, arch, python, mirrors)


ENGINE_DIR = click.option(
    "--engine-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help=f"A Kubespray checkout of the pinned release (default: ${download_list.ENGINE_ENV}).",
)
ARCH = click.option(
    "--arch",
    default="amd64",
    show_default=True,
    type=click.Choice(sorted(download_list.ARCHES)),
    help="Target node architecture.",
)
PYTHON = click.option(
    "--python-version",
    default="3.11",
    show_default=True,
    help="Python version of the control machine the wheels are for.",
)


@bundle.command("plan")
@config_option
@ENGINE_DIR
@ARCH
@PYTHON
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the plan as YAML (edit it, then `bundle build --plan`).",
)
@click.option(
    "--mirror",
    multiple=True,
    metavar="PREFIX=URL",
    help="Read chart repository indexes under PREFIX from URL instead (repeatable).",
)
@json_option
def plan_cmd(
    config_path: Path,
    engine_dir: Path | None,
    arch: str,
    python_version: str,
    output: Path | None,
    mirror: tuple[str, ...],
) -> None:
    """List what a bundle for this cluster carries, as the pinned engine resolves it.

    \b
    Examples:
      k8s-install bundle plan
      k8s-install bundle plan --arch arm64 -o plan.yaml
    """
    out = _out()
    mirrors = sources.parse_mirrors(mirror)
    plan = _engine_plan(config_path, engine_dir, arch, python_version, mirrors)
    if output:
        download_list.save(plan, output)
    if out.json_mode:
        out.emit(plan.as_dict())
        return
    rows = (
        [
            [
                "engine",
                plan.engine.name if plan.engine else "",
                plan.engine.version if plan.engine else "",
                plan.engine.url if plan.engine else "",
            ]
        ]
        if plan.engine
        else []
    )
    rows += [["file", f.name, f.version, f.url] for f in plan.files]
    rows += [["image", i, "", ""] for i in plan.images]
    rows += [["chart", c.name, c.version, c.url] for c in plan.charts]
    out.table(
        f"bundle plan for {plan.name} (Kubernetes {plan.kubernetes_version}, {plan.arch})",
        ["kind", "name", "version", "source"],
        rows,
    )


def _out() -> Output:
    return output()


class _Progress:
    """Download progress: a rich bar per file for people, one JSON line per finished file."""

    def __init__(self, out: Output) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.tasks: dict[str, Any] = {}
        self.done: set[str] = set()
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=out.err,
            transient=True,
            disable=out.json_mode,
        )

    def __call__(self, url: str, done: int, total: int) -> None:
        with self.lock:
            if url not in self.tasks:
                self.tasks[url] = self.bar.add_task(
                    url.rsplit("/", 1)[-1][:40], total=total or None
                )
            self.bar.update(self.tasks[url], completed=done, total=total or None)
            if total and done >= total and url not in self.done:
                self.done.add(url)
                if self.out.json_mode:
                    self.out.emit_line({"event": "fetched", "url": url, "bytes": total})


@bundle.command("build")
@config_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="The bundle: a new directory, or PATH.tar for one archive.",
)
@click.option(
    "--key",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ed25519 private key that signs the manifest.",
)
@click.option(
    "--plan",
    "plan_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Build from this plan file instead of resolving the engine.",
)
@ENGINE_DIR
@ARCH
@PYTHON
@click.option(
    "--mirror",
    multiple=True,
    metavar="PREFIX=URL",
    help="Fetch URLs starting with PREFIX from URL instead (repeatable).",
)
@click.option(
    "--registry-mirror",
    multiple=True,
    metavar="REGISTRY=URL",
    help="Pull images of REGISTRY from URL instead, e.g. quay.io=https://mirror (repeatable).",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=sources.DEFAULT_CACHE,
    show_default=True,
    help="Download cache, shared between builds.",
)
@click.option(
    "--base",
    type=click.Path(exists=True, path_type=Path),
    help="An older bundle (directory): carry only what changed since it.",
)
@click.option("--no-wheels", is_flag=True, help="Leave out the Python wheels.")
@click.option(
    "--os-packages",
    default="",
    metavar="PKG,PKG",
    help="Debian packages to add (apt-get download), e.g. nginx,docker-registry.",
)
@click.option(
    "--workers",
    default=4,
    show_default=True,
    type=click.IntRange(1, 32),
    help="Parallel downloads.",
)
@click.option(
    "--local-files",
    "local_files",
    multiple=True,
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Your own builds, laid out as the file server is (DIR/<host>/<url path>): a planned "
    "file found there is taken instead of downloaded (repeatable).",
)
@click.option(
    "--local-images",
    "local_images",
    multiple=True,
    metavar="LAYOUT",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="An OCI image layout of your own images: every image in it goes into the bundle, "
    "and planned images found there are not pulled (repeatable).",
)
@json_option
def build_cmd(
    config_path: Path,
    output: Path,
    key: Path,
    plan_file: Path | None,
    engine_dir: Path | None,
    arch: str,
    python_version: str,
    mirror: tuple[str, ...],
    registry_mirror: tuple[str, ...],
    cache_dir: Path,
    base: Path | None,
    no_wheels: bool,
    os_packages: str,
    workers: int,
    local_files: tuple[Path, ...],
    local_images: tuple[Path, ...],
) -> None:
    """Build one signed bundle with everything `up` needs, from the pinned engine's lists.

    Every file is checked against the sha256 the engine declares; downloads run in
    parallel, resume, and are cached in --cache-dir. Files from --local-files and
    images from --local-images are taken as they are: the signed manifest records
    their own sha256 and `source: local:<dir>` (and the upstream sha256 they replace),
    and the offline inventory hands those checksums to the engine. The manifest and
    SBOM take their creation time from SOURCE_DATE_EPOCH when it is set, so two
    builds of one plan give the same SBOM and checksums.

    \b
    Examples:
      k8s-install bundle build -o site.tar --key bundle-signing.key
      SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) k8s-install bundle build -o b.tar --key k.key
      k8s-install bundle build -o next.tar --key k.key --base old-bundle/
      k8s-install bundle build --plan plan.yaml -o b/ --key k.key \\
          --mirror https://dl.k8s.io=http://mirror.local/dl.k8s.io \\
          --registry-mirror registry.k8s.io=http://mirror.local:5000
      k8s-install bundle build -o own.tar --key k.key \\
          --local-files artifacts/files --local-images artifacts/images
    """
    out = _out()
    mirrors = sources.parse_mirrors(mirror)
    registry_mirrors = sources.parse_mirrors(registry_mirror)
    if base is not None and not base.is_dir():
        raise K8sInstallError(
            f"--base {base}: give the old bundle as a directory",
            fix="unpack it first (tar -xf old.tar -C old/)",
            code=ExitCode.INVALID_INPUT,
        )
    plan = (
        download_list.load(plan_file)
        if plan_file
        else _engine_plan(config_path, engine_dir, arch, python_version, mirrors)
    )
    if os_packages:
        plan.packages = [p.strip() for p in os_packages.split(",") if p.strip()]
    opts = builder.Options(
        output=output,
        key=key,
        cache_dir=cache_dir,
        mirrors=mirrors,
        registry_mirrors=registry_mirrors,
        base=base,
        wheels=not no_wheels,
        workers=workers,
        local_files=local_files,
        local_images=local_images,
    )
    bar = _Progress(out)
    fetcher = sources.Fetcher(cache_dir, mirrors, workers, progress=bar)
    with bar.bar:
        result = builder.build(
            plan, opts, log=out.info if not out.json_mode else lambda _m: None, fetcher=fetcher
        )
    summary = result.as_dict()
    summary["mb_per_s"] = (
        round(result.manifest.own_size / 1e6 / result.seconds, 1) if result.seconds else 0
    )
    if out.json_mode:
        out.emit(summary)
        return
    out.info(
        f"[green]built[/green] {output}: {len(result.manifest.items)} items, "
        f"{_mb(result.manifest.own_size)}, signed; manifest sha256 {result.manifest.digest[:16]}"
    )
    if result.local_items:
        out.info(f"{len(result.local_items)} items are local builds (source local:<dir>)")
    if result.manifest.base:
        out.info(
            f"incremental over {result.manifest.base['name']} ({result.manifest.base['created']}): "
            f"{_mb(result.manifest.total_size - result.manifest.own_size)} left to the base"
        )


def _mb(size: int) -> str:
    if size < 1_000_000:
        return f"{size / 1e3:.1f} kB"
    return f"{size / 1e6:.1f} MB"


def _key_for(key: Path | None, config_path: Path) -> Path:
    if key is not None:
        return key
    if config_path.is_file():
        cluster = config.load(config_path)
        value = cluster.section("offline").get("public_key")
        if value:
            path = Path(str(value)).expanduser()
            return path if path.is_absolute() else cluster.root / path
    raise K8sInstallError(
        "no public key to verify with",
        fix="pass --key PUB, or set offline.public_key in cluster.yaml",
        code=ExitCode.INVALID_INPUT,
    )


@bundle.command("verify")
@click.argument("bundle_path", type=click.Path(path_type=Path))
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ed25519 public key (default: offline.public_key in cluster.yaml).",
)
@click.option(
    "--base",
    type=click.Path(file_okay=False, path_type=Path),
    help="For an incremental bundle: the base bundle directory, to check its files too.",
)
@config_option
@json_option
def verify_cmd(bundle_path: Path, key: Path | None, base: Path | None, config_path: Path) -> None:
    """Check the signature, then every file: names each flipped, missing and extra file.

    A bundle holds plain files only: any link, device or path leaving the bundle fails it, by name.

    Exits 0 when all is well, 1 when verification fails, 2 on bad input.

    \b
    Examples:
      k8s-install bundle verify site.tar --key site.pub
      k8s-install bundle verify unpacked/ --json
    """
    out = _out()
    report = verifier.verify(bundle_path, _key_for(key, config_path), base)
    if out.json_mode:
        out.emit(report.as_dict())
    else:
        if report.signature != "ok" and not report.links:
            out.error(
                f"{bundle_path}: the manifest signature does not verify with this key",
                "use the public key matching the key that built the bundle",
            )
        for label, paths in (
            ("link or special file, refused", report.links),
            ("flipped", report.flipped),
            ("missing", report.missing),
            ("extra", report.extra),
        ):
            for path in paths:
                out.error(f"{label}: {path}")
        if report.from_base:
            out.warn(
                f"{len(report.from_base)} files are left to the base bundle; pass --base to check them"
            )
        if report.ok:
            out.info(
                f"[green]verified[/green] {bundle_path}: {report.files} files, "
                f"{_mb(report.bytes)} in {report.seconds:.2f}s ({report.mb_per_s:.0f} MB/s)"
            )
    raise click.exceptions.Exit(ExitCode.OK if report.ok else ExitCode.RUN_FAILED)


def _load_any(path: Path) -> mf.Manifest:
    if path.is_file():
        return mf.from_bytes(server.tar_manifest(path), str(path))
    return mf.load(path)


@bundle.command("info")
@click.argument("bundle_path", type=click.Path(exists=True, path_type=Path))
@json_option
def info_cmd(bundle_path: Path) -> None:
    """Show what a bundle holds: versions, item counts and sizes (does not verify).

    \b
    Examples:
      k8s-install bundle info site.tar
      k8s-install bundle info unpacked/ --json
    """
    out = _out()
    manifest = _load_any(bundle_path)
    kinds: dict[str, dict[str, int]] = {}
    for item in manifest.items:
        entry = kinds.setdefault(item.kind, {"count": 0, "bytes": 0})
        entry["count"] += 1
        entry["bytes"] += item.size
    if out.json_mode:
        out.emit(
            {
                "name": manifest.name,
                "created": manifest.created,
                "metadata": manifest.metadata,
                "base": manifest.base,
                "kinds": kinds,
                "bytes": manifest.own_size,
                "total_bytes": manifest.total_size,
                "manifest_sha256": manifest.digest,
                "items": [i.as_dict() for i in manifest.items],
            }
        )
        return
    meta = manifest.metadata
    out.info(
        f"{manifest.name} built {manifest.created} by k8s-install {meta.get('k8s_install_version')}: "
        f"Kubernetes {meta.get('kubernetes_version')}, engine {meta.get('engine_release')}, "
        f"{meta.get('arch')}, Python {meta.get('python_version')}"
    )
    if manifest.base:
        out.info(f"incremental over {manifest.base['name']} ({manifest.base['created']})")
    out.table(
        "contents",
        ["kind", "items", "size"],
        [[k, v["count"], _mb(v["bytes"])] for k, v in sorted(kinds.items())],
    )
    local = sorted({i.source.removeprefix(mf.LOCAL_SOURCE) for i in manifest.items if i.is_local})
    if local:
        out.info("local builds from: " + ", ".join(local))
    out.table(
        "items",
        ["kind", "name", "version", "size", "origin"],
        [
            [i.kind, i.name, i.version, _mb(i.size), _origin(i)]
            for i in sorted(manifest.items, key=lambda i: (i.kind, i.name))
        ],
    )


def _origin(item: mf.Item) -> str:
    """Where an item came from, for people: upstream, or the local build and what it replaced."""
    if not item.is_local:
        return "upstream"
    if not item.upstream_sha256:
        return "local"
    if item.sha256 == item.upstream_sha256:
        return "local, = upstream"
    return f"local, replaces {item.upstream_sha256[:12]}"


@bundle.command("diff")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
@json_option
def diff_cmd(old: Path, new: Path) -> None:
    """What NEW adds, removes and changes compared with OLD (an upgrade bundle's contents).

    \b
    Examples:
      k8s-install bundle diff v1.tar v2.tar
      k8s-install bundle diff old/ new/ --json
    """
    out = _out()
    result = differ.diff(_load_any(old), _load_any(new))
    if out.json_mode:
        out.emit(result.as_dict())
        return
    rows = [["+", a["kind"], a["name"], a["version"]] for a in result.added]
    rows += [["-", r["kind"], r["name"], r["version"]] for r in result.removed]
    rows += [
        [
            "~",
            c["kind"],
            c["name"],
            f"{c['old_version']} -> {c['new_version']}"
            + (f" ({c['new_source']})" if c["new_is_local"] else ""),
        ]
        for c in result.changed
    ]
    out.table(f"{old} -> {new}", ["", "kind", "name", "version"], rows)
    out.info(
        f"{len(result.added)} added, {len(result.removed)} removed, {len(result.changed)} changed, "
        f"{result.unchanged} unchanged; {_mb(result.added_bytes)} of new content"
    )


@bundle.command("serve")
@config_option
@click.option(
    "--bundle",
    "bundle_path",
    type=click.Path(exists=True, path_type=Path),
    help="The bundle (default: offline.bundle in cluster.yaml).",
)
@click.option(
    "--key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The ed25519 public key (default: offline.public_key in cluster.yaml).",
)
@json_option
def serve_cmd(config_path: Path, bundle_path: Path | None, key: Path | None) -> None:
    """Verify the bundle, serve it from offline.repo_host, and make every node trust it.

    Sets up nginx (files over HTTPS) and docker-registry behind TLS with a CA made for
    this cluster, loads the bundle's images into the registry, and trusts the CA on every
    node (system store and containerd).

    \b
    Examples:
      k8s-install bundle serve
      k8s-install bundle serve --bundle site.tar --key site.pub --json
    """
    out = _out()
    cluster = load_cluster(config_path)
    if not cluster.section("offline").get("repo_host"):
        raise K8sInstallError(
            "offline.repo_host is not set",
            fix="set offline.repo_host to a node name",
            code=ExitCode.INVALID_INPUT,
        )
    public = _key_for(key, config_path)
    unpacked = server.bundle_dir(cluster, bundle_path)
    report = verifier.verify(unpacked, public)  # what is served is what was verified
    if not report.ok and server.is_extracted(cluster, unpacked):
        unpacked = server.bundle_dir(cluster, bundle_path, fresh=True)  # a stale extraction
        report = verifier.verify(unpacked, public)
    if not report.ok:
        out.error(
            "the bundle does not verify; nothing was served",
            "run `k8s-install bundle verify` to see which files",
        )
        if out.json_mode:
            out.emit({"verify": report.as_dict(), "status": "failed"})
        raise click.exceptions.Exit(ExitCode.RUN_FAILED)
    paths = tls.ensure(cluster.root / tls.DIR, cluster.name, server.tls_names(cluster))
    result = progress.execute(server.run_request(cluster, unpacked, paths), out)
    if result.exit_code != ExitCode.OK:
        raise click.exceptions.Exit(int(result.exit_code))
    pushed = server.push_images(
        cluster, unpacked, paths, out.info if not out.json_mode else lambda _m: None
    )
    if out.json_mode:
        out.emit_line({"event": "served", "images": pushed, "run": result.as_dict()})
    else:
        out.info(
            f"[green]served[/green] {len(pushed)} images and the files from "
            f"{cluster.section('offline')['repo_host']}"
        )


COMMANDS: list[click.Command] = [bundle]
