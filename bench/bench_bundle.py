"""Bundle benchmarks, each measured side by side in one run.

1. build: `bundle build` throughput (MB/s) from local sources (nginx and docker-registry on
   loopback), with a cold cache and again with a warm one.
2. verify: `bundle verify` against `sha256sum` over the same files, same page-cache state,
   alternating rounds; the figure is verify throughput / sha256sum throughput (target >= 0.8).
3. pull (--pull, needs root and podman): time for a sandbox node's containerd to pull an image
   from the registry `bundle serve` set up on another sandbox node.

Writes bench/results/bundle.json.

    /opt/k8si-venv/bin/python bench/bench_bundle.py [--size-mb 256] [--rounds 5] [--pull]
"""

from __future__ import annotations

import argparse
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from k8s_install.bundle import build, oci, sign  # noqa: E402
from k8s_install.bundle import verify as verifier  # noqa: E402
from test_bundle_servers import build_sources, nginx, registry  # noqa: E402


def _sources(work: Path, size_mb: int, url: str, log: Path, reg: str) -> Any:
    """Binaries of size_mb in total plus four images with 8 MB layers."""
    sources = build_sources(work / "www", reg, url, log, binary_size=(size_mb << 20) // 2, images=0)
    layout = work / "bench-layout"
    for index in range(4):
        ref = f"registry.k8s.io/bench/image{index}:v1"
        oci.write_image(layout, ref, {f"data{index}": os.urandom(8 << 20)})
        sources.plan.images.append(ref)
    list(oci.push(layout, reg))
    return sources


def bench_build(work: Path, size_mb: int) -> dict[str, Any]:
    (work / "www").mkdir(parents=True)
    sign.keygen(work / "k.key", work / "k.pub")
    with nginx(work / "www", work / "nginx") as (url, log), registry(work / "registry") as reg:
        sources = _sources(work, size_mb, url, log, reg)
        results: dict[str, Any] = {}
        for label in ("cold_cache", "warm_cache"):
            opts = build.Options(
                work / label,
                work / "k.key",
                work / "cache",
                sources.mirrors,
                sources.registry_mirrors,
                wheels=False,
            )
            started = time.perf_counter()
            result = build.build(sources.plan, opts)
            seconds = time.perf_counter() - started
            results[label] = {
                "bytes": result.manifest.own_size,
                "seconds": round(seconds, 3),
                "mb_per_s": round(result.manifest.own_size / 1e6 / seconds, 1),
            }
    return results


def bench_verify(bundle: Path, key: Path, rounds: int) -> dict[str, Any]:
    files = [
        str(bundle / p)
        for p in verifier.list_files(bundle)
        if p not in ("manifest.json", "manifest.json.sig")
    ]
    total = sum(os.path.getsize(f) for f in files)
    ours, theirs, parallel, openssl = [], [], [], []
    subprocess.run(["sha256sum", *files], capture_output=True, check=True)  # warm the page cache
    for _ in range(rounds):
        started = time.perf_counter()
        report = verifier.verify(bundle, key)
        ours.append(time.perf_counter() - started)
        assert report.ok, report.as_dict()
        started = time.perf_counter()
        subprocess.run(["sha256sum", *files], capture_output=True, check=True)
        theirs.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(
            ["xargs", "-0", "-P", str(os.cpu_count() or 2), "-n", "1", "sha256sum"],
            input="\0".join(files).encode(),
            capture_output=True,
            check=True,
        )
        parallel.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(
            ["xargs", "-0", "openssl", "dgst", "-sha256"],
            input="\0".join(files).encode(),
            capture_output=True,
            check=True,
        )
        openssl.append(time.perf_counter() - started)
    verify_s, sha_s, par_s = (
        statistics.median(ours),
        statistics.median(theirs),
        statistics.median(parallel),
    )
    ssl_s = statistics.median(openssl)
    return {
        "files": len(files),
        "bytes": total,
        "verify_mb_per_s": round(total / 1e6 / verify_s, 1),
        "sha256sum_mb_per_s": round(total / 1e6 / sha_s, 1),
        "sha256sum_parallel_mb_per_s": round(total / 1e6 / par_s, 1),
        "openssl_dgst_mb_per_s": round(total / 1e6 / ssl_s, 1),
        "ratio_vs_sha256sum": round(sha_s / verify_s, 2),
        "ratio_vs_openssl_dgst": round(ssl_s / verify_s, 2),
        "ratio_vs_parallel_sha256sum": round(par_s / verify_s, 2),
        "rounds": rounds,
    }


def bench_pull(bundle: Path, key: Path, work: Path) -> dict[str, Any]:
    from click.testing import CliRunner

    from k8s_install.cli import cli
    from k8s_install.sandbox import hosts, image

    name = "bench-bundle"
    directory = work / "sandbox"
    directory.mkdir()
    hosts.down(name, directory)
    try:
        info = hosts.up(name, directory, nodes=2, extra_packages=image.TEST_IMAGE_PACKAGES)
        cluster_file = Path(info.cluster_file)
        data = yaml.safe_load(cluster_file.read_text())
        data["offline"] = {
            "enabled": True,
            "bundle": str(bundle),
            "public_key": str(key),
            "repo_host": "cp1",
        }
        cluster_file.write_text(yaml.safe_dump(data))
        started = time.perf_counter()
        result = CliRunner().invoke(cli, ["bundle", "serve", "-c", str(cluster_file), "--json"])
        serve_s = time.perf_counter() - started
        assert result.exit_code == 0, result.output
        repo = info.hosts[0].address
        worker = info.hosts[1].container
        subprocess.run(["podman", "exec", worker, "systemctl", "start", "containerd"], check=True)
        timings = []
        for index in range(4):
            ref = f"{repo}:5000/bench/image{index}:v1"
            started = time.perf_counter()
            subprocess.run(
                [
                    "podman",
                    "exec",
                    worker,
                    "ctr",
                    "images",
                    "pull",
                    "--hosts-dir",
                    "/etc/containerd/certs.d",
                    ref,
                ],
                capture_output=True,
                check=True,
            )
            timings.append(time.perf_counter() - started)
        return {
            "serve_seconds": round(serve_s, 1),
            "pull_seconds_8mb_image": [round(t, 3) for t in timings],
            "pull_median_seconds": round(statistics.median(timings), 3),
        }
    finally:
        hosts.down(name, directory)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mb", type=int, default=256, help="bytes of binaries in the bundle")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pull", action="store_true", help="also time a sandbox node's pull")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-bundle-", dir="/var/tmp"))
    try:
        results: dict[str, Any] = {"build": bench_build(work, args.size_mb)}
        results["verify"] = bench_verify(work / "warm_cache", work / "k.pub", args.rounds)
        if args.pull:
            results["pull"] = bench_pull(work / "warm_cache", work / "k.pub", work)
        results["cpus"] = os.cpu_count()
        print(json.dumps(results, indent=2))
        out = ROOT / "bench" / "results" / "bundle.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
