"""Every command group, one module per concern; cli.py adds them to the main group."""

from __future__ import annotations

import importlib

import click

_MODULES = ["core", "sandbox", "ping", "bundle", "ops", "engine", "lifecycle", "history", "addons"]


def _load() -> list[click.Command]:
    commands: list[click.Command] = []
    for name in _MODULES:
        module = importlib.import_module(f"k8s_install.commands.{name}")
        commands.extend(module.COMMANDS)
    return commands


COMMANDS = _load()
