"""validate on hostile files and on a 1,000-node cluster.yaml, side by side with the sample.

Each case runs `k8s-install validate -c FILE` as its own process, as a user would (imports
included), and takes its wall time and its peak memory (ru_maxrss of that process, from wait4).
The figure per case is the median of --rounds runs, and its ratio to the sample's. The same
files are also read and validated inside this process, to split the CLI's import time (the same
for every file) from the work on the file itself. Targets: every
case under 2 s and under 200 MB, and every hostile case exit 2 (never 1: a traceback). Writes
bench/results/validate_hostile.json.

    .venv/bin/python bench/bench_validate_hostile.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from k8s_install.base.errors import InvalidInput
from k8s_install.model import yamlfile
from k8s_install.model.validate import problems_in

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "inventory" / "sample" / "cluster.yaml"
TEN_MB = 10 * 1024 * 1024
TARGET_SECONDS = 2.0
TARGET_MB = 200.0


def thousand_nodes() -> str:
    lines = [
        "name: big",
        "kubernetes:",
        "  version: '1.35.4'",
        "network:",
        "  pod_cidr: 10.128.0.0/12",
        "  service_cidr: 10.96.0.0/16",
        "nodes:",
    ]
    for i in range(1000):
        roles = "[control-plane, etcd]" if i < 3 else "[worker]"
        lines += [
            f"  - name: node-{i:04d}",
            f"    address: 192.168.{i // 250}.{i % 250 + 1}",
            f"    internal_address: 10.1.{i // 250}.{i % 250 + 1}",
            f"    roles: {roles}",
            "    labels:",
            f"      topology.kubernetes.io/zone: zone-{i % 3}",
            f"      example.com/rack: r{i % 40}",
            "    taints: ['dedicated=infra:NoSchedule']" if i % 10 == 0 else "    taints: []",
        ]
    return "\n".join(lines) + "\n"


def ten_mb_value() -> str:
    return "name: " + "x" * TEN_MB + "\n"


def ten_mb_of_lines() -> str:
    line = "root:x:0:0:root:/root:/bin/bash\n"
    return line * (TEN_MB // len(line))


def alias_bomb() -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 12)]
    return "\n".join(lines) + "\n"


def merge_bomb() -> str:
    lines = ["m0: &m0 {a: 1}"]
    lines += [f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], k{i}: 1}}" for i in range(1, 40)]
    return "\n".join(lines) + "\n"


def dense_list() -> str:
    """Just under the size cap, as many values as bytes allow, in a list."""
    return "- a\n" * ((1 << 20) // 4 - 1)


def dense_mapping() -> str:
    """Just under the size cap, as many keys as bytes allow: the worst file that is parsed."""
    return "".join(f"k{i:06x}: 1\n" for i in range((1 << 20) // 11 - 1))


def big_int() -> str:
    return SAMPLE.read_text() + "backup:\n  retention: " + "9" * 5000 + "\n"


CASES: dict[str, Callable[[], str]] = {
    "sample": SAMPLE.read_text,
    "1000 nodes": thousand_nodes,
    "hostile: 10 MB value": ten_mb_value,
    "hostile: 10 MB of passwd lines": ten_mb_of_lines,
    "hostile: alias bomb (10^12 values)": alias_bomb,
    "hostile: merge-key bomb": merge_bomb,
    "hostile: 1 MiB of list items": dense_list,
    "hostile: 1 MiB of keys": dense_mapping,
    "hostile: 5000-digit integer": big_int,
}


def run_once(path: Path) -> tuple[float, float, int]:
    """Seconds, peak MB, exit code of one `k8s-install validate -c path`."""
    command = [str(Path(sys.executable).parent / "k8s-install"), "validate", "-c", str(path)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=path.parent
    )
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if "Traceback" in stderr:
        code = -1
    return seconds, usage.ru_maxrss / 1024, code


def in_process(path: Path) -> float:
    """Seconds to read, parse and validate path in this process (no imports, no start-up)."""
    started = time.perf_counter()
    with contextlib.suppress(InvalidInput):
        problems_in(yamlfile.load(path))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    results: dict[str, dict[str, float | int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        paths = {}
        for index, (name, make) in enumerate(CASES.items()):
            paths[name] = Path(tmp) / f"case{index}.yaml"
            paths[name].write_text(make())
        for _ in range(args.rounds):  # interleaved, so background load hits every case alike
            for name, path in paths.items():
                seconds, mb, code = run_once(path)
                entry = results.setdefault(name, {"bytes": path.stat().st_size})
                entry.setdefault("inner", [])  # type: ignore[arg-type]
                entry["inner"].append(in_process(path))  # type: ignore[union-attr]
                entry.setdefault("runs", [])  # type: ignore[arg-type]
                entry["runs"].append((seconds, mb, code))  # type: ignore[union-attr]
    base_s = statistics.median(r[0] for r in results["sample"]["runs"])  # type: ignore[union-attr]
    base_mb = statistics.median(r[1] for r in results["sample"]["runs"])  # type: ignore[union-attr]
    report = {}
    print(f"load average at start: {load:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case':38} {'bytes':>10} {'s':>6} {'x':>5} {'MB':>6} {'x':>5} {'in-proc':>8} exit  ok")
    for name, entry in results.items():
        runs = entry.pop("runs")
        inner = statistics.median(entry.pop("inner"))  # type: ignore[arg-type]
        seconds = statistics.median(r[0] for r in runs)  # type: ignore[union-attr]
        mb = statistics.median(r[1] for r in runs)  # type: ignore[union-attr]
        codes = sorted({r[2] for r in runs})  # type: ignore[union-attr]
        expected = [0] if name in ("sample", "1000 nodes") else [2]
        ok = seconds < TARGET_SECONDS and mb < TARGET_MB and codes == expected
        report[name] = {
            "bytes": entry["bytes"],
            "seconds": round(seconds, 3),
            "seconds_vs_sample": round(seconds / base_s, 2),
            "peak_mb": round(mb, 1),
            "peak_mb_vs_sample": round(mb / base_mb, 2),
            "in_process_seconds": round(inner, 3),
            "exit_codes": codes,
            "within_target": ok,
        }
        print(
            f"{name:38} {entry['bytes']:>10} {seconds:6.2f} {seconds / base_s:5.2f} "
            f"{mb:6.1f} {mb / base_mb:5.2f} {inner:8.3f} {','.join(map(str, codes)):>4}  "
            f"{'yes' if ok else 'NO'}"
        )
    out = ROOT / "bench" / "results" / "validate_hostile.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "rounds": args.rounds,
                "load_average_at_start": round(load, 1),
                "cpus": os.cpu_count(),
                "targets": {"seconds": TARGET_SECONDS, "mb": TARGET_MB},
                "cases": report,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
