module k8s-install.invalid/build/pause

go 1.25.0
