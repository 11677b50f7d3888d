"""Every preset with its real upstream chart (tests/chart_repo.py): `helm lint --strict` and
`helm template` with the preset's values, globals set and unset; the values validate against the
chart's values.schema.json (ours, before helm, and helm's own); the `registry` global alone sends
every image of the release to the mirror.

Needs K8S_INSTALL_CHART_SOURCES (scripts/chart-sources.sh; .ci/run fills it) and helm: the tests
fail in CI without them and skip elsewhere.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from artifacts import addon_images
from click.testing import CliRunner, Result

from chart_repo import ChartRepo, table
from k8s_install.addons import chart_files, images, values_schema
from k8s_install.cli import cli
from k8s_install.model import addon_presets as catalog
from k8s_install.model.addon_releases import expand

PRESETS = sorted(catalog.presets())
MIRROR = "registry.lab.example:5000"
GLOBALS: dict[str, Any] = {
    "registry": MIRROR,
    "storage_class": "fast-local",
    "ingress_domain": "apps.lab.example",
    "ingress_class": "public",
    "node_selector": {"node.example.com/pool": "infra"},
    "tolerations": [
        {"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}
    ],
    "proxy": {
        "http": "http://proxy.lab.example:3128",
        "https": "https://proxy.lab.example:3129",
        "no_proxy": ".svc,.cluster.local,10.0.0.0/8",
    },
}
# What a preset needs besides itself: the releases it requires, its own values, the engine.
POOL_VALUES = {"addresses": ["192.0.2.240-192.0.2.250"]}
ENGINE = {"kube_proxy_strict_arp": True, "gateway_api_enabled": True}
# An image reference naming a public registry, anywhere in a manifest (arguments, env, ...).
UPSTREAM = re.compile(
    r"(?<![\w./-])(?:docker\.io|quay\.io|registry\.k8s\.io|gcr\.io|ghcr\.io|cr\.fluentbit\.io|"
    r"public\.ecr\.aws|ecr-public\.aws\.com|registry\.traefik\.io|k8s\.gcr\.io)/[\w./-]+[:@][\w.:-]+"
)


def entry(name: str) -> dict[str, Any]:
    return {"preset": name, "values": POOL_VALUES} if name == "metallb-pool" else {"preset": name}


def releases_for(name: str) -> list[dict[str, Any]]:
    needed = list(catalog.get(name).requires)
    return [entry(n) for n in needed] + [entry(name)]


def unset_globals(name: str) -> dict[str, Any]:
    """No globals, except one a preset cannot do without (it has no fallback)."""
    text = json.dumps(catalog.get(name).values)
    return {k: GLOBALS[k] for k in ("ingress_domain",) if "${globals." + k + "}" in text}


def make_cluster(directory: Path, addons: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "name": "lab",
        "kubernetes": {"version": "1.35.4"},
        "nodes": [
            {"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd", "worker"]}
        ],
        "kubespray": ENGINE,
        "addons": addons,
    }
    path = directory / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def env(
    chart_repo: ChartRepo, helm_binary: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> ChartRepo:
    monkeypatch.setenv("K8S_INSTALL_HELM", str(helm_binary))
    monkeypatch.setenv("K8S_INSTALL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("K8S_INSTALL_CHARTS", str(chart_repo.charts_dir))
    return chart_repo


def chart_of(repo: ChartRepo, name: str) -> Path:
    preset = catalog.get(name)
    builtin = catalog.builtin_chart(preset.chart)
    return builtin if builtin is not None else repo.archive(preset.chart, preset.version)


def test_the_sources_table_pins_every_preset_chart() -> None:
    """tests/fixtures/chart-sources.tsv and the presets name the same versions."""
    pinned = {(s.chart, s.version) for s in table()}
    for preset in catalog.presets().values():
        if preset.repo:
            assert (preset.chart, preset.version) in pinned, preset.name
        else:
            assert catalog.builtin_chart(preset.chart) is not None, preset.name


def test_no_stand_in_charts_remain() -> None:
    assert not (Path(__file__).parent / "fixtures" / "charts" / "presets").exists()


@pytest.mark.parametrize("with_globals", [True, False], ids=["globals-set", "globals-unset"])
@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_lints_and_renders_with_its_real_chart(
    env: ChartRepo, helm_binary: Path, tmp_path: Path, name: str, with_globals: bool
) -> None:
    globals_ = GLOBALS if with_globals else unset_globals(name)
    addons = {"globals": globals_, "releases": releases_for(name)}
    path = make_cluster(tmp_path / "repo", addons)
    if name == "sealed":
        write_sealed_file(path.parent)

    checked = run("validate", "-c", str(path), "--json")  # the schema check runs here too
    problems = json.loads(checked.stdout)["problems"]
    assert [p for p in problems if p["severity"] == "error"] == [], problems
    rendered = run("addons", "render", "-c", str(path), "--json")
    assert rendered.exit_code == 0, rendered.output

    out = path.parent / "rendered" / "addons" / name
    values_file = out / "values.yaml"
    chart = chart_of(env, name)
    preset = catalog.get(name)
    lint = subprocess.run(
        [
            *(str(helm_binary), "lint", "--strict", str(chart), "--values", str(values_file)),
            *("--namespace", preset.namespace, "--kube-version", "1.35.4"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr

    files = chart_files.load(chart)
    release = next(r for r in expand(addons)[0] if r.name == name)
    values = yaml.safe_load(values_file.read_text())
    assert values_schema.problems(release, values, files) == []

    manifest = (out / "manifest.yaml").read_text()
    assert manifest.strip(), "the chart rendered nothing"
    used = images.by_release(path.parent)[name]
    if name not in ("metallb-pool", "sealed"):
        assert used, "no images found"
    docs = [d for d in yaml.safe_load_all(manifest) if d]
    if name in CHECKS:
        CHECKS[name](docs)
    if with_globals:
        assert [i for i in used if not i.startswith(MIRROR + "/")] == []
        assert sorted(set(UPSTREAM.findall(manifest))) == []
    else:
        assert all(re.match(r"^[a-z0-9.-]+\.[a-z]+(:\d+)?/", i) for i in used), used


# What each preset promises, read from the objects its real chart renders.


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, (kind, name, [d["metadata"]["name"] for d in found])
    return found[0]


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def args_of(obj: dict[str, Any]) -> list[str]:
    return [a for c in containers(obj) for a in c.get("args", [])]


def _metrics_server(docs: list[dict[str, Any]]) -> None:
    deployment = one(docs, "Deployment", "metrics-server")
    assert "--kubelet-insecure-tls" in args_of(deployment)  # self-signed kubelet certificates


def _metallb(docs: list[dict[str, Any]]) -> None:
    speaker = one(docs, "DaemonSet")
    assert [c["name"] for c in containers(speaker)] == ["speaker"]  # native L2: no FRR
    assert not [d for d in docs if "frr" in d["metadata"]["name"]]
    assert one(docs, "ValidatingWebhookConfiguration")  # what the pool waits for


def _metallb_pool(docs: list[dict[str, Any]]) -> None:
    pool = one(docs, "IPAddressPool", "default")
    assert pool["metadata"]["namespace"] == "metallb-system"
    assert pool["spec"]["addresses"] == POOL_VALUES["addresses"]
    l2 = one(docs, "L2Advertisement", "default")
    assert l2["spec"]["ipAddressPools"] == ["default"]


def _traefik(docs: list[dict[str, Any]]) -> None:
    assert one(docs, "GatewayClass", "traefik")["spec"] == {
        "controllerName": "traefik.io/gateway-controller"
    }
    gateway = one(docs, "Gateway", "traefik-gateway")
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    assert listeners["websecure"]["protocol"] == "HTTPS"
    assert listeners["websecure"]["tls"]["certificateRefs"] == [
        {"kind": "Secret", "name": "gateway-tls"}
    ]
    assert all(
        item["allowedRoutes"]["namespaces"] == {"from": "All"} for item in listeners.values()
    )
    assert one(docs, "Service", "traefik")["spec"]["type"] == "LoadBalancer"
    ingress_class = one(docs, "IngressClass")
    assert ingress_class["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"]
    args = args_of(one(docs, "Deployment", "traefik"))
    assert "--providers.kubernetesgateway" in args and "--providers.kubernetesingress" in args
    assert "--global.checkNewVersion=false" in args
    crds = {d["spec"]["group"] for d in docs if d["kind"] == "CustomResourceDefinition"}
    assert "gateway.networking.k8s.io" not in crds  # the engine installs those


def _sealed_secrets(docs: list[dict[str, Any]]) -> None:
    deployment = one(docs, "Deployment", "sealed-secrets-controller")
    assert deployment["metadata"]["namespace"] == "kube-system"  # kubeseal's defaults
    args = args_of(deployment)
    assert args[args.index("--key-renew-period") + 1] == "0"


# A SealedSecret as `k8s-install secrets seal` writes it (tests/test_addons_sealed_secrets.py
# seals real ones); the ciphertext is only carried here, never opened.
SEALED = {
    "apiVersion": "bitnami.com/v1alpha1",
    "kind": "SealedSecret",
    "metadata": {"name": "gateway-tls", "namespace": "traefik"},
    "spec": {
        "encryptedData": {"tls.crt": "AgBx", "tls.key": "AgBy"},
        "template": {
            "metadata": {"name": "gateway-tls", "namespace": "traefik"},
            "type": "kubernetes.io/tls",
        },
    },
}


def write_sealed_file(root: Path) -> None:
    path = root / "sealed" / "traefik" / "gateway-tls.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(SEALED))


def _sealed(docs: list[dict[str, Any]]) -> None:
    sealed = one(docs, "SealedSecret", "gateway-tls")
    assert sealed["metadata"]["namespace"] == "traefik"  # its own, not the release's
    assert sealed["spec"] == SEALED["spec"]


def _local_path(docs: list[dict[str, Any]]) -> None:
    helper = one(docs, "ConfigMap", "local-path-config")["data"]["helperPod.yaml"]
    assert "busybox:1.35.0" in helper and ":latest" not in helper


def _hello(docs: list[dict[str, Any]]) -> None:
    route = one(docs, "HTTPRoute", "hello")
    parent = route["spec"]["parentRefs"][0]
    assert (parent["name"], parent["namespace"], parent["sectionName"]) == (
        "traefik-gateway",
        "traefik",
        "websecure",
    )
    assert route["spec"]["hostnames"][0].startswith("hello.")
    assert one(docs, "Service", "hello-lb")["spec"]["type"] == "LoadBalancer"
    assert one(docs, "PodDisruptionBudget", "hello")["spec"]["minAvailable"] == 1


CHECKS = {
    "hello": _hello,
    "metrics-server": _metrics_server,
    "metallb": _metallb,
    "metallb-pool": _metallb_pool,
    "traefik": _traefik,
    "sealed-secrets": _sealed_secrets,
    "sealed": _sealed,
    "local-path-provisioner": _local_path,
}


# A value each chart's values.schema.json refuses: ours reports it first (exit 2, the path in
# cluster.yaml), and helm refuses it too when it renders the chart directly.
REFUSED: dict[str, tuple[dict[str, Any], str, str]] = {
    "metallb": ({"controller": {"logLevel": "loud"}}, "controller.logLevel", "is not one of"),
    "cert-manager": ({"replicaCount": "two"}, "replicaCount", "is not of type 'number'"),
    "traefik": ({"deployment": {"replicas": -1}}, "deployment.replicas", "less than the minimum"),
    "metallb-pool": ({"addresses": ["lab"]}, "addresses[0]", "does not match"),
    "hello": ({"replicas": 0}, "replicas", "less than the minimum"),
    "sealed": ({"labels": {"team": 5}}, "labels.team", "is not of type 'string'"),
}


def test_every_chart_with_a_schema_has_a_refused_value(env: ChartRepo) -> None:
    with_schema = {n for n in PRESETS if chart_files.load(chart_of(env, n)).schema is not None}
    assert with_schema == set(REFUSED)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_value_the_chart_schema_refuses_is_exit_2_before_helm_and_helm_agrees(
    env: ChartRepo, helm_binary: Path, tmp_path: Path, name: str
) -> None:
    bad, where, message = REFUSED[name]
    releases = releases_for(name)
    releases[-1] = {**releases[-1], "values": {**releases[-1].get("values", {}), **bad}}
    path = make_cluster(tmp_path / "repo", {"releases": releases})
    index = len(releases) - 1
    expected = f"addons.releases[{index}].values.{where}"
    for command in (["validate"], ["addons", "render"], ["plan"]):
        result = run(*command, "-c", str(path), "--json")
        assert result.exit_code == 2, (command, result.output)
        report = json.loads(result.stdout)
        found = [p for p in report["problems"] if p["path"] == expected]
        assert found, (command, report["problems"])
        assert f"release '{name}'" in found[0]["message"] and message in found[0]["message"]
    assert not (path.parent / "rendered").exists()

    values_file = tmp_path / "bad.yaml"
    values_file.write_text(yaml.safe_dump(bad))
    direct = subprocess.run(
        [str(helm_binary), "template", name, str(chart_of(env, name)), "-f", str(values_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert direct.returncode != 0
    assert "values don't meet the specifications of the schema" in direct.stderr


def test_all_presets_together_validate_against_their_charts_in_waves(
    env: ChartRepo, tmp_path: Path
) -> None:
    """One cluster.yaml with every preset: no value written twice (globals carry the shared
    ones), every chart's schema accepts its values, and the waves put each preset after what
    it needs. (Each preset's rendering is proven above, one at a time.)"""
    releases = [entry(name) for name in PRESETS]
    addons = {"globals": GLOBALS, "releases": releases}
    written = Counter(json.dumps(v) for v in leaves(addons))
    assert [v for v, n in written.items() if n > 1] == []
    path = make_cluster(tmp_path / "repo", addons)
    checked = run("validate", "-c", str(path), "--json")
    problems = json.loads(checked.stdout)["problems"]
    assert checked.exit_code == 0
    assert [p["path"] for p in problems] == [
        f"addons.releases[{PRESETS.index('ingress-nginx')}].preset"
    ]
    listed = json.loads(run("addons", "list", "-c", str(path), "--json").stdout)["releases"]
    waves = {r["name"]: r["wave"] for r in listed}
    assert waves["metallb"] < waves["metallb-pool"] < waves["traefik"]
    assert waves["traefik"] < waves["argo-cd"] and waves["traefik"] < waves["kube-prometheus-stack"]
    assert waves["local-path-provisioner"] < waves["kube-prometheus-stack"]
    assert waves["cert-manager"] < waves["argo-cd"]


def leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in leaves(v)]
    return [value]


# The addons whose images scripts/artifacts builds from their Go modules (addon_images.py).
BUILT = ("local-path-provisioner", "metallb", "metrics-server", "sealed-secrets", "traefik")


def test_the_images_built_from_go_modules_are_the_ones_the_presets_run(
    env: ChartRepo, tmp_path: Path
) -> None:
    """Rendered with their real charts and no globals, the presets of BUILT run exactly the
    images build.py writes: the same names and tags, busybox of the helper pod included."""
    releases = [entry(name) for name in BUILT] + [entry("metallb-pool")]
    path = make_cluster(tmp_path / "repo", {"globals": {}, "releases": releases})
    rendered = run("addons", "render", "-c", str(path), "--json")
    assert rendered.exit_code == 0, rendered.output
    used = images.by_release(path.parent)
    run_by_pods = {image for name in BUILT for image in used[name]}
    manifest = path.parent / "rendered" / "addons" / "local-path-provisioner" / "manifest.yaml"
    config = one(list(yaml.safe_load_all(manifest.read_text())), "ConfigMap", "local-path-config")
    helper = yaml.safe_load(config["data"]["helperPod.yaml"])
    (helper_image,) = {c["image"] for c in helper["spec"]["containers"]}
    assert sorted({*run_by_pods, helper_image}) == addon_images.names()
