"""Shape built binaries as Kubespray v2.31.0 downloads them: paths, file names, archive layouts.

Files go under files/<host>/<path>, the tree offline.files_repo serves, so Kubespray's
`{{ dl_k8s_io_url }}/release/...` and `{{ github_url }}/...` URLs resolve to them. Archives are
deterministic (sorted, mtime 0, root-owned), so the same binaries give the same sha256.
Paths and archive names carry the versions of the release set being packaged.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

from recipes import CNI_PLUGINS, ReleaseSet

GH = "github.com"
KUBE_FILES = ("kubelet", "kubeadm", "kubectl")


def _tar_gz(dest: Path, members: list[tuple[str, Path | None]]) -> None:
    """members: (name in archive, source file or None for a directory)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, source in members:
            info = tarfile.TarInfo(name)
            info.mtime = 0
            info.uname = info.gname = "root"
            if source is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
                continue
            data = source.read_bytes()
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(gzip.compress(raw.getvalue(), mtime=0))


def _copy(dest: Path, source: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(source.read_bytes())
    dest.chmod(0o755)


def paths(release: ReleaseSet) -> dict[str, str]:
    """Download name -> path under files/: where Kubespray's URLs for the set's versions point."""
    v = release.version
    kube, etcd, containerd = v("kubernetes"), v("etcd"), v("containerd")
    cni, crictl, nerdctl = v("cni-plugins"), v("cri-tools"), v("nerdctl")
    result = {cmd: f"dl.k8s.io/release/v{kube}/bin/linux/amd64/{cmd}" for cmd in KUBE_FILES}
    result.update(
        etcd=f"{GH}/etcd-io/etcd/releases/download/v{etcd}/etcd-v{etcd}-linux-amd64.tar.gz",
        containerd=f"{GH}/containerd/containerd/releases/download/v{containerd}/"
        f"containerd-{containerd}-linux-amd64.tar.gz",
        runc=f"{GH}/opencontainers/runc/releases/download/v{v('runc')}/runc.amd64",
        cni=f"{GH}/containernetworking/plugins/releases/download/v{cni}/"
        f"cni-plugins-linux-amd64-v{cni}.tgz",
        crictl=f"{GH}/kubernetes-sigs/cri-tools/releases/download/v{crictl}/"
        f"crictl-v{crictl}-linux-amd64.tar.gz",
        nerdctl=f"{GH}/containerd/nerdctl/releases/download/v{nerdctl}/"
        f"nerdctl-{nerdctl}-linux-amd64.tar.gz",
        helm=f"get.helm.sh/helm-v{v('helm')}-linux-amd64.tar.gz",
    )
    return result


def files(bins: dict[str, Path], out: Path, release: ReleaseSet) -> dict[str, str]:
    """Write every file under out/files/; returns {download name: path under files/}.

    `bins` maps each component of the release set to its recipe's output directory.
    """
    placed = paths(release)

    def put(name: str) -> Path:
        return out / "files" / placed[name]

    for cmd in KUBE_FILES:
        _copy(put(cmd), bins["kubernetes"] / cmd)
    etcd_dir = f"etcd-v{release.version('etcd')}-linux-amd64"
    _tar_gz(
        put("etcd"),
        [(etcd_dir, None)]
        + [(f"{etcd_dir}/{b}", bins["etcd"] / b) for b in ("etcd", "etcdctl", "etcdutl")],
    )
    _tar_gz(
        put("containerd"),
        [("bin", None)]
        + [
            (f"bin/{b}", bins["containerd"] / b)
            for b in ("containerd", "containerd-shim-runc-v2", "ctr")
        ],
    )
    _copy(put("runc"), bins["runc"] / "runc")
    plugins = sorted(p.rsplit("/", 1)[1] for p in CNI_PLUGINS)
    _tar_gz(put("cni"), [(f"./{p}", bins["cni-plugins"] / p) for p in plugins])
    _tar_gz(put("crictl"), [("crictl", bins["cri-tools"] / "crictl")])
    _tar_gz(put("nerdctl"), [("nerdctl", bins["nerdctl"] / "nerdctl")])
    _tar_gz(put("helm"), [("linux-amd64", None), ("linux-amd64/helm", bins["helm"] / "helm")])
    return placed
