"""Render pytest-benchmark JSON files as the markdown tables of RESULTS.md.

    python bench/report.py bench/affinity.json [bench/memory.json ...]

Within each group, times are also given as ratios to the tsne_native entry.
"""

import json
import sys
from collections import defaultdict


def seconds(bench):
    return bench["extra_info"].get("seconds", bench["stats"]["min"])


def render(benchmarks):
    groups = defaultdict(list)
    for bench in benchmarks:
        groups[bench["group"]].append(bench)
    lines = []
    for group, entries in groups.items():
        ours = [b for b in entries if "tsne_native" in b["name"]]
        base = seconds(ours[0]) if ours else None
        lines += [f"### {group}", "", "| benchmark | time (s) | × tsne_native | notes |",
                  "|---|---|---|---|"]
        for bench in entries:
            t = seconds(bench)
            ratio = f"{t / base:.2f}" if base else ""
            extra = bench["extra_info"]
            notes = ", ".join(f"{k}={v}" for k, v in extra.items() if k not in ("seconds", "system", "data"))
            lines.append(f"| {bench['name']} | {t:.2f} | {ratio} | {notes} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    collected = []
    for path in sys.argv[1:]:
        with open(path) as f:
            report = json.load(f)
        collected += report["benchmarks"]
        machine = report["machine_info"]
    print(f"Machine: {machine['cpu']['brand_raw']}, {machine['cpu']['count']} logical CPUs, "
          f"Python {machine['python_version']}\n")
    print(render(collected))
