"""`addons apply` and `addons remove`: the plan file the addons role reads, and its run request.

The CLI renders first, so what is installed is exactly what Git shows under rendered/addons/.
The role gets chart archives and values files by path, plus the removals (pruning) in order.
"""

from __future__ import annotations

import copy
import gzip
import io
import tarfile
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from k8s_install.addons import chart_files, helm, order, render, sealing
from k8s_install.ansible import actions, runner
from k8s_install.base.errors import InvalidInput, Problem
from k8s_install.model.addon_releases import edges, expand
from k8s_install.model.config import Cluster, with_defaults
from k8s_install.records import applied_file

PLAN_FILE = Path(".k8s-install") / "addons" / "plan.yaml"


@dataclass
class Prepared:
    changes: list[order.Change]
    plan_file: Path
    plan: dict[str, Any]
    result: render.Result


def chart_sources(cluster: Cluster, charts_dirs: tuple[Path, ...] = ()) -> render.ChartSources:
    """Where the cluster's charts are on disk: charts_dirs, K8S_INSTALL_CHARTS, the offline
    bundle's charts/, the cache."""
    bundle = helm.bundle_dir(cluster)
    dirs = (*charts_dirs, *((bundle / "charts",) if bundle else ()))
    return render.ChartSources(root=cluster.root, charts_dirs=dirs)


def settings(cluster: Cluster, charts_dirs: tuple[Path, ...] = ()) -> render.Settings:
    sources = chart_sources(cluster, charts_dirs)
    return render.Settings(
        root=cluster.root,
        helm=helm.default(helm.bundle_dir(cluster)),
        kube_version=cluster.kubernetes_version,
        charts_dirs=sources.charts_dirs,
    )


def value_problems(cluster: Cluster) -> list[Problem]:
    """For validate, plan and up: values the charts' values.schema.json refuse, for the charts
    already on disk (nothing is fetched), and chart archives that are unsafe to read."""
    return render.schema_problems(cluster.section("addons"), chart_sources(cluster))


def archive(chart: Path, config: render.Settings) -> Path:
    """A chart archive for the role: archives as they are (checked again: chart_files),
    directories packaged into the cache."""
    if chart.is_file():
        chart_files.check_archive(chart)
        return chart
    target = config.chart_cache() / "packaged"
    target.mkdir(parents=True, exist_ok=True)
    output = config.helm.run("package", str(chart), "--destination", str(target)).stdout
    # "Successfully packaged chart and saved it to: /path/name-1.2.3.tgz"
    packaged = Path(output.strip().rsplit(": ", 1)[-1])
    _reproducible(packaged)
    return packaged


def _reproducible(path: Path) -> None:
    """Rewrite an archive so the same chart gives the same bytes: helm 3 stamps every entry
    with the time of packaging, which would make each apply copy the chart again."""
    with tarfile.open(path, "r:gz") as source:
        members = [(m, source.extractfile(m)) for m in source.getmembers()]
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for member, handle in sorted(members, key=lambda pair: pair[0].name):
                member.mtime = 0
                member.uid = member.gid = 0
                member.uname = member.gname = ""
                member.pax_headers = {}
                tar.addfile(member, io.BytesIO(handle.read()) if handle else None)
    data = gzip.compress(raw.getvalue(), mtime=0)
    if path.read_bytes() != data:
        path.write_bytes(data)


def prepare(
    cluster: Cluster,
    *,
    charts_dirs: tuple[Path, ...] = (),
    only_remove: str | None = None,
    restore: Collection[str] = (),
) -> Prepared:
    """Render, work out the changes against state/applied.yaml, and write the role's plan file.
    Releases named in `restore` drifted live: the role upgrades them to the same chart."""
    config = settings(cluster, charts_dirs)
    addons = cluster.section("addons")
    result = render.render_all(addons, config, cluster.root / render.RENDERED)
    if only_remove is None:
        changes = order.plan(cluster.root, addons)
    else:
        changes = remove_changes(cluster, only_remove)
    by_name = {item.release.name: item for item in result.releases}
    sealing_vars = _sealing_vars(cluster, result) if only_remove is None else {}
    releases = []
    for change in changes:
        if change.action in ("install", "upgrade", "unchanged") and only_remove is None:
            item = by_name[change.name]
            directory = cluster.root / render.RENDERED / change.name
            releases.append(
                {
                    "name": change.name,
                    "namespace": change.namespace,
                    "wave": change.wave,
                    "chart": str(archive(item.chart, config)),
                    "values_file": str(directory / "values.yaml"),
                    "wait": item.release.wait,
                    "timeout": item.release.timeout,
                    "restore": change.name in restore,
                    "namespace_labels": item.release.namespace_labels,
                    "secrets": sealing.secret_names(cluster.root)
                    if item.release.chart == sealing.SEALED_CHART
                    else [],
                }
            )
    removals = [{"name": c.name, "namespace": c.namespace} for c in changes if c.action == "remove"]
    plan = {
        "addons_releases": releases,
        "addons_removals": removals,
        "addons_helm_source": str(config.helm.binary),
        **sealing_vars,
    }
    path = cluster.root / PLAN_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(plan, sort_keys=True))
    return Prepared(changes, path, plan, result)


def _sealing_vars(cluster: Cluster, result: render.Result) -> dict[str, Any]:
    """The sealing key and the SealedSecrets' namespaces for the role (addons/sealing.py)."""
    active = [item.release for item in result.releases]
    controller = next((r for r in active if sealing.CONTROLLER_CHART in (r.preset, r.chart)), None)
    sealed = any(r.chart == sealing.SEALED_CHART for r in active)
    if controller is None and not sealed:
        return {}
    return sealing.role_vars(cluster.root, controller.namespace if controller else None, sealed)


def remove_changes(cluster: Cluster, name: str) -> list[order.Change]:
    """`addons remove NAME`: one removal, refused while an enabled release depends on it."""
    releases, _ = expand(cluster.section("addons"))
    applied, _ = expand(order.applied_addons(cluster.root) or {})
    target = next((r for r in releases if r.name == name), None) or next(
        (r for r in applied if r.name == name), None
    )
    if target is None:
        known = sorted({r.name for r in releases} | {r.name for r in applied})
        raise InvalidInput(
            f"no addon release named '{name}'",
            fix=f"use one of: {', '.join(known)}" if known else "cluster.yaml has no releases",
        )
    active = order.enabled(releases)
    users = sorted(r.name for r in active if name in edges(active).get(r.name, []))
    if users:
        raise InvalidInput(
            f"'{name}' is needed by {', '.join(users)}",
            fix=f"remove or disable {', '.join(users)} first",
        )
    return [order.Change("remove", target.name, target.namespace, "addons remove")]


def extravars(
    cluster: Cluster, prepared: Prepared, kubeconfig: Path | None = None
) -> dict[str, Any]:
    """What the addons playbook needs (also when the up playbook imports it): the plan file, and where
    helm runs: the first control-plane node with its admin.conf, or, given a kubeconfig
    (--kubeconfig), the controller. The kubeconfig `up` writes into .k8s-install/ serves reads
    from the controller (`addons diff`, `drift`, `status`); installs stay on the node."""
    local = kubeconfig
    variables: dict[str, Any] = {
        "k8s_install_addons_plan": str(prepared.plan_file),
        "k8s_install_addons_local": local is not None,
    }
    if local is not None:
        variables["k8s_install_addons_kubeconfig"] = str(Path(local).resolve())
    return variables


def request(
    cluster: Cluster,
    prepared: Prepared,
    *,
    kubeconfig: Path | None = None,
    check: bool = False,
) -> runner.RunRequest:
    """The `addons apply` / `addons remove` run."""
    widest = max(Counter(r["wave"] for r in prepared.plan["addons_releases"]).values(), default=1)
    return actions.request(
        cluster,
        "addons_apply",
        "addons",
        check=check,
        diff=check,
        extravars=extravars(cluster, prepared, kubeconfig),
        node_count=max(len(cluster.nodes), widest),  # forks: a whole wave at once
    )


def applied_view(cluster: Cluster, removed: str | None = None) -> Cluster | None:
    """What state/applied.yaml should say after this addons run succeeds: the last applied spec
    with its addons replaced by cluster.yaml's (or, for `addons remove NAME`, without NAME).
    None before anything was applied: an addons run alone does not make a cluster applied."""
    spec = applied_file.applied_spec(cluster.root)
    if spec is None:
        return None
    view = with_defaults(copy.deepcopy(spec))
    if removed is None:
        view["addons"] = copy.deepcopy(cluster.spec.get("addons") or {})
    else:
        addons = view.setdefault("addons", {})
        entries = addons.get("releases") or []
        addons["releases"] = [
            e
            for e in entries
            if not (isinstance(e, dict) and (e.get("name") or e.get("preset")) == removed)
        ]
    return replace(cluster, spec=view)  # the same inventory, offline_checksums too


def run_vars(
    cluster: Cluster, kubeconfig: Path | None = None, restore: Collection[str] = ()
) -> dict[str, Any]:
    """For `up` and `apply` (whose playbooks import the addons playbook): render, write the plan, and
    return the extra-vars. Empty when there is nothing to install or prune. Releases named in
    `restore` are upgraded to their chart again (their live objects drifted)."""
    addons = cluster.section("addons")
    if not addons.get("releases") and not (order.applied_addons(cluster.root) or {}).get(
        "releases"
    ):
        return {}
    return extravars(cluster, prepare(cluster, restore=restore), kubeconfig)
