"""Every playbook an action runs loads the vaulted become password before anything else.

A playbook that skipped it would run its tasks with become and no password on a cluster whose
become password is in ansible-vault (docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from k8s_install.ansible import actions

PLAYBOOKS = Path(__file__).resolve().parents[1] / "playbooks"


@pytest.mark.parametrize("action", sorted(actions.ACTIONS))
def test_the_first_play_loads_the_vault(action: str) -> None:
    plays = yaml.safe_load((PLAYBOOKS / actions.playbook(action)).read_text())
    first = plays[0]
    assert first.get("ansible.builtin.import_playbook") == "vault.yml", (
        f"{actions.playbook(action)} must start with `import_playbook: vault.yml`"
    )


@pytest.mark.parametrize("action", sorted(actions.ACTIONS))
def test_the_run_gets_the_vault_password_file(action: str) -> None:
    assert actions.ACTIONS[action].vault, f"action {action} loads the vault, so it needs the file"
