"""What each host gets before its first boot: host key, authorized keys, /etc/hosts."""

from __future__ import annotations

import io
import tarfile
import time

from k8s_install.sandbox import image, keys
from k8s_install.sandbox.layout import Layout, NodeSpec, address


def _tar_member(
    tar: tarfile.TarFile, path: str, mode: int, uid: int, data: bytes | None = None
) -> None:
    member = tarfile.TarInfo(path)
    member.mode, member.uid, member.gid, member.mtime = mode, uid, uid, int(time.time())
    if data is None:
        member.type = tarfile.DIRTYPE
        tar.addfile(member)
    else:
        member.size = len(data)
        tar.addfile(member, io.BytesIO(data))


def host_files(lay: Layout, spec: NodeSpec, client: keys.KeyPair, hosts_file: str) -> bytes:
    """A tar stream of what each host gets before boot: host key, authorized keys, /etc/hosts."""
    host_key = keys.ensure_key(lay.host_key(spec.name), f"root@{spec.name}")
    authorized = (client.public_line + "\n").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _tar_member(tar, "etc/ssh/ssh_host_ed25519_key", 0o600, 0, host_key.private.read_bytes())
        _tar_member(
            tar,
            "etc/ssh/ssh_host_ed25519_key.pub",
            0o644,
            0,
            (host_key.public_line + "\n").encode(),
        )
        _tar_member(tar, "etc/hosts", 0o644, 0, hosts_file.encode())
        _tar_member(tar, "root/.ssh", 0o700, 0)
        _tar_member(tar, "root/.ssh/authorized_keys", 0o600, 0, authorized)
        home = f"home/{image.USER}/.ssh"
        _tar_member(tar, home, 0o700, image.USER_UID)
        _tar_member(tar, f"{home}/authorized_keys", 0o600, image.USER_UID, authorized)
    return buf.getvalue()


def hosts_file(lay: Layout, specs: list[NodeSpec], subnet: str) -> str:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{address(subnet, s.index)} {s.name}" for s in specs]
    return "\n".join(lines) + "\n"
