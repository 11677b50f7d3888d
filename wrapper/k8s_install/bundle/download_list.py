"""What a bundle must carry, resolved from the pinned engine for one cluster.yaml.

The engine itself decides: its download list (`downloads` in kubespray_defaults) is evaluated by
Ansible with the cluster's generated group_vars, exactly as an install would evaluate it, so the
versions, URLs and sha256 in a bundle are the ones the playbooks will ask for. The plan is also a
file (`bundle plan -o plan.yaml`; `bundle build --plan plan.yaml`), so a site can review it, add
items, or build from its own list.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from k8s_install.addons import images as addon_image_list
from k8s_install.ansible import ansible_cfg, inventory, offline_repo, runner
from k8s_install.base import resources
from k8s_install.base.errors import ExitCode, K8sInstallError
from k8s_install.bundle import charts
from k8s_install.bundle.charts import ChartSpec
from k8s_install.model import engine_releases, yamlfile
from k8s_install.model.config import Cluster

ENGINE_ENV = "K8S_INSTALL_KUBESPRAY_DIR"
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}
KUBEADM_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")

RESOLVE_PLAYBOOK = """\
- name: Resolve the engine's download list
  hosts: localhost
  gather_facts: false
  roles:
    - role: kubespray_defaults
      when: false
  tasks:
    - name: Write the list
      ansible.builtin.copy:
        dest: "{{ k8s_install_plan_out }}"
        mode: "0644"
        content: |
          {% set result = {'files': [], 'images': []} %}
          {% for name, d in downloads.items() if d.enabled | bool %}
          {% if d.file | default(false) | bool %}{{ result.files.append({'name': name,
             'url': d.url, 'checksum': d.checksum, 'dest': d.dest | default('')}) }}{% endif %}
          {% if d.container | default(false) | bool %}{{
             result.images.append(d.repo ~ ':' ~ d.tag) }}{% endif %}
          {% endfor %}
          {% for i in kubeadm_images_list %}{{
             result.images.append(kube_image_repo ~ '/' ~ i ~ ':v' ~ kube_version) }}{% endfor %}
          {{ result | to_json }}
"""


@dataclass(frozen=True)
class FileSpec:
    name: str
    version: str
    url: str
    sha256: str

    @property
    def path(self) -> str:
        """Where it sits in the bundle and on the file server: files/<host>/<url path>."""
        parsed = urlparse(self.url)
        return f"files/{parsed.netloc}{parsed.path}"


@dataclass
class Plan:
    name: str
    kubernetes_version: str
    engine_release: str
    arch: str = "amd64"
    engine: FileSpec | None = None
    files: list[FileSpec] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    charts: list[ChartSpec] = field(default_factory=list)
    wheels: dict[str, Any] = field(default_factory=dict)  # requirements, python_version, platform
    packages: list[str] = field(default_factory=list)  # Debian packages (apt-get download)
    # The bundle's own registry (offline.repo_host:registry_port) when the cluster is offline:
    # an image the addons name under it (the `registry` global) is one of --local-images,
    # by path and tag, since `bundle serve` pushes every image there by its path.
    site_registry: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spec(data: Any, where: str) -> FileSpec:
    try:
        return FileSpec(
            str(data["name"]), str(data.get("version", "")), str(data["url"]), _hex(data["sha256"])
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad(where, f"needs name, url and a sha256 ({exc})") from exc


def _hex(value: Any) -> str:
    text = str(value).removeprefix("sha256:").lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{value!r} is not a sha256")
    return text


def _bad(where: str, message: str) -> K8sInstallError:
    return K8sInstallError(
        f"{where}: {message}",
        fix="see docs/offline.md for the plan file format",
        code=ExitCode.INVALID_INPUT,
    )


def load(path: Path) -> Plan:
    data = yamlfile.load(path).data
    if not isinstance(data, dict):
        raise _bad(str(path), "not a mapping")
    try:
        return Plan(
            name=str(data.get("name", "bundle")),
            kubernetes_version=str(data.get("kubernetes_version", "")),
            engine_release=str(data.get("engine_release", "")),
            arch=str(data.get("arch", "amd64")),
            engine=_spec(data["engine"], f"{path}: engine") if data.get("engine") else None,
            files=[_spec(f, f"{path}: files[{i}]") for i, f in enumerate(data.get("files", []))],
            images=[str(i) for i in data.get("images", [])],
            charts=[
                ChartSpec(**asdict(_spec(c, f"{path}: charts[{i}]")))
                for i, c in enumerate(data.get("charts", []))
            ],
            wheels=dict(data.get("wheels") or {}),
            packages=[str(p) for p in data.get("packages", [])],
            site_registry=str(data.get("site_registry") or ""),
        )
    except (TypeError, AttributeError) as exc:
        raise _bad(str(path), str(exc)) from exc


def save(plan: Plan, path: Path) -> None:
    path.write_text(yamlfile.dump(plan.as_dict()))


def engine_dir(explicit: Path | None = None) -> Path:
    path = explicit or (Path(os.environ[ENGINE_ENV]) if os.environ.get(ENGINE_ENV) else None)
    if path is None or not (path / "roles" / "kubespray_defaults").is_dir():
        raise K8sInstallError(
            f"no Kubespray checkout at {path or '(unset)'}",
            fix=f"pass --engine-dir or set {ENGINE_ENV} to an extracted Kubespray release",
            code=ExitCode.INVALID_INPUT,
        )
    return path


def _version_from_url(name: str, url: str) -> str:
    for part in urlparse(url).path.split("/"):
        if part[:1] == "v" and part[1:2].isdigit():
            return part[1:]
    return ""


def resolve_engine(cluster: Cluster, engine: Path, arch: str = "amd64") -> dict[str, Any]:
    """Run the engine's own defaults through Ansible; returns {'files': [...], 'images': [...]}."""
    if arch not in ARCHES:
        raise K8sInstallError(
            f"--arch {arch}: not supported",
            fix=f"use one of: {', '.join(ARCHES)}",
            code=ExitCode.INVALID_INPUT,
        )
    with tempfile.TemporaryDirectory(prefix="k8s-install-plan-") as tmp:
        work = Path(tmp)
        inv = work / "inventory"
        # A plan names upstream's checksums: never those of a bundle (offline_checksums).
        upstream = dataclasses.replace(cluster, offline_checksums={})
        for relative, text in inventory.files(upstream).items():
            if relative == "hosts.yaml":
                continue
            (inv / relative).parent.mkdir(parents=True, exist_ok=True)
            (inv / relative).write_text(text)
        groups = ("kube_control_plane", "etcd", "kube_node", "k8s_cluster")
        hosts = {
            "all": {
                "hosts": {"localhost": {"ansible_connection": "local"}},
                "children": {g: {"hosts": {"localhost": None}} for g in groups},
            }
        }
        (inv / "hosts.yaml").write_text(yamlfile.dump(hosts))
        (work / "resolve.yml").write_text(RESOLVE_PLAYBOOK)
        out = work / "plan.json"
        extra = {
            "k8s_install_plan_out": str(out),
            "kubeadm_images_list": list(KUBEADM_IMAGES),
            "host_architecture": arch,
            "ansible_architecture": ARCHES[arch],
            "ansible_system": "Linux",
            "ansible_python_interpreter": sys.executable,
        }
        # Through the one runner driver, with structured arguments (an engine path with a space
        # in it works); the engine's roles come after ours on its roles path.
        request = runner.RunRequest(
            playbook=work / "resolve.yml",
            inventory=inv,
            private_dir=work / "private",
            command="bundle plan",
            extravars=extra,
            roles_path=[engine / "roles"],
            settings=ansible_cfg.Settings(fact_cache=False),
        )
        run = runner.run_playbook(request)
        if run.status != "successful" or not out.is_file():
            reasons = (
                "; ".join(f"{f.get('task', '')}: {f.get('message', '')}" for f in run.failures[:3])
                or f"ansible-playbook exited {run.rc}"
            )
            raise K8sInstallError(
                f"the engine's download list could not be resolved: {reasons}",
                fix="check that --engine-dir holds the pinned Kubespray release",
            )
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def addon_images(cluster: Cluster) -> list[str]:
    """Images the addons need (`addons images`: read from the rendered manifests)."""
    return sorted(set(addon_image_list.list_images(cluster.root)))


def check_image(cluster: Cluster) -> str:
    """The image the post-checks' smoke workload runs: the cluster's own choice (its
    `kubespray:` section reaches our roles too) or the role's default."""
    chosen = cluster.section("kubespray").get("post_checks_image")
    if chosen:
        return str(chosen)
    defaults = resources.data_dir("roles") / "post_checks" / "defaults" / "main.yml"
    return str(yamlfile.load(defaults).data["post_checks_image"])


def from_cluster(
    cluster: Cluster,
    engine: Path,
    arch: str = "amd64",
    python_version: str = "3.11",
    mirrors: dict[str, str] | None = None,
) -> Plan:
    resolved = resolve_engine(cluster, engine, arch)
    chart_specs, _notes = charts.for_cluster(cluster, mirrors)
    lock = engine_releases.lock(cluster.engine_release)
    files = [
        FileSpec(f["name"], _version_from_url(f["name"], f["url"]), f["url"], _hex(f["checksum"]))
        for f in resolved["files"]
    ]
    images = sorted(set(resolved["images"]) | set(addon_images(cluster)) | {check_image(cluster)})
    return Plan(
        name=cluster.name,
        kubernetes_version=cluster.kubernetes_version,
        engine_release=cluster.engine_release,
        arch=arch,
        engine=FileSpec(
            "kubespray", lock["release"].lstrip("v"), lock["tarball_url"], lock["tarball_sha256"]
        ),
        files=files,
        images=images,
        charts=chart_specs,
        wheels={
            "python_version": python_version,
            "platform": f"manylinux2014_{ARCHES[arch]}",
        },
        # Planned before the site goes offline, too: offline.repo_host names the registry.
        site_registry=offline_repo.registry_host(cluster)
        if cluster.section("offline").get("repo_host")
        else "",
    )
