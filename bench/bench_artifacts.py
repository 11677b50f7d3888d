"""Artifact build: a warm run (every recipe cached) against a cold one, and the disk each uses.

The cold side builds into an empty artifact cache and an empty Go build cache (the module
download cache is shared unless --cold-modules), side by side with a warm run of the same
recipes in the real cache, so the ratio compares like with like on this machine.
    python bench/bench_artifacts.py [--only kubernetes ...] [--cold] [--cold-modules]
Without --cold only the warm run is timed (a cold build of everything takes 15-40 minutes on
2 cores). Writes bench/results/artifacts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "scripts" / "artifacts" / "build.py"
CACHE = Path(os.environ.get("K8S_INSTALL_ARTIFACTS", "/var/cache/k8s-install/artifacts"))
GO_CACHE = Path(os.environ.get("K8S_INSTALL_GO_CACHE", "/var/cache/k8s-install/go"))


def du(path: Path) -> int:
    out = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=False)
    return int(out.stdout.split()[0]) if out.stdout else 0


def run(cache: Path, go_cache: Path, only: list[str]) -> float:
    env = {**os.environ, "K8S_INSTALL_ARTIFACTS": str(cache), "K8S_INSTALL_GO_CACHE": str(go_cache)}
    cmd = [sys.executable, str(BUILD), "--cache", str(cache)]
    if only:
        cmd += ["--only", *only]
    started = time.monotonic()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=[])
    parser.add_argument("--cold", action="store_true", help="also build into empty caches")
    parser.add_argument("--cold-modules", action="store_true", help="empty module cache too")
    args = parser.parse_args()
    result: dict[str, float | int | list[str]] = {"recipes": args.only or ["all"]}
    result["warm_s"] = round(run(CACHE, GO_CACHE, args.only), 1)
    result["cache_bytes"] = du(CACHE)
    result["go_build_cache_bytes"] = du(GO_CACHE / "build")
    result["go_module_cache_bytes"] = du(GO_CACHE / "mod")
    if args.cold:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            cold_go = Path(tmp) / "go"
            (cold_go / "build").mkdir(parents=True)
            if args.cold_modules:
                (cold_go / "mod").mkdir()
            else:
                (cold_go / "mod").symlink_to(GO_CACHE / "mod")
            result["cold_s"] = round(run(Path(tmp) / "artifacts", cold_go, args.only), 1)
            result["cold_cache_bytes"] = du(Path(tmp) / "artifacts") + du(cold_go / "build")
            shutil.rmtree(cold_go / "build", ignore_errors=True)
        result["cold_over_warm"] = round(
            float(result["cold_s"]) / max(float(result["warm_s"]), 0.1), 1
        )
    print(json.dumps(result, indent=2))
    out = ROOT / "bench" / "results" / "artifacts.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
