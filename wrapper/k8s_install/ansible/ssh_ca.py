"""The cluster repo's SSH certificate authority, in ssh-ca/, and the certificate of each run.

Files in ssh-ca/ (all committed; the private keys only as ansible-vault ciphertext):

- `ca.pub`, `ca.key.vault`: the CA that signs the runs' certificates;
- `next.pub`, `next.key.vault`: a new CA during `access ca rotate`, until the nodes trust it;
- `retiring.pub`: the previous CA, still trusted during a rotation's overlap;
- `revoked.txt`: the revoked key ids, one a line; `revoked.krl`: the KRL built from it for
  every CA above, which sshd reads as `RevokedKeys`.

Every run against a repo with a CA gets an ephemeral ed25519 key pair and a certificate in a
0700 directory under /dev/shm (memory, never disk), removed when the run ends, whatever ends it.
The CA's private key is decrypted there only for the `ssh-keygen -s` call, then removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ansible.constants import DEFAULT_VAULT_ID_MATCH  # type: ignore[import-untyped]
from ansible.errors import AnsibleError  # type: ignore[import-untyped]
from ansible.parsing.vault import VaultLib, VaultSecret  # type: ignore[import-untyped]

from k8s_install.base.errors import InvalidInput, K8sInstallError, Problem
from k8s_install.model.config import Cluster

DIRNAME = "ssh-ca"
CURRENT = "ca"
NEXT = "next"
RETIRING = "retiring"
REVOKED_LIST = "revoked.txt"
KRL = "revoked.krl"
# The environment variable holding the vault password file (ansible/security.py reads the same).
VAULT_PASSWORD_ENV = "K8S_INSTALL_VAULT_PASSWORD_FILE"
# The environment variable that hands a run's ephemeral key path to the inventory.
KEY_ENV = "K8S_INSTALL_SSH_CERT_KEY"
KEY_ID_PREFIX = "k8s-install"
# Certificates start this early, for clocks a little behind the control machine's.
CLOCK_SKEW_MINUTES = 5
# No port, agent or X11 forwarding, and no ~/.ssh/rc: a run's certificate runs commands only.
OPTIONS = ("no-port-forwarding", "no-agent-forwarding", "no-x11-forwarding", "no-user-rc")
MEMORY_DIR = Path("/dev/shm")


def directory(root: Path) -> Path:
    return root / DIRNAME


def exists(root: Path) -> bool:
    """Whether the cluster repo has a CA (its public key is committed)."""
    return (directory(root) / f"{CURRENT}.pub").is_file()


def public_key(root: Path, name: str = CURRENT) -> Path:
    return directory(root) / f"{name}.pub"


def private_key(root: Path, name: str = CURRENT) -> Path:
    return directory(root) / f"{name}.key.vault"


def trusted_keys(root: Path) -> list[str]:
    """The CA public keys the nodes trust: the current CA, then a rotation's next or retiring."""
    keys = []
    for name in (CURRENT, NEXT, RETIRING):
        path = public_key(root, name)
        if path.is_file():
            keys.append(path.read_text().strip())
    return keys


def key_id(cluster_name: str, run_id: str) -> str:
    """A run's certificate key id, as the nodes' auth log shows it."""
    return f"{KEY_ID_PREFIX}:{cluster_name}:{run_id}"


def principals(cluster: Cluster) -> list[str]:
    """The SSH users of the nodes: the certificate's principals."""
    return sorted({node.ssh_user for node in cluster.nodes})


def margin_minutes(cluster: Cluster) -> int:
    return int((cluster.section("access").get("ssh_ca") or {}).get("margin_minutes", 120))


# The vault.


def vault_password(required_by: str) -> bytes:
    """The vault password, from the file K8S_INSTALL_VAULT_PASSWORD_FILE names."""
    value = os.environ.get(VAULT_PASSWORD_ENV, "")
    fix = f"export {VAULT_PASSWORD_ENV}=/path/to/vault-password-file (mode 0600)"
    if not value:
        raise InvalidInput(
            f"{required_by} needs the vault password, and {VAULT_PASSWORD_ENV} is not set",
            [Problem(VAULT_PASSWORD_ENV, "not set", fix)],
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidInput(
            f"{VAULT_PASSWORD_ENV} points at {path}, which is not a file",
            [Problem(VAULT_PASSWORD_ENV, f"{path} does not exist", fix)],
        )
    password = path.read_bytes().strip()
    if not password:
        raise InvalidInput(
            f"the vault password file {path} is empty",
            [Problem(VAULT_PASSWORD_ENV, f"{path} is empty", "write the password into it")],
        )
    return password


def _vault(password: bytes) -> VaultLib:
    return VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password))])


def _decrypt(path: Path, password: bytes) -> bytes:
    try:
        return bytes(_vault(password).decrypt(path.read_bytes()))
    except AnsibleError as exc:
        raise InvalidInput(
            f"could not decrypt the SSH CA key {path}",
            [
                Problem(
                    str(path),
                    "the vault password does not open it",
                    f"point {VAULT_PASSWORD_ENV} at the password file the CA was created with",
                )
            ],
        ) from exc


# Memory-only working directories.


@contextmanager
def memory_dir(prefix: str) -> Iterator[Path]:
    """A 0700 directory in /dev/shm (or TMPDIR where there is none), removed on exit."""
    base = MEMORY_DIR if MEMORY_DIR.is_dir() and os.access(MEMORY_DIR, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        path.chmod(0o700)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _keygen(*args: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("ssh-keygen") is None:
        raise K8sInstallError(
            "ssh-keygen is not installed on this machine",
            fix="install OpenSSH's client tools: apt-get install openssh-client",
        )
    result = subprocess.run(
        ["ssh-keygen", *args], capture_output=True, text=True, check=False, timeout=60
    )
    if result.returncode != 0:
        raise K8sInstallError(f"ssh-keygen {args[0]} failed: {result.stderr.strip()[:300]}")
    return result


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


# Creating CAs.


def create(root: Path, name: str, cluster_name: str, password: bytes) -> str:
    """A new CA key pair in ssh-ca/<name>.{pub,key.vault}; returns its public key line."""
    folder = directory(root)
    folder.mkdir(parents=True, exist_ok=True)
    with memory_dir("k8s-install-ca-") as work:
        key = work / "ca"
        comment = f"k8s-install-ca:{cluster_name}:{name}"
        _keygen("-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(key))
        secret = key.read_bytes()
        private_key(root, name).write_bytes(_vault(password).encrypt(secret))
        shutil.copyfile(key.with_suffix(".pub"), public_key(root, name))
    if not (folder / REVOKED_LIST).exists():
        (folder / REVOKED_LIST).write_text("")
    write_krl(root)
    return public_key(root, name).read_text().strip()


def promote(root: Path) -> None:
    """Rotation: the current CA becomes the retiring one (its private key goes), next becomes
    current."""
    public_key(root, CURRENT).replace(public_key(root, RETIRING))
    private_key(root, CURRENT).unlink()
    public_key(root, NEXT).replace(public_key(root, CURRENT))
    private_key(root, NEXT).replace(private_key(root, CURRENT))


def drop_retiring(root: Path) -> bool:
    path = public_key(root, RETIRING)
    if not path.exists():
        return False
    path.unlink()
    write_krl(root)
    return True


def fingerprint(key_line: str) -> str:
    """SHA256 fingerprint of a public key line."""
    with memory_dir("k8s-install-fp-") as work:
        path = work / "key.pub"
        path.write_text(key_line + "\n")
        return _keygen("-l", "-f", str(path)).stdout.split()[1]


# Revocation.


def revoked(root: Path) -> list[str]:
    path = directory(root) / REVOKED_LIST
    if not path.is_file():
        return []
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def revoke(root: Path, revoked_id: str) -> bool:
    """Add a key id to the revocation list and rebuild the KRL; False when it was already in."""
    ids = revoked(root)
    if revoked_id in ids:
        return False
    (directory(root) / REVOKED_LIST).write_text("\n".join([*ids, revoked_id]) + "\n")
    write_krl(root)
    return True


def write_krl(root: Path) -> Path:
    """ssh-ca/revoked.krl: every revoked key id, under every CA the nodes trust (an empty KRL
    when none is revoked: sshd refuses every key when the RevokedKeys file is missing)."""
    folder = directory(root)
    krl = folder / KRL
    with memory_dir("k8s-install-krl-") as work:
        spec = work / "spec"
        spec.write_text("".join(f"id: {i}\n" for i in revoked(root)))
        out = work / KRL
        keys = [public_key(root, n) for n in (CURRENT, NEXT, RETIRING)]
        keys = [k for k in keys if k.is_file()]
        for index, key in enumerate(keys):
            update = ["-u"] if index else []
            _keygen("-k", *update, "-f", str(out), "-s", str(key), str(spec))
        if not keys:
            _keygen("-k", "-f", str(out), str(spec))
        shutil.copyfile(out, krl)
    return krl


def is_revoked(root: Path, certificate: Path) -> bool:
    result = subprocess.run(
        ["ssh-keygen", "-Q", "-f", str(directory(root) / KRL), str(certificate)],
        capture_output=True,
        text=True,
        check=False,
    )
    return result.returncode != 0


# A run's certificate.


@dataclass(frozen=True)
class CertificateSpec:
    """What a run's certificate says; `signer` is the CA that signs it (ca, or next)."""

    root: Path
    cluster_name: str
    principals: tuple[str, ...]
    minutes: int
    signer: str = CURRENT


def spec_for(cluster: Cluster, expected_minutes: int, signer: str = CURRENT) -> CertificateSpec:
    return CertificateSpec(
        root=cluster.root,
        cluster_name=cluster.name,
        principals=tuple(principals(cluster)),
        minutes=expected_minutes + margin_minutes(cluster),
        signer=signer,
    )


def sign(spec: CertificateSpec, run_id: str, public: Path, password: bytes) -> Path:
    """Sign `public` for the run; returns the certificate path (<key>-cert.pub beside it)."""
    ca_file = private_key(spec.root, spec.signer)
    if not ca_file.is_file():
        raise InvalidInput(
            f"the SSH CA key {ca_file} is missing",
            [
                Problem(
                    str(ca_file),
                    "not found",
                    "restore it from Git, or create a CA: k8s-install access ca init",
                )
            ],
        )
    secret = _decrypt(ca_file, password)
    ca_key = public.parent / "ca"
    try:
        _write_private(ca_key, secret)
        _keygen(
            "-q",
            "-s",
            str(ca_key),
            "-I",
            key_id(spec.cluster_name, run_id),
            "-n",
            ",".join(spec.principals),
            "-V",
            f"-{CLOCK_SKEW_MINUTES}m:+{spec.minutes}m",
            *(arg for option in OPTIONS for arg in ("-O", option)),
            str(public),
        )
    finally:
        ca_key.unlink(missing_ok=True)
    return public.with_name(public.name[: -len(".pub")] + "-cert.pub")


@contextmanager
def issued(spec: CertificateSpec, run_id: str) -> Iterator[Path]:
    """An ephemeral key pair with its certificate for one run; yields the private key's path.
    The directory goes when the block ends, on success, failure or Ctrl-C alike."""
    password = vault_password(f"the SSH CA in {directory(spec.root)}")
    with memory_dir("k8s-install-run-") as work:
        key = work / "id_ed25519"
        _keygen(
            "-q", "-t", "ed25519", "-N", "", "-C", key_id(spec.cluster_name, run_id), "-f", str(key)
        )
        sign(spec, run_id, key.with_suffix(".pub"), password)
        yield key
