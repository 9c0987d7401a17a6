"""Scale check (issue 5): affinities of 1,000,000 x 50 float32 random points.

Run from the repository root (about 40 minutes on 2 cores):
    python bench/million.py

Prints the neighbour search and calibration + symmetrization times, the recall
of 200 sampled points against a numpy brute-force search, and the peak RSS of
the process (VmHWM), which must stay O(n k + n d).
"""

import sys
import time
from pathlib import Path

import numpy as np

import tsne_native

sys.path.insert(0, str(Path(__file__).parent))
from conftest import THREADS
from peak_rss import memory_status_mb

N, D, PERPLEXITY, SEED = 1_000_000, 50, 30, 0


def sampled_recall(X, indices, rows):
    """Share of the sampled rows' exact neighbours (numpy brute force) found."""
    k = indices.shape[1]
    found = 0
    for row in rows:
        squared = np.einsum("ij,ij->i", X - X[row], X - X[row], dtype=np.float64)
        squared[row] = np.inf
        found += np.intersect1d(np.argpartition(squared, k)[:k], indices[row]).size
    return found / (k * len(rows))


def main():
    X = np.random.default_rng(SEED).standard_normal((N, D), dtype=np.float32)
    k = 3 * PERPLEXITY
    method = tsne_native.neighbors.resolve_method("auto", X.shape)
    print(f"{N:,} x {D} float32, k = {k}, method='auto' runs {method!r}, {THREADS} threads",
          flush=True)
    started = time.perf_counter()
    knn = tsne_native.nearest_neighbors(X, k, method="auto", n_jobs=THREADS, random_state=SEED)
    search_seconds = time.perf_counter() - started
    print(f"neighbours: {search_seconds:.1f} s", flush=True)
    started = time.perf_counter()
    P = tsne_native.affinities(knn=knn, perplexity=PERPLEXITY, n_jobs=THREADS)
    calibration_seconds = time.perf_counter() - started
    print(f"calibration + symmetrization: {calibration_seconds:.1f} s; P has {P.nnz:,} entries",
          flush=True)
    peak = memory_status_mb("VmHWM")
    print(f"peak RSS: {peak:.0f} MB (data {X.nbytes / 1e6:.0f} MB)", flush=True)
    rows = np.random.default_rng(SEED + 1).choice(N, 200, replace=False)
    print(f"recall of 200 sampled points: {sampled_recall(X, knn[0], rows):.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
