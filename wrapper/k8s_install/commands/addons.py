"""addons: list, render, diff, apply, remove and images of the Helm releases in cluster.yaml."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from k8s_install.addons import apply as addons_apply
from k8s_install.addons import argocd, diff, helm, images, order, render
from k8s_install.ansible import progress
from k8s_install.base.errors import ExitCode, InvalidInput
from k8s_install.commands.common import config_option, json_option, load_cluster, output
from k8s_install.model import addon_presets, config
from k8s_install.model.addon_releases import dependencies, expand
from k8s_install.records import runs

charts_option = click.option(
    "--charts-dir",
    "charts_dirs",
    multiple=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="A directory of chart archives (NAME-VERSION.tgz) or chart directories to use "
    "before any repository; may repeat. Also K8S_INSTALL_CHARTS.",
)
kubeconfig_option = click.option(
    "--kubeconfig",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Kubeconfig to reach the cluster from here (default: helm runs on the first "
    "control-plane node with its admin.conf).",
)


@click.group("addons")
def addons() -> None:
    """Helm releases installed with the cluster, from cluster.yaml's addons: section.

    \b
    Examples:
      k8s-install addons list
      k8s-install addons render
      k8s-install addons apply
    """


@addons.command("list")
@config_option
@json_option
@click.option("--catalog", "show_catalog", is_flag=True, help="List the built-in presets.")
def list_command(config_path: Path, show_catalog: bool) -> None:
    """List the releases in install order (wave by wave), or the preset catalog.

    \b
    Examples:
      k8s-install addons list
      k8s-install addons list --catalog
      k8s-install addons list --json
    """
    out = output()
    if show_catalog:
        rows = [p.as_dict() for p in addon_presets.presets().values()]
        if out.json_mode:
            out.emit({"presets": rows})
        else:
            out.table(
                "addon presets (use `- preset: NAME` under addons.releases)",
                ["preset", "chart", "version", "namespace", "after", "description"],
                [
                    [
                        r["name"],
                        r["chart"],
                        r["version"],
                        r["namespace"],
                        ", ".join(r["depends_on"]),
                        r["description"],
                    ]
                    for r in rows
                ],
            )
        return
    cluster = config.load(config_path)
    releases, _ = expand(cluster.section("addons"))
    active = order.enabled(releases)
    wave_of = {r.name: n for n, wave in enumerate(order.waves(active), 1) for r in wave}
    ordered = sorted(releases, key=lambda r: (wave_of.get(r.name, 10**6), r.name))
    rows = [
        {
            **r.summary(),
            "wave": wave_of.get(r.name),
            "after": dependencies(r, active) if r.enabled else [],
        }
        for r in ordered
    ]
    if out.json_mode:
        out.emit({"releases": rows})
        return
    if not rows:
        out.info(
            f"{cluster.name} has no addon releases: add some under addons.releases "
            "(`k8s-install addons list --catalog` shows the presets)"
        )
        return
    out.table(
        f"addons of {cluster.name}",
        ["wave", "release", "chart", "version", "namespace", "after", "enabled"],
        [
            [
                r["wave"] or "-",
                r["name"],
                r["chart"],
                r["version"] or "(local)",
                r["namespace"],
                ", ".join(r["after"]),
                "yes" if r["enabled"] else "[yellow]no[/]",
            ]
            for r in rows
        ],
    )


@addons.command("render")
@config_option
@json_option
@charts_option
@click.option("--argocd", "with_argocd", is_flag=True, help="Also write Argo CD Applications.")
@click.option("--repo-url", help="Git URL Argo CD clones (default: the origin remote).")
@click.option("--revision", default="HEAD", show_default=True, help="Git revision Argo CD syncs.")
def render_command(
    config_path: Path,
    charts_dirs: tuple[Path, ...],
    with_argocd: bool,
    repo_url: str | None,
    revision: str,
) -> None:
    """Write each release's resolved values and `helm template` output to rendered/addons/.

    The output is deterministic: rendering twice gives the same bytes, so a change to
    cluster.yaml shows up as a reviewable Git diff. Directories of releases that are
    disabled or deleted are removed. Secret data is redacted. Charts come from
    --charts-dir, the offline bundle's charts/, the cache in .k8s-install/charts/, or
    their repositories.

    \b
    Examples:
      k8s-install addons render
      k8s-install addons render --argocd --repo-url https://git.example.com/ops/prod.git
      k8s-install addons render --charts-dir ./charts --json
    """
    out = output()
    cluster = config.load(config_path)
    settings = addons_apply.settings(cluster, charts_dirs)
    result = render.render_all(cluster.section("addons"), settings, cluster.root / render.RENDERED)
    if with_argocd:
        result.extra_files = argocd.write(cluster.root, result.releases, repo_url, revision)
    if out.json_mode:
        out.emit({**result.as_dict(), "helm": str(settings.helm.binary)})
        return
    for item in result.releases:
        state = "[green]changed[/]" if item.changed else "unchanged"
        out.info(f"{render.RENDERED / item.release.name}/  {state}")
    for name in result.removed:
        out.info(f"{render.RENDERED / name}/  [yellow]removed[/] (no longer enabled)")
    for path in result.extra_files:
        out.info(f"wrote {path.relative_to(cluster.root)}")
    if not result.releases:
        out.info("no enabled releases: nothing to render")


@addons.command("diff")
@config_option
@json_option
@kubeconfig_option
@click.option("--exit-code", is_flag=True, help="Exit 2 when anything differs.")
def diff_command(config_path: Path, kubeconfig: Path | None, exit_code: bool) -> None:
    """Compare rendered/addons/ with the releases in the cluster (helm's stored values and
    manifest). Needs a kubeconfig that reaches the API server; run `addons render` first.

    \b
    Examples:
      k8s-install addons diff --kubeconfig ~/.kube/prod.conf
      K8S_INSTALL_KUBECONFIG=admin.conf k8s-install addons diff --json --exit-code
    """
    out = output()
    cluster = config.load(config_path)
    config_file = diff.kubeconfig(cluster.root, kubeconfig)
    binary = helm.default(helm.bundle_dir(cluster))
    results = diff.diff_all(cluster.root, binary, config_file)
    if out.json_mode:
        out.emit({"releases": [r.as_dict() for r in results]})
    else:
        for r in results:
            colour = {"in-sync": "green", "drifted": "yellow"}.get(r.status, "red")
            out.info(f"[{colour}]{r.status}[/] {r.namespace}/{r.name}")
            for text in (r.values, r.manifest):
                if text:
                    out.console.print(text, markup=False, highlight=False)
    if exit_code and any(r.status != "in-sync" for r in results):
        raise click.exceptions.Exit(ExitCode.INVALID_INPUT)


def _show_changes(changes: list[order.Change]) -> None:
    out = output()
    colours = {"install": "green", "upgrade": "cyan", "remove": "red", "unchanged": "dim"}
    out.table(
        "addons plan",
        ["step", "action", "release", "namespace", "wave", "why"],
        [
            [i, f"[{colours[c.action]}]{c.action}[/]", c.name, c.namespace, c.wave or "-", c.reason]
            for i, c in enumerate(changes, 1)
        ],
    )


def _confirm(changes: list[order.Change], yes: bool) -> None:
    removals = [c.name for c in changes if c.action == "remove"]
    if not removals or yes:
        return
    out = output()
    if out.json_mode or not sys.stdin.isatty():
        raise InvalidInput(
            f"this run uninstalls {', '.join(removals)}",
            fix="review the plan, then pass --yes",
        )
    if not click.confirm(f"Uninstall {', '.join(removals)}?", default=False):
        raise click.exceptions.Exit(ExitCode.OK)


def _run(
    cluster: config.Cluster,
    prepared: addons_apply.Prepared,
    kubeconfig: Path | None,
    check: bool,
    *,
    removed: str | None = None,
) -> None:
    """Run the role and record the run (runs/<id>.yaml; state/applied.yaml on success)."""
    out = output()
    request = addons_apply.request(cluster, prepared, kubeconfig=kubeconfig, check=check)
    view = addons_apply.applied_view(cluster, removed)
    if view is None and not check:
        out.warn(
            "nothing was applied to this cluster yet (no state/applied.yaml): this run is "
            "recorded, but releases it installs are pruned only after a full `apply` or `up`"
        )
    changes = [c.as_dict() for c in prepared.changes]
    run_id = ""
    if check:  # check mode changes nothing: no record
        result = progress.execute(request, out)
    else:
        command = "addons remove" if removed else "addons apply"
        with runs.recording(view or cluster, command, applied=view is not None) as rec:
            rec.extra = {"changes": changes}
            rec.result = progress.execute(request, out)
        result = rec.result
        run_id = rec.recorded.run_id if rec.recorded else ""
    if out.json_mode:
        summary = {"type": "addons", "changes": changes, "exit_code": int(result.exit_code)}
        out.emit_line({**summary, "record": run_id})
    raise click.exceptions.Exit(int(result.exit_code))


@addons.command("apply")
@config_option
@json_option
@charts_option
@kubeconfig_option
@click.option("--check", is_flag=True, help="Ansible check mode: report, change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before uninstalling pruned releases.")
def apply_command(
    config_path: Path,
    charts_dirs: tuple[Path, ...],
    kubeconfig: Path | None,
    check: bool,
    yes: bool,
) -> None:
    """Render, then install, upgrade and prune releases with the addons role.

    Removals (releases now disabled or deleted) run first, dependents first; then
    installs and upgrades wave by wave. The plan is shown before anything runs.

    \b
    Examples:
      k8s-install addons apply
      k8s-install addons apply --check
      k8s-install addons apply --kubeconfig ~/.kube/prod.conf --yes --json
    """
    out = output()
    cluster = load_cluster(config_path)
    prepared = addons_apply.prepare(cluster, charts_dirs=charts_dirs)
    if not out.json_mode:
        _show_changes(prepared.changes)
    if not check:
        _confirm(prepared.changes, yes)
    _run(cluster, prepared, kubeconfig, check)


@addons.command("remove")
@click.argument("name")
@config_option
@json_option
@kubeconfig_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def remove_command(config_path: Path, name: str, kubeconfig: Path | None, yes: bool) -> None:
    """Uninstall one release now. Refused while an enabled release depends on it.

    A release still enabled in cluster.yaml comes back at the next apply: set
    `enabled: false` (or delete it) to keep it removed.

    \b
    Examples:
      k8s-install addons remove metrics-server
      k8s-install addons remove fluent-bit --yes --json
    """
    out = output()
    cluster = load_cluster(config_path)
    prepared = addons_apply.prepare(cluster, only_remove=name)
    releases, _ = expand(cluster.section("addons"))
    if any(r.name == name and r.enabled for r in releases):
        out.warn(f"'{name}' is still enabled in cluster.yaml: the next apply installs it again")
    if not out.json_mode:
        _show_changes(prepared.changes)
    _confirm(prepared.changes, yes)
    _run(cluster, prepared, kubeconfig, False, removed=name)


@addons.command("images")
@config_option
@json_option
def images_command(config_path: Path) -> None:
    """List every container image the rendered releases use (rendered/addons/).

    The offline bundle builds its image list from this. Run `addons render` first.

    \b
    Examples:
      k8s-install addons images
      k8s-install addons images --json | jq -r '.images[]'
    """
    out = output()
    cluster = config.load(config_path)
    per_release = images.by_release(cluster.root)
    releases, _ = expand(cluster.section("addons"))
    missing = sorted(r.name for r in order.enabled(releases) if r.name not in per_release)
    if missing:
        out.warn(f"not rendered yet: {', '.join(missing)} (run `k8s-install addons render`)")
    every = images.list_images(cluster.root)
    if out.json_mode:
        out.emit({"images": every, "by_release": per_release, "not_rendered": missing})
        return
    users = {i: sorted(r for r, found in per_release.items() if i in found) for i in every}
    out.table(
        f"images of {cluster.name}'s addons",
        ["image", "releases"],
        [[i, ", ".join(users[i])] for i in every],
    )


COMMANDS: list[click.Command] = [addons]
