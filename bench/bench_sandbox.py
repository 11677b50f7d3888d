"""Sandbox benchmark: cold image build, warm `sandbox up` (1 vs 3 nodes), memory per host.

Figures are measured side by side in one run and reported with ratios, so they compare
across machines. Needs root and podman. Writes bench/results/sandbox.json.

    /opt/k8si-venv/bin/python bench/bench_sandbox.py [--skip-cold] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from k8s_install.sandbox import hosts, image, podman

NAME = "bench"


def _timed(func: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    value = func(*args, **kwargs)
    return time.perf_counter() - start, value


def _memory_bytes(container: str) -> int:
    """The container's cgroup memory use (podman stats reads the same counter)."""
    stats = podman.json_out(["stats", "--no-stream", "--format", "json", container])
    raw = str(stats[0]["mem_usage"]).split("/")[0].strip()  # e.g. "41.5MB / 25.3GB"
    units = {"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "B": 1}
    for suffix, factor in units.items():
        if raw.endswith(suffix):
            return int(float(raw[: -len(suffix)]) * factor)
    return int(float(raw))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="Do not rebuild the image.")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    spec = image.spec_for([])
    result: dict[str, Any] = {"image": spec.tag, "rounds": args.rounds}
    if not args.skip_cold:
        # Under a tag of its own: the cached images may be in use by other sandboxes.
        cold = f"{image.REPOSITORY}:bench-cold"
        result["cold_build_s"], _ = _timed(image.build, spec, tag=cold)
        podman.run(["rmi", cold])
    image.ensure(spec)
    result["warm_ensure_s"], _ = _timed(image.ensure, spec)
    ups: dict[int, list[float]] = {1: [], 3: []}
    downs: list[float] = []
    memory: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name, owner in hosts.sandboxes():  # left by an interrupted earlier run
            if name == NAME:
                hosts.down(name, owner)
        for _ in range(args.rounds):
            for nodes in (1, 3):
                seconds, info = _timed(hosts.up, NAME, directory, nodes=nodes)
                ups[nodes].append(seconds)
                if nodes == 3 and not memory:
                    time.sleep(5)  # let boot-time jobs settle
                    memory = [_memory_bytes(h.container) for h in info.hosts]
                seconds, _ = _timed(hosts.down, NAME, directory)
                downs.append(seconds)
    result["up_1_node_s"] = statistics.median(ups[1])
    result["up_3_nodes_s"] = statistics.median(ups[3])
    result["down_s"] = statistics.median(downs)
    result["memory_per_host_mib"] = round(statistics.mean(memory) / 2**20, 1)
    result["ratio_up3_to_up1"] = round(result["up_3_nodes_s"] / result["up_1_node_s"], 2)
    if "cold_build_s" in result:
        result["ratio_cold_build_to_up3"] = round(
            result["cold_build_s"] / result["up_3_nodes_s"], 1
        )
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    result["hosts_per_gib_ram"] = round(2**30 / statistics.mean(memory), 1)
    result["host_share_of_ram_pct"] = round(100 * statistics.mean(memory) / total, 2)
    out = Path(__file__).parent / "results" / "sandbox.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
