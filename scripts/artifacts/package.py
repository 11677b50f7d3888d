"""Shape built binaries as Kubespray v2.31.0 downloads them: paths, file names, archive layouts.

Files go under files/<host>/<path>, the tree offline.files_repo serves, so Kubespray's
`{{ dl_k8s_io_url }}/release/...` and `{{ github_url }}/...` URLs resolve to them. Archives are
deterministic (sorted, mtime 0, root-owned), so the same binaries give the same sha256.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import recipes as r

GH = "github.com"


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


def files(bins: dict[str, Path], out: Path) -> dict[str, str]:
    """Write every file under out/files/; returns {download name: path under files/}."""
    base = out / "files"
    placed: dict[str, str] = {}

    def put(name: str, rel: str) -> Path:
        placed[name] = rel
        return base / rel

    kube = bins["kubernetes"]
    for cmd in ("kubelet", "kubeadm", "kubectl"):
        _copy(put(cmd, f"dl.k8s.io/release/v{r.KUBERNETES}/bin/linux/amd64/{cmd}"), kube / cmd)

    etcd_dir = f"etcd-v{r.ETCD}-linux-amd64"
    _tar_gz(
        put("etcd", f"{GH}/etcd-io/etcd/releases/download/v{r.ETCD}/{etcd_dir}.tar.gz"),
        [(etcd_dir, None)]
        + [(f"{etcd_dir}/{b}", bins["etcd"] / b) for b in ("etcd", "etcdctl", "etcdutl")],
    )
    _tar_gz(
        put(
            "containerd",
            f"{GH}/containerd/containerd/releases/download/v{r.CONTAINERD}/"
            f"containerd-{r.CONTAINERD}-linux-amd64.tar.gz",
        ),
        [("bin", None)]
        + [
            (f"bin/{b}", bins["containerd"] / b)
            for b in ("containerd", "containerd-shim-runc-v2", "ctr")
        ],
    )
    _copy(
        put("runc", f"{GH}/opencontainers/runc/releases/download/v{r.RUNC}/runc.amd64"),
        bins["runc"] / "runc",
    )
    plugins = sorted(p.rsplit("/", 1)[1] for p in r.CNI_PLUGINS)
    _tar_gz(
        put(
            "cni",
            f"{GH}/containernetworking/plugins/releases/download/v{r.CNI}/"
            f"cni-plugins-linux-amd64-v{r.CNI}.tgz",
        ),
        [(f"./{p}", bins["cni-plugins"] / p) for p in plugins],
    )
    _tar_gz(
        put(
            "crictl",
            f"{GH}/kubernetes-sigs/cri-tools/releases/download/v{r.CRICTL}/"
            f"crictl-v{r.CRICTL}-linux-amd64.tar.gz",
        ),
        [("crictl", bins["cri-tools"] / "crictl")],
    )
    _tar_gz(
        put(
            "nerdctl",
            f"{GH}/containerd/nerdctl/releases/download/v{r.NERDCTL}/"
            f"nerdctl-{r.NERDCTL}-linux-amd64.tar.gz",
        ),
        [("nerdctl", bins["nerdctl"] / "nerdctl")],
    )
    _tar_gz(
        put("helm", f"get.helm.sh/helm-v{r.HELM}-linux-amd64.tar.gz"),
        [("linux-amd64", None), ("linux-amd64/helm", bins["helm"] / "helm")],
    )
    return placed
