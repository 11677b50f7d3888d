"""secrets: the sealing key pair, and Secrets sealed into the cluster repo as SealedSecrets."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click

from k8s_install.addons import sealing
from k8s_install.base.errors import InvalidInput, Problem
from k8s_install.commands.common import config_option, json_option, output
from k8s_install.model import config

_KEY = re.compile(r"[-._a-zA-Z0-9]+")


@click.group("secrets")
def secrets() -> None:
    """Secrets kept in Git as SealedSecrets, decrypted only in the cluster.

    The sealing certificate (sealing-key/tls.crt) is committed; its private key is
    committed ansible-vault encrypted (sealing-key/tls.key.vault, with the password
    in K8S_INSTALL_VAULT_PASSWORD_FILE). `up` gives the key to the sealed-secrets
    controller before the first addon wave, and the `sealed` release installs every
    sealed/<namespace>/<name>.yaml. See docs/secrets.md.

    \b
    Examples:
      k8s-install secrets keygen
      k8s-install secrets seal gateway-tls -n traefik --type kubernetes.io/tls \\
          --from-file tls.crt=site.crt --from-file tls.key=site.key
      k8s-install secrets list
    """


def _root(config_path: Path) -> Path:
    """The cluster repo: the directory of its cluster.yaml, which must load and validate (a
    missing or broken one is exit 2 with its problems, as for every command)."""
    return config.load(config_path).root


@secrets.command("keygen")
@config_option
@click.option("--force", is_flag=True, help="Replace the key pair (seal every secret again).")
@json_option
def keygen(config_path: Path, force: bool) -> None:
    """Make the sealing key pair: RSA 4096 and a self-signed certificate.

    Writes sealing-key/tls.crt and sealing-key/tls.key.vault (the private key,
    ansible-vault encrypted with the password file K8S_INSTALL_VAULT_PASSWORD_FILE
    names). Commit both; back up the vault password: without it, no SealedSecret of
    this repo can be decrypted again.

    \b
    Examples:
      K8S_INSTALL_VAULT_PASSWORD_FILE=~/.vault-pass k8s-install secrets keygen
      k8s-install secrets keygen -c clusters/prod/cluster.yaml --json
    """
    out = output()
    root = _root(config_path)
    password = sealing.vault_password_file()
    cert, vaulted = sealing.write_key_pair(root, password, force=force)
    document = {
        "certificate": str(cert),
        "private_key_vault": str(vaulted),
        "fingerprint": sealing.fingerprint(sealing.public_key(root)),
    }
    if out.json_mode:
        out.emit(document)
        return
    out.info(
        f"sealing certificate: {cert} (commit it)\n"
        f"private key:         {vaulted} (ansible-vault encrypted; commit it)\n"
        f"fingerprint:         sha256:{document['fingerprint']}"
    )


def _values(from_file: tuple[str, ...], from_literal: tuple[str, ...]) -> dict[str, bytes]:
    """key -> value bytes, read into memory only; exit 2 on a bad or repeated key."""
    values: dict[str, bytes] = {}

    def add(flag: str, key: str, value: bytes) -> None:
        if not _KEY.fullmatch(key):
            raise InvalidInput(
                f"{flag}: {key!r} is not a valid Secret key",
                [Problem(flag, f"bad key {key!r}", "letters, digits, '-', '_' and '.' only")],
            )
        if key in values:
            raise InvalidInput(
                f"{flag}: the key {key!r} is given twice",
                [Problem(flag, f"key {key!r} given twice", "give each key once")],
            )
        values[key] = value

    for item in from_file:
        key, sep, name = item.partition("=")
        if not sep:
            key, name = Path(item).name, item
        if name == "-":
            add("--from-file", key, sys.stdin.buffer.read())
            continue
        path = Path(name).expanduser()
        if not path.is_file():
            raise InvalidInput(
                f"--from-file {key}: {path} is not a file",
                [Problem("--from-file", f"{path} does not exist", "give KEY=PATH of a file")],
            )
        add("--from-file", key, path.read_bytes())
    for item in from_literal:
        key, sep, text = item.partition("=")
        if not sep:
            raise InvalidInput(
                "--from-literal takes KEY=VALUE",
                [Problem("--from-literal", "no '=' in the value", "--from-literal KEY=VALUE")],
            )
        add("--from-literal", key, text.encode())
    if not values:
        raise InvalidInput(
            "nothing to seal",
            [Problem("--from-file", "no value given", "--from-file KEY=PATH or --from-literal")],
        )
    return values


@secrets.command("seal")
@click.argument("name")
@click.option("-n", "--namespace", required=True, help="Namespace of the Secret.")
@click.option(
    "--type",
    "secret_type",
    default="Opaque",
    show_default=True,
    help="Secret type; kubernetes.io/tls needs tls.crt and tls.key.",
)
@click.option(
    "--from-file",
    "from_file",
    multiple=True,
    metavar="KEY=PATH",
    help="A key whose value is a file's bytes (PATH '-' reads stdin); may repeat.",
)
@click.option(
    "--from-literal",
    "from_literal",
    multiple=True,
    metavar="KEY=VALUE",
    help="A key with a literal value (visible to `ps` while it runs: prefer --from-file).",
)
@config_option
@json_option
def seal(
    name: str,
    namespace: str,
    secret_type: str,
    from_file: tuple[str, ...],
    from_literal: tuple[str, ...],
    config_path: Path,
) -> None:
    """Seal a Secret into sealed/NAMESPACE/NAME.yaml, for this cluster only.

    Sealed with sealing-key/tls.crt in strict scope: only the controller holding the
    private key decrypts it, and only as NAME in NAMESPACE. Values are read into
    memory and never written or shown in the clear. No vault password is needed.

    \b
    Examples:
      k8s-install secrets seal gateway-tls -n traefik --type kubernetes.io/tls \\
          --from-file tls.crt=site.crt --from-file tls.key=site.key
      printf %s "$TOKEN" | k8s-install secrets seal api-token -n apps --from-file token=-
      k8s-install secrets seal db -n apps --from-file password=db.pass --json
    """
    out = output()
    root = _root(config_path)
    key = sealing.public_key(root)
    sealing.check_type(secret_type, [*_keys(from_file), *_keys(from_literal)])
    values = _values(from_file, from_literal)
    document = sealing.seal(key, namespace, name, secret_type, values)
    del values
    path = sealing.write_sealed(root, document)
    result = {
        "path": str(path),
        "namespace": namespace,
        "name": name,
        "type": secret_type,
        "keys": sorted(document["spec"]["encryptedData"]),
    }
    if out.json_mode:
        out.emit(result)
        return
    out.info(
        f"sealed {namespace}/{name} ({secret_type}; keys {', '.join(result['keys'])}) "
        f"into {path}: commit it"
    )


def _keys(items: tuple[str, ...]) -> list[str]:
    """The keys named by KEY=... items (or a bare path's file name), before reading anything."""
    return [i.partition("=")[0] if "=" in i else Path(i).name for i in items]


@secrets.command("list")
@config_option
@click.option(
    "--verify",
    is_flag=True,
    help="Also open the vaulted key (K8S_INSTALL_VAULT_PASSWORD_FILE), check it is the "
    "certificate's, and that every file was sealed with it for its namespace/name.",
)
@json_option
def list_command(config_path: Path, verify: bool) -> None:
    """List the SealedSecrets of the cluster repo (sealed/) and the sealing key.

    With --verify, exits 2 naming the problem when the vault password does not open
    the key, the key is not the certificate's, or a file was sealed with another key
    (or for another namespace/name). Nothing is decrypted to disk or shown.

    \b
    Examples:
      k8s-install secrets list
      k8s-install secrets list --verify --json
    """
    out = output()
    root = _root(config_path)
    cert = root / sealing.CERT_FILE
    found = sealing.entries(root)
    if verify:
        key = sealing.private_key(root, sealing.vault_password_file())
        for entry in found:
            sealing.check_sealed_with(key, entry)
        del key
    fingerprint = sealing.fingerprint(sealing.public_key(root)) if cert.is_file() else None
    if out.json_mode:
        out.emit(
            {
                "certificate": str(cert) if cert.is_file() else None,
                "fingerprint": fingerprint,
                "secrets": [e.as_dict() for e in found],
            }
        )
        return
    if fingerprint is None:
        out.info(f"no sealing key in {root}: {sealing.KEYGEN_FIX}")
    else:
        out.info(f"sealing key: {cert} (sha256:{fingerprint})")
    if not found:
        out.info("no SealedSecrets under sealed/ (`k8s-install secrets seal` adds one)")
        return
    out.table(
        "SealedSecrets",
        ["namespace", "name", "type", "keys", "file"],
        [[e.namespace, e.name, e.type, ", ".join(e.keys), str(e.path)] for e in found],
    )


COMMANDS: list[click.Command] = [secrets]
