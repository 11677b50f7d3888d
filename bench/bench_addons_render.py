"""Addons render benchmark: `addons render` of every preset vs `helm template` called directly.

Both sides render the same releases (every preset with its real upstream chart, plus the two
fixture charts) with the same resolved values, side by side in one run; the figure is the ratio
render / direct. The render side also resolves globals, works out the graph, checks the values
against the charts' schemas, canonicalises the YAML and writes the files; it runs helm in
parallel, the direct side one chart after another as a shell loop would. Needs a helm binary in
K8S_INSTALL_HELM and the chart sources in K8S_INSTALL_CHART_SOURCES (scripts/chart-sources.sh;
packaged as tests/chart_repo.py does). Writes bench/results/addons_render.json.

    K8S_INSTALL_HELM=.venv/bin/helm K8S_INSTALL_CHART_SOURCES=/tmp/chart-sources \
      .venv/bin/python bench/bench_addons_render.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from k8s_install.addons import helm, render
from k8s_install.model import addon_presets, config

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import chart_repo  # noqa: E402  (the tests' packaging of the real charts)

CHARTS = ROOT / "tests" / "fixtures" / "charts"
PRESETS = sorted(addon_presets.presets())
GLOBALS = {
    "registry": "registry.lab.example:5000",
    "storage_class": "fast-local",
    "ingress_domain": "apps.lab.example",
    "node_selector": {"node.example.com/pool": "infra"},
}


def make_repo(directory: Path) -> Path:
    releases: list[dict[str, Any]] = [{"preset": name} for name in PRESETS]
    for release in releases:
        if release["preset"] == "metallb-pool":
            release["values"] = {"addresses": ["192.0.2.240/28"]}
    releases += [
        {
            "name": "web",
            "chart": "./charts/web",
            "values": {"image": {"registry": "${globals.registry}"}},
        },
        {"name": "stack", "chart": "./charts/stack", "depends_on": ["web"]},
    ]
    data = {
        "name": "bench",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [{"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd"]}],
        "kubespray": {"kube_proxy_strict_arp": True, "gateway_api_enabled": True},
        "addons": {"globals": GLOBALS, "releases": releases},
    }
    shutil.copytree(CHARTS, directory / "charts")
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def direct(binary: Path, rendered: Path, jobs: list[tuple[str, str, str]]) -> float:
    """`helm template` per release, one after another, with the values render wrote."""
    start = time.perf_counter()
    for name, chart, namespace in jobs:
        subprocess.run(
            [
                str(binary),
                "template",
                name,
                chart,
                "--namespace",
                namespace,
                "--values",
                str(rendered / name / "values.yaml"),
                "--kube-version",
                "1.35.4",
                "--include-crds",
                "--skip-tests",
            ],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    binary = helm.find(download_missing=False)
    sources = os.environ.get(chart_repo.ENV_SOURCES)
    if not sources:
        sys.exit(f"set {chart_repo.ENV_SOURCES} (bash scripts/chart-sources.sh DIR)")
    with tempfile.TemporaryDirectory() as work:
        _root, flat, _repos, _builder = chart_repo.build(
            binary, Path(sources), Path(work) / "chart-repo"
        )
        os.environ["K8S_INSTALL_CHARTS"] = str(flat)
        path = make_repo(Path(work))
        cluster = config.load(path)
        settings = render.Settings(
            root=cluster.root,
            helm=helm.Helm(binary, Path(work) / "helm-home"),
            kube_version=cluster.kubernetes_version,
        )
        out_dir = cluster.root / render.RENDERED
        first = render.render_all(cluster.section("addons"), settings, out_dir)  # warm caches
        jobs = [(r.release.name, str(r.chart), r.release.namespace) for r in first.releases]
        serial = dataclasses.replace(settings, workers=1)
        ours: list[float] = []
        ours_serial: list[float] = []
        theirs: list[float] = []
        for _ in range(args.rounds):  # interleaved, so both sides see the same machine state
            start = time.perf_counter()
            render.render_all(cluster.section("addons"), settings, out_dir)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            render.render_all(cluster.section("addons"), serial, out_dir)
            ours_serial.append(time.perf_counter() - start)
            theirs.append(direct(binary, out_dir, jobs))
    result = {
        "releases": len(jobs),
        "rounds": args.rounds,
        "helm": helm.Helm(binary, Path(tempfile.gettempdir())).version(),
        "cpus": os.cpu_count(),
        "render_median_s": round(statistics.median(ours), 3),
        "direct_helm_template_median_s": round(statistics.median(theirs), 3),
        "render_one_at_a_time_median_s": round(statistics.median(ours_serial), 3),
        "ratio_render_to_direct": round(statistics.median(ours) / statistics.median(theirs), 2),
        "ratio_render_one_at_a_time_to_direct": round(
            statistics.median(ours_serial) / statistics.median(theirs), 2
        ),
    }
    target = ROOT / "bench" / "results" / "addons_render.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(json.dumps(result, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
