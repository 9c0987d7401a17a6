"""Render pytest-benchmark JSON files as the markdown tables of RESULTS.md.

    python bench/report.py bench/affinity.json [bench/memory.json ...]

Within each group, times are also given as ratios to the tsne_native entry.
"""

import json
import sys
from collections import defaultdict


def seconds(bench):
    return bench["extra_info"].get("seconds", bench["stats"]["min"])


# Embedding-quality runs (bench/parametric_quality.py) report these instead of a time.
QUALITY_COLUMNS = [("fit_s", "fit (s)"), ("test_knn10_accuracy", "test 10-NN accuracy"),
                   ("train_recall_at_15", "train recall@15"),
                   ("transform_points_per_s", "transform (points/s)"),
                   ("peak_rss_mb", "peak RSS (MB)"), ("settings", "settings")]


def render_quality(group, entries):
    lines = [f"### {group}", "", "| system | " + " | ".join(t for _, t in QUALITY_COLUMNS) + " |",
             "|---" * (len(QUALITY_COLUMNS) + 1) + "|"]
    for bench in entries:
        extra = bench["extra_info"]
        cells = [str(extra.get(key, "")) for key, _ in QUALITY_COLUMNS]
        lines.append(f"| {extra.get('system', bench['name'])} | " + " | ".join(cells) + " |")
    return lines + [""]


def render(benchmarks):
    groups = defaultdict(list)
    for bench in benchmarks:
        groups[bench["group"]].append(bench)
    lines = []
    for group, entries in groups.items():
        if all("test_knn10_accuracy" in b["extra_info"] for b in entries):
            lines += render_quality(group, entries)
            continue
        ours = [b for b in entries if "tsne_native" in b["name"]]
        base = seconds(ours[0]) if ours else None
        lines += [f"### {group}", "", "| benchmark | time (s) | × tsne_native | notes |",
                  "|---|---|---|---|"]
        for bench in entries:
            t = seconds(bench)
            ratio = f"{t / base:.2f}" if base else ""
            extra = bench["extra_info"]
            notes = ", ".join(f"{k}={v}" for k, v in extra.items()
                              if k not in ("seconds", "system", "data"))
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
