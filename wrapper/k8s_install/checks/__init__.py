"""Checks that change nothing: drift against what Git applied, and the preflight report."""
