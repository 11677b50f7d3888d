"""ed25519 keys and detached signatures over the canonical manifest bytes."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from k8s_install.base.errors import ExitCode, K8sInstallError


def keygen(private_path: Path, public_path: Path, *, force: bool = False) -> None:
    """Write a new key pair: the private key mode 0600, PEM (PKCS8), the public key PEM."""
    for path in (private_path, public_path):
        if path.exists() and not force:
            raise K8sInstallError(
                f"{path} exists",
                fix="choose another path, or pass --force to replace the key pair",
                code=ExitCode.INVALID_INPUT,
            )
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    private_path.parent.mkdir(parents=True, exist_ok=True)
    public_path.parent.mkdir(parents=True, exist_ok=True)
    private_path.unlink(missing_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)


def _bad_key(path: Path, what: str) -> K8sInstallError:
    return K8sInstallError(
        f"{path}: not an ed25519 {what} key",
        fix="use a key made by `k8s-install bundle keygen`",
        code=ExitCode.INVALID_INPUT,
    )


def load_private(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise _bad_key(path, "private") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise _bad_key(path, "private")
    return key


def load_public(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise _bad_key(path, "public") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise _bad_key(path, "public")
    return key


def sign(data: bytes, private_path: Path) -> bytes:
    return load_private(private_path).sign(data)


def is_valid(data: bytes, signature: bytes, public_path: Path) -> bool:
    try:
        load_public(public_path).verify(signature, data)
    except InvalidSignature:
        return False
    return True
