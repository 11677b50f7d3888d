"""cluster.yaml: its schema (which declares every default), loading, validation, the addons section."""
