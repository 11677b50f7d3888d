"""What was applied: in Git, in state/applied.yaml on disk, in run records, and in the cluster."""
