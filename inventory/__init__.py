"""Shipped Ansible content; a package only so importlib.resources can find it."""
