"""Every command, one module per verb or verb group; cli.py adds them to the main group."""

from __future__ import annotations

import click

from k8s_install.commands import (
    access,
    addons,
    backup,
    bundle,
    drift,
    engine,
    history,
    init,
    inventory,
    lifecycle,
    ping,
    preflight,
    sandbox,
    schema,
    secrets,
    status,
    validate,
)

_MODULES = [
    validate,
    schema,
    inventory,
    init,
    sandbox,
    ping,
    bundle,
    preflight,
    backup,
    engine,
    lifecycle,
    history,
    status,
    drift,
    addons,
    access,
    secrets,
]

COMMANDS: list[click.Command] = [command for module in _MODULES for command in module.COMMANDS]
