"""The cluster lifecycle: the plan, its apply, and the etcd backups around it."""
