"""How well and how fast the README's demo separates the digits.

    python bench/demo_quality.py [--seeds 0 1 2 3 4] [-- EXTRA CLI OPTIONS]

Runs ``python -m tsne_native.fit --demo --seed S --quiet`` in a fresh process
per seed (wall time of the whole command, imports and export included, as a
user waits for it) and scores the map it wrote: the leave-one-out 10-NN
accuracy of ``embedding.npy`` on the digits' own labels (each point's label
voted by its 10 nearest other points; ties go to the smallest label).  Options
after ``--`` are passed to the command, e.g. the demo's earlier training:

    python bench/demo_quality.py -- --epochs 40 --hidden-layers 500,500,2000 --batch-size 1024

Prints one JSON line per seed and a summary line.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

NEIGHBOURS = 10


def leave_one_out_accuracy(embedding, labels, k=NEIGHBOURS):
    """Share of points whose ``k`` nearest other points in ``embedding`` vote their label.

    Parameters
    ----------
    embedding : ndarray of shape (n, m)
    labels : ndarray of shape (n,), non-negative integers
    """
    import tsne_native

    neighbours, _ = tsne_native.nearest_neighbors(embedding.astype(np.float64), k)
    votes = np.zeros((len(labels), labels.max() + 1), dtype=np.int64)
    np.add.at(votes, (np.repeat(np.arange(len(labels)), k), labels[neighbours].ravel()), 1)
    return float(np.mean(votes.argmax(axis=1) == labels))


def run_demo(seed, extra, out):
    command = [sys.executable, "-m", "tsne_native.fit", "--demo", "--out", str(out),
               "--seed", str(seed), "--quiet", *extra]
    started = time.perf_counter()
    finished = subprocess.run(command, capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    wall = time.perf_counter() - started
    if finished.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{finished.stderr}")
    summary = json.loads((out / "run.json").read_text())
    return wall, np.load(out / "embedding.npy"), summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("extra", nargs="*", help="options for the command (after --)")
    args = parser.parse_args()
    from tsne_native import datasets

    _, labels = datasets.load_digits()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for seed in args.seeds:
            wall, embedding, summary = run_demo(seed, args.extra, Path(scratch) / str(seed))
            row = {"seed": seed, "wall_s": round(wall, 2),
                   "training_s": summary["timings_s"]["training"],
                   "loo_knn10_accuracy": round(leave_one_out_accuracy(embedding, labels), 4),
                   "n_epochs": summary["parameters"]["n_epochs"],
                   "hidden_layers": summary["parameters"]["hidden_layers"],
                   "batch_size": summary["parameters"]["batch_size"]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    accuracies = [row["loo_knn10_accuracy"] for row in rows]
    walls = [row["wall_s"] for row in rows]
    print(json.dumps({"options": args.extra, "seeds": len(rows),
                      "accuracy_min": min(accuracies),
                      "accuracy_mean": round(float(np.mean(accuracies)), 4),
                      "wall_s_median": float(np.median(walls))}))


if __name__ == "__main__":
    main()
