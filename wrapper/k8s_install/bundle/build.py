"""Build a bundle from a plan: download and verify everything, write the manifest, SBOM, signature.

Layout of a bundle (a directory, or the same tree in one .tar):
  manifest.json, manifest.json.sig   the signed manifest (first members of a .tar)
  sbom.spdx.json                     SPDX 2.3
  engine/kubespray-<version>.tar.gz  the pinned engine release
  files/<host>/<url path>            binaries, as the file server serves them
  images/                            one OCI image layout holding every image
  charts/<name>-<version>.tgz        Helm charts
  wheels/*.whl                       k8s-install and its dependencies
  packages/*.deb                     optional OS packages

Bring your own builds: --local-files directories (laid out as the file server is,
<host>/<url path>) and --local-images OCI layouts are sources too. A planned file found in one
is copied instead of downloaded, and its item records the sha256 of the bytes in the bundle,
`source: local:<dir>`, and the URL and sha256 the plan named (upstream_url, upstream_sha256).
Every image of a local layout is copied, planned or not; the other planned images are pulled.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from k8s_install import __version__
from k8s_install.addons import chart_files
from k8s_install.ansible import offline_repo
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import manifest as mf
from k8s_install.bundle import oci, sbom, sign
from k8s_install.bundle.charts import ChartSpec
from k8s_install.bundle.download_list import FileSpec, Plan
from k8s_install.bundle.sources import Download, Fetcher, place
from k8s_install.bundle.verify import hash_files, list_files, sha256_file

LogFn = Callable[[str], None]


@dataclass
class Options:
    output: Path
    key: Path
    cache_dir: Path
    mirrors: Mapping[str, str]
    registry_mirrors: Mapping[str, str]
    base: Path | None = None
    wheels: bool = True
    workers: int = 4
    project_dir: Path | None = None  # the k8s-install source tree, for its own wheel
    local_files: tuple[Path, ...] = ()  # trees of <host>/<url path>, as the file server's
    local_images: tuple[Path, ...] = ()  # OCI image layouts


@dataclass
class Result:
    manifest: mf.Manifest
    output: Path
    seconds: float
    downloaded_bytes: int
    cached_bytes: int

    @property
    def local_items(self) -> list[mf.Item]:
        return [i for i in self.manifest.items if i.is_local]

    def as_dict(self) -> dict[str, Any]:
        return {
            "output": str(self.output),
            "name": self.manifest.name,
            "items": len(self.manifest.items),
            "files": len(self.manifest.files),
            "bytes": self.manifest.own_size,
            "total_bytes": self.manifest.total_size,
            "downloaded_bytes": self.downloaded_bytes,
            "cached_bytes": self.cached_bytes,
            "seconds": round(self.seconds, 3),
            "manifest_sha256": self.manifest.digest,
            "base": self.manifest.base,
            "local": sorted(i.key for i in self.local_items),
        }


def _now() -> str:
    """The build time: SOURCE_DATE_EPOCH when set, so two builds of one plan are identical."""
    raw = os.environ.get("SOURCE_DATE_EPOCH")
    if raw is None:
        when = datetime.datetime.now(datetime.UTC)
    elif re.fullmatch(r"[0-9]{1,11}", raw) and int(raw) <= 253402300799:
        when = datetime.datetime.fromtimestamp(int(raw), datetime.UTC)
    else:
        raise K8sInstallError(
            f"SOURCE_DATE_EPOCH={raw[:40]!r} is not a Unix time",
            fix="set it to whole seconds since 1970, e.g. $(git log -1 --format=%ct), or unset it",
            code=ExitCode.INVALID_INPUT,
        )
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _file_item(kind: str, spec: FileSpec | ChartSpec, path: str, size: int) -> mf.Item:
    return mf.Item(kind, spec.name, spec.version, spec.url, spec.sha256, size, (path,))


def _check_output(opts: Options) -> Path:
    out = opts.output
    if out.exists() and (out.is_file() or any(out.iterdir())):
        raise K8sInstallError(
            f"{out} exists",
            fix="choose a new output path, or remove the old bundle",
            code=ExitCode.INVALID_INPUT,
        )
    sign.load_private(opts.key)  # a bad key fails before any download
    _now()  # so does a bad SOURCE_DATE_EPOCH
    for directory in opts.local_files:
        if not directory.is_dir():
            raise K8sInstallError(
                f"--local-files {directory}: not a directory",
                fix="give a directory laid out as <host>/<url path>, e.g. dl.k8s.io/release/...",
                code=ExitCode.INVALID_INPUT,
            )
    _local_images(opts.local_images)  # so does a bad local layout
    return out.with_name(out.name + ".partial") if out.suffix == ".tar" else out


def build(
    plan: Plan, opts: Options, log: LogFn = lambda _m: None, fetcher: Fetcher | None = None
) -> Result:
    started = time.perf_counter()
    stage = _check_output(opts)
    base = mf.load(opts.base) if opts.base else None
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    fetcher = fetcher or Fetcher(opts.cache_dir, opts.mirrors, opts.workers)
    try:
        manifest = _fill(plan, opts, stage, base, fetcher, log)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)  # partial downloads stay in the cache to resume
        raise
    if stage != opts.output:
        _write_tar(stage, opts.output)
        shutil.rmtree(stage)
    return Result(
        manifest,
        opts.output,
        time.perf_counter() - started,
        fetcher.downloaded_bytes,
        fetcher.cached_bytes,
    )


def _fill(
    plan: Plan,
    opts: Options,
    stage: Path,
    base: mf.Manifest | None,
    fetcher: Fetcher,
    log: LogFn,
) -> mf.Manifest:
    items: list[mf.Item] = []

    downloads: list[tuple[str, FileSpec | ChartSpec, str]] = []
    if plan.engine:
        downloads.append(
            ("engine", plan.engine, f"{mf.ENGINE_DIR}/kubespray-{plan.engine.version}.tar.gz")
        )
    downloads += [("file", f, f.path) for f in plan.files]
    downloads += [("chart", c, c.path) for c in plan.charts]
    _check_unique([path for _k, _s, path in downloads])
    local = {f.path: found for f in plan.files if (found := _local_file(f, opts.local_files))}
    for planned in plan.files:
        if planned.path in local:
            items.append(_copy_local(planned, local[planned.path], stage))
    if local:
        log(f"took {len(local)} files from --local-files")
    for planned in plan.files:
        if planned.path in local and planned.name not in offline_repo.CHECKSUM_VARS:
            log(
                f"warning: {planned.name} has no engine checksum variable: the engine checks it "
                "against its own table, so only a file identical to upstream's installs"
            )
    downloads = [d for d in downloads if d[0] != "file" or d[2] not in local]
    log(f"fetching {len(downloads)} files")
    fetcher.fetch_all(Download(spec.url, spec.sha256, stage / path) for _k, spec, path in downloads)
    for kind, spec, path in downloads:
        if kind == "chart":
            chart_files.check_archive(stage / path)  # a digest vouches for bytes, not safety
        items.append(_file_item(kind, spec, path, (stage / path).stat().st_size))

    if plan.images or opts.local_images:
        items += _images(plan, stage / mf.IMAGES_DIR, fetcher, opts, log)
    if plan.wheels and opts.wheels:
        log("downloading wheels for k8s-install and its dependencies")
        items += _wheels(plan.wheels, stage / mf.WHEELS_DIR, opts)
    if plan.packages:
        log(f"downloading {len(plan.packages)} OS packages")
        items += _packages(plan.packages, stage / mf.PACKAGES_DIR)

    created = _now()
    (stage / mf.SBOM).write_text(
        json.dumps(sbom.document(plan.name, created, items), indent=2) + "\n"
    )
    log("hashing the bundle")
    hashed = hash_files(stage, [p for p in list_files(stage) if p not in mf.META_FILES])
    files = {path: mf.FileEntry(sha, size) for path, (sha, size) in hashed.items()}
    manifest = mf.Manifest(
        name=plan.name,
        created=created,
        metadata={
            "k8s_install_version": __version__,
            "engine_release": plan.engine_release,
            "kubernetes_version": plan.kubernetes_version,
            "arch": plan.arch,
            "python_version": plan.wheels.get("python_version", ""),
            "platform": plan.wheels.get("platform", ""),
        },
        items=items,
        files=files,
    )
    if base is not None:
        _leave_to_base(manifest, base, stage)
    raw = manifest.to_bytes()
    (stage / mf.MANIFEST).write_bytes(raw)
    (stage / mf.SIGNATURE).write_bytes(sign.sign(raw, opts.key))
    return manifest


def _check_unique(paths: list[str]) -> None:
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            raise K8sInstallError(
                f"two plan items land on {path}",
                code=ExitCode.INVALID_INPUT,
                fix="remove the duplicate from the plan",
            )
        seen.add(path)


def _local_file(spec: FileSpec, directories: tuple[Path, ...]) -> tuple[Path, Path] | None:
    """(directory, file) of the --local-files directory holding the plan item, if one does."""
    relative = Path(spec.path).relative_to(mf.FILES_DIR)
    if ".." in relative.parts:
        return None  # an odd URL never reaches outside the directory
    found = [d for d in directories if (d / relative).is_file()]
    if len(found) > 1:
        raise K8sInstallError(
            f"{spec.name}: {relative} is in more than one --local-files directory: "
            + ", ".join(str(d) for d in found),
            fix="keep one copy of each file, or pass only one of those directories",
            code=ExitCode.INVALID_INPUT,
        )
    return (found[0], found[0] / relative) if found else None


def _copy_local(spec: FileSpec, found: tuple[Path, Path], stage: Path) -> mf.Item:
    directory, path = found
    place(path, stage / spec.path)
    sha, size = sha256_file(stage / spec.path)  # the bytes in the bundle, not the source's
    return mf.Item(
        "file",
        spec.name,
        spec.version,
        f"{mf.LOCAL_SOURCE}{directory.resolve()}",
        sha,
        size,
        (spec.path,),
        upstream_url=spec.url,
        upstream_sha256=spec.sha256,
    )


def _image_item(layout: Path, entry: dict[str, Any], ref: str, source: str) -> mf.Item:
    blobs = oci.image_blobs(layout, entry)
    reference = oci.parse_ref(ref)
    return mf.Item(
        "image",
        f"{reference.registry}/{reference.repository}",
        f"{reference.tag}@{reference.digest}" if reference.digest else reference.tag,
        source,
        entry["digest"].partition(":")[2],
        sum(int(b["size"]) for b in blobs),
        tuple(f"{mf.IMAGES_DIR}/blobs/sha256/{b['digest'].partition(':')[2]}" for b in blobs),
    )


def _local_images(layouts: tuple[Path, ...]) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every image of the --local-images layouts: name -> (layout, entry); one digest a name."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for layout in layouts:
        for name, entry in oci.named_images(layout).items():
            if name in found and found[name][1]["digest"] != entry["digest"]:
                raise K8sInstallError(
                    f"{name} is in {found[name][0]} and {layout} with different digests",
                    fix="keep the image in one of the --local-images layouts",
                    code=ExitCode.INVALID_INPUT,
                )
            found.setdefault(name, (layout, entry))
    return found


def _pinned_locally(
    refs: Iterable[str], local: dict[str, tuple[Path, dict[str, Any]]]
) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Planned references pinned by digest that a --local-images image satisfies: same name and
    tag, and the digest the reference pins. Another digest is refused: the manifests ask for
    content the local build does not have."""
    found: dict[str, tuple[Path, dict[str, Any]]] = {}
    for ref in refs:
        reference = oci.parse_ref(ref)
        if not reference.digest or reference.unpinned not in local:
            continue
        source, entry = local[reference.unpinned]
        if entry["digest"] != reference.digest:
            raise K8sInstallError(
                f"{ref}: the local image {reference.unpinned} in {source} has digest "
                f"{entry['digest']}",
                fix="pin the digest of the local build in the addon's values, or pin by tag",
                code=ExitCode.INVALID_INPUT,
            )
        found[reference.name] = (source, entry)
    return found


def _at_site(
    refs: Iterable[str], site: str, local: dict[str, tuple[Path, dict[str, Any]]]
) -> set[str]:
    """Planned references under the bundle's own registry (`site`, the addons' `registry`
    global): nothing can be pulled from it before `bundle serve` fills it, and it serves every
    image by its path. Each must be one --local-images image of the same path and tag (and
    digest, when pinned); returns those references."""
    by_path: dict[str, list[str]] = {}
    for name in local:
        reference = oci.parse_ref(name)
        by_path.setdefault(f"{reference.repository}:{reference.tag}", []).append(name)
    found = set()
    for ref in refs:
        reference = oci.parse_ref(ref)
        if not site or reference.registry != site:
            continue
        path = f"{reference.repository}:{reference.tag or 'latest'}"
        names = sorted(by_path.get(path, []))
        if len(names) != 1:
            raise K8sInstallError(
                f"{ref} names the bundle's own registry {site}, and "
                + (
                    f"{len(names)} --local-images images have its path {path}: {', '.join(names)}"
                    if names
                    else f"no --local-images image has its path {path}"
                ),
                fix="give --local-images a layout with exactly one image of that path and tag "
                "(the registry serves it by path), or name the image upstream in the addon's values",
                code=ExitCode.INVALID_INPUT,
            )
        digest = local[names[0]][1]["digest"]
        if reference.digest and reference.digest != digest:
            raise K8sInstallError(
                f"{ref}: the local image {names[0]} has digest {digest}",
                fix="pin the digest of the local build in the addon's values, or pin by tag",
                code=ExitCode.INVALID_INPUT,
            )
        found.add(ref)
    return found


def _images(plan: Plan, layout: Path, fetcher: Fetcher, opts: Options, log: LogFn) -> list[mf.Item]:
    oci.init_layout(layout)
    local = _local_images(opts.local_images)
    at_site = _at_site(plan.images, plan.site_registry, local)
    pinned = _pinned_locally([ref for ref in plan.images if ref not in at_site], local)
    # A local image the manifests pin by digest is carried under its pinned name only (its tag
    # is served as well), so the bundle holds one item for it.
    unpinned = {oci.parse_ref(name).unpinned for name in pinned}
    carry = {name: found for name, found in local.items() if name not in unpinned} | pinned
    items = []
    for name, (source, entry) in sorted(carry.items()):
        copied = oci.copy_image(source, entry, name, layout, arch=plan.arch)
        items.append(_image_item(layout, copied, name, f"{mf.LOCAL_SOURCE}{source.resolve()}"))
    carried = local.keys() | pinned.keys()
    wanted = sorted(
        {ref for ref in plan.images if oci.parse_ref(ref).name not in carried} - at_site
    )
    if local:
        planned = sum(1 for ref in set(plan.images) if oci.parse_ref(ref).name in carried)
        log(f"copied {len(local)} images from --local-images ({planned} of them planned)")
    if not wanted:
        return items
    log(f"pulling {len(wanted)} images into one OCI layout")

    def one(ref: str) -> mf.Item:
        entry = oci.pull(
            ref, layout, fetcher, arch=plan.arch, registry_mirrors=opts.registry_mirrors
        )
        return _image_item(layout, entry, ref, ref)

    with ThreadPoolExecutor(max_workers=opts.workers) as pool:
        return items + list(pool.map(one, wanted))


WHEEL_NAME = re.compile(r"^(?P<name>[^-]+)-(?P<version>[^-]+)-.*\.whl$")


def _project_dir(opts: Options) -> Path | None:
    if opts.project_dir:
        return opts.project_dir
    candidate = Path(__file__).resolve().parents[3]
    return candidate if (candidate / "pyproject.toml").is_file() else None


# What the wheel is built from. A copy, so the build leaves no build/ or egg-info in the
# source tree, and stale files from an earlier build/lib never reach the wheel.
WHEEL_SOURCES = ("pyproject.toml", "README.md", "wrapper", "playbooks", "roles", "inventory")


def _wheel_source(project: Path, dest: Path) -> Path:
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".mypy_cache")
    dest.mkdir(parents=True)
    for name in WHEEL_SOURCES:
        path = project / name
        if path.is_dir():
            shutil.copytree(path, dest / name, ignore=junk, symlinks=True)
        elif path.is_file():
            shutil.copy2(path, dest / name)
    return dest


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
        raise K8sInstallError(
            f"{what} failed:\n{tail}",
            fix="check the package index is reachable, or build with --no-wheels",
        )


def _wheels(spec: Mapping[str, Any], target: Path, opts: Options) -> list[mf.Item]:
    target.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    project = _project_dir(opts)
    if spec.get("include_self", True):
        if project is None:
            raise K8sInstallError(
                "no k8s-install source tree for its own wheel",
                fix="pass --project-dir, or build with --no-wheels",
            )
        with tempfile.TemporaryDirectory(prefix="k8s-install-wheel-") as scratch:
            tree = _wheel_source(project, Path(scratch) / "src")
            _run(
                [*pip, "wheel", "--no-deps", "-q", "-w", str(target), str(tree)],
                "building the k8s-install wheel",
            )
    requirements = (
        [str(r) for r in spec["requirements"]] if "requirements" in spec else _own_requirements()
    )
    if requirements:
        cmd = [*pip, "download", "-q", "--only-binary=:all:", "-d", str(target)]
        if spec.get("python_version"):
            cmd += ["--python-version", str(spec["python_version"]), "--implementation", "cp"]
        if spec.get("platform"):
            cmd += ["--platform", str(spec["platform"]), "--platform", "any"]
        if spec.get("index_url"):
            cmd += ["--index-url", str(spec["index_url"])]
        if spec.get("find_links"):
            cmd += ["--no-index", "--find-links", str(spec["find_links"])]
        _run([*cmd, *requirements], "pip download")
    items = []
    for wheel in sorted(target.glob("*.whl")):
        match = WHEEL_NAME.match(wheel.name)
        name, version = (match["name"], match["version"]) if match else (wheel.stem, "")
        sha, size = sha256_file(wheel)
        source = str(spec.get("index_url") or "https://pypi.org/simple")
        items.append(
            mf.Item("wheel", name, version, source, sha, size, (f"{mf.WHEELS_DIR}/{wheel.name}",))
        )
    return items


def _own_requirements() -> list[str]:
    try:
        requires = importlib.metadata.requires("k8s-install") or []
    except importlib.metadata.PackageNotFoundError:
        return []
    return [r for r in requires if "extra ==" not in r]


def _packages(names: list[str], target: Path) -> list[mf.Item]:
    target.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["apt-get", "download", *names], cwd=target, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise K8sInstallError(
            f"apt-get download failed: {proc.stderr.strip()[-500:]}",
            fix="check the package names and the apt sources",
        )
    items = []
    for deb in sorted(target.glob("*.deb")):
        name, _, rest = deb.name.partition("_")
        version = rest.partition("_")[0]
        sha, size = sha256_file(deb)
        items.append(
            mf.Item("package", name, version, "apt", sha, size, (f"{mf.PACKAGES_DIR}/{deb.name}",))
        )
    return items


def _leave_to_base(manifest: mf.Manifest, base: mf.Manifest, stage: Path) -> None:
    """An incremental bundle: files the base already has (same path, same sha256) are dropped."""
    for path, entry in list(manifest.files.items()):
        old = base.files.get(path)
        if old is not None and old.sha256 == entry.sha256 and path != mf.SBOM:
            (stage / path).unlink()
            manifest.files[path] = mf.FileEntry(entry.sha256, entry.size, in_base=True)
    for dirpath, dirs, names in os.walk(stage, topdown=False):
        if not dirs and not names and Path(dirpath) != stage:
            Path(dirpath).rmdir()
    manifest.base = {"name": base.name, "created": base.created, "manifest_sha256": base.digest}


def _write_tar(stage: Path, output: Path) -> None:
    """Uncompressed (blobs are already compressed); manifest and signature first, for streaming."""
    partial = output.with_name(output.name + ".tmp")
    with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in (mf.MANIFEST, mf.SIGNATURE):
            tar.add(stage / name, arcname=name)
        for relative in sorted(list_files(stage)):
            if relative not in mf.META_FILES:
                tar.add(stage / relative, arcname=relative)
    partial.replace(output)


def unpack(archive: Path, target: Path) -> Path:
    """Extract a .tar bundle (safe paths only) and return the directory."""
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target
