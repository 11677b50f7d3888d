"""validate against malformed values, by class: addresses and names, Kubernetes syntax, engine
choices, secrets, and values large or strange enough to crash, hang or echo a file."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from k8s_install.base.errors import Problem
from k8s_install.base.resources import sample_cluster
from k8s_install.model import names, yamlfile
from k8s_install.model.schema import OWN_PLUGINS
from k8s_install.model.validate import problems_in

BASE: dict[str, Any] = {
    "name": "lab",
    "kubernetes": {"version": "1.35.4"},
    "nodes": [
        {"name": "cp1", "address": "192.0.2.11", "roles": ["control-plane", "etcd", "worker"]},
        {"name": "w1", "address": "192.0.2.12", "roles": ["worker"]},
    ],
}


def _problems(data: Any) -> list[Problem]:
    return problems_in(yamlfile.Document(data=data, source="cluster.yaml"))


def _errors(data: Any) -> list[Problem]:
    return [p for p in _problems(data) if p.severity == "error"]


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def _node(field: str, value: Any, index: int = 1) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["nodes"][index][field] = value

    return change


def _set(section: str, field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data.setdefault(section, {})[field] = value

    return change


def test_base_is_valid() -> None:
    assert _errors(BASE) == []


# --- 1. Node addresses and names -------------------------------------------------------------

BAD_ADDRESSES = [
    ("space in hostname", "node a.example.com", "host name"),
    ("empty", "", "empty"),
    ("octet over 255", "300.1.2.3", "IPv4"),
    ("leading zero", "192.0.2.021", "leading zero"),
    ("three octets", "192.0.2", "IPv4"),
    ("five octets", "192.0.2.1.5", "IPv4"),
    ("trailing dot ip", "192.0.2.1.", "IPv4"),
    ("malformed IPv6", "2001:db8:::1", "IP address"),
    ("IPv6 literal (unsupported)", "2001:db8::1", "IPv6 is not supported"),
    ("underscore", "node_a.example.com", "host name"),
    ("leading hyphen", "-node.example.com", "host name"),
    ("double dot", "node..example.com", "empty part"),
    ("label over 63", "a" * 64 + ".example.com", "63"),
    ("name over 253", ".".join(["a" * 60] * 5), "253"),
    ("numeric last label", "host.123", "number"),
    ("shell metacharacters", "host;rm -rf /", "host name"),
    ("option injection", "-oProxyCommand=id", "host name"),
    ("newline", "host\nname", "host name"),
]


@pytest.mark.parametrize(
    ("value", "word"), [c[1:] for c in BAD_ADDRESSES], ids=[c[0] for c in BAD_ADDRESSES]
)
def test_bad_node_address_is_refused(value: str, word: str) -> None:
    errors = [p for p in _errors(_with(_node("address", value))) if p.path == "nodes[1].address"]
    assert errors, f"{value!r} passed"
    assert word.lower() in errors[0].message.lower()


@pytest.mark.parametrize(
    "value",
    ["192.0.2.12", "node-a.example.com", "NODE-A.Example.COM", "w1", "a.b.c.d.e", "host."],
)
def test_good_node_address_passes(value: str) -> None:
    assert _errors(_with(_node("address", value))) == []


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("w1.example.com", "IPv4"),
        ("", "empty"),
        ("10.0.0.256", "IPv4"),
        ("10.0.0.01", "leading zero"),
        ("fe80::1", "IPv6"),
        ("::ffff:10.0.0.1", "IPv6"),
    ],
)
def test_internal_address_must_be_an_ipv4_address(value: str, word: str) -> None:
    errors = _errors(_with(_node("internal_address", value)))
    assert any(p.path == "nodes[1].internal_address" and word in p.message for p in errors)


DUPLICATES = [
    ("host name case", "NODE-A.example.com", "node-a.example.com", "address"),
    ("trailing dot", "node-a.example.com.", "node-a.example.com", "address"),
    ("leading-zero octet", "192.0.2.21", "192.0.2.021", "address"),
]


@pytest.mark.parametrize(
    ("first", "second", "field"), [c[1:] for c in DUPLICATES], ids=[c[0] for c in DUPLICATES]
)
def test_duplicates_are_compared_in_canonical_form(first: str, second: str, field: str) -> None:
    def change(data: dict[str, Any]) -> None:
        data["nodes"][0]["address"] = first
        data["nodes"][1]["address"] = second

    errors = _errors(_with(change))
    assert any("duplicate" in p.message for p in errors), errors


def test_same_ip_with_different_ssh_ports_needs_internal_addresses() -> None:
    def change(data: dict[str, Any]) -> None:
        data["nodes"][1]["address"] = "192.0.2.11"
        data["nodes"][1]["ssh_port"] = 2222

    assert any("duplicate cluster address" in p.message for p in _errors(_with(change)))


def test_ssh_port_defaulted_is_the_same_endpoint_as_22_written_out() -> None:
    def change(data: dict[str, Any]) -> None:
        data["nodes"][1]["address"] = "192.0.2.11"
        data["nodes"][1]["ssh_port"] = 22

    assert any(
        p.path == "nodes[1].address" and "duplicate address" in p.message
        for p in _errors(_with(change))
    )


def test_duplicate_internal_addresses_in_canonical_form() -> None:
    def change(data: dict[str, Any]) -> None:
        data["nodes"][0]["internal_address"] = "10.0.0.1"
        data["nodes"][1]["internal_address"] = "10.0.0.001"

    assert any("duplicate" in p.message for p in _errors(_with(change)))


@pytest.mark.parametrize("user", ["root -oProxyCommand=id", "-root", "", "a b", "x" * 65, "us\ner"])
def test_bad_ssh_user_is_refused(user: str) -> None:
    assert any(p.path == "nodes[1].ssh_user" for p in _errors(_with(_node("ssh_user", user))))
    assert any(p.path == "access.user" for p in _errors(_with(_set("access", "user", user))))


@pytest.mark.parametrize("user", ["root", "ubuntu", "ci-bot", "svc_k8s", "admin@corp", "a.b"])
def test_good_ssh_user_passes(user: str) -> None:
    assert _errors(_with(_node("ssh_user", user))) == []


def test_bastion_address_is_checked() -> None:
    data = _with(lambda d: d.update(access={"bastion": {"address": "300.0.0.1"}}))
    assert any(p.path == "access.bastion.address" for p in _errors(data))


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("192.0.2.21", "192.0.2.21"),
        ("192.0.2.021", "192.0.2.21"),
        ("Node-A.Example.com.", "node-a.example.com"),
        ("2001:DB8:0::1", "2001:db8::1"),
    ],
)
def test_canonical_address(name: str, canonical: str) -> None:
    assert names.canonical_address(name) == canonical


# --- 2. Kubernetes syntax ---------------------------------------------------------------------

BAD_LABEL_KEYS = [
    ("empty", ""),
    ("space", "my label"),
    ("two slashes", "a/b/c"),
    ("name over 63", "a" * 64),
    ("prefix over 253", ".".join(["a" * 60] * 5) + "/x"),
    ("upper-case prefix", "Example.com/x"),
    ("empty prefix", "/x"),
    ("empty name", "example.com/"),
    ("name ends with dash", "name-"),
    ("name starts with dot", ".name"),
    ("unicode", "zöne"),
]


@pytest.mark.parametrize("key", [c[1] for c in BAD_LABEL_KEYS], ids=[c[0] for c in BAD_LABEL_KEYS])
def test_bad_label_key_is_refused(key: str) -> None:
    errors = _errors(_with(_node("labels", {key: "v"})))
    assert any("label key" in p.message for p in errors), key


BAD_LABEL_VALUES = [
    ("over 63", "v" * 64),
    ("space", "a b"),
    ("slash", "a/b"),
    ("ends with dash", "abc-"),
    ("colon", "a:b"),
]


@pytest.mark.parametrize(
    "value", [c[1] for c in BAD_LABEL_VALUES], ids=[c[0] for c in BAD_LABEL_VALUES]
)
def test_bad_label_value_is_refused(value: str) -> None:
    errors = _errors(_with(_node("labels", {"tier": value})))
    assert any("label value" in p.message for p in errors), value


@pytest.mark.parametrize(
    "labels",
    [
        {"tier": ""},
        {"topology.kubernetes.io/zone": "eu-1a"},
        {"example.com/Rack_1.A": "R1_a.b-c"},
        {"a" * 63: "b" * 63},
        {"a.b/" + "c" * 63: "x"},
    ],
)
def test_good_labels_pass(labels: dict[str, str]) -> None:
    assert _errors(_with(_node("labels", labels))) == []


@pytest.mark.parametrize(
    ("taint", "word"),
    [
        ("dedicated=infra:NoSchedul", "NoSchedule"),
        ("dedicated=infra:noschedule", "NoSchedule"),
        ("dedicated=infra", "effect"),
        ("dedicated=infra:", "NoSchedule"),
        ("bad key=x:NoSchedule", "key"),
        ("k=" + "v" * 64 + ":NoExecute", "63"),
        (":NoSchedule", "key"),
    ],
)
def test_bad_taint_names_what_is_wrong(taint: str, word: str) -> None:
    errors = [p for p in _errors(_with(_node("taints", [taint]))) if "taint" in p.message]
    assert errors, taint
    text = " ".join(f"{p.message} {p.fix}" for p in errors)
    assert word in text
    assert "^[" not in text and "(NoSchedule|" not in text, "no raw regular expression"


@pytest.mark.parametrize(
    "taint", ["dedicated=infra:NoSchedule", "gpu:NoExecute", "example.com/k=:PreferNoSchedule"]
)
def test_good_taint_passes(taint: str) -> None:
    assert _errors(_with(_node("taints", [taint]))) == []


@pytest.mark.parametrize("cidr", ["10.96.0.0/32", "10.96.0.0/31", "10.96.0.0/30", "10.96.0.0/29"])
def test_too_small_service_cidr_is_refused(cidr: str) -> None:
    errors = _errors(_with(_set("network", "service_cidr", cidr)))
    assert any(p.path == "network.service_cidr" and "too few" in p.message for p in errors)


def test_too_large_service_cidr_is_refused() -> None:
    errors = _errors(_with(_set("network", "service_cidr", "10.0.0.0/8")))
    assert any(p.path == "network.service_cidr" and "/12" in p.message for p in errors)


@pytest.mark.parametrize("cidr", ["10.96.0.0/28", "10.96.0.0/12", "10.96.0.0/16"])
def test_service_cidr_in_range_passes(cidr: str) -> None:
    assert _errors(_with(_set("network", "service_cidr", cidr))) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("pod_cidr", "fd00:10:233::/64"),
        ("service_cidr", "fd00:96::/112"),
        ("node_cidr", "2001:db8::/64"),
    ],
)
def test_ipv6_networks_are_refused_naming_the_supported_family(field: str, value: str) -> None:
    errors = _errors(_with(_set("network", field, value)))
    mine = [p for p in errors if p.path.startswith("network.")]
    assert mine and all("IPv4" in p.message + p.fix for p in mine)
    assert any("IPv6 is not supported" in p.message for p in mine)
    for problem in errors:  # no fix may suggest what the schema forbids
        assert "node_prefix larger than" not in problem.fix


@pytest.mark.parametrize(
    ("pod_cidr", "prefix", "nodes"),
    [
        ("10.0.0.0/28", 28, 2),
        ("10.0.0.0/27", 27, 2),
        ("10.0.0.0/24", 26, 10),
        ("10.0.0.0/20", 24, 40),
    ],
)
def test_node_prefix_fixes_stay_inside_the_schema(pod_cidr: str, prefix: int, nodes: int) -> None:
    def change(data: dict[str, Any]) -> None:
        data["network"] = {"pod_cidr": pod_cidr, "node_prefix": prefix}
        data["nodes"] += [
            {"name": f"x{i}", "address": f"192.0.2.{100 + i}", "roles": ["worker"]}
            for i in range(nodes - 2)
        ]

    errors = [p for p in _errors(_with(change)) if p.path.startswith("network.")]
    assert errors
    for problem in errors:
        for number in [int(n) for n in _numbers_after(problem.fix, "node_prefix")]:
            assert 16 <= number <= 28, problem.fix


def _numbers_after(text: str, word: str) -> list[str]:
    return re.findall(rf"{word}[^0-9/]*?(\d+)", text)


# --- 3. Values the engine lock defines -------------------------------------------------------


@pytest.mark.parametrize(
    ("plugin", "suggestion"),
    [("calicoo", "calico"), ("Cilium", "cilium"), ("flanel", "flannel"), ("weave", None)],
)
def test_network_plugin_is_checked_against_the_lock(plugin: str, suggestion: str | None) -> None:
    errors = [
        p for p in _errors(_with(_set("network", "plugin", plugin))) if p.path == "network.plugin"
    ]
    assert errors
    if suggestion:
        assert f"did you mean '{suggestion}'" in errors[0].fix
    assert "calico" in errors[0].fix


@pytest.mark.parametrize("plugin", ["calico", "cilium", "flannel", "kube-ovn", "none"])
def test_network_plugins_of_the_lock_pass(plugin: str) -> None:
    assert _errors(_with(_set("network", "plugin", plugin))) == []


@pytest.mark.parametrize("plugin", OWN_PLUGINS)
def test_own_network_plugins_pass(plugin: str) -> None:
    """k8s-install's own pod networks (bridge) are not in the engine lock, and are valid."""
    assert _errors(_with(_set("network", "plugin", plugin))) == []


def test_own_network_plugin_typo_has_a_did_you_mean() -> None:
    errors = [
        p for p in _errors(_with(_set("network", "plugin", "bridg"))) if p.path == "network.plugin"
    ]
    assert len(errors) == 1
    assert "did you mean 'bridge'" in errors[0].fix


def test_kubernetes_version_has_a_did_you_mean() -> None:
    errors = _errors(_with(lambda d: d.update(kubernetes={"version": "1.35.40"})))
    assert any("did you mean '1.35.4'" in p.fix for p in errors)


def test_engine_release_has_a_did_you_mean() -> None:
    errors = _errors(_with(lambda d: d.update(engine={"release": "v2.31.1"})))
    assert any(p.path == "engine.release" and "v2.31.0" in p.fix for p in errors)


# --- 4. Secrets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [123456, 3.14, 0x1F, "hunter2", ["hunter2"], [123456]],
    ids=["int", "float", "hex-int", "string", "list-of-strings", "list-of-ints"],
)
def test_plaintext_secret_in_any_type_is_flagged(value: Any) -> None:
    data = _with(lambda d: d.update(kubespray={"registry_password": value}))
    assert any("plaintext secret" in p.message for p in _errors(data)), value


@pytest.mark.parametrize("value", [True, False, None, "", "{{ lookup('env', 'X') }}"])
def test_non_secrets_under_secret_names_pass(value: Any) -> None:
    data = _with(lambda d: d.update(kubespray={"registry_password": value}))
    assert not any("plaintext secret" in p.message for p in _errors(data))


def test_vaulted_secret_passes() -> None:
    text = "$ANSIBLE_VAULT;1.1;AES256\n6162\n"
    data = _with(lambda d: d.update(kubespray={"registry_password": yamlfile.Vaulted(text)}))
    assert _errors(data) == []


# --- 5. Files that are not cluster definitions; long values ----------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"root": "x:0:0:root:/root:/bin/bash", "daemon": "x:1:1"},
        {"MemTotal": "16 GB", "MemFree": "1 GB"},
        {"Types": "deb", "URIs": "http://archive.example/ubuntu"},
        {},
    ],
)
def test_a_mapping_with_no_known_key_is_refused_without_echo(data: dict[str, str]) -> None:
    problems = _problems(data)
    assert len(problems) == 1
    text = str(problems[0])
    assert "not a cluster definition" in text
    for key, value in data.items():
        assert key not in text and value not in text


@pytest.mark.parametrize("data", [None, "root:x:0:0", 42, ["a", "b"], True])
def test_a_non_mapping_is_refused_without_echo(data: Any) -> None:
    problems = _problems(data)
    assert len(problems) == 1 and "mapping" in problems[0].message
    assert str(data) not in problems[0].message or data in (None, True)


LONG = "x" * 10_000_000


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(name=LONG),
        lambda d: d.update(kubernetes={"version": LONG}),
        lambda d: d["nodes"][1].update(address=LONG),
        lambda d: d["nodes"][1].update(roles=[LONG]),
        lambda d: d["nodes"][1].update(labels={LONG: LONG}),
        lambda d: d["nodes"][1].update(taints=[LONG]),
        lambda d: d["nodes"][1].update(ssh_port=LONG),
        lambda d: d.update({LONG: 1}),
        lambda d: d.update(network={"plugin": LONG, "pod_cidr": LONG}),
        lambda d: d.update(access={"host_key_checking": LONG}),
        lambda d: d.update(offline={"enabled": True, "repo_host": LONG, "bundle": "b"}),
        lambda d: d.update(engine={"release": LONG}),
    ],
    ids=[
        "name",
        "version",
        "address",
        "role",
        "label",
        "taint",
        "ssh_port",
        "top-level key",
        "network",
        "boolean",
        "repo_host",
        "release",
    ],
)
def test_long_values_are_cut_short(change: Callable[[dict[str, Any]], None]) -> None:
    started = time.perf_counter()
    problems = _problems(_with(change))
    assert problems
    assert time.perf_counter() - started < 5
    for problem in problems:
        assert len(problem.message) <= 600 and len(problem.path) <= 600
        assert "x" * 81 not in problem.message + problem.path + problem.fix


# --- Property tests: validate never crashes on any value anywhere ----------------------------

_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True),
        st.text(max_size=30),
        st.sampled_from(
            ["", "10.0.0.0/8", "::1", "192.0.2.021", "calico", "control-plane", "1.35.4", "-x"]
        ),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(max_size=12),
                st.sampled_from(["name", "address", "roles", "labels", "taints", "plugin"]),
            ),
            children,
            max_size=4,
        ),
    ),
    max_leaves=20,
)

_FIELDS = [
    ("name",),
    ("kubernetes",),
    ("kubernetes", "version"),
    ("nodes",),
    ("nodes", 0),
    ("nodes", 1, "name"),
    ("nodes", 1, "address"),
    ("nodes", 1, "internal_address"),
    ("nodes", 1, "roles"),
    ("nodes", 1, "labels"),
    ("nodes", 1, "taints"),
    ("nodes", 1, "ssh_port"),
    ("nodes", 1, "ssh_user"),
    ("network",),
    ("network", "plugin"),
    ("network", "pod_cidr"),
    ("network", "service_cidr"),
    ("network", "node_prefix"),
    ("access",),
    ("access", "bastion"),
    ("offline",),
    ("offline", "repo_host"),
    ("addons",),
    ("addons", "releases"),
    ("addons", "globals"),
    ("kubespray",),
    ("engine",),
    ("engine", "release"),
    ("security",),
    ("backup",),
]


def _put(data: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    target: Any = data
    for part in path[:-1]:
        if isinstance(part, str):
            target = target.setdefault(part, {}) if isinstance(target, dict) else {}
        else:
            target = target[part] if isinstance(target, list) and len(target) > part else {}
    fits = isinstance(target, list) and isinstance(path[-1], int) and len(target) > path[-1]
    if isinstance(target, dict) or fits:
        target[path[-1]] = value


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(_FIELDS), _json), min_size=1, max_size=4))
def test_validate_never_crashes_on_any_value(changes: list[tuple[tuple[Any, ...], Any]]) -> None:
    data = copy.deepcopy(BASE)
    for path, value in changes:
        _put(data, path, value)
    problems = _problems(data)
    assert all(isinstance(p, Problem) for p in problems)


@settings(max_examples=100, deadline=None)
@given(_json)
def test_validate_never_crashes_on_any_document(data: Any) -> None:
    assert isinstance(_problems(data), list)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_sample_lines_replaced_never_crash(data: st.DataObject) -> None:
    """The sample with one line replaced by random YAML text: data or a clean refusal."""
    lines = Path(sample_cluster()).read_text().splitlines()
    index = data.draw(st.integers(0, len(lines) - 1))
    lines[index] = data.draw(st.text(max_size=60))
    try:
        doc = yamlfile.parse("\n".join(lines))
    except yamlfile.InvalidInput:
        return
    assert isinstance(problems_in(doc), list)
