module k8s-install.invalid/build/smoke

go 1.25.0
