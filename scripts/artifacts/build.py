"""Build every component a Kubespray v2.31.0 cluster downloads, from Go modules, cached.

    .venv/bin/python scripts/artifacts/build.py [--set 1.35|1.34] [--cache DIR] [--only NAME ...]
        [--no-images] [--no-addons]
    .venv/bin/python scripts/artifacts/build.py --tool sealed-secrets

--set picks the release set (recipes.SETS, default 1.35): Kubernetes and the companions
Kubespray v2.31.0 picks for it. --only names components of that set (kubernetes, etcd, ...).
Each wrapper module under build/ is built with upstream's release flags (recipes.py) into
CACHE/bin/<name>-<version>-<key>/, keyed by every input, so a second run is a cache hit. The
binaries are then shaped as Kubespray downloads them (package.py) under CACHE/out/<key>/files/,
the images written as one OCI layout in CACHE/out/<key>/images/, and artifacts.json lists every
file and image with its sha256. The last line printed is the artifacts.json path.
The addon presets' images (addon_images.py, from recipes.ADDONS) go into the same layout;
--no-addons leaves them out (--no-images too). --only also takes the addons' names.
--tool builds one of the tools the tests run (recipes.TOOLS, e.g. kubeseal from sealed-secrets)
into the same binary cache and prints `NAME: DIRECTORY`.
CACHE defaults to K8S_INSTALL_ARTIFACTS or /var/cache/k8s-install/artifacts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import addon_images
import gobuild
import images as image_recipes
import package
import recipes

from k8s_install.bundle.verify import sha256_file

HERE = Path(__file__).resolve().parent
DEFAULT_CACHE = Path(os.environ.get("K8S_INSTALL_ARTIFACTS", "/var/cache/k8s-install/artifacts"))

# The Kubespray variable that carries each file's checksum, and the versions of the files
# (a cluster installing these builds pins them in its `kubespray:` section).
CHECKSUM_VARS = {
    "kubelet": "kubelet_binary_checksum",
    "kubeadm": "kubeadm_binary_checksum",
    "kubectl": "kubectl_binary_checksum",
    "etcd": "etcd_binary_checksum",
    "containerd": "containerd_archive_checksum",
    "runc": "runc_binary_checksum",
    "cni": "cni_binary_checksum",
    "crictl": "crictl_binary_checksum",
    "nerdctl": "nerdctl_archive_checksum",
    "helm": "helm_archive_checksum",
}
# Kubespray version variable -> the component whose version it takes.
VERSION_VARS = {
    "etcd_version": "etcd",
    "containerd_version": "containerd",
    "runc_version": "runc",
    "cni_version": "cni-plugins",
    "crictl_version": "cri-tools",
    "nerdctl_version": "nerdctl",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def versions(release: recipes.ReleaseSet) -> dict[str, str]:
    """The Kubespray version variables a cluster installing the set pins."""
    return {var: release.version(component) for var, component in VERSION_VARS.items()}


def image_versions(release: recipes.ReleaseSet) -> dict[str, str]:
    """The image tags of the set, as images.VERSIONS spells them."""
    return {
        "kubernetes": f"v{release.version('kubernetes')}",
        "pause": release.version("pause"),
        "coredns": f"v{release.version('coredns')}",
        "smoke": release.version("smoke"),
    }


def image_binaries(bins: dict[str, Path]) -> dict[str, Path]:
    """The binary of each image, from the recipes' output directories."""
    result = {name: bins["kubernetes"] / name for name in image_recipes.CONTROL_PLANE}
    result["kube-proxy"] = bins["kubernetes"] / "kube-proxy"
    result["pause"] = bins["pause"] / "pause"
    result["coredns"] = bins["coredns"] / "coredns"
    result["smoke"] = bins["smoke"] / "smoke"
    return result


# The code that shapes the files and writes the images: a change to any of it is a new assembly.
ASSEMBLY_CODE = (
    HERE / "build.py",
    HERE / "package.py",
    HERE / "images.py",
    HERE / "addon_images.py",
    HERE / "recipes.py",
    HERE.parents[1] / "wrapper" / "k8s_install" / "bundle" / "layers.py",
    HERE.parents[1] / "wrapper" / "k8s_install" / "bundle" / "oci.py",
)


def code_hashes() -> dict[str, str]:
    return {path.name: sha256_file(path)[0] for path in ASSEMBLY_CODE}


def assemble(
    bins: dict[str, Path],
    cache: Path,
    with_images: bool,
    release: recipes.ReleaseSet,
    addon_bins: dict[str, Path] | None = None,
) -> Path:
    """CACHE/out/<key>/ with files/, images/ and artifacts.json; reused when complete.

    addon_bins (recipes.ADDONS name -> build directory) adds the addon images to the layout.
    """
    inputs: dict[str, object] = {k: v.name for k, v in sorted(bins.items())}
    inputs["images"] = with_images
    inputs["code"] = code_hashes()
    netbase_key = ""
    if with_images:
        snapshot = image_recipes.debian_snapshot(image_recipes.debian_mirror())
        netbase_key = image_recipes.netbase_key(snapshot)
        inputs["netbase"] = netbase_key
    busybox = None
    if with_images and addon_bins:
        busybox = addon_images.candidate()
        inputs["addons"] = {k: v.name for k, v in sorted(addon_bins.items())}
        inputs["addon_images"] = [addon_images.RECIPE, addon_images.busybox_key(busybox)]
    combined = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()[:16]
    out = cache / "out" / combined
    manifest = out / "artifacts.json"
    if manifest.is_file():
        log(f"artifacts: cached ({out})")
        return manifest
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    placed = package.files(bins, tmp, release)
    entries = []
    for name, rel in sorted(placed.items()):
        path = tmp / "files" / rel
        entries.append(
            {
                "name": name,
                "path": rel,
                "sha256": sha256_file(path)[0],
                "size": path.stat().st_size,
                "checksum_var": CHECKSUM_VARS.get(name, ""),
            }
        )
    images: list[str] = []
    if with_images:
        images = image_recipes.build_images(
            tmp / "images",
            image_binaries(bins),
            cache,
            image_versions(release),
            netbase_root=image_recipes.netbase(cache, log, netbase_key),
            log=log,
        )
    if addon_bins and busybox is not None:
        tree = addon_images.busybox_tree(cache, busybox, log)
        images += addon_images.build_images(
            tmp / "images", addon_bins, cache, busybox_root=tree, log=log
        )
    built = {**bins, **(addon_bins or {})}
    builds = {k: json.loads((v / "build.json").read_text()) for k, v in sorted(built.items())}
    data = {
        "kubernetes_version": release.version("kubernetes"),
        "versions": versions(release),
        "files": entries,
        "images": images,
        "builds": builds,
    }
    (tmp / "artifacts.json").write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return manifest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set", choices=sorted(recipes.SETS), default=recipes.DEFAULT_SET, help="release set"
    )
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--only", nargs="*", default=None, help="build only these components")
    parser.add_argument("--no-images", action="store_true", help="files only, no OCI layout")
    parser.add_argument(
        "--no-addons", action="store_true", help="without the addon images (recipes.ADDONS)"
    )
    parser.add_argument(
        "--tool", choices=[r.name for r in recipes.TOOLS], help="build one test tool only"
    )
    args = parser.parse_args()
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    if args.tool:
        tool = next(r for r in recipes.TOOLS if r.name == args.tool)
        print(f"{tool.name}: {gobuild.build(tool, cache, log)}")
        return 0
    release = recipes.SETS[args.set]
    chosen = {
        name: recipe
        for name, recipe in release.components.items()
        if args.only is None or name in args.only
    }
    addons = {} if args.no_addons or args.no_images else {r.name: r for r in recipes.ADDONS}
    chosen_addons = {
        name: recipe for name, recipe in addons.items() if args.only is None or name in args.only
    }
    unknown = set(args.only or ()) - set(chosen) - set(chosen_addons)
    if unknown:
        parser.error("no component " + ", ".join(sorted(unknown)))
    bins = {name: gobuild.build(recipe, cache, log) for name, recipe in chosen.items()}
    addon_bins = {name: gobuild.build(recipe, cache, log) for name, recipe in chosen_addons.items()}
    log(f"binaries ready in {time.monotonic() - started:.0f}s")
    if args.only is not None:
        for name, path in {**bins, **addon_bins}.items():
            print(f"{name}: {path}")
        return 0
    manifest = assemble(bins, cache, not args.no_images, release, addon_bins)
    log(f"done in {time.monotonic() - started:.0f}s")
    print(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
