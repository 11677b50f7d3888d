"""Sealed Secrets: the sealing key pair and SealedSecrets sealed in Python, in the controller's format.

The cluster repo holds:
  sealing-key/tls.crt        the public certificate: anyone may seal with it
  sealing-key/tls.key.vault  the private key, ansible-vault encrypted (K8S_INSTALL_VAULT_PASSWORD_FILE)
  sealed/<ns>/<name>.yaml    one SealedSecret per file, strict scope

The key pair is made as the sealed-secrets controller v0.36.6 makes its own
(pkg/crypto/keys.go): RSA 4096 and a self-signed certificate valid ten years. A value is sealed
as pkg/crypto/crypto.go HybridEncrypt does: a random AES-256-GCM session key with a zero nonce
seals the value; RSA-OAEP (SHA-256, label "namespace/name" for strict scope) wraps the session
key; the result is len(rsa ciphertext) as two bytes, the RSA ciphertext, then the AES ciphertext.
Plaintext values only ever live in memory here: they are never written, logged or shown.
"""

from __future__ import annotations

import base64
import datetime
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import ExtensionOID

from k8s_install.ansible.security import VAULT_PASSWORD_ENV
from k8s_install.base.errors import InvalidInput, Problem

# The builtin chart that installs the sealed/ files, and the controller's chart.
SEALED_CHART = "builtin://sealed"
CONTROLLER_CHART = "sealed-secrets"

KEY_DIR = Path("sealing-key")
CERT_FILE = KEY_DIR / "tls.crt"
KEY_VAULT_FILE = KEY_DIR / "tls.key.vault"
SEALED_DIR = Path("sealed")

# The label the controller loads its keys by, and the Secret k8s-install gives it.
KEY_LABEL = "sealedsecrets.bitnami.com/sealed-secrets-key"
KEY_SECRET = "sealed-secrets-key-k8s-install"

KEY_BITS = 4096  # the controller's --key-size default
VALID_FOR = datetime.timedelta(hours=10 * 365 * 24)  # its --key-ttl default
SESSION_KEY_BYTES = 32
# x509.KeyUsageEncipherOnly alone, as the controller's certificate carries it (DER BIT STRING).
# cryptography refuses encipher_only without key_agreement, so the extension is given raw.
_KEY_USAGE_ENCIPHER_ONLY = bytes([0x03, 0x02, 0x00, 0x01])

KEYGEN_FIX = "run `k8s-install secrets keygen` in the cluster repo"
VAULT_FIX = f"export {VAULT_PASSWORD_ENV}=/path/to/vault-password-file (mode 0600)"

# Secret types and the keys Kubernetes requires of each (k8s.io/api core/v1 SecretType*).
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "Opaque": (),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/basic-auth": (),
    "bootstrap.kubernetes.io/token": ("token-id", "token-secret"),
}
# Kubernetes fills these in itself: sealing one would make a Secret it rejects or rewrites.
REFUSED_TYPES = ("kubernetes.io/service-account-token",)


def _no_key(root: Path, what: Path) -> InvalidInput:
    return InvalidInput(
        f"{root / what} does not exist",
        [Problem(str(what), "the cluster repo has no sealing key", KEYGEN_FIX)],
    )


# ---- the key pair --------------------------------------------------------------------------


def generate_key() -> tuple[bytes, bytes]:
    """(private key PEM, certificate PEM), as the controller's GeneratePrivateKeyAndCert."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    empty = x509.Name([])  # the controller's --my-cn default is empty
    cert = (
        x509.CertificateBuilder()
        .subject_name(empty)
        .issuer_name(empty)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(secrets.token_bytes(16), "big"))
        .not_valid_before(now)
        .not_valid_after(now + VALID_FOR)
        .add_extension(
            x509.UnrecognizedExtension(ExtensionOID.KEY_USAGE, _KEY_USAGE_ENCIPHER_ONLY),
            critical=True,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,  # PKCS#1, as the controller writes it
        serialization.NoEncryption(),
    )
    return private_pem, cert.public_bytes(serialization.Encoding.PEM)


def public_key(root: Path) -> rsa.RSAPublicKey:
    """The sealing certificate's public key; exit 2 when there is none."""
    path = root / CERT_FILE
    if not path.is_file():
        raise _no_key(root, CERT_FILE)
    try:
        found = x509.load_pem_x509_certificate(path.read_bytes()).public_key()
    except ValueError:
        found = None
    if not isinstance(found, rsa.RSAPublicKey):
        raise InvalidInput(
            f"{path}: not an RSA certificate in PEM",
            [Problem(str(CERT_FILE), "not a sealing certificate", KEYGEN_FIX + " --force")],
        )
    return found


def fingerprint(key: rsa.RSAPublicKey) -> str:
    """SHA-256 of the public key (SubjectPublicKeyInfo DER), hex: names a key in listings."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()


# ---- ansible-vault -------------------------------------------------------------------------


def vault_password_file() -> Path:
    """K8S_INSTALL_VAULT_PASSWORD_FILE, which must name a file; exit 2 naming it otherwise."""
    value = os.environ.get(VAULT_PASSWORD_ENV, "")
    if not value:
        raise InvalidInput(
            f"{VAULT_PASSWORD_ENV} is not set: the sealing key is kept ansible-vault encrypted",
            [Problem(VAULT_PASSWORD_ENV, "no vault password file for the sealing key", VAULT_FIX)],
        )
    path = Path(value).expanduser()
    if not path.is_file():
        raise InvalidInput(
            f"{VAULT_PASSWORD_ENV} points at {path}, which is not a file",
            [Problem(VAULT_PASSWORD_ENV, f"{path} does not exist", "point it at the file")],
        )
    return path


def _vault(password_file: Path) -> Any:
    # ansible is imported here, not at the top: only the sealing commands need it, and it adds
    # a second to every other command's start-up.
    from ansible.parsing.dataloader import DataLoader  # type: ignore[import-untyped]
    from ansible.parsing.vault import (  # type: ignore[import-untyped]
        VaultLib,
        get_file_vault_secret,
    )

    secret = get_file_vault_secret(
        filename=str(password_file), vault_id="default", loader=DataLoader()
    )
    secret.load()
    return VaultLib([("default", secret)])


def vault_encrypt(plaintext: bytes, password_file: Path) -> bytes:
    """ansible-vault ciphertext of plaintext (what `ansible-vault encrypt` writes)."""
    data = _vault(password_file).encrypt(plaintext)
    assert isinstance(data, bytes)
    return data


def private_key(root: Path, password_file: Path) -> rsa.RSAPrivateKey:
    """The vaulted private key, decrypted in memory; exit 2 when the password is wrong or the key
    is not the certificate's."""
    path = root / KEY_VAULT_FILE
    if not path.is_file():
        raise _no_key(root, KEY_VAULT_FILE)
    from ansible.errors import AnsibleError  # type: ignore[import-untyped]

    try:
        pem = _vault(password_file).decrypt(path.read_bytes())
    except AnsibleError:
        raise InvalidInput(
            f"{path}: cannot decrypt the sealing key with the password in {VAULT_PASSWORD_ENV}",
            [
                Problem(
                    VAULT_PASSWORD_ENV,
                    f"the vault password does not decrypt {KEY_VAULT_FILE}",
                    f"point {VAULT_PASSWORD_ENV} at the password the key was made with",
                )
            ],
        ) from None
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except ValueError:
        key = None
    del pem
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInput(
            f"{path}: the decrypted file is not an RSA private key in PEM",
            [Problem(str(KEY_VAULT_FILE), "not a sealing key", KEYGEN_FIX + " --force")],
        )
    if key.public_key().public_numbers() != public_key(root).public_numbers():
        raise InvalidInput(
            f"{path} is not the private key of {CERT_FILE}",
            [
                Problem(
                    str(KEY_VAULT_FILE),
                    f"the key and {CERT_FILE} are not one pair",
                    "restore both files from the same backup, or make a new pair with "
                    "`k8s-install secrets keygen --force` and seal every secret again",
                )
            ],
        )
    return key


def write_key_pair(root: Path, password_file: Path, *, force: bool = False) -> tuple[Path, Path]:
    """Make a key pair and write the certificate and the vaulted key; exit 2 when one exists."""
    cert_path, vault_path = root / CERT_FILE, root / KEY_VAULT_FILE
    existing = [p for p in (cert_path, vault_path) if p.exists()]
    if existing and not force:
        raise InvalidInput(
            f"{existing[0]} exists: the cluster repo has a sealing key already",
            fix="keep it (secrets sealed with it need it), or pass --force to replace it "
            "and seal every secret again",
        )
    private_pem, cert_pem = generate_key()
    ciphertext = vault_encrypt(private_pem, password_file)
    del private_pem
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    vault_path.write_bytes(ciphertext)
    cert_path.write_bytes(cert_pem)
    return cert_path, vault_path


# ---- sealing -------------------------------------------------------------------------------


def label(namespace: str, name: str) -> bytes:
    """The RSA-OAEP label of strict scope (EncryptionLabel)."""
    return f"{namespace}/{name}".encode()


def _oaep(label_: bytes) -> padding.OAEP:
    return padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label_)


def hybrid_encrypt(key: rsa.RSAPublicKey, plaintext: bytes, label_: bytes) -> bytes:
    """HybridEncrypt: 2-byte length, RSA-OAEP(session key), AES-256-GCM(plaintext, zero nonce)."""
    session = AESGCM.generate_key(bit_length=SESSION_KEY_BYTES * 8)
    wrapped = key.encrypt(session, _oaep(label_))
    sealed = AESGCM(session).encrypt(bytes(12), plaintext, None)
    return len(wrapped).to_bytes(2, "big") + wrapped + sealed


def hybrid_decrypt(key: rsa.RSAPrivateKey, data: bytes, label_: bytes) -> bytes:
    """singleDecrypt; ValueError when the key or the label does not match."""
    if len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
        raise ValueError("SealedSecret data is too short")
    size = int.from_bytes(data[:2], "big")
    session = key.decrypt(data[2 : 2 + size], _oaep(label_))
    try:
        return AESGCM(session).decrypt(bytes(12), data[2 + size :], None)
    except InvalidTag:
        raise ValueError("the sealed value does not authenticate") from None


@dataclass(frozen=True)
class Entry:
    """One sealed/<ns>/<name>.yaml."""

    path: Path  # relative to the cluster repo
    namespace: str
    name: str
    type: str
    keys: tuple[str, ...]
    document: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "namespace": self.namespace,
            "name": self.name,
            "type": self.type,
            "keys": list(self.keys),
        }


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def _valid_name(value: str, dots: bool) -> bool:
    parts = value.split(".") if dots else [value]
    return len(value) <= 253 and all(_DNS_LABEL.fullmatch(p) for p in parts)


def _check_names(namespace: str, name: str) -> None:
    """A namespace is a DNS label, a Secret's name a DNS subdomain (both lower-case)."""
    for flag, value, dots in (("--namespace", namespace, False), ("NAME", name, True)):
        if not _valid_name(value, dots):
            raise InvalidInput(
                f"{flag} {value!r} is not a valid Kubernetes name",
                [
                    Problem(
                        flag,
                        f"{value!r} is not a valid name",
                        "lower-case letters, digits and '-', starting and ending with a letter "
                        "or digit",
                    )
                ],
            )


def check_type(secret_type: str, keys: list[str]) -> None:
    """Exit 2 naming --type and the missing key when the type requires keys not given."""
    if secret_type in REFUSED_TYPES:
        raise InvalidInput(
            f"--type {secret_type} is filled in by Kubernetes and cannot be sealed",
            [Problem("--type", f"{secret_type} cannot be sealed", "use Opaque or another type")],
        )
    missing = [k for k in TYPE_KEYS.get(secret_type, ()) if k not in keys]
    if missing:
        flags = " ".join(f"--from-file {k}=PATH" for k in missing)
        raise InvalidInput(
            f"--type {secret_type} requires the key(s) {', '.join(missing)}",
            [
                Problem("--type", f"{secret_type} needs key {key!r}, which is not given", flags)
                for key in missing
            ],
        )
    if secret_type == "kubernetes.io/basic-auth" and not {"username", "password"} & set(keys):
        raise InvalidInput(
            "--type kubernetes.io/basic-auth requires the key username or password",
            [
                Problem(
                    "--type",
                    "kubernetes.io/basic-auth needs 'username' or 'password'",
                    "--from-literal username=NAME --from-file password=PATH",
                )
            ],
        )


def seal(
    key: rsa.RSAPublicKey,
    namespace: str,
    name: str,
    secret_type: str,
    values: dict[str, bytes],
) -> dict[str, Any]:
    """A strict-scope SealedSecret, as kubeseal writes it, sealing each value on its own."""
    _check_names(namespace, name)
    check_type(secret_type, list(values))
    scope = label(namespace, name)
    encrypted = {
        k: base64.b64encode(hybrid_encrypt(key, v, scope)).decode() for k, v in values.items()
    }
    return {
        "apiVersion": "bitnami.com/v1alpha1",
        "kind": "SealedSecret",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "encryptedData": dict(sorted(encrypted.items())),
            "template": {
                "metadata": {"name": name, "namespace": namespace},
                "type": secret_type,
            },
        },
    }


def sealed_path(namespace: str, name: str) -> Path:
    return SEALED_DIR / namespace / f"{name}.yaml"


HEADER = (
    "# A SealedSecret: only the cluster's sealed-secrets controller can decrypt it.\n"
    "# Written by `k8s-install secrets seal`; seal again to change it.\n"
)


def write_sealed(root: Path, document: dict[str, Any]) -> Path:
    meta = document["metadata"]
    path = root / sealed_path(meta["namespace"], meta["name"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + yaml.safe_dump(document, sort_keys=False, width=1 << 20))
    return path


def _entry(root: Path, path: Path) -> Entry:
    where = str(path.relative_to(root))
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"{where}: not readable YAML",
            [Problem(where, f"cannot read it: {type(exc).__name__}", "seal it again")],
        ) from None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    ok = (
        isinstance(doc, dict)
        and doc.get("kind") == "SealedSecret"
        and isinstance(meta, dict)
        and isinstance(spec, dict)
        and isinstance(spec.get("encryptedData"), dict)
    )
    if not ok:
        raise InvalidInput(
            f"{where}: not a SealedSecret",
            [Problem(where, "not a SealedSecret with spec.encryptedData", "seal it again")],
        )
    assert isinstance(doc, dict) and isinstance(meta, dict) and isinstance(spec, dict)
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    if sealed_path(namespace, name) != path.relative_to(root):
        raise InvalidInput(
            f"{where}: holds {namespace}/{name}",
            [
                Problem(
                    where,
                    f"the file of SealedSecret {namespace}/{name} is "
                    f"{sealed_path(namespace, name)}",
                    "move it there, or seal it again",
                )
            ],
        )
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    assert isinstance(template, dict)
    return Entry(
        path=path.relative_to(root),
        namespace=namespace,
        name=name,
        type=str(template.get("type") or "Opaque"),
        keys=tuple(sorted(str(k) for k in spec["encryptedData"])),
        document=doc,
    )


def entries(root: Path) -> list[Entry]:
    """Every SealedSecret under sealed/, sorted by namespace and name; exit 2 on a bad file."""
    directory = root / SEALED_DIR
    if not directory.is_dir():
        return []
    found = [_entry(root, p) for p in sorted(directory.glob("*/*.yaml")) if p.is_file()]
    return sorted(found, key=lambda e: (e.namespace, e.name))


def check_sealed_with(key: rsa.RSAPrivateKey, entry: Entry) -> None:
    """Exit 2 when a file's values were not sealed with this key for its namespace/name."""
    scope = label(entry.namespace, entry.name)
    for item, value in entry.document["spec"]["encryptedData"].items():
        try:
            hybrid_decrypt(key, base64.b64decode(str(value), validate=True), scope)
        except ValueError:
            raise InvalidInput(
                f"{entry.path}: key {item!r} was not sealed with {CERT_FILE} for "
                f"{entry.namespace}/{entry.name}",
                [
                    Problem(
                        str(entry.path),
                        f"{item!r} does not decrypt with the cluster repo's sealing key",
                        f"seal it again: k8s-install secrets seal {entry.name} -n "
                        f"{entry.namespace} ...",
                    )
                ],
            ) from None


# ---- the addons run ------------------------------------------------------------------------


def with_sealed_secrets(chart: str, values: dict[str, Any], root: Path) -> dict[str, Any]:
    """The values of the release installing the sealed/ files: every SealedSecret in them."""
    if chart != SEALED_CHART:
        return values
    return {**values, "sealedSecrets": [e.document for e in entries(root)]}


def role_vars(root: Path, controller_namespace: str | None, sealed: bool) -> dict[str, Any]:
    """The addons role's sealing variables, checked before any host is touched (exit 2).

    controller_namespace: where the enabled sealed-secrets release runs (None: not enabled);
    sealed: whether the release installing sealed/ is enabled. With a key in the repo, the
    vault password must open it, it must be the certificate's, and every file must be sealed
    with it for its namespace/name."""
    has_key = (root / CERT_FILE).is_file() or (root / KEY_VAULT_FILE).is_file()
    if sealed and not has_key:
        raise InvalidInput(
            f"the sealed release installs {SEALED_DIR}/, but {root} has no sealing key",
            [Problem(str(CERT_FILE), "no sealing key in the cluster repo", KEYGEN_FIX)],
        )
    found = entries(root) if sealed else []
    result: dict[str, Any] = {
        "addons_sealed_namespaces": sorted({e.namespace for e in found}),
        "addons_sealing_key": {},
    }
    if controller_namespace is None or not has_key:
        return result
    key = private_key(root, vault_password_file())
    for entry in found:
        check_sealed_with(key, entry)
    del key
    result["addons_sealing_key"] = {
        "cert": str((root / CERT_FILE).resolve()),
        "key_vault": str((root / KEY_VAULT_FILE).resolve()),
        "namespace": controller_namespace,
        "name": KEY_SECRET,
        "label": KEY_LABEL,
    }
    return result


def secret_names(root: Path) -> list[str]:
    """namespace/name of the Secret each sealed/ file becomes (the role waits for them)."""
    return [f"{e.namespace}/{e.name}" for e in entries(root)]
