"""SSH keys for a sandbox: the client key, each host's host key, and the known_hosts file.

Host keys are made here, before the hosts boot, and copied in; so known_hosts is exact from the
first connection and SSH host key checking stays on.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


@dataclass(frozen=True)
class KeyPair:
    """An ed25519 key on disk: the private key (mode 0600) and its OpenSSH public line."""

    private: Path
    public_line: str


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def ensure_key(path: Path, comment: str) -> KeyPair:
    """Load the ed25519 key at path, or make one; path.pub holds the public line."""
    pub = path.with_name(path.name + ".pub")
    if path.is_file() and pub.is_file():
        path.chmod(0o600)
        return KeyPair(path, pub.read_text().strip())
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    line = f"{public.decode()} {comment}"
    _write_private(path, private)
    pub.write_text(line + "\n")
    return KeyPair(path, line)


def known_hosts_line(names: list[str], public_line: str) -> str:
    """One known_hosts line: `name,address ssh-ed25519 AAAA...` (the comment dropped)."""
    key_type, key_b64 = public_line.split()[:2]
    return f"{','.join(names)} {key_type} {key_b64}"


def write_known_hosts(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.write_text("".join(line + "\n" for line in lines))
    path.chmod(0o644)
