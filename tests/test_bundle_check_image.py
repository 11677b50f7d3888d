"""The bundle carries the post-checks' smoke image, so an offline install can run its checks."""

from __future__ import annotations

from pathlib import Path

import yaml

from k8s_install.bundle import download_list
from k8s_install.model import config


def test_the_default_smoke_image_is_planned(sample_copy: Path) -> None:
    cluster = config.load(sample_copy)
    assert download_list.check_image(cluster) == "docker.io/library/nginx:1.28.2-alpine"


def test_a_cluster_that_names_its_own_smoke_image_gets_that_one(sample_copy: Path) -> None:
    data = yaml.safe_load(sample_copy.read_text())
    data["kubespray"] = {"post_checks_image": "registry.example.com/smoke:2"}
    sample_copy.write_text(yaml.safe_dump(data))
    assert download_list.check_image(config.load(sample_copy)) == "registry.example.com/smoke:2"
