"""ssh_ca: sshd trusts the CA for the SSH user, refuses the revoked certificate, and logs the
key id of each certificate login."""

from __future__ import annotations

from typing import Any

import helpers

KEYS = "/root/molecule-ssh-ca"


def _login(host: Any, key: str) -> tuple[int, str]:
    """ssh from the host to itself with this key's certificate alone: (ssh's exit code, output).
    ssh's own 255 is reported, not raised (testinfra takes 255 for a broken connection)."""
    result = host.run(
        "ssh -i %s/%s -o CertificateFile=%s/%s-cert.pub -o IdentitiesOnly=yes "
        "-o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=no "
        "-o UserKnownHostsFile=/dev/null debian@%s echo certificate-login-ok 2>&1; "
        "echo ssh-exit=$?",
        KEYS,
        key,
        KEYS,
        key,
        helpers.address(host),
    )
    code = int(result.stdout.rsplit("ssh-exit=", 1)[1].strip())
    return code, result.stdout


def test_sshd_configuration(host: Any) -> None:
    assert host.run("/usr/sbin/sshd -t").rc == 0
    effective = host.check_output("/usr/sbin/sshd -T").splitlines()
    assert "trustedusercakeys /etc/ssh/k8s-install/trusted_user_ca_keys" in effective
    assert "authorizedprincipalsfile /etc/ssh/k8s-install/principals/%u" in effective
    assert "revokedkeys /etc/ssh/k8s-install/revoked.krl" in effective
    assert "loglevel VERBOSE" in effective
    assert host.file("/etc/ssh/k8s-install/principals/debian").content_string == "debian\n"
    trusted = host.file("/etc/ssh/k8s-install/trusted_user_ca_keys").content_string
    assert trusted.startswith("ssh-ed25519 ") and "molecule-ca" in trusted


def test_a_certificate_login_works_and_is_logged(host: Any) -> None:
    code, text = _login(host, "good")
    assert code == 0, text
    assert "certificate-login-ok" in text
    log = host.check_output("journalctl -u ssh --no-pager")
    assert "ED25519-CERT" in log and "ID molecule-good " in log


def test_the_revoked_certificate_is_refused(host: Any) -> None:
    code, text = _login(host, "revoked")
    assert code == 255, text
    assert "Permission denied" in text
    assert "revoked" in host.check_output("journalctl -u ssh --no-pager")
