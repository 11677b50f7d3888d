"""What addons need of the engine and of each other, checked by `validate` before any host:
MetalLB and strict ARP under ipvs, Traefik's Gateway API CRDs, metallb-pool needing metallb, the
retired ingress-nginx preset (a warning), builtin charts, and values a chart's schema refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from k8s_install.base import output_schemas as jsonout
from k8s_install.base.resources import sample_cluster
from k8s_install.cli import cli

POOL = {"preset": "metallb-pool", "values": {"addresses": ["192.0.2.240-192.0.2.250"]}}
ARP_MESSAGE = "needs strict ARP when kubespray.kube_proxy_mode is ipvs"


def write(tmp_path: Path, addons: dict[str, Any], kubespray: dict[str, Any] | None = None) -> Path:
    data = yaml.safe_load(sample_cluster().read_text())
    data["addons"] = addons
    if kubespray is not None:
        data["kubespray"] = kubespray
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def validate(path: Path) -> tuple[int, list[dict[str, str]]]:
    result = CliRunner().invoke(cli, ["validate", "-c", str(path), "--json"])
    report = json.loads(result.stdout)
    assert jsonout.errors("validate", report) == []
    return result.exit_code, report["problems"]


def errors(problems: list[dict[str, str]]) -> list[dict[str, str]]:
    return [p for p in problems if p["severity"] == "error"]


@pytest.mark.parametrize(
    ("releases", "kubespray"),
    [
        pytest.param([{"preset": "metallb"}], None, id="metallb-engine-default-ipvs"),
        pytest.param([{"preset": "metallb"}, POOL], {"kube_proxy_mode": "ipvs"}, id="ipvs-set"),
        pytest.param(
            [{"preset": "metallb"}],
            {"kube_proxy_mode": "ipvs", "kube_proxy_strict_arp": False},
            id="strict-arp-false",
        ),
        pytest.param(
            [
                {
                    "name": "lb",
                    "chart": "metallb",
                    "repo": "https://metallb.github.io/metallb",
                    "version": "0.15.2",
                }
            ],
            None,
            id="own-metallb-release",
        ),
    ],
)
def test_metallb_under_ipvs_without_strict_arp_is_refused_naming_both_fields(
    tmp_path: Path, releases: list[dict[str, Any]], kubespray: dict[str, Any] | None
) -> None:
    code, problems = validate(write(tmp_path, {"releases": releases}, kubespray))
    assert code == 2
    found = [p for p in errors(problems) if p["path"] == "kubespray.kube_proxy_strict_arp"]
    assert len(found) == 1, problems
    assert ARP_MESSAGE in found[0]["message"] and "addons.releases[0]" in found[0]["message"]
    assert "kube_proxy_strict_arp: true" in found[0]["fix"]
    assert "kube_proxy_mode" in found[0]["fix"]


@pytest.mark.parametrize(
    "kubespray",
    [
        {"kube_proxy_strict_arp": True},
        {"kube_proxy_mode": "ipvs", "kube_proxy_strict_arp": True},
        {"kube_proxy_mode": "iptables"},
        {"kube_proxy_mode": "nftables"},
    ],
)
def test_metallb_passes_with_strict_arp_or_without_ipvs(
    tmp_path: Path, kubespray: dict[str, Any]
) -> None:
    code, problems = validate(
        write(tmp_path, {"releases": [{"preset": "metallb"}, POOL]}, kubespray)
    )
    assert (code, errors(problems)) == (0, [])


def test_no_metallb_no_strict_arp_needed(tmp_path: Path) -> None:
    code, problems = validate(write(tmp_path, {"releases": [{"preset": "metrics-server"}]}))
    assert (code, errors(problems)) == (0, [])


def test_the_pool_needs_the_metallb_release(tmp_path: Path) -> None:
    path = write(tmp_path, {"releases": [POOL]}, {"kube_proxy_strict_arp": True})
    code, problems = validate(path)
    assert code == 2
    (found,) = [p for p in errors(problems) if p["path"] == "addons.releases[0].preset"]
    assert "needs an enabled metallb release" in found["message"]
    assert "- preset: metallb" in found["fix"]
    renamed = {"releases": [{"preset": "metallb", "name": "lb"}, POOL]}  # matched by preset
    assert validate(write(tmp_path, renamed, {"kube_proxy_strict_arp": True}))[0] == 0


def test_the_pool_installs_after_metallb(tmp_path: Path) -> None:
    path = write(
        tmp_path, {"releases": [POOL, {"preset": "metallb"}]}, {"kube_proxy_strict_arp": True}
    )
    result = CliRunner().invoke(cli, ["addons", "list", "-c", str(path), "--json"])
    rows = {r["name"]: r for r in json.loads(result.stdout)["releases"]}
    assert (rows["metallb"]["wave"], rows["metallb-pool"]["wave"]) == (1, 2)


def test_traefik_gateway_needs_the_engine_to_install_the_gateway_api_crds(
    tmp_path: Path,
) -> None:
    code, problems = validate(write(tmp_path, {"releases": [{"preset": "traefik"}]}))
    assert code == 2
    (found,) = [p for p in errors(problems) if p["path"] == "kubespray.gateway_api_enabled"]
    assert "ships no Gateway API CRDs" in found["message"]
    assert "gateway_api_enabled: true" in found["fix"]
    ok = write(tmp_path, {"releases": [{"preset": "traefik"}]}, {"gateway_api_enabled": True})
    assert validate(ok)[0] == 0
    off = {"providers": {"kubernetesGateway": {"enabled": False}}}
    no_gateway = write(tmp_path, {"releases": [{"preset": "traefik", "values": off}]})
    assert validate(no_gateway)[0] == 0


def test_ingress_nginx_is_a_warning_naming_its_retirement(tmp_path: Path) -> None:
    code, problems = validate(write(tmp_path, {"releases": [{"preset": "ingress-nginx"}]}))
    assert code == 0
    (warning,) = [p for p in problems if p["path"] == "addons.releases[0].preset"]
    assert warning["severity"] == "warning"
    assert "retired upstream in March 2026" in warning["message"]
    assert "Kubespray v2.31.0 removed it" in warning["message"]
    assert "traefik" in warning["fix"]
    text = CliRunner().invoke(cli, ["validate", "-c", str(tmp_path / "cluster.yaml")])
    assert text.exit_code == 0 and "retired upstream" in text.output


@pytest.mark.parametrize(
    ("entry", "path", "message"),
    [
        (
            {"name": "p", "chart": "builtin://metallb-pol"},
            "chart",
            "no chart builtin://metallb-pol",
        ),
        ({"name": "p", "chart": "builtin://../charts/x"}, "chart", "ships with k8s-install"),
        ({**POOL, "version": "9.9.9"}, "version", "at version 0.1.0, not 9.9.9"),
        ({**POOL, "repo": "https://charts.example.com"}, "repo", "takes no repo"),
    ],
)
def test_bad_builtin_charts_are_named(
    tmp_path: Path, entry: dict[str, Any], path: str, message: str
) -> None:
    releases = [{"preset": "metallb"}, entry]
    code, problems = validate(
        write(tmp_path, {"releases": releases}, {"kube_proxy_strict_arp": True})
    )
    assert code == 2
    found = [p for p in errors(problems) if p["path"] == f"addons.releases[1].{path}"]
    assert found and message in found[0]["message"], problems


# Values the chart's values.schema.json refuses: the shipped metallb-pool chart is always on disk.


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    ("values", "path", "message"),
    [
        pytest.param({}, "addons.releases[1].values.addresses", "should be non-empty", id="none"),
        pytest.param(
            {"addresses": ["192.0.2.0/24", "the whole lab"]},
            "addons.releases[1].values.addresses[1]",
            "does not match",
            id="not-an-address",
        ),
        pytest.param(
            {"addresses": ["192.0.2.0/24"], "l2": {"enabled": "yes"}},
            "addons.releases[1].values.l2.enabled",
            "is not of type 'boolean'",
            id="wrong-type",
        ),
        pytest.param(
            {"addresses": ["192.0.2.0/24"], "adresses": ["192.0.2.0/24"]},
            "addons.releases[1].values.adresses",
            "Additional properties are not allowed",
            id="unknown-key",
        ),
        pytest.param(
            {"addresses": None},
            "addons.releases[1].values.addresses",
            "'addresses' is a required property",
            id="null-deletes-the-default",
        ),
    ],
)
def test_values_the_chart_schema_refuses_exit_2_at_validate_plan_and_up(
    tmp_path: Path, values: dict[str, Any], path: str, message: str
) -> None:
    releases = [{"preset": "metallb"}, {"preset": "metallb-pool", "values": values}]
    cluster = write(tmp_path, {"releases": releases}, {"kube_proxy_strict_arp": True})
    code, problems = validate(cluster)
    assert code == 2
    found = [p for p in errors(problems) if p["path"] == path]
    assert found, problems
    assert "release 'metallb-pool'" in found[0]["message"] and message in found[0]["message"]
    assert "metallb-pool 0.1.0" in found[0]["message"]
    for command in (["plan"], ["up", "--yes"]):
        result = run(*command, "-c", str(cluster), "--json")
        assert result.exit_code == 2, (command, result.output)
        error = json.loads(result.stdout)
        assert jsonout.errors("error", error) == []
        assert any(p["path"] == path for p in error["problems"]), error
    # Nothing was touched: no inventory, no run record, no state.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cluster.yaml"]


def test_values_the_chart_schema_accepts_pass(tmp_path: Path) -> None:
    cluster = write(
        tmp_path, {"releases": [{"preset": "metallb"}, POOL]}, {"kube_proxy_strict_arp": True}
    )
    assert validate(cluster) == (0, [])
