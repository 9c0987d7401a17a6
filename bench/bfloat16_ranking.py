"""How many of the true neighbours rank among the nearest by bfloat16-rounded values?

    python bench/bfloat16_ranking.py [--rows N] [--queries Q] [--k K]

The approximate search of narrow data ranks the rows of its probed clusters
by their own coordinates; on a CPU that multiplies bfloat16 natively it
ranks them by values rounded to bfloat16 and keeps ``k`` plus
``BFLOAT16_EXTRA_CANDIDATES`` of ``k`` candidates for the exact re-ranking.
Here the first N rows of the generated million (bench/distorted_mnist.py),
centered and scaled as the search scales them, are searched as one cluster
by Q sampled rows with the probed search itself, in float32 and in bfloat16,
and each candidate count is scored by the share of the true k nearest (exact
search) among its candidates.
"""

from __future__ import annotations

import argparse

import numpy as np

import distorted_mnist
from conftest import THREADS
from tsne_native import _core
from tsne_native.affinity import _approximate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--k", type=int, default=90)
    args = parser.parse_args()
    X, _ = distorted_mnist.load()
    X = np.array(X[:args.rows])
    rng = np.random.default_rng(0)
    points, _ = _approximate.project(X, _approximate.sample_center(X, None, rng), None, None)
    queries = np.sort(rng.choice(len(points), args.queries, replace=False))
    true, _ = _core.exact_knn_of_rows(points, queries, args.k, _core.Metric.euclidean, THREADS)
    one_cluster = np.zeros(len(points), dtype=np.int64)
    probes = np.zeros((len(queries), 1), dtype=np.int64)
    extra = _approximate.own_coordinate_candidates(args.k) - args.k
    print(f"{len(points):,} x {points.shape[1]} rows, {len(queries)} queries, k = {args.k}; "
          f"bfloat16 native: {_core.native_bfloat16()} (the search keeps {extra} more)")
    for count in (args.k, args.k + args.k // 16, args.k + args.k // 8, args.k + args.k // 4):
        shares = []
        for bfloat16 in (False, True):
            found = _core.probed_knn(points, one_cluster, 1, queries, probes, count, THREADS,
                                     bfloat16=bfloat16)
            shares.append(np.mean([np.isin(t, f).mean() for t, f in zip(true, found)]))
        print(f"{count} candidates: true neighbours among them {shares[0]:.4f} (float32), "
              f"{shares[1]:.4f} (bfloat16)")


if __name__ == "__main__":
    main()
