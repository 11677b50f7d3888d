"""Ansible: the actions table, the one runner driver, events, progress, ansible.cfg, the inventory."""
