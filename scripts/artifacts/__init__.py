"""Developer tooling that builds the artifacts a real cluster runs (not shipped in the wheel)."""
