"""The bottom layer: errors and exit codes, output for people and machines, shipped files."""
